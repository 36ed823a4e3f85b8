"""Read the printed header of a page nobody could identify, and find which way up it is.

A reviewer identifying a page by eye is helped by the header's text (child, provider, month)
and by seeing the page upright. The page has no code to say how it was turned, so the top
band is read in each quarter turn, the likeliest first, and the turn that reads the most of
the form's printed header words is taken as upright.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from scanner.tesseract import ocr_text

# Words printed in the header of every sheet.
HEADER_WORDS = (
    "ATTENDANCE",
    "MONTHLY",
    "RECORD",
    "CHILD",
    "PARENT",
    "PROVIDER",
    "CERTIFICATE",
    "SCHEDULE",
    "SPECIALIST",
    "ABSENCE",
)
# Upright, upside down, then sideways: the order pages are most often fed in.
_TURNS = (0, 180, 90, 270)
# This many header words found: the turn is right, the others need not be read. Measured on
# a printed sheet at 150 dpi: upright reads all 10; a quarter turn off still reads up to 4
# (tesseract reads the left end of each line turned sideways), so 3 was not enough.
_ENOUGH_WORDS = 7
_TOP_BAND = 0.25
_MAX_TEXT = 2000

_ROTATE_CODES = {
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}


@dataclass(frozen=True)
class HeaderReading:
    """The header's text (None when nothing was read) and the clockwise turn, in degrees,
    that shows the page upright (0 when no turn read any header word better)."""

    text: str | None
    turn: int


def turned(image: np.ndarray, turn: int) -> np.ndarray:
    """`image` turned `turn` degrees clockwise (0, 90, 180 or 270)."""
    if turn == 0:
        return image
    if turn not in _ROTATE_CODES:
        raise ValueError("turn must be 0, 90, 180 or 270")
    return cv2.rotate(image, _ROTATE_CODES[turn])


def read_header(image: np.ndarray, *, dpi: float) -> HeaderReading:
    """What tesseract reads in the top band of the page, in whichever quarter turn reads the
    most header words. Raises TesseractError when tesseract is missing or fails."""
    best: tuple[int, str, int] = (-1, "", 0)
    for turn in _TURNS:
        upright = turned(image, turn)
        band = upright[: max(1, round(upright.shape[0] * _TOP_BAND))]
        text = ocr_text(np.ascontiguousarray(band), psm=3, dpi=round(dpi))
        score = sum(word in text.upper() for word in HEADER_WORDS)
        if score > best[0]:
            best = (score, text, turn)
        if score >= _ENOUGH_WORDS:
            break
    _, text, turn = best
    lines = [" ".join(line.split()) for line in text.splitlines()]
    kept = "\n".join(line for line in lines if len(line) > 1)[:_MAX_TEXT] or None
    return HeaderReading(text=kept, turn=turn)
