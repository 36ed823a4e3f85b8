"""Field readings and the canonical page image every field reader works on.

A registered page is warped once into the layout's own coordinates at a fixed resolution,
`CANON_PX_PER_PT` pixels per PDF point (200 dpi), upright: the "canonical" image. A layout
rectangle ``[x, y, w, h]`` (points from the top-left) is then a plain array slice, so every
reader crops its cells without knowing about skew, rotation or scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forms.layout import Rect

CANON_DPI = 200
CANON_PX_PER_PT = CANON_DPI / 72


@dataclass(frozen=True)
class FieldReading:
    """What the machine read in one field, and how sure it is.

    `value`: times ``"HH:MM"`` (24-hour), marks ``"marked"`` / ``"cancelled"``, signatures
    ``"signed"``; None for blank/unsigned/unmarked. `reason` says why confidence is low
    (``"ambiguous_ampm"``, ``"not_a_digit"``, ``"grammar"``, ...), None when all is clear.
    """

    name: str
    kind: str
    value: str | None
    confidence: float
    needs_review: bool
    reason: str | None = None


def canon_slice(rect: Rect, *, inset_pt: float = 0.0) -> tuple[slice, slice]:
    """Rows and columns of the canonical image covered by `rect`, shrunk by `inset_pt`."""
    x, y, w, h = rect
    s = CANON_PX_PER_PT
    top, bottom = round((y + inset_pt) * s), round((y + h - inset_pt) * s)
    left, right = round((x + inset_pt) * s), round((x + w - inset_pt) * s)
    return slice(top, bottom), slice(left, right)


def crop(canon: np.ndarray, rect: Rect, *, inset_pt: float = 0.0) -> np.ndarray:
    """The pixels of `rect` in the canonical image (a view, not a copy)."""
    rows, cols = canon_slice(rect, inset_pt=inset_pt)
    return canon[rows, cols]


def canon_shape(page_width_pt: float = 612.0, page_height_pt: float = 792.0) -> tuple[int, int]:
    """(height, width) in pixels of the canonical image of a page."""
    return round(page_height_pt * CANON_PX_PER_PT), round(page_width_pt * CANON_PX_PER_PT)
