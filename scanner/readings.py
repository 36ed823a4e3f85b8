"""Field readings and the canonical page image every field reader works on.

A registered page is warped once into the layout's own coordinates at a fixed resolution,
`CANON_PX_PER_PT` pixels per PDF point (200 dpi), upright: the "canonical" image. A layout
rectangle ``[x, y, w, h]`` (points from the top-left) is then a plain array slice, so every
reader crops its cells without knowing about skew, rotation or scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forms.canon import CANON_DPI, CANON_PX_PER_PT, canon_shape, canon_slice
from forms.layout import Rect

__all__ = [
    "CANON_DPI",
    "CANON_PX_PER_PT",
    "FieldReading",
    "canon_shape",
    "canon_slice",
    "crop",
]


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


def crop(canon: np.ndarray, rect: Rect, *, inset_pt: float = 0.0) -> np.ndarray:
    """The pixels of `rect` in the canonical image (a view, not a copy)."""
    rows, cols = canon_slice(rect, inset_pt=inset_pt)
    return canon[rows, cols]
