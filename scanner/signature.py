"""Is there a signature in a signature box? Read on the canonical image.

Only whether someone signed, never who: the reader measures the ink a pen left in the box and
decides whether it looks like handwriting rather than dirt or a slip of the pen.

1. Ink is every pixel darker than `scanner.marks.INK_LEVEL`, looked for `SIGNATURE_INSET_PT`
   inside the printed box: the drop-out box (grey ~191) never counts.
2. Long straight horizontal and vertical lines are removed with a morphological opening: a
   printed border that a dark scan turned black, a ruled signature line, a table rule.
3. Components smaller than `SignatureThresholds.min_component_pt2` are dropped: scanner
   noise, dust, specks.
4. What is left is a signature when there is enough of it (`min_ink_pt2`), it runs far
   enough across the box (`min_width`), and it is not one straight stroke: the ink's spread
   across its own main direction (`min_spread_pt`) is what a line of writing has and a
   straight slip of the pen has not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from forms.layout import Rect
from scanner.marks import INK_LEVEL
from scanner.readings import CANON_PX_PER_PT, FieldReading, crop

SIGNATURE_INSET_PT = 1.2
"""Past the printed 0.8 pt box line and about half a point of registration drift."""

_LINE_MIN_PT = 30.0  # a straight run this long (pt) is a printed or ruled line, not writing


@dataclass(frozen=True)
class SignatureThresholds:
    """Where "no signature" ends: numbers measured on generated boxes.

    Measured at 200 dpi on 1,680 generated boxes (`fixtures.handwriting`) in seven scan
    conditions (clean, noise, blur, JPEG q50-80, 1-bit at 300 dpi resampled to 200,
    blur+noise+JPEG, and a dark 1-bit scan thresholded at 200 that turns the printed box
    black), registration off by up to 1.5 pt, after the line and component filters:

    - signatures: ink 139-724 pt², width 0.42-1.00 of the box, spread 2.29-4.87 pt;
    - stray straight lines: spread <= 0.52 pt (ink up to 184 pt², width up to 0.90);
    - specks: <= 2.2 pt²; heavy noise (sigma 15-40 plus dots): <= 10.9 pt²;
    - empty boxes: 0.

    0 errors and 0 reviews at these thresholds. `min_component_pt2` 1.5 let noise clumps on
    the dark 1-bit scan reach 18 pt² (7 errors of 1,680 with `min_ink_pt2` 12); 2.0 and 40
    leave a wide margin on both sides.
    """

    min_component_pt2: float = 2.0
    min_ink_pt2: float = 40.0
    min_width: float = 0.15
    min_spread_pt: float = 1.5


@dataclass(frozen=True)
class SignatureFeatures:
    """What the signature reader measured in one box (after removing lines and specks)."""

    ink_pt2: float  # inked area in square points
    width: float  # horizontal extent of the ink as a share of the box's inner width
    height: float  # vertical extent as a share of the box's inner height
    spread_pt: float  # standard deviation of the ink across its main direction, in points
    components: int


def _ink(canon: np.ndarray, box: Rect) -> np.ndarray:
    region = crop(canon, box, inset_pt=SIGNATURE_INSET_PT)
    if region.ndim == 3:
        region = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY)
    return np.asarray(region < INK_LEVEL, dtype=np.uint8)


def _remove_straight_lines(ink: np.ndarray) -> np.ndarray:
    """Drop long exactly horizontal or vertical runs (printed borders, ruled lines)."""
    run = max(3, round(_LINE_MIN_PT * CANON_PX_PER_PT))
    horizontal = cv2.morphologyEx(
        ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (run, 1))
    )
    vertical_run = min(run, max(3, int(ink.shape[0] * 0.8)))
    vertical = cv2.morphologyEx(
        ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, vertical_run))
    )
    lines = cv2.bitwise_or(horizontal, vertical)
    # Take the line's anti-aliased fringe with it, not just its one-pixel core.
    lines = cv2.dilate(lines, np.ones((3, 3), np.uint8))
    return np.asarray(ink & (1 - lines), dtype=np.uint8)


def signature_features(
    canon: np.ndarray,
    box: Rect,
    *,
    thresholds: SignatureThresholds = SignatureThresholds(),
) -> SignatureFeatures:
    """Measure the handwriting ink in a signature box (lines and specks removed)."""
    ink = _ink(canon, box)
    if ink.size == 0 or not ink.any():
        return SignatureFeatures(0.0, 0.0, 0.0, 0.0, 0)
    ink = _remove_straight_lines(ink)
    px2_per_pt2 = CANON_PX_PER_PT**2
    min_area = thresholds.min_component_pt2 * px2_per_pt2
    count, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    keep = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= min_area]
    if not keep:
        return SignatureFeatures(0.0, 0.0, 0.0, 0.0, 0)
    mask = np.isin(labels, keep)
    ys, xs = np.nonzero(mask)
    height_px, width_px = ink.shape
    width = float(xs.max() - xs.min() + 1) / width_px
    height = float(ys.max() - ys.min() + 1) / height_px
    # Spread across the main direction: the smaller principal axis of the ink's pixels. A
    # straight stroke at any angle has only its pen width (~0.3 pt); writing has loops.
    coords = np.stack([xs, ys]).astype(np.float64)
    if coords.shape[1] >= 3:
        eigen = np.linalg.eigvalsh(np.cov(coords))
        spread = math.sqrt(max(0.0, float(eigen[0]))) / CANON_PX_PER_PT
    else:
        spread = 0.0
    return SignatureFeatures(
        ink_pt2=float(xs.size) / px2_per_pt2,
        width=width,
        height=height,
        spread_pt=spread,
        components=len(keep),
    )


def _logistic(margin: float, scale: float) -> float:
    return 1.0 / (1.0 + math.exp(-margin / scale))


def read_signature(
    canon: np.ndarray,
    name: str,
    box: Rect,
    *,
    review_below: float = 0.9,
    thresholds: SignatureThresholds = SignatureThresholds(),
) -> FieldReading:
    """``"signed"`` when the box holds handwriting, None when it is empty or only soiled.

    Confidence is a logistic of the margins by which the measurements pass (or miss) their
    thresholds; a signed box needs all three, so its confidence is the smallest. Never says
    who signed.
    """
    f = signature_features(canon, box, thresholds=thresholds)
    t = thresholds
    margins = (
        _logistic(f.ink_pt2 - t.min_ink_pt2, 8.0),
        _logistic(f.width - t.min_width, 0.04),
        _logistic(f.spread_pt - t.min_spread_pt, 0.25),
    )
    signed = (
        f.ink_pt2 >= t.min_ink_pt2 and f.width >= t.min_width and f.spread_pt >= t.min_spread_pt
    )
    if signed:
        confidence = min(margins)
        reason = None
    else:
        confidence = max(1.0 - m for m in margins)
        if f.ink_pt2 == 0:
            reason = None
        elif f.spread_pt < t.min_spread_pt and f.width >= t.min_width:
            reason = "straight_line"
        else:
            reason = "too_little_ink"
    needs_review = confidence < review_below
    if needs_review:
        reason = reason or "ambiguous_signature"
    return FieldReading(
        name=name,
        kind="signature",
        value="signed" if signed else None,
        confidence=round(confidence, 4),
        needs_review=needs_review,
        reason=reason if needs_review else None,
    )
