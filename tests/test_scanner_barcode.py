"""Finding the sheet's QR code on synthetic scans: real reportlab, real pdftoppm, real zbar."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import letter
from reportlab.lib.units import inch
from reportlab.pdfgen.canvas import Canvas

from forms.payload import BarcodePayload, decode_payload, encode_payload
from scanner.barcode import Barcode, _rotation_from_position, find_barcode
from scanner.load import PageImage, load_pages
from scanner.pipeline import BLANK_PAGE, NO_BARCODE_FOUND, identify_page
from scanner.simulate import simulate_scan

PAYLOAD = BarcodePayload(serial="7K2M9QXR4T8", form="monthly-v1", page=1)
TEXT = encode_payload(PAYLOAD)
QR_SIDE = 0.9 * inch
MARGIN = 0.5 * inch


def _draw_qr(canvas: Canvas, text: str, x: float, y: float) -> None:
    widget = QrCodeWidget(text, barLevel="M")
    left, bottom, right, top = widget.getBounds()
    drawing = Drawing(
        QR_SIDE,
        QR_SIDE,
        transform=[QR_SIDE / (right - left), 0, 0, QR_SIDE / (top - bottom), 0, 0],
    )
    drawing.add(widget)
    renderPDF.draw(drawing, canvas, x, y)


def _draw_sheet(canvas: Canvas, qr_texts: list[tuple[str, str]]) -> None:
    """A Letter page shaped like an attendance sheet: heading, a ruled table, QR codes."""
    width, height = letter
    canvas.setFont("Helvetica-Bold", 16)
    canvas.drawString(MARGIN, height - MARGIN - 20, "Monthly Child Care Attendance")
    canvas.setFont("Helvetica", 10)
    canvas.drawString(MARGIN, height - MARGIN - 40, "Child: ____________  Provider: ________")
    top = height - 2 * inch
    for row in range(29):
        y = top - row * 0.25 * inch
        canvas.line(MARGIN, y, width - MARGIN, y)
        if row < 28:
            canvas.drawString(MARGIN + 4, y - 14, f"{row + 1:2d}")
    for col in range(6):
        x = MARGIN + col * (width - 2 * MARGIN) / 5
        canvas.line(x, top, x, top - 28 * 0.25 * inch)
    for corner, text in qr_texts:
        x = width - MARGIN - QR_SIDE if corner.endswith("r") else MARGIN
        y = height - MARGIN - QR_SIDE if corner.startswith("t") else MARGIN
        _draw_qr(canvas, text, x, y)


def _render(tmp: Path, dpi: int, pages: list[list[tuple[str, str]]]) -> list[PageImage]:
    pdf = tmp / f"sheets-{dpi}.pdf"
    canvas = Canvas(str(pdf), pagesize=letter)
    for qr_texts in pages:
        _draw_sheet(canvas, qr_texts)
        canvas.showPage()
    canvas.save()
    return list(load_pages(pdf, dpi=dpi))


# page kinds, in this order, in every rendered PDF
OURS, BLANK, FOREIGN, FOREIGN_AND_OURS = 0, 1, 2, 3


@pytest.fixture(scope="module")
def sheets(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], list[PageImage]]:
    """Rasterized synthetic pages per dpi, rendered once per module."""
    cache: dict[int, list[PageImage]] = {}
    tmp = tmp_path_factory.mktemp("sheets")

    def get(dpi: int) -> list[PageImage]:
        if dpi not in cache:
            rendered = _render(
                tmp,
                dpi,
                [
                    [("tr", TEXT)],
                    [],
                    [("tr", "hello")],
                    [("tr", "hello"), ("bl", TEXT)],
                ],
            )
            # Blank paper, not an empty sheet: the ruled table is ink.
            blank = PageImage(number=2, image=np.full_like(rendered[0].image, 255), dpi=dpi)
            cache[dpi] = [rendered[0], blank, rendered[2], rendered[3]]
        return cache[dpi]

    return get


def _check(found: Barcode | None, rotation: int) -> Barcode:
    assert found is not None
    assert found.text == TEXT
    assert decode_payload(found.text) == PAYLOAD
    assert found.rotation == rotation
    return found


@pytest.mark.parametrize("dpi", [200, 300])
@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_clean_page_found_in_a_corner_with_its_rotation(
    sheets: Callable[[int], list[PageImage]], dpi: int, rotation: int
) -> None:
    """GIVEN a clean sheet turned by a quarter-turn multiple
    WHEN its QR code is searched
    THEN it is found in the first, cheap tier with the page's rotation."""
    page = sheets(dpi)[OURS]
    scan = simulate_scan(page.image, rotate=rotation)
    found = _check(find_barcode(scan, dpi=dpi), rotation)
    expected_corner = {0: "tr", 90: "br", 180: "bl", 270: "tl"}[rotation]
    assert found.method.startswith(f"corner:{expected_corner}@")
    assert found.method == f"corner:{expected_corner}@{min(1.0, round(150 / dpi, 2)):g}"


@pytest.mark.parametrize("dpi", [200, 300])
@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
@pytest.mark.parametrize("skew", [-3.0, 3.0])
def test_skewed_noisy_scan_gives_payload_and_rotation(
    sheets: Callable[[int], list[PageImage]], dpi: int, rotation: int, skew: float
) -> None:
    """GIVEN a sheet turned, skewed 3 degrees, slightly blurred and noisy like a scanner
    WHEN its QR code is searched
    THEN the payload and the quarter-turn rotation are right, found in a corner."""
    page = sheets(dpi)[OURS]
    scan = simulate_scan(
        page.image, rotate=rotation, skew_deg=skew, noise=12.0, blur=0.8, seed=rotation + dpi
    )
    found = _check(find_barcode(scan, dpi=dpi), rotation)
    assert found.method.startswith("corner:")


def test_polygon_is_in_full_page_coordinates(sheets: Callable[[int], list[PageImage]]) -> None:
    """The polygon found on a reduced corner maps back onto the QR's place on the page."""
    page = sheets(300)[OURS]
    found = _check(find_barcode(page.image, dpi=300), 0)
    xs = [x for x, _ in found.polygon]
    ys = [y for _, y in found.polygon]
    # Printed: right edge 0.5 in from the page edge, top 0.5 in down, 0.9 in square including
    # the 4-module quiet zone (4 of 37 modules on each side).
    quiet = 0.9 * 4 / 37
    assert min(xs) == pytest.approx((8.5 - 0.5 - 0.9 + quiet) * 300, abs=8)
    assert max(xs) == pytest.approx((8.5 - 0.5 - quiet) * 300, abs=8)
    assert min(ys) == pytest.approx((0.5 + quiet) * 300, abs=8)
    assert max(ys) == pytest.approx((0.5 + 0.9 - quiet) * 300, abs=8)


def test_reduced_scan_resolution_still_found(sheets: Callable[[int], list[PageImage]]) -> None:
    """A page scanned at 300 dpi but shrunk to 150 dpi (and told so) is still read."""
    page = sheets(300)[OURS]
    scan = simulate_scan(page.image, rotate=180, scale=0.5, noise=8, seed=3)
    _check(find_barcode(scan, dpi=150), 180)


def test_speckled_scan_is_read_after_clean_up(sheets: Callable[[int], list[PageImage]]) -> None:
    """GIVEN a sheet fed sideways and covered in 15% salt-and-pepper speckle (dust, bad fax)
    WHEN its QR code is searched
    THEN the plain tiers fail and the cleaned-up tier reads it."""
    page = sheets(200)[OURS]
    scan = simulate_scan(page.image, rotate=270)
    draw = np.random.default_rng(7).random(scan.shape)
    scan[draw < 0.075] = 0
    scan[draw > 0.925] = 255
    found = _check(find_barcode(scan, dpi=200), 270)
    assert found.method.endswith(":cleaned")


def test_very_noisy_scan_is_read_after_clean_up(sheets: Callable[[int], list[PageImage]]) -> None:
    """Gaussian noise of sigma 90 grey levels: only the cleaned-up full-resolution tier reads it."""
    page = sheets(200)[OURS]
    scan = simulate_scan(page.image, rotate=90, noise=90.0, blur=0.6, seed=11)
    found = _check(find_barcode(scan, dpi=200), 90)
    assert found.method == "page@1:cleaned"


@pytest.mark.parametrize("dpi", [200, 300])
def test_blank_page_has_no_barcode(sheets: Callable[[int], list[PageImage]], dpi: int) -> None:
    assert find_barcode(sheets(dpi)[BLANK].image, dpi=dpi) is None
    noisy = simulate_scan(sheets(dpi)[BLANK].image, noise=10, seed=1)
    assert find_barcode(noisy, dpi=dpi) is None


@pytest.mark.parametrize("dpi", [200, 300])
def test_foreign_qr_code_is_ignored(sheets: Callable[[int], list[PageImage]], dpi: int) -> None:
    assert find_barcode(sheets(dpi)[FOREIGN].image, dpi=dpi) is None


def test_our_code_found_beside_a_foreign_one(sheets: Callable[[int], list[PageImage]]) -> None:
    """A foreign code in the likeliest corner does not hide ours in another corner."""
    found = find_barcode(sheets(200)[FOREIGN_AND_OURS].image, dpi=200)
    assert found is not None
    assert found.text == TEXT
    assert found.method.startswith("corner:bl@")


def test_rotation_from_position_when_zbar_gives_no_orientation() -> None:
    shape = (2200, 1700)
    square = ((0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0))

    def at(x: float, y: float) -> tuple[tuple[float, float], ...]:
        return tuple((px + x, py + y) for px, py in square)

    assert _rotation_from_position(at(1500, 100), shape) == 0
    assert _rotation_from_position(at(1500, 2000), shape) == 90
    assert _rotation_from_position(at(100, 2000), shape) == 180
    assert _rotation_from_position(at(100, 100), shape) == 270


def test_find_barcode_rejects_non_grey_input() -> None:
    with pytest.raises(ValueError):
        find_barcode(np.zeros((10, 10, 3), dtype=np.uint8), dpi=200)


def test_identify_page(sheets: Callable[[int], list[PageImage]]) -> None:
    """GIVEN an upside-down sheet, a blank page and a page with only a foreign code
    WHEN each page is identified
    THEN the sheet is identified with its rotation and the others say why not."""
    ours, blank, foreign = sheets(200)[OURS], sheets(200)[BLANK], sheets(200)[FOREIGN]
    turned = PageImage(number=1, image=simulate_scan(ours.image, rotate=180), dpi=200)

    identity = identify_page(turned)
    assert identity.identified
    assert identity.payload == PAYLOAD
    assert identity.rotation == 180
    assert identity.reason is None

    blank_identity = identify_page(blank)
    assert not blank_identity.identified
    assert blank_identity.reason == BLANK_PAGE
    assert blank_identity.rotation is None

    foreign_identity = identify_page(foreign)
    assert not foreign_identity.identified
    assert foreign_identity.reason == NO_BARCODE_FOUND
    assert foreign_identity.barcode is None


def test_simulate_scan_turns_clockwise_and_is_seeded() -> None:
    image = np.full((4, 6), 255, dtype=np.uint8)
    image[0, 5] = 0  # top-right
    turned = simulate_scan(image, rotate=90)
    assert turned.shape == (6, 4)
    assert turned[5, 3] == 0  # clockwise: top-right goes to bottom-right
    a = simulate_scan(image, noise=5, seed=1)
    b = simulate_scan(image, noise=5, seed=1)
    assert np.array_equal(a, b)
    assert a.dtype == np.uint8
