"""PDF pages that are one scanned image are read from that image, not rendered by poppler.

A filled sheet is scanned and written as a PDF with a JPEG page and a Group 4 page (what
document scanners write). Loaded the one way intake loads pages, both come out of the PDF
in-process: poppler is not run, the pixels are the scanner's own, and the composer reads
the same sheet and the same values as from poppler's rendering of the same pages.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fixtures.badinput import PdfImage, ccitt_image, image_pdf, ink_of
from fixtures.fill import SheetTruth, fill_page, plan_sheet
from fixtures.samples import sample_sheet
from forms.layout import build_layout
from forms.render import render_sheets
from scanner.digits import DigitReader
from scanner.load import load_page, load_pages
from scanner.pipeline import PageReading, Reading, SheetContext, read_page
from scanner.readings import FieldReading
from scanner.simulate import simulate_scan

SERIAL = "0123456789T"
MONTH = dt.date(2026, 11, 1)
DPI = 300


def _context(serial: str) -> SheetContext | None:
    days = [MONTH + dt.timedelta(days=n) for n in range(30)]
    windows = {d: ((450, 1050),) if d.weekday() < 5 else () for d in days}
    return SheetContext(serial, MONTH, windows) if serial == SERIAL else None


@pytest.fixture(scope="module")
def scanned_pdf(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, bytes, np.ndarray, SheetTruth]:
    """A two-page PDF: the filled sheet as a grey JPEG page, then as a 1-bit Group 4 page."""
    folder = tmp_path_factory.mktemp("embedded")
    render_sheets([sample_sheet(SERIAL, month=MONTH)], folder / "printed.pdf")
    printed = next(iter(load_pages(folder / "printed.pdf", dpi=DPI))).image
    layout = build_layout(SERIAL, MONTH)
    rng = np.random.default_rng(7)
    truth = plan_sheet(layout, rng, font_rate=0.0, border_cross_rate=0.0, cross_out_rate=0.0)
    filled = fill_page(printed, DPI, layout, truth, rng)
    scan = simulate_scan(filled, rotate=180, skew_deg=0.9, noise=3.0, blur=0.6, seed=8)
    buffer = io.BytesIO()
    Image.fromarray(scan, mode="L").save(buffer, "JPEG", quality=80, dpi=(DPI, DPI))
    jpeg = buffer.getvalue()
    height, width = scan.shape
    entries = b"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /DCTDecode"
    ink = ink_of(scan)
    pdf = folder / "scan.pdf"
    pdf.write_bytes(image_pdf([PdfImage(width, height, entries, jpeg), ccitt_image(ink)], dpi=DPI))
    return pdf, jpeg, ink, truth


def _log_poppler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "poppler.log"
    wrappers = tmp_path / "bin"
    wrappers.mkdir()
    for tool in ("pdfinfo", "pdftoppm", "pdfimages"):
        real = shutil.which(tool)
        assert real is not None
        script = wrappers / tool
        script.write_text(f'#!/bin/sh\necho "{tool}" >> "{log}"\nexec "{real}" "$@"\n')
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrappers}{os.pathsep}{os.environ['PATH']}")
    return log


def test_jpeg_and_group4_pages_come_out_of_the_pdf_without_poppler(
    scanned_pdf: tuple[Path, bytes, np.ndarray, SheetTruth],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GIVEN the PDF with a JPEG page and a Group 4 page, poppler's tools wrapped to log calls
    WHEN its pages are loaded as intake run does (all pages) and as a worker does (one page)
    THEN poppler is never run; the JPEG page is the scanner's JPEG decoded, the Group 4 page
    is exactly its bitmap, both at the scan's own 300 dpi."""
    pdf, jpeg, ink, _ = scanned_pdf
    log = _log_poppler(tmp_path, monkeypatch)
    pages = list(load_pages(pdf, dpi=200))
    single = load_page(pdf, 2, dpi=200)
    assert not log.exists(), log.read_text()
    assert [p.number for p in pages] == [1, 2] and all(p.dpi == DPI for p in pages)
    with Image.open(io.BytesIO(jpeg)) as decoded:
        expected = np.asarray(decoded.convert("L"), dtype=np.int16)
    assert np.abs(pages[0].image.astype(np.int16) - expected).max() <= 2
    assert np.array_equal(pages[1].image < 128, ink)
    assert np.array_equal(single.image, pages[1].image)


def _right(found: dict[str, FieldReading], names: list[str], truth: SheetTruth) -> int:
    return sum(found[n].value == truth.times[n].time for n in names)


def test_embedded_pages_read_as_the_rendered_pages_do(
    scanned_pdf: tuple[Path, bytes, np.ndarray, SheetTruth],
) -> None:
    """GIVEN the same PDF
    WHEN the composer reads each page from its embedded image and from poppler's rendering
    THEN both ways identify the sheet upside down, register it, and read the same values:
    every mark and signature, the times but for one in twenty, and no fewer times right."""
    pdf, _, _, truth = scanned_pdf
    reading = Reading(reader=DigitReader.load())
    embedded = list(load_pages(pdf, dpi=DPI))
    rendered = list(load_pages(pdf, dpi=DPI, prefer_embedded=False))
    for fast, slow in zip(embedded, rendered, strict=True):
        results: list[PageReading] = [
            read_page(page, context_for=_context, reading=reading) for page in (fast, slow)
        ]
        for result in results:
            assert result.identity.payload is not None
            assert result.identity.payload.serial == SERIAL and result.rotation == 180
            assert result.registered
        ours, poppler = ({r.name: r for r in result.readings} for result in results)
        assert ours.keys() == poppler.keys()
        differ = [n for n in ours if ours[n].value != poppler[n].value]
        assert all(ours[n].kind == "time" for n in differ), differ
        times = [n for n, r in ours.items() if r.kind == "time"]
        assert len(differ) <= len(times) // 20, differ
        assert _right(ours, times, truth) >= _right(poppler, times, truth)
