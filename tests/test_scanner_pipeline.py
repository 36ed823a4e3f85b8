"""The page composer (`scanner.pipeline.read_page`, `read_page_as`) on real filled sheets.

A real sheet is rendered (`forms.render`), rasterized by poppler, filled with held-out
handwriting (`fixtures.fill`) and scanned (`scanner.simulate`): what the composer reads is
compared with what was written.
"""

from __future__ import annotations

import ast
import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fixtures.fill import SheetTruth, degrade_with_params, fill_page, plan_sheet
from fixtures.samples import sample_sheet
from forms.layout import FORM_V1, FORM_V2, Layout, build_layout
from forms.payload import BarcodePayload
from forms.render import render_sheets
from forms.serial import check_symbol
from scanner.digits import DigitReader
from scanner.header import HEADER_WORDS, read_header, turned
from scanner.load import PageImage, load_pages
from scanner.pipeline import (
    METHOD_QR,
    METHOD_REVIEWER,
    METHOD_SERIAL_OCR,
    NOT_REGISTERED,
    PageReading,
    Reading,
    SheetContext,
    identify_page,
    read_page,
    read_page_as,
)
from scanner.readings import canon_shape
from scanner.simulate import simulate_photo, simulate_scan

REPO = Path(__file__).resolve().parent.parent
SERIAL = "0123456789T"
MONTH = dt.date(2026, 11, 1)
DPI = 300


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, Layout, SheetTruth]:
    """A printed sheet at 300 dpi, filled in by hand (a seeded month), upright, unscanned."""
    sheet = sample_sheet(SERIAL, month=MONTH)
    pdf = tmp_path_factory.mktemp("composer") / "sheet.pdf"
    render_sheets([sheet], pdf)
    printed = next(iter(load_pages(pdf, dpi=DPI))).image
    layout = build_layout(SERIAL, MONTH)
    rng = np.random.default_rng(20261)
    truth = plan_sheet(layout, rng, font_rate=0.0, border_cross_rate=0.0, cross_out_rate=0.0)
    return fill_page(printed, DPI, layout, truth, rng), layout, truth


@pytest.fixture(scope="module")
def reading() -> Reading:
    return Reading(reader=DigitReader.load())


def _context() -> SheetContext:
    # The sample certificate: Mon-Fri 07:30-17:30 all month.
    days = [MONTH + dt.timedelta(days=n) for n in range(30)]
    return SheetContext(
        serial=SERIAL,
        month=MONTH,
        windows={d: ((450, 1050),) if d.weekday() < 5 else () for d in days},
    )


def _known(serial: str) -> SheetContext | None:
    return _context() if serial == SERIAL else None


def _values(result: PageReading) -> dict[str, str | None]:
    return {r.name: r.value for r in result.readings}


def _check_against_truth(result: PageReading, truth: SheetTruth) -> None:
    by_name = {r.name: r for r in result.readings}
    for name, mark in truth.marks.items():
        assert by_name[name].value == mark, name
    for name, signed in truth.signatures.items():
        assert (by_name[name].value == "signed") == signed, name
    filled_times = [(name, t.time) for name, t in truth.times.items() if t.time is not None]
    assert len(filled_times) > 20
    right = [name for name, time in filled_times if by_name[name].value == time]
    assert len(right) / len(filled_times) >= 0.9, f"{len(right)}/{len(filled_times)}"
    # Confident and wrong is what costs money: nothing accepted without review is wrong.
    wrong_accepted = [
        (r.name, r.value, truth.times[r.name].time)
        for r in result.readings
        if r.kind == "time" and not r.needs_review and r.value != truth.times[r.name].time
    ]
    assert wrong_accepted == []


def test_a_filled_scanned_sheet_is_identified_registered_and_read(
    filled: tuple[np.ndarray, Layout, SheetTruth], reading: Reading
) -> None:
    """GIVEN a filled sheet scanned upside down with a little skew and grain
    WHEN the composer reads it, knowing the sheet's month and schedule
    THEN it is identified by its QR code turned 180 degrees, registered closely, every mark
    and signature is read as written, the times as written (none wrong without review), the
    canonical page is kept, and each stage's time is given."""
    image, _, truth = filled
    scan = simulate_scan(image, rotate=180, skew_deg=1.2, noise=5.0, blur=0.6, seed=3)
    result = read_page(PageImage(1, scan, DPI), context_for=_known, reading=reading)
    assert result.identity.payload is not None and result.identity.payload.serial == SERIAL
    assert result.identity.method == METHOD_QR and result.rotation == 180
    assert result.attempted and result.registered and result.review_reason is None
    assert result.residual_pt is not None and result.residual_pt < 1.0
    assert result.canon is not None and result.canon.shape == canon_shape(612, 792)
    _check_against_truth(result, truth)
    stages = {"identify", "register", "warp", "read"}
    assert set(result.timings) == stages | {f"{stage}:cpu" for stage in stages}
    assert all(seconds > 0 for seconds in result.timings.values())

    # Without the canonical image kept, the same readings.
    lean = read_page(PageImage(1, scan, DPI), context_for=_known, reading=reading, keep_canon=False)
    assert lean.canon is None and lean.registered and lean.readings == result.readings


def test_an_unknown_sheet_or_no_reading_set_up_is_only_identified(
    filled: tuple[np.ndarray, Layout, SheetTruth], reading: Reading
) -> None:
    image, _, _ = filled
    page = PageImage(2, simulate_scan(image, seed=4), DPI)
    unknown = read_page(page, context_for=lambda _serial: None, reading=reading)
    not_read = read_page(page, context_for=_known, reading=None)
    for result in (unknown, not_read):
        assert result.number == 2 and result.identity.identified
        assert not result.attempted and not result.registered
        assert result.readings == () and result.canon is None and result.residual_pt is None
        assert set(result.timings) == {"identify", "identify:cpu"}


def test_a_page_read_as_a_named_sheet_finds_its_turn_and_reads_as_the_composer_does(
    filled: tuple[np.ndarray, Layout, SheetTruth], reading: Reading
) -> None:
    """GIVEN the filled sheet scanned a quarter turn clockwise with its QR code blotted out,
    at the 150 dpi intake keeps unidentified pages at
    WHEN a reviewer says which sheet it is (`read_page_as`)
    THEN the quarter turn is found (90), the page registers, and its fields read as the
    composer reads them from the upright page: marks and signatures exactly, times nearly."""
    image, layout, truth = filled
    blotted = image.copy()
    x, y, w, h = (round(v * DPI / 72) for v in layout.barcode)
    blotted[y : y + h, x : x + w] = 0
    scan = simulate_scan(blotted, rotate=90, skew_deg=-0.8, noise=4.0, seed=5)
    small = np.ascontiguousarray(scan[::2, ::2])  # 150 dpi
    result = read_page_as(PageImage(7, small, DPI / 2), _context(), reading)
    assert result.identity.payload is not None and result.identity.payload.serial == SERIAL
    assert result.identity.method == METHOD_REVIEWER and result.rotation == 90
    assert result.registered and result.residual_pt is not None and result.residual_pt < 1.5
    upright = read_page(PageImage(1, image, DPI), context_for=_known, reading=reading)
    turned_values, upright_values = _values(result), _values(upright)
    assert turned_values.keys() == upright_values.keys()
    kinds = {r.name: r.kind for r in result.readings}
    for name, value in turned_values.items():
        if kinds[name] != "time":
            assert value == upright_values[name], name
    times = [n for n in turned_values if kinds[n] == "time" and truth.times[n].time is not None]
    same = sum(turned_values[n] == upright_values[n] for n in times)
    assert same / len(times) >= 0.9


def test_a_page_that_is_not_the_named_sheet_is_not_registered(reading: Reading) -> None:
    rng = np.random.default_rng(6)
    paper = np.full((1650, 1275), 245, np.uint8)
    for _ in range(40):  # a letter's lines of text, no fiducials
        row, col = int(rng.integers(100, 1500)), int(rng.integers(100, 300))
        paper[row : row + 12, col : col + int(rng.integers(300, 900))] = 30
    result = read_page_as(PageImage(1, paper, 150), _context(), reading)
    assert result.attempted and not result.registered
    assert result.review_reason == NOT_REGISTERED and result.rotation is None
    assert result.readings == () and result.canon is None


def test_the_header_is_read_in_the_turn_that_shows_it_upright(
    filled: tuple[np.ndarray, Layout, SheetTruth],
) -> None:
    image, _, _ = filled
    small = np.ascontiguousarray(image[::2, ::2])  # 150 dpi, as intake keeps the page
    sideways = np.ascontiguousarray(np.rot90(small, k=1))  # turned a quarter anticlockwise
    header = read_header(sideways, dpi=150)
    assert header.turn == 90
    assert header.text is not None
    assert sum(word in header.text.upper() for word in HEADER_WORDS) >= 3
    assert turned(sideways, header.turn).shape == small.shape


def _calls(path: Path, names: set[str]) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func: Any = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in names:
                found.append(f"{path.relative_to(REPO)}:{node.lineno} {name}")
    return found


def test_registration_and_warp_are_called_only_inside_the_scanner() -> None:
    """Every page is read through the composer: no package but `scanner` registers or warps.

    Allowed outside: tests (they test those functions) and scripts/bench_register.py, the
    micro-benchmark that times exactly these two functions."""
    allowed = {REPO / "scripts" / "bench_register.py"}
    packages = ["attendance", "forms", "intake", "review_ui", "fixtures", "training", "scripts"]
    if (REPO / "cli").is_dir():
        packages.append("cli")
    calls = [
        call
        for package in packages
        for path in sorted((REPO / package).rglob("*.py"))
        if path not in allowed
        for call in _calls(path, {"register_page", "warp_to_canon"})
    ]
    assert calls == []
    # The check does find such calls where they are.
    assert _calls(REPO / "scanner" / "pipeline.py", {"register_page", "warp_to_canon"})


# --- issue 13: v1 and v2 sheets, blotted codes, upside-down pages, phone photos ------------


def _filled_sheet(serial: str, form: str, seed: int, tmp: Path) -> tuple[np.ndarray, SheetTruth]:
    sheet = sample_sheet(serial, month=MONTH, form=form)
    pdf = tmp / f"{serial}.pdf"
    render_sheets([sheet], pdf)
    printed = next(iter(load_pages(pdf, dpi=DPI))).image
    layout = build_layout(serial, MONTH, form=form)
    rng = np.random.default_rng(seed)
    truth = plan_sheet(layout, rng, font_rate=0.0, border_cross_rate=0.0, cross_out_rate=0.0)
    return fill_page(printed, DPI, layout, truth, rng), truth


def _context_of(serial: str, form: str) -> SheetContext:
    return replace(_context(), serial=serial, form=form)


def test_v1_and_v2_sheets_side_by_side_read_each_as_its_own_form(
    tmp_path: Path, reading: Reading
) -> None:
    """GIVEN a monthly-v1 and a monthly-v2 sheet, filled and scanned crooked and enlarged on
    the same paper size (corner targets cut off)
    WHEN the composer reads each
    THEN each is identified by its QR code with its own form, registered and read as
    written."""
    for index, form in enumerate((FORM_V1, FORM_V2)):
        serial = ("0123456789T", "7K2M9QXR4T8")[index]
        image, truth = _filled_sheet(serial, form, 40 + index, tmp_path)
        page, _, _ = degrade_with_params(
            image, DPI, np.random.default_rng(index), ["cutoff", "noise"], form=form
        )
        context = _context_of(serial, form)
        result = read_page(
            PageImage(1, page, DPI), context_for=lambda s, c=context: c, reading=reading
        )
        assert result.identity.payload is not None
        assert result.identity.payload.form == form
        assert result.registered, result.review_reason
        _check_against_truth(result, truth)


@pytest.mark.parametrize("seed", range(4))
def test_a_blotted_v2_code_is_identified_by_its_ocr_b_serial(tmp_path: Path, seed: int) -> None:
    """GIVEN a monthly-v2 sheet whose QR code is blotted out, scanned with the batch's
    scanner damage (skewed, maybe upside down, blurred, noisy)
    WHEN it is identified THEN its printed OCR-B serial names it (form monthly-v2), never
    another sheet."""
    rng = np.random.default_rng(100 + seed)
    serial = "".join(rng.choice(list("0123456789ABCDEFGHJKMNPQRSTVWXYZ"), 10))
    serial += check_symbol(serial)
    image, _ = _filled_sheet(serial, FORM_V2, seed, tmp_path)
    kinds = ["blot_qr", "skew", "noise", "blur"] + (["rotate180"] if seed % 2 else [])
    page, dpi, _ = degrade_with_params(image, DPI, rng, kinds, form=FORM_V2)

    identity = identify_page(PageImage(1, page, dpi))

    assert identity.method == METHOD_SERIAL_OCR, identity
    assert identity.payload == BarcodePayload(serial, FORM_V2, 1)
    assert identity.rotation == (180 if seed % 2 else 0)


def test_an_upside_down_blotted_page_identified_by_a_reviewer_reads_the_right_way_up(
    filled: tuple[np.ndarray, Layout, SheetTruth], reading: Reading
) -> None:
    """GIVEN the filled sheet fed upside down with its QR code (and serial) blotted out, kept
    at 150 dpi as an unidentified page
    WHEN a reviewer says which sheet it is (`read_page_as`)
    THEN the half turn comes from the page's own printed structure (not four look-alike
    targets): rotation 180, and marks, signatures and times read as written (before, such a
    page could be read upside down with confident wrong values)."""
    image, layout, truth = filled
    blotted = image.copy()
    x, y, w, _ = (round(v * DPI / 72) for v in layout.barcode)
    sx, sy, sw, sh = (round(v * DPI / 72) for v in layout.serial_text)
    blotted[y : sy + sh, min(x, sx) : max(x + w, sx + sw)] = 20
    scan = simulate_scan(blotted, rotate=180, skew_deg=0.7, noise=4.0, seed=9)
    small = np.ascontiguousarray(scan[::2, ::2])  # 150 dpi

    result = read_page_as(PageImage(3, small, DPI / 2), _context(), reading)

    assert result.registered and result.rotation == 180
    by_name = {r.name: r for r in result.readings}
    for name, mark in truth.marks.items():
        assert by_name[name].value == mark, name
    wrong_accepted = [
        r.name
        for r in result.readings
        if r.kind == "time" and not r.needs_review and r.value != truth.times[r.name].time
    ]
    assert wrong_accepted == []


def test_a_phone_photo_of_a_v2_sheet_is_identified_registered_and_read(
    tmp_path: Path, reading: Reading
) -> None:
    """GIVEN a filled monthly-v2 sheet photographed with a phone (camera tilted 12 degrees,
    the page on a darker desk filling 70 % of the frame, a shadow, uneven light), saved as a
    colour JPEG with no resolution in the file
    WHEN the file is loaded and the composer reads it
    THEN it is identified by its QR code, registered with perspective, and read as written
    (nothing wrong accepted without review)."""
    serial = "7K2M9QXR4T8"
    image, truth = _filled_sheet(serial, FORM_V2, 77, tmp_path)
    photo = simulate_photo(image, tilt_deg=12.0, turn_deg=-2.0, fill=0.7, shadow=0.3, seed=4)
    path = tmp_path / "photo.jpg"
    Image.fromarray(photo[:, :, ::-1].copy(), mode="RGB").save(path, "JPEG", quality=88)
    page = next(iter(load_pages(path)))

    context = _context_of(serial, FORM_V2)
    result = read_page(page, context_for=lambda s: context, reading=reading)

    assert result.identity.method == METHOD_QR
    assert result.registered, result.review_reason
    _check_against_truth(result, truth)
