"""A page's digit cells and mark boxes read together give exactly what reading each gives."""

from __future__ import annotations

from typing import Any

import numpy as np

from fixtures.fill import degrade_in_place, fill_page, plan_sheet
from forms.layout import Layout, MarkField, TimeField
from scanner.digits import ink_fraction, ink_masks, prepare_cell, prepare_masks
from scanner.marks import INK_LEVEL, MARK_INSET_PT, mark_features, mark_features_many
from scanner.readings import CANON_DPI, crop


def test_cells_prepared_together_equal_cells_prepared_one_by_one(
    printed_canon: tuple[Any, Layout],
) -> None:
    """GIVEN a filled canonical page (pen, crossed-out digits, digits across the box line),
    grainy or 1-bit, its cells cut exactly and a little off (as registration leaves them)
    WHEN the cells' masks and network inputs are computed for all cells at once
    THEN every ink share and every input equals the one-cell functions' to the last bit."""
    canon, layout = printed_canon
    rng = np.random.default_rng(5)
    truth = plan_sheet(layout, rng, font_rate=0.0, border_cross_rate=0.2, cross_out_rate=0.1)
    filled = fill_page(canon, CANON_DPI, layout, truth, rng)
    cells = []
    for kinds in (["noise"], ["bilevel300"], ["blur", "jpeg"]):
        page = degrade_in_place(filled, CANON_DPI, rng, kinds)
        for field in layout.fields:
            if isinstance(field, TimeField):
                for x, y, w, h in field.cells:
                    dx, dy = rng.uniform(-1.5, 1.5, size=2)
                    cells.append(crop(page, (x + dx, y + dy, w, h)))
    cells.append(np.zeros((0, 0), np.uint8))  # a cell cut off the page
    cells.append(np.full((6, 30), 40, np.uint8))  # too small to be a digit
    masks, shares = ink_masks(cells)
    assert [float(s) for s in shares] == [ink_fraction(c) for c in cells]
    prepared = prepare_masks(masks)
    expected = np.stack([prepare_cell(c) for c in cells])
    assert np.array_equal(prepared, expected)
    inked = int((shares >= 0.004).sum())
    assert inked > 200 and len({m.shape for m in masks}) > 1  # several sizes, many digits


def test_mark_boxes_measured_together_equal_boxes_measured_one_by_one(
    printed_canon: tuple[Any, Layout],
) -> None:
    """GIVEN the filled page grainy, as a dark 1-bit scan (printed boxes turned black) and
    blurred JPEG, every mark and AM/PM box cut exactly and off by up to 1.5 pt
    WHEN all boxes are measured at once
    THEN each box's ink share and stroke extent equal `mark_features` of that box alone."""
    canon, layout = printed_canon
    rng = np.random.default_rng(6)
    truth = plan_sheet(layout, rng, font_rate=0.0)
    filled = fill_page(canon, CANON_DPI, layout, truth, rng)
    dark = np.where(filled < 200, 0, 255).astype(np.uint8)  # the box tone turns black
    boxes = [f.box for f in layout.fields if isinstance(f, MarkField)]
    boxes += [b for f in layout.fields if isinstance(f, TimeField) for b in (f.am, f.pm)]
    for page in (degrade_in_place(filled, CANON_DPI, rng, ["noise"]), dark, filled):
        moved = []
        for x, y, w, h in boxes:
            dx, dy = rng.uniform(-1.5, 1.5, size=2)
            moved += [(x, y, w, h), (x + dx, y + dy, w, h)]
        moved.append((-50.0, -50.0, 11.5, 11.5))  # off the page: nothing to measure
        together = mark_features_many(page, moved)
        assert together == [mark_features(page, box) for box in moved]
    # The dark scan's black box borders drift into the crops and are taken out.
    assert any(
        (crop(dark, box, inset_pt=MARK_INSET_PT) < INK_LEVEL).mean() > found.ink
        for box, found in zip(moved, mark_features_many(dark, moved), strict=True)
    )
