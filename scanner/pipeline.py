"""Compose the scanner's stages for one page: identify it by its barcode.

Per-page failures are results with a reason, never exceptions, so one bad page does not stop
a batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forms.payload import BarcodePayload, decode_payload
from scanner.barcode import Barcode, find_barcode
from scanner.load import PageImage

NO_BARCODE_FOUND = "no_barcode_found"
"""The page has marks on it but no readable Attendance Intake QR code."""

BLANK_PAGE = "blank_page"
"""The page is (nearly) empty paper, typically the back of a sheet in a duplex scan."""

# A page whose dark pixels cover less than this fraction is blank paper: a printed sheet,
# even an unfilled one, is several percent ink; scanner dust and noise are far below this.
_BLANK_INK_FRACTION = 0.002


@dataclass(frozen=True)
class PageIdentity:
    """Which sheet and page a scanned page is, or why that could not be told."""

    payload: BarcodePayload | None
    barcode: Barcode | None
    rotation: int | None
    reason: str | None

    @property
    def identified(self) -> bool:
        """True when the page's barcode was read and is one of ours."""
        return self.payload is not None


def identify_page(page: PageImage) -> PageIdentity:
    """Find the page's QR code and say which sheet it belongs to and how it is turned."""
    barcode = find_barcode(page.image, dpi=page.dpi)
    payload = decode_payload(barcode.text) if barcode is not None else None
    if barcode is None or payload is None:
        reason = BLANK_PAGE if _is_blank(page.image) else NO_BARCODE_FOUND
        return PageIdentity(payload=None, barcode=None, rotation=None, reason=reason)
    return PageIdentity(payload=payload, barcode=barcode, rotation=barcode.rotation, reason=None)


def _is_blank(image: np.ndarray) -> bool:
    # Fixed threshold rather than Otsu: on blank paper Otsu splits the noise itself in two.
    ink = int(np.count_nonzero(image < 128))
    return ink < _BLANK_INK_FRACTION * image.size
