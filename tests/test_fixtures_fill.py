"""The filled-sheet generator: its truth says what is on the page, and its batches load.

Sheets are real: rendered by `forms.render`, rasterized by poppler, read back with zbar.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from fixtures.fill import (
    DEGRADATIONS,
    SheetTruth,
    degrade,
    degrade_in_place,
    fill_page,
    make_reading_batch,
    plan_sheet,
)
from fixtures.samples import sample_sheet
from forms.layout import DateField, Layout, MarkField, Rect, SignatureField, TimeField, build_layout
from forms.render import render_sheets
from scanner.barcode import find_barcode
from scanner.load import load_pages
from scanner.marks import read_mark
from scanner.readings import CANON_DPI, crop
from scanner.signature import read_signature

MONTH = dt.date(2026, 11, 1)
INK = 150  # darker than this is pen ink; the printed drop-out boxes are ~191


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, Layout]:
    sheet = sample_sheet("0123456789A", month=MONTH)
    pdf = tmp_path_factory.mktemp("fill") / "sheet.pdf"
    render_sheets([sheet], pdf)
    page = next(iter(load_pages(Path(pdf), dpi=CANON_DPI)))
    return page.image, build_layout(sheet.serial, sheet.month)


def _ink_pixels(page: np.ndarray, rect: Rect, inset_pt: float) -> int:
    return int((crop(page, rect, inset_pt=inset_pt) < INK).sum())


def _to_24h(cells: tuple[str | None, ...], ampm: str) -> str:
    hour = int("".join(c or "0" for c in cells[:2]))
    minute = "".join(c or "" for c in cells[2:])
    hour = hour % 12 + (12 if ampm == "pm" else 0)
    return f"{hour:02d}:{minute}"


def test_plans_are_realistic_months(printed: tuple[np.ndarray, Layout]) -> None:
    """GIVEN 300 planned months WHEN their truth is tallied THEN times sit in the usual
    hours and agree with the 12-hour cells, absences carry one reason, and both signatures
    are there on about 85 % of sheets."""
    _, layout = printed
    both_signed = 0
    days: Counter[str] = Counter()
    for seed in range(300):
        truth = plan_sheet(layout, np.random.default_rng(seed), font_rate=0.0)
        both_signed += all(truth.signatures.values())
        for date in sorted({f.date for f in layout.fields if isinstance(f, TimeField)}):
            prefix = f"day.{date.day:02d}"
            t_in, t_out = truth.times[f"{prefix}.in"], truth.times[f"{prefix}.out"]
            marked = [n for n, v in truth.marks.items() if n.startswith(prefix) and v == "marked"]
            assert len(marked) <= 1
            if t_in.time or t_out.time:
                assert not marked
                days["present"] += 1
            elif marked:
                days["absent"] += 1
            else:
                days["blank"] += 1
            for t, low, high in ((t_in, "06:30", "09:30"), (t_out, "11:30", "18:30")):
                if t.time is None:
                    assert t.cells == (None, None, None, None)
                    continue
                assert low <= t.time <= high
                assert t.cells[1] is not None and t.cells[2] is not None
                ampm = "am" if t.time < "12:00" else "pm"
                assert t.ampm in (ampm, None)
                if not t.crossed_out:
                    assert _to_24h(t.cells, ampm) == t.time
    assert 0.78 <= both_signed / 300 <= 0.92
    assert days["present"] > days["absent"] > 0 and days["blank"] > 0


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_filled_ink_is_where_the_truth_says(printed: tuple[np.ndarray, Layout], seed: int) -> None:
    """GIVEN a real sheet filled from a plan with extra crossed-out and border-crossing digits
    WHEN every cell and box is inspected
    THEN written cells hold ink and empty ones none; marks and signatures read as planned."""
    page, layout = printed
    rng = np.random.default_rng(seed)
    truth = plan_sheet(layout, rng, border_cross_rate=0.1, cross_out_rate=0.1)
    assert any(t.crossed_out for t in truth.times.values())
    assert any(t.border_cross is not None for t in truth.times.values())
    filled = fill_page(page, CANON_DPI, layout, truth, rng)
    assert filled.shape == page.shape and filled.dtype == np.uint8
    crossers = {name for name, t in truth.times.items() if t.border_cross is not None}
    written_cells = 0
    for f in layout.fields:
        if isinstance(f, TimeField):
            t = truth.times[f.name]
            for cell, value in zip(f.cells, t.cells, strict=True):
                ink = _ink_pixels(filled, cell, inset_pt=2.0)
                if value is None:
                    # A digit written across a border spills only above and below its cell.
                    assert ink == 0 or f.name in crossers, (f.name, cell)
                else:
                    written_cells += 1
                    assert ink > 20, (f.name, value)
            for box, which in ((f.am, "am"), (f.pm, "pm")):
                assert (read_mark(filled, f.name, box).value == "marked") == (t.ampm == which)
        elif isinstance(f, MarkField):
            assert read_mark(filled, f.name, f.box).value == truth.marks[f.name], f.name
        elif isinstance(f, SignatureField):
            signed = read_signature(filled, f.name, f.box).value == "signed"
            assert signed == truth.signatures[f.name]
        elif isinstance(f, DateField):
            for cell, value in zip(f.cells, truth.dates[f.name].cells, strict=True):
                assert (_ink_pixels(filled, cell, inset_pt=2.0) > 20) == (value is not None)
    assert written_cells > 50
    # Nothing was drawn outside the fields: the header and the QR code are untouched.
    assert np.array_equal(filled[:250], page[:250])


def test_truth_json_round_trips(printed: tuple[np.ndarray, Layout]) -> None:
    _, layout = printed
    truth = plan_sheet(layout, np.random.default_rng(4), cross_out_rate=0.2)
    text = json.dumps(truth.to_json())
    assert SheetTruth.from_json(json.loads(text)) == truth
    data = json.loads(text)
    assert data["serial"] == layout.serial and data["month"] == "2026-11"
    assert set(data["times"]) == {f.name for f in layout.fields if isinstance(f, TimeField)}
    assert set(data["marks"]) == {f.name for f in layout.fields if isinstance(f, MarkField)}


def test_degradations(printed: tuple[np.ndarray, Layout]) -> None:
    page, _ = printed
    rng = np.random.default_rng(2)
    flipped, dpi = degrade(page, 200, rng, ["rotate180"])
    assert dpi == 200 and np.array_equal(flipped, page[::-1, ::-1])
    bilevel, dpi = degrade(page, 200, rng, ["bilevel300", "noise"])
    assert dpi == 300 and bilevel.shape == (3300, 2550)
    assert set(np.unique(bilevel)) <= {0, 255}
    grey, dpi = degrade(bilevel, 300, rng, ["gray200"])
    assert dpi == 200 and grey.shape == page.shape
    scaled, _ = degrade(page, 200, rng, ["scale", "skew", "blur", "jpeg"])
    assert scaled.shape == page.shape
    kept = degrade_in_place(page, 200, rng, ["bilevel300", "blur"])
    assert kept.shape == page.shape
    with pytest.raises(ValueError):
        degrade(page, 200, rng, ["wrinkle"])
    with pytest.raises(ValueError):
        degrade_in_place(page, 200, rng, ["skew"])
    assert "blot_qr" in DEGRADATIONS


def test_make_reading_batch_writes_pages_with_truth(tmp_path: Path) -> None:
    """GIVEN a batch of five sheets (PNG, JPEG, 1-bit TIFF, 200-dpi grey, blotted QR)
    WHEN each page is loaded as intake would
    THEN its truth sits beside it, and its QR code decodes to its serial unless blotted."""
    paths = make_reading_batch(tmp_path, sheets=5, seed=21)
    assert [p.name for p in paths] == [
        "page-0001.png",
        "page-0002.jpg",
        "page-0003.tif",
        "page-0004.png",
        paths[4].name,
    ]
    for path in paths:
        truth_path = path.with_name(path.stem + ".truth.json")
        truth = SheetTruth.from_json(json.loads(truth_path.read_text()))
        page = next(iter(load_pages(path)))
        assert page.dpi == pytest.approx(truth.dpi, abs=0.01)
        assert set(truth.degradations) <= set(DEGRADATIONS)
        assert ("bilevel300" in truth.degradations) == (path.suffix == ".tif")
        found = find_barcode(page.image, dpi=page.dpi)
        if "blot_qr" in truth.degradations:
            continue
        assert found is not None, path.name
        assert truth.serial in found.text
        assert found.rotation == truth.rotation
    assert (
        "blot_qr"
        in SheetTruth.from_json(
            json.loads(paths[4].with_name(paths[4].stem + ".truth.json").read_text())
        ).degradations
    )
