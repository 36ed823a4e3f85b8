"""Rendered sheets, checked the way the scanner will see them: rasterized by poppler, QR by zbar."""

from __future__ import annotations

import dataclasses
import datetime
import io
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pyzbar import pyzbar

from forms.layout import (
    ABSENCE_LEFT,
    FORM_V1,
    FORM_V2,
    Layout,
    Rect,
    TimeField,
    build_layout,
    row_rect,
)
from forms.payload import BarcodePayload, decode_payload
from forms.render import SheetPrint, render_sheets
from forms.serial import format_serial
from scanner.load import load_pages
from scanner.tesseract import ocr_text

DPI = 200
SCALE = DPI / 72.0
SERIALS = ("7K2M9QXR4T8", "0000000000" + "0")
NOV_2026 = datetime.date(2026, 11, 1)
FEB_2028 = datetime.date(2028, 2, 1)


def make_sheet(serial: str, month: datetime.date, **changes: Any) -> SheetPrint:
    """A realistic sheet; certificate from Nov 10 2026, weekdays only."""
    sheet = SheetPrint(
        serial=serial,
        month=month,
        agency_name="Golden Valley Child Care Resource & Referral",
        child_name="Amelia Rodriguez-Thompson",
        certificate_id="CERT-2026-004417",
        provider_id="P-10392",
        provider_name="Sunny Days Family Child Care",
        parent_name="Maria Rodriguez",
        schedule_text="Mon-Fri 07:30-17:30",
        weekly_hours=45.0,
        schedule_type="Full-time",
        specialist_name="Jordan Lee",
        specialist_phone="(559) 555-0142",
        period_start=datetime.date(2026, 11, 10),
        period_end=datetime.date(2028, 6, 30),
        authorized_weekdays=frozenset({0, 1, 2, 3, 4}),
    )
    return dataclasses.replace(sheet, **changes)


@dataclass(frozen=True)
class Rendered:
    pdf: Path
    pages: list[np.ndarray]  # greyscale, 0 = black
    layouts: list[Layout]
    sheets: list[SheetPrint]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """GIVEN two sheets (November 2026, February 2028) rendered to one PDF and rasterized."""
    folder = tmp_path_factory.mktemp("render")
    sheets = [make_sheet(SERIALS[0], NOV_2026), make_sheet(SERIALS[1], FEB_2028)]
    pdf = folder / "sheets.pdf"
    render_sheets(sheets, pdf)
    subprocess.run(
        ["pdftoppm", "-gray", "-r", str(DPI), str(pdf), str(folder / "page")], check=True
    )
    pages = [np.asarray(Image.open(p).convert("L")) for p in sorted(folder.glob("page-*.pgm"))]
    layouts = [build_layout(s.serial, s.month) for s in sheets]
    return Rendered(pdf=pdf, pages=pages, layouts=layouts, sheets=sheets)


def px(value: float) -> int:
    return round(value * SCALE)


def centre(rect: Rect) -> tuple[int, int]:
    x, y, w, h = rect
    return px(x + w / 2), px(y + h / 2)


def test_pdf_has_one_letter_page_per_sheet(rendered: Rendered) -> None:
    info = subprocess.run(
        ["pdfinfo", str(rendered.pdf)], check=True, capture_output=True, text=True
    ).stdout
    assert "Pages:           2" in info
    assert "612 x 792 pts" in info
    assert rendered.pdf.stat().st_size < 150_000
    assert [p.shape for p in rendered.pages] == [(2200, 1700), (2200, 1700)]


def test_qr_decodes_to_the_sheet_and_sits_in_its_rect(rendered: Rendered) -> None:
    """WHEN zbar reads each raster THEN it finds our payload, inside layout.barcode."""
    for page, layout in zip(rendered.pages, rendered.layouts, strict=True):
        symbols = pyzbar.decode(Image.fromarray(page), symbols=[pyzbar.ZBarSymbol.QRCODE])
        assert len(symbols) == 1
        payload = decode_payload(symbols[0].data.decode("ascii"))
        assert payload == BarcodePayload(layout.serial, FORM_V1, 1)
        x, y, w, h = layout.barcode
        for point in symbols[0].polygon:
            assert px(x) - 1 <= point.x <= px(x + w) + 1
            assert px(y) - 1 <= point.y <= px(y + h) + 1


def test_qr_quiet_zone_is_white(rendered: Rendered) -> None:
    x, y, w, h = rendered.layouts[0].barcode
    module = w / (29 + 8)  # version 3 with a 4-module quiet zone on each side
    zone = rendered.pages[0][px(y) + 1 : px(y + h) - 1, px(x) + 1 : px(x + module * 3.5)]
    assert zone.min() > 240


def test_fiducial_centres_are_dark(rendered: Rendered) -> None:
    for page, layout in zip(rendered.pages, rendered.layouts, strict=True):
        for rect in layout.fiducials:
            cx, cy = centre(rect)
            assert page[cy - 2 : cy + 3, cx - 2 : cx + 3].max() < 60
            # ...with a white ring around the core, which handwriting does not make.
            ring_x = px(rect[0] + rect[2] * 0.5 - 3.7)
            assert page[cy, ring_x] > 200


def test_digit_cells_are_blank_inside_with_drop_out_borders(rendered: Rendered) -> None:
    page, layout = rendered.pages[0], rendered.layouts[0]
    for name in ("day.01.in", "day.17.out", "day.30.in"):
        field = layout.field(name)
        assert isinstance(field, TimeField)
        for rect in field.cells:
            y = rect[1]
            cx, cy = centre(rect)
            assert page[cy - 4 : cy + 5, cx - 4 : cx + 5].min() > 245
            # The top border: darkest pixel across the edge is the drop-out tone, not black.
            edge = page[px(y) - 2 : px(y) + 3, cx]
            assert 150 <= int(edge.min()) <= 235


def test_days_outside_the_certificate_are_tinted(rendered: Rendered) -> None:
    """GIVEN a certificate from Nov 10, weekdays only THEN Nov 2 and Sat Nov 14 are tinted.

    AND Monday Nov 16 is not.
    """
    page = rendered.pages[0]

    def gap_between_absence_boxes(day: int) -> np.ndarray:
        _, y, _, h = row_rect(day)
        return page[px(y) + 3 : px(y + h) - 3, px(ABSENCE_LEFT) + 2 : px(ABSENCE_LEFT) + 20]

    assert gap_between_absence_boxes(2).mean() < 240  # before the certificate starts
    assert gap_between_absence_boxes(14).mean() < 240  # Saturday, not authorized
    assert gap_between_absence_boxes(16).mean() > 252  # Monday, authorized


def test_printed_text(rendered: Rendered) -> None:
    text = subprocess.run(
        ["pdftotext", "-layout", str(rendered.pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    pages = text.split("\f")
    first = pages[0]
    for expected in (
        "GOLDEN VALLEY CHILD CARE RESOURCE & REFERRAL",
        "Monthly Child Care Attendance Record",
        "November 2026",
        "Amelia Rodriguez-Thompson",
        "CERT-2026-004417",
        "Sunny Days Family Child Care",
        "P-10392",
        "Maria Rodriguez",
        "Mon-Fri 07:30-17:30",
        "45 hours",
        "Full-time",
        "11/10/2026",
        "Jordan Lee, (559) 555-0142",
        format_serial(SERIALS[0]),
        "Mon 02",
        "outside certificate",
        "not authorized",
        "Best-interest day",
        "penalty of perjury",
        "Family fee paid this month",
        "DO NOT SCALE WHEN PRINTING",
        "Page 1 of 1",
        FORM_V1,
    ):
        assert expected in first, expected
    assert "February 2028" in pages[1] and "Tue 29" in pages[1]


def test_rendering_is_deterministic_and_accepts_a_binary_file() -> None:
    sheets = [make_sheet(SERIALS[0], NOV_2026, weekly_hours=None)]
    first, second = io.BytesIO(), io.BytesIO()
    render_sheets(sheets, first)
    render_sheets(sheets, second)
    assert first.getvalue() == second.getvalue()
    assert first.getvalue().startswith(b"%PDF")


def test_no_sheets_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        render_sheets([], tmp_path / "empty.pdf")
    assert not (tmp_path / "empty.pdf").exists()


def test_a_v2_sheet_prints_its_form_in_two_languages_and_its_serial_in_ocr_b(
    tmp_path: Path,
) -> None:
    """GIVEN a sheet issued as monthly-v2 WHEN printed THEN its QR code names monthly-v2,
    the labels are English and Spanish, the footer names the form, and tesseract reads the
    OCR-B serial under the QR code exactly."""
    sheet = make_sheet(SERIALS[0], NOV_2026, form=FORM_V2)
    pdf = tmp_path / "v2.pdf"
    render_sheets([sheet], pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    for expected in (
        "Time in / Entrada",
        "Time out / Salida",
        "Si falt\u00f3, marque UNA raz\u00f3n",
        "signature / firma",
        "Ni\u00f1o(a) enfermo(a)",
        "Declaro bajo pena de perjurio",
        "NO AJUSTAR",
        "Form monthly-v2",
    ):
        assert expected in text, expected
    page = next(iter(load_pages(pdf, dpi=300))).image
    symbols = pyzbar.decode(Image.fromarray(page))
    assert decode_payload(symbols[0].data.decode()) == BarcodePayload(SERIALS[0], FORM_V2, 1)
    layout = build_layout(SERIALS[0], NOV_2026, form=FORM_V2)
    x, y, w, h = (round(v * 300 / 72) for v in layout.serial_text)
    read = ocr_text(np.ascontiguousarray(page[y : y + h, x : x + w]), psm=7, dpi=300)
    assert read.strip() == format_serial(SERIALS[0])
