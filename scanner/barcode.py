"""Find and decode the sheet's QR code on a scanned page, in any orientation.

The QR code is printed near the top-right corner. However the sheet went through the scanner
(upright, upside down, sideways), it ends up near one of the page's four corners, so the search
looks there first on a reduced image, which is cheap, and only then widens: whole page reduced,
whole page at full resolution, and finally a cleaned-up page for damaged or noisy scans.
Only codes whose text is one of our payloads are accepted; any other QR code is ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from pyzbar.pyzbar import ZBarSymbol
from pyzbar.pyzbar import decode as zbar_decode

from forms.payload import decode_payload

# Reduced tiers work at about this resolution: at 150 dpi a 0.9 in code with 37 modules
# (version 3 plus quiet zone) still has ~3.6 px per module, enough for zbar.
SEARCH_DPI = 150.0

# A corner region is a square with this fraction of the page's short side (3.4 in on Letter):
# it holds a code printed up to ~2 in from both edges, with room for skew and feed offset.
CORNER_FRACTION = 0.4

# zbar reports which way the symbol's top points. Checked on pages turned with np.rot90:
# a page turned 90 degrees clockwise gives "RIGHT", and so on.
_ROTATION_BY_ORIENTATION = {"UP": 0, "RIGHT": 90, "DOWN": 180, "LEFT": 270}

# Where the top-right code lands when the page is turned clockwise by the given angle.
_CORNER_FOR_ROTATION = {0: "tr", 90: "br", 180: "bl", 270: "tl"}
_ROTATION_FOR_CORNER = {corner: rotation for rotation, corner in _CORNER_FOR_ROTATION.items()}


@dataclass(frozen=True)
class Barcode:
    """Our QR code as found on a page.

    `polygon` is in full-page pixel coordinates; `rotation` is how far the page is turned
    clockwise from upright (0, 90, 180, 270); `method` names the search step that found it.
    """

    text: str
    polygon: tuple[tuple[float, float], ...]
    rotation: int
    method: str


def find_barcode(page: np.ndarray, *, dpi: float, corners_only: bool = False) -> Barcode | None:
    """Return the page's Attendance Intake QR code, or None when there is none to read.

    `corners_only`: only the cheap first tiers (the four corners, reduced), not the whole
    page (a whole-page search costs up to a second or more on a page with no code of ours).
    """
    if page.ndim != 2 or page.dtype != np.uint8:
        raise ValueError("page must be a 2-D uint8 grey image")
    if dpi <= 0:
        raise ValueError("dpi must be positive")
    for method, region, scale, origin in _search_regions(page, dpi):
        if corners_only and not method.startswith("corner:"):
            return None
        found = _decode_region(region, scale=scale, origin=origin, page=page, method=method)
        if found is not None:
            return found
    return None


def find_barcode_in(
    page: np.ndarray, *, dpi: float, box: tuple[int, int, int, int]
) -> Barcode | None:
    """Our QR code within `box` (left, top, right, bottom pixels) of the page, where the
    registered layout puts it: read as it is at full resolution, then cleaned up."""
    height, width = page.shape
    left, top = max(0, box[0]), max(0, box[1])
    right, bottom = min(width, box[2]), min(height, box[3])
    if right - left < 8 or bottom - top < 8:
        return None
    crop = page[top:bottom, left:right]
    for method, region in _box_variants(crop, dpi):
        found = _decode_region(region, scale=1.0, origin=(left, top), page=page, method=method)
        if found is not None:
            return found
    return None


def _box_variants(crop: np.ndarray, dpi: float) -> Iterator[tuple[str, np.ndarray]]:
    """The QR box as it is, cleaned up, then with its ink thinned: a photocopy of a
    photocopy spreads toner until the light modules between dark ones close up (zbar then
    finds the finder patterns but not the data), and taking about 1/75 in, then 1/50 in, off
    every dark edge opens them again. Lazily, cheapest first."""
    yield "box@1", crop
    binary = _binarise(crop)
    yield "box@1:cleaned", _mend(binary, dpi)
    for per_inch in (75, 50):
        size = max(2, round(dpi / per_inch))
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
        # White grows by `size` px into the ink: every dark module shrinks by as much.
        yield f"box@1:thinned{size}", cv2.dilate(binary, kernel)


def _search_scale(dpi: float) -> float:
    # Never enlarge; round so the method names stay readable ("@0.5", "@0.75").
    return min(1.0, round(SEARCH_DPI / dpi, 2))


def _corner_order(height: int, width: int) -> tuple[str, ...]:
    # Most sheets are fed upright, then upside down (both portrait); a landscape image means
    # the sheet was turned a quarter, so its code is at bottom-right (90) or top-left (270).
    if width > height:
        return ("br", "tl", "tr", "bl")
    return ("tr", "bl", "br", "tl")


def _search_regions(
    page: np.ndarray, dpi: float
) -> Iterator[tuple[str, np.ndarray, float, tuple[int, int]]]:
    """Yield (method, region image, its scale, its full-page origin) in search order.

    Lazily: each region is resized only when the previous ones failed.
    """
    height, width = page.shape
    scale = _search_scale(dpi)
    side = max(1, round(CORNER_FRACTION * min(height, width)))
    origins = {
        "tr": (0, width - side),
        "bl": (height - side, 0),
        "br": (height - side, width - side),
        "tl": (0, 0),
    }
    for corner in _corner_order(height, width):
        top, left = origins[corner]
        crop = page[top : top + side, left : left + side]
        yield f"corner:{corner}@{scale:g}", _resize(crop, scale), scale, (left, top)
    small = _resize(page, scale)
    if scale < 1.0:
        yield f"page@{scale:g}", small, scale, (0, 0)
    yield "page@1", page, 1.0, (0, 0)
    if scale < 1.0:
        yield f"page@{scale:g}:cleaned", _clean(small, dpi * scale), scale, (0, 0)
    yield "page@1:cleaned", _clean(page, dpi), 1.0, (0, 0)


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return image
    height, width = image.shape
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # INTER_AREA averages, so thin modules grey out instead of vanishing (aliasing).
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _binarise(image: np.ndarray) -> np.ndarray:
    """Black and white by Otsu's threshold, after a median that removes speckle (scanner
    noise, dust) without rounding module corners much."""
    _, binary = cv2.threshold(cv2.medianBlur(image, 3), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return binary


def _clean(image: np.ndarray, dpi: float) -> np.ndarray:
    """Denoise, binarise and mend a damaged scan so zbar sees solid modules."""
    return _mend(_binarise(image), dpi)


def _mend(binary: np.ndarray, dpi: float) -> np.ndarray:
    """A black-and-white scan with pale gaps and toner dropouts inside dark modules filled."""
    # Close on the ink (dark = foreground after inverting): fills pale gaps and toner dropouts
    # inside dark modules. About 1/100 in: well under a module (~1/40 in), so a light module
    # between two dark ones survives.
    size = max(2, round(dpi / 100))
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    ink = cv2.morphologyEx(255 - binary, cv2.MORPH_CLOSE, kernel)
    result: np.ndarray = 255 - ink
    return result


def _decode_region(
    region: np.ndarray,
    *,
    scale: float,
    origin: tuple[int, int],
    page: np.ndarray,
    method: str,
) -> Barcode | None:
    # zbar reads a packed buffer: a crop of the page is a strided view, so copy it contiguous.
    symbols = zbar_decode(np.ascontiguousarray(region), symbols=[ZBarSymbol.QRCODE])
    left, top = origin
    for symbol in symbols:
        try:
            text = symbol.data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if decode_payload(text) is None:
            continue  # another product's code, or a damaged read that fails our check symbol
        polygon = tuple((left + point.x / scale, top + point.y / scale) for point in symbol.polygon)
        rotation = _ROTATION_BY_ORIENTATION.get(str(getattr(symbol, "orientation", None)))
        if rotation is None:
            rotation = _rotation_from_position(polygon, page.shape)
        return Barcode(text=text, polygon=polygon, rotation=rotation, method=method)
    return None


def _rotation_from_position(
    polygon: tuple[tuple[float, float], ...], shape: tuple[int, ...]
) -> int:
    """Rotation implied by the corner nearest the code, for zbar builds without orientation."""
    height, width = shape[0], shape[1]
    x = sum(p[0] for p in polygon) / max(1, len(polygon))
    y = sum(p[1] for p in polygon) / max(1, len(polygon))
    corner = ("t" if y < height / 2 else "b") + ("l" if x < width / 2 else "r")
    return _ROTATION_FOR_CORNER[corner]
