"""A page's digit cells prepared together give exactly what preparing each one gives."""

from __future__ import annotations

from typing import Any

import numpy as np

from fixtures.fill import degrade_in_place, fill_page, plan_sheet
from forms.layout import Layout, TimeField
from scanner.digits import ink_fraction, ink_masks, prepare_cell, prepare_masks
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
