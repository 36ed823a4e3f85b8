"""Identifying pages: by QR code, else by the printed serial read with real tesseract.

Sheets are rendered by `forms`, rasterized by real pdftoppm, damaged (QR code blotted or
scribbled over, serial erased or misprinted) and scanned with `simulate_scan`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from fixtures.samples import sample_sheet
from forms.layout import FORM_V1, FORM_V2, Rect, build_layout
from forms.payload import BarcodePayload
from forms.render import render_sheets
from forms.serial import ALPHABET, check_symbol, format_serial, is_valid_serial
from scanner.barcode import find_barcode
from scanner.load import PageImage, load_pages
from scanner.pipeline import (
    METHOD_QR,
    METHOD_SERIAL_OCR,
    NO_BARCODE_FOUND,
    _accept,
    identify_page,
    read_printed_serial,
)
from scanner.simulate import simulate_photocopy, simulate_scan
from scanner.tesseract import TesseractError, ocr_text

SERIAL = "7K2M9QXR4T8"
OTHER_SERIAL = "P0WV3WQ0H3D"  # has a Q and 0s, which tesseract likes to confuse
MONTH = dt.date(2026, 11, 1)
LAYOUT = build_layout(SERIAL, MONTH)
# A serial with a wrong check character (the right one is T): what a misprint, or a misread
# that keeps a serial's shape, looks like. Glyphs tesseract reads reliably in this font.
BAD_CHECK = "7K2M3HXR4T8"
assert is_valid_serial(OTHER_SERIAL) and not is_valid_serial(BAD_CHECK)
assert check_symbol(SERIAL[:-1]) == SERIAL[-1]

# page order in every rendered PDF
GOOD, OTHER, MISPRINTED = 0, 1, 2


@pytest.fixture(scope="module")
def sheets(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], list[np.ndarray]]:
    """Three printed sheets (SERIAL, OTHER_SERIAL, one printed with BAD_CHECK) per dpi."""
    pdf = tmp_path_factory.mktemp("identify") / "sheets.pdf"
    render_sheets(
        [sample_sheet(s, month=MONTH) for s in (SERIAL, OTHER_SERIAL, BAD_CHECK)], Path(pdf)
    )
    cache: dict[int, list[np.ndarray]] = {}

    def at(dpi: int) -> list[np.ndarray]:
        if dpi not in cache:
            cache[dpi] = [page.image for page in load_pages(Path(pdf), dpi=dpi)]
        return cache[dpi]

    return at


def _px(rect: Rect, dpi: int, grow_pt: float = 0.0) -> tuple[slice, slice]:
    x, y, w, h = rect
    s = dpi / 72
    return (
        slice(round((y - grow_pt) * s), round((y + h + grow_pt) * s)),
        slice(round((x - grow_pt) * s), round((x + w + grow_pt) * s)),
    )


def _blot_qr(image: np.ndarray, dpi: int) -> np.ndarray:
    """A black rectangle over the QR code and its quiet zone."""
    out = image.copy()
    out[_px(LAYOUT.barcode, dpi)] = 0
    return out


def _scribble_qr(image: np.ndarray, dpi: int, seed: int = 3) -> np.ndarray:
    """Heavy pen scribble across the QR code: far beyond its 25 % error correction."""
    out = image.copy()
    rows, cols = _px(LAYOUT.barcode, dpi)
    rng = np.random.default_rng(seed)
    thickness = max(2, round(dpi / 40))
    for _ in range(60):
        p1 = (int(rng.integers(cols.start, cols.stop)), int(rng.integers(rows.start, rows.stop)))
        p2 = (int(rng.integers(cols.start, cols.stop)), int(rng.integers(rows.start, rows.stop)))
        cv2.line(out, p1, p2, 0, thickness)
    return out


def _erase_serial(image: np.ndarray, dpi: int) -> np.ndarray:
    out = image.copy()
    out[_px(LAYOUT.serial_text, dpi, grow_pt=1.0)] = 255
    return out


def _page(image: np.ndarray, dpi: int) -> PageImage:
    return PageImage(number=1, image=image, dpi=float(dpi))


def test_qr_code_identifies_with_method_qr(sheets: Callable[[int], list[np.ndarray]]) -> None:
    scan = simulate_scan(sheets(200)[GOOD], rotate=90, skew_deg=1.5, noise=5.0, blur=0.6)
    identity = identify_page(_page(scan, 200))
    assert identity.payload == BarcodePayload(SERIAL, FORM_V1, 1)
    assert identity.method == METHOD_QR
    assert identity.barcode is not None
    assert identity.rotation == 90


@pytest.mark.parametrize(
    ("dpi", "rotate", "skew", "damage", "index", "serial"),
    [
        (200, 0, 1.5, "blot", GOOD, SERIAL),
        (300, 180, -2.0, "scribble", GOOD, SERIAL),
        (200, 90, 2.5, "blot", OTHER, OTHER_SERIAL),
        (300, 270, -1.0, "scribble", OTHER, OTHER_SERIAL),
    ],
)
def test_blotted_qr_code_is_identified_by_its_printed_serial(
    sheets: Callable[[int], list[np.ndarray]],
    dpi: int,
    rotate: int,
    skew: float,
    damage: str,
    index: int,
    serial: str,
) -> None:
    """GIVEN a scanned sheet (turned, skewed, noisy) whose QR code is blotted or scribbled out
    WHEN the page is identified
    THEN the printed serial is read: the right sheet, the right rotation, method serial_ocr."""
    damaged = (_blot_qr if damage == "blot" else _scribble_qr)(sheets(dpi)[index], dpi)
    scan = simulate_scan(damaged, rotate=rotate, skew_deg=skew, noise=6.0, blur=0.7, seed=index)
    assert find_barcode(scan, dpi=dpi) is None  # the damage really defeats the QR code

    identity = identify_page(_page(scan, dpi))

    assert identity.identified
    assert identity.payload == BarcodePayload(serial, FORM_V1, 1)
    assert identity.method == METHOD_SERIAL_OCR
    assert identity.barcode is None
    assert identity.rotation == rotate
    assert identity.reason is None


def test_qr_code_and_serial_both_destroyed_is_unidentified(
    sheets: Callable[[int], list[np.ndarray]],
) -> None:
    """GIVEN a sheet with its QR code blotted and its printed serial erased
    WHEN identified THEN it is unidentified (no_barcode_found), with no method."""
    damaged = _erase_serial(_blot_qr(sheets(200)[GOOD], 200), 200)
    scan = simulate_scan(damaged, rotate=180, skew_deg=1.0, noise=5.0, blur=0.6)

    identity = identify_page(_page(scan, 200))

    assert not identity.identified
    assert identity.payload is None
    assert identity.reason == NO_BARCODE_FOUND
    assert identity.method is None
    assert identity.rotation is None


@pytest.mark.parametrize("dpi", [200, 300])
def test_serial_with_a_wrong_check_character_is_never_accepted(
    sheets: Callable[[int], list[np.ndarray]], dpi: int
) -> None:
    """GIVEN a sheet whose printed serial reads cleanly but has a wrong check character
    (a misprint, or what a misread that keeps a serial's shape looks like), QR code blotted
    WHEN identified
    THEN OCR does read that text, and the page is still left unidentified."""
    scan = simulate_scan(_blot_qr(sheets(dpi)[MISPRINTED], dpi), skew_deg=-1.0, noise=4.0)

    identity = identify_page(_page(scan, dpi))

    assert not identity.identified
    assert identity.reason == NO_BARCODE_FOUND
    assert read_printed_serial(scan, dpi=dpi) is None
    # The text is legible, so it is the check character that refused it.
    box = scan[_px(LAYOUT.serial_text, dpi, grow_pt=3.0)]
    read = ocr_text(box, psm=7, dpi=dpi, whitelist=ALPHABET + "-").strip()
    assert read == format_serial(BAD_CHECK)


def test_accept_needs_two_agreeing_valid_reads_and_no_rival() -> None:
    good = "7K2M-9QXR-4T8"
    rival = "P0WV-3WQ0-H3D"
    assert _accept((good, good)) == SERIAL
    assert _accept((good, "7K2M-90QXR-4T8", good, "")) == SERIAL
    assert _accept((good,)) is None  # one read is not enough
    assert _accept((good, good, rival)) is None  # two different valid serials: refuse
    assert _accept(("7K2M-9QXR-4T9", "7K2M-9QXR-4T9")) is None  # check character wrong
    assert _accept(("7K2M9QXR4T8", "7K2M9QXR4T8")) is None  # not the printed shape


def test_tesseract_reads_text_and_reports_a_missing_binary() -> None:
    image = np.full((60, 400), 255, dtype=np.uint8)
    cv2.putText(image, "7K2M-9QXR", (10, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.4, 0, 3)
    assert ocr_text(image, psm=7, whitelist="0123456789ABCDEFGHJKMNPQRSTVWXYZ-").strip() == (
        "7K2M-9QXR"
    )
    with pytest.raises(TesseractError, match="not installed"):
        ocr_text(image, binary="tesseract-that-does-not-exist")
    with pytest.raises(ValueError):
        ocr_text(np.zeros((4, 4, 3), np.uint8))


def test_accept_refuses_reads_that_disagree_and_swaps_only_a_known_confusion() -> None:
    """The reads of a photocopied v1 page that once went to the wrong sheet (three reads
    ``W8XR``, three ``WEXR``, the latter valid by chance) are refused; Courier's 0 read as 6
    or 8 now and then does not stop a serial most reads agree on; on OCR-B a serial whose
    only reads have S for 5 is recovered when exactly one valid serial comes out, and two
    equally good swaps are refused; rarer confusions explain reads, never make a serial."""
    photocopy = ("4892-W8XR-SPK",) * 3 + ("4892-WEXR-SPK",) * 3 + ("4892-W3SXR-SPK",)
    assert _accept(photocopy, FORM_V1) is None
    courier = ("HDK3-BMRC-0Q9",) * 4 + ("HDK3-BMRC-8Q9", "HOK3-BMRC-6Q9", "HDK3-BMRC-6Q9")
    assert _accept(courier, FORM_V1) == "HDK3BMRC0Q9"
    ocr_b = ("ESHI-7T99-2NE",) * 2 + ("ESHJ-7T99-2NE",) * 3 + ("ESHE-7TOV-2NE",)
    assert _accept(ocr_b, FORM_V2) == "E5HJ7T992NE"
    # Read as a v1 (Courier) serial, S for 5 is no known confusion: refused.
    assert _accept(ocr_b, FORM_V1) is None
    # Blotted v2 pages of `make bench-review`: the right serial read only 2-3 times of 7, the
    # other reads a 0 as Q or D, or a blurred 9 as O: these explain a read, they do not
    # contradict it (and never make a candidate of their own).
    blurred = ("GK9V-6HQP-VHY",) * 2 + ("GKOV-6HQP-VHY",) * 3 + ("GK9OV-6HQP-VHY",)
    assert _accept(blurred, FORM_V2) == "GK9V6HQPVHY"
    one_bit = ("XC5Z-AQY5-VPD",) * 2 + ("XC5Z-AOY5-VPD",) * 3 + ("XC5Z-ADY5-VPD",)
    assert _accept(one_bit, FORM_V2) == "XC5ZA0Y5VPD"
    assert _accept(("XC5Z-AQY5-VPD",) * 4, FORM_V2) is None  # no read right: no swap to 0


@pytest.mark.parametrize(("form", "seed", "threshold"), [(FORM_V1, 4, 170), (FORM_V2, 7, 150)])
def test_a_photocopied_code_whose_modules_ran_together_is_read_thinned(
    form: str, seed: int, threshold: int, tmp_path: Path
) -> None:
    """GIVEN a sheet photocopied three times at 200 dpi (toner spreading until the light
    modules between dark ones close up) and scanned as 1-bit at 300 dpi
    WHEN the page is identified
    THEN its QR code is read where the registered layout puts it, with its ink thinned (as it
    is and cleaned up, zbar cannot read it): the right serial, no OCR needed."""
    pdf = tmp_path / "sheet.pdf"
    render_sheets([sample_sheet(SERIAL, month=MONTH, form=form)], pdf)
    printed = next(iter(load_pages(pdf, dpi=200))).image
    copy = simulate_scan(simulate_photocopy(printed, generations=3, seed=seed), skew_deg=1.5)
    grey = cv2.resize(copy, None, fx=1.5, fy=1.5, interpolation=cv2.INTER_CUBIC)
    scan = np.where(grey > threshold, 255, 0).astype(np.uint8)

    identity = identify_page(PageImage(number=1, image=scan, dpi=300.0))

    assert identity.payload is not None and identity.payload.serial == SERIAL
    assert identity.method == METHOD_QR
    assert identity.barcode is not None
    assert identity.barcode.method.startswith("box@1:thinned"), identity.barcode.method
