"""Images for the sheet view: the registered page with every field's box coloured by its state.

Pure image work (numpy + OpenCV): the route decides each field's state from the database and
hands the boxes (in layout points) here. Colours are chosen to read apart for most colour-blind
viewers too: besides the hue, states differ in how they are drawn (filled, outlined, faint).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from forms.canon import CANON_PX_PER_PT
from forms.layout import Rect

SHEET_IMAGE_WIDTH = 1100
PAGE_IMAGE_WIDTH = 1000
THUMB_WIDTH = 220


class BoxState(StrEnum):
    """What a field's box on the sheet image says about it (the legend's order)."""

    AUTO = "auto"  # read by the machine and accepted automatically
    CORRECTED = "corrected"  # a reviewer set (or confirmed) its value
    OPEN = "open"  # a review item on it is still open
    RED_DAY = "red_day"  # on a day with a red flag
    YELLOW_DAY = "yellow_day"  # on a day with a yellow flag
    BLANK = "blank"  # nothing written


@dataclass(frozen=True)
class Style:
    label: str
    rgb: tuple[int, int, int]
    fill: float  # opacity of the fill (0: outline only)
    thickness: int  # outline width in canonical pixels


STYLES: dict[BoxState, Style] = {
    BoxState.AUTO: Style("Auto-accepted", (26, 160, 55), 0.22, 3),
    BoxState.CORRECTED: Style("Corrected or confirmed by a reviewer", (20, 90, 230), 0.28, 4),
    BoxState.OPEN: Style("Needs review (open item)", (245, 130, 0), 0.40, 5),
    BoxState.RED_DAY: Style("On a day with a red flag", (215, 25, 35), 0.35, 5),
    BoxState.YELLOW_DAY: Style("On a day with a yellow flag", (225, 190, 0), 0.0, 5),
    BoxState.BLANK: Style("Blank", (190, 200, 210), 0.0, 2),
}


def legend() -> list[dict[str, str]]:
    """The legend rows for a template: state key, label and CSS colour."""
    return [
        {
            "state": state.value,
            "label": style.label,
            "color": "#{:02x}{:02x}{:02x}".format(*style.rgb),
        }
        for state, style in STYLES.items()
    ]


def _pixels(rect: Rect, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    x, y, w, h = rect
    s = CANON_PX_PER_PT
    left = max(0, min(shape[1] - 1, round(x * s)))
    top = max(0, min(shape[0] - 1, round(y * s)))
    right = max(0, min(shape[1] - 1, round((x + w) * s)))
    bottom = max(0, min(shape[0] - 1, round((y + h) * s)))
    return left, top, right, bottom


def draw_boxes(canon: np.ndarray, boxes: Iterable[tuple[Rect, BoxState]]) -> np.ndarray:
    """A colour (BGR) copy of the canonical page with each box drawn in its state's style.

    Boxes are in layout points; the canonical image is at `forms.canon.CANON_DPI`.
    """
    page = cv2.cvtColor(canon, cv2.COLOR_GRAY2BGR) if canon.ndim == 2 else canon.copy()
    listed = list(boxes)
    for rect, state in listed:
        style = STYLES[state]
        if style.fill <= 0:
            continue
        left, top, right, bottom = _pixels(rect, page.shape)
        region = page[top : bottom + 1, left : right + 1]
        if region.size == 0:
            continue
        r, g, b = style.rgb
        colour = np.empty_like(region)
        colour[...] = (b, g, r)
        cv2.addWeighted(colour, style.fill, region, 1 - style.fill, 0, dst=region)
    # Outlines over the fills; the louder states last, so they stay visible where boxes meet.
    order = list(STYLES)
    for rect, state in sorted(listed, key=lambda item: -order.index(item[1])):
        style = STYLES[state]
        left, top, right, bottom = _pixels(rect, page.shape)
        r, g, b = style.rgb
        cv2.rectangle(page, (left, top), (right, bottom), (b, g, r), thickness=style.thickness)
    return page


def scale_to_width(image: np.ndarray, width: int) -> np.ndarray:
    """`image` resized to `width` pixels wide (never enlarged), keeping its proportions."""
    height, current = image.shape[:2]
    if current <= width:
        return image
    new_height = max(1, round(height * width / current))
    return cv2.resize(image, (width, new_height), interpolation=cv2.INTER_AREA)


def thumbnail_png(image: np.ndarray) -> bytes:
    """A page image as a thumbnail (`THUMB_WIDTH` wide), PNG: the one size every page shows."""
    return png_bytes(scale_to_width(image, THUMB_WIDTH))


def png_bytes(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise ValueError("the image could not be encoded as PNG")
    return bytes(encoded.tobytes())
