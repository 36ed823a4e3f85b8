"""The canonical raster of a layout: the page upright in layout coordinates at 200 dpi.

The scanner warps every registered page into it; crops for reviewers and training data are
cut from the stored canonical image with the same arithmetic, so it lives here, beside the
layout it rasterizes.
"""

from __future__ import annotations

from forms.layout import Rect

CANON_DPI = 200
CANON_PX_PER_PT = CANON_DPI / 72


def canon_slice(rect: Rect, *, inset_pt: float = 0.0) -> tuple[slice, slice]:
    """Rows and columns of the canonical image covered by `rect`, shrunk by `inset_pt`."""
    x, y, w, h = rect
    s = CANON_PX_PER_PT
    top, bottom = round((y + inset_pt) * s), round((y + h - inset_pt) * s)
    left, right = round((x + inset_pt) * s), round((x + w - inset_pt) * s)
    return slice(top, bottom), slice(left, right)


def canon_shape(page_width_pt: float = 612.0, page_height_pt: float = 792.0) -> tuple[int, int]:
    """(height, width) in pixels of the canonical image of a page."""
    return round(page_height_pt * CANON_PX_PER_PT), round(page_width_pt * CANON_PX_PER_PT)
