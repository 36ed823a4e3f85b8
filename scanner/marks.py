"""Read mark boxes (absence reasons, AM/PM, family fee paid) on the canonical image.

A mark box is printed in a light drop-out tone (grey ~191) and is 11.5 pt square. The reader
looks only inside the box, `MARK_INSET_PT` in from the printed line, and counts pixels darker
than `INK_LEVEL`: far below the box tone, so the printed box never counts even under scanner
noise or JPEG ringing, while pen ink (grey 15-90, a bit lighter where blurred) always does. A
box border that a dark or 1-bit scan did turn black, and that drifts into the crop when
registration is a point or so off, is removed as a full-length line along the crop's edge.

A box is "marked" when enough of it is inked AND one stroke is long enough to be a tick or a
cross (a speck of dust or a pen touch, however dark, is not a mark), and "cancelled" when it is
(nearly) blacked out. The thresholds were chosen from measurements; see `MarkThresholds`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from forms.layout import Rect
from scanner.readings import FieldReading, crop

INK_LEVEL = 150
"""Grey level below which a pixel is ink: the drop-out box is ~191, paper ~255, pens 15-90."""

MARK_INSET_PT = 1.5
"""How far inside the printed box the reader looks: past the 0.8 pt line and ~1 pt of drift."""

_EDGE_BAND_PX = 4
_EDGE_LINE_SHARE = 0.85


@dataclass(frozen=True)
class MarkThresholds:
    """Where empty ends and marked begins, and where marked ends and cancelled begins.

    `marked` and `cancelled` are ink shares of the box interior (printed box removed);
    `min_extent` is the longest ink stroke's side as a share of the interior side. Measured at
    200 dpi on 2,310 generated boxes (`fixtures.handwriting`) in seven scan conditions (clean,
    noise, blur, JPEG q50-80, 1-bit at 300 dpi resampled to 200, blur+noise+JPEG, and a dark
    1-bit scan thresholded at 200 that turns the printed box black), registration off by up
    to 1.5 pt:

    - empty boxes: ink 0.000-0.002, extent <= 0.04;
    - specks (1-3 dots): ink 0.000-0.071, extent <= 0.35;
    - ticks, 55-130 % of the box: ink 0.087-0.43, extent >= 0.46;
    - crosses: ink 0.19-0.62, extent >= 0.67;
    - blacked-out boxes: ink 1.00.

    Ink share alone cannot part specks (up to 0.071) from small ticks (from 0.087), so a
    mark also needs a stroke of `min_extent`; `cancelled` sits between the heaviest cross and
    a blacked-out box. 0 errors, 6 of 2,310 sent to review (specks and small ticks near the
    extent threshold).
    """

    marked: float = 0.04
    cancelled: float = 0.80
    min_extent: float = 0.40


@dataclass(frozen=True)
class MarkFeatures:
    """What the mark reader measured in one box."""

    ink: float  # share of the interior that is ink
    extent: float  # longest side of the largest ink stroke, as a share of the interior side


def _ink_mask(canon: np.ndarray, box: Rect) -> np.ndarray:
    region = crop(canon, box, inset_pt=MARK_INSET_PT)
    if region.ndim == 3:
        region = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY)
    ink = np.asarray(region < INK_LEVEL, dtype=np.uint8)
    if ink.size == 0 or ink.mean() >= 0.5:
        return ink
    # A printed border turned black (dark or 1-bit scan) that drifted into the crop: a
    # nearly full-length row or column near the crop's edge. Pen strokes are never both.
    band = min(_EDGE_BAND_PX, ink.shape[0] // 4, ink.shape[1] // 4)
    rows = ink.mean(axis=1) >= _EDGE_LINE_SHARE
    cols = ink.mean(axis=0) >= _EDGE_LINE_SHARE
    for index in (*range(band), *range(ink.shape[0] - band, ink.shape[0])):
        if rows[index]:
            ink[index, :] = 0
    for index in (*range(band), *range(ink.shape[1] - band, ink.shape[1])):
        if cols[index]:
            ink[:, index] = 0
    return ink


def mark_features(canon: np.ndarray, box: Rect) -> MarkFeatures:
    """Ink share and longest-stroke extent inside `box` (printed box removed)."""
    ink = _ink_mask(canon, box)
    if ink.size == 0:
        return MarkFeatures(0.0, 0.0)
    share = float(ink.mean())
    if share == 0.0:
        return MarkFeatures(0.0, 0.0)
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if count <= 1:
        return MarkFeatures(share, 0.0)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    longest = max(int(stats[largest, cv2.CC_STAT_WIDTH]), int(stats[largest, cv2.CC_STAT_HEIGHT]))
    return MarkFeatures(share, longest / max(ink.shape))


def mark_features_many(canon: np.ndarray, boxes: Sequence[Rect]) -> list[MarkFeatures]:
    """`mark_features` of every box, the same numbers: the boxes of one size (nearly all of a
    page's) thresholded, cleaned of border lines and measured together, with one connected-
    components pass over them stacked with a blank row between (components cannot cross it).
    """
    regions = [crop(canon, box, inset_pt=MARK_INSET_PT) for box in boxes]
    found: list[MarkFeatures | None] = [None] * len(boxes)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for index, region in enumerate(regions):
        if region.ndim == 2 and min(region.shape) >= 1:
            by_shape.setdefault(region.shape, []).append(index)
        else:
            found[index] = mark_features(canon, boxes[index])
    for (height, width), indices in by_shape.items():
        ink = np.stack([regions[i] for i in indices]) < INK_LEVEL
        heavy = ink.mean(axis=(1, 2)) >= 0.5
        band = min(_EDGE_BAND_PX, height // 4, width // 4)
        in_band_rows = np.zeros(height, bool)
        in_band_rows[:band] = in_band_rows[height - band :] = True
        in_band_cols = np.zeros(width, bool)
        in_band_cols[:band] = in_band_cols[width - band :] = True
        rows = (ink.mean(axis=2) >= _EDGE_LINE_SHARE) & in_band_rows & ~heavy[:, None]
        cols = (ink.mean(axis=1) >= _EDGE_LINE_SHARE) & in_band_cols & ~heavy[:, None]
        ink &= ~rows[:, :, None]
        ink &= ~cols[:, None, :]
        shares = ink.mean(axis=(1, 2))
        pitch = height + 1
        tiled = np.zeros((len(indices), pitch, width), np.uint8)
        tiled[:, :height] = ink
        count, _, stats, _ = cv2.connectedComponentsWithStats(
            tiled.reshape(-1, width), connectivity=8
        )
        largest: dict[int, tuple[int, int]] = {}  # layer -> (area, longest side), first max
        for label in range(1, count):
            layer = int(stats[label, cv2.CC_STAT_TOP]) // pitch
            area = int(stats[label, cv2.CC_STAT_AREA])
            if layer not in largest or area > largest[layer][0]:
                side = max(int(stats[label, cv2.CC_STAT_WIDTH]), int(stats[label, 3]))
                largest[layer] = (area, side)
        for layer, index in enumerate(indices):
            share = float(shares[layer])
            if share == 0.0 or layer not in largest:
                found[index] = MarkFeatures(share if layer in largest else 0.0, 0.0)
                continue
            found[index] = MarkFeatures(share, largest[layer][1] / max(height, width))
    return [f if f is not None else MarkFeatures(0.0, 0.0) for f in found]


def mark_ink(canon: np.ndarray, box: Rect) -> float:
    """Share of ink pixels inside `box`, the printed drop-out box and its border removed."""
    return mark_features(canon, box).ink


def _logistic(margin: float, scale: float) -> float:
    return 1.0 / (1.0 + math.exp(-margin / scale))


def read_mark(
    canon: np.ndarray,
    name: str,
    box: Rect,
    *,
    thresholds: MarkThresholds = MarkThresholds(),
    review_below: float = 0.9,
) -> FieldReading:
    """Read one mark box: None (empty), ``"marked"`` or ``"cancelled"`` (blacked out).

    Confidence is a logistic of how far the measurements are from the thresholds they had
    to pass (in ink share, and in stroke extent for a mark): a box right at a threshold reads
    0.5, one a typical tick's distance away ~0.99. `needs_review` when below `review_below`.
    """
    return reading_of_mark(
        name, mark_features(canon, box), thresholds=thresholds, review_below=review_below
    )


def reading_of_mark(
    name: str,
    features: MarkFeatures,
    *,
    thresholds: MarkThresholds = MarkThresholds(),
    review_below: float = 0.9,
) -> FieldReading:
    """`read_mark`'s verdict on measured `features`."""
    t = thresholds
    # Scales: how much ink (or extent) past the threshold makes the verdict 0.88-sure (e^2).
    ink_scale, extent_scale = 0.01, 0.06
    if features.ink >= t.cancelled:
        value: str | None = "cancelled"
        confidence = _logistic(features.ink - t.cancelled, 0.04)
        reason = None
    elif features.ink >= t.marked and features.extent >= t.min_extent:
        value = "marked"
        confidence = min(
            _logistic(features.ink - t.marked, ink_scale),
            _logistic(t.cancelled - features.ink, 0.04),
            _logistic(features.extent - t.min_extent, extent_scale),
        )
        reason = None
    else:
        value = None
        # Empty is sure when there is little ink, or when what there is forms no stroke.
        confidence = max(
            _logistic(t.marked - features.ink, ink_scale),
            _logistic(t.min_extent - features.extent, extent_scale),
        )
        reason = "speck" if features.ink > 0 else None
    needs_review = confidence < review_below
    if needs_review and reason is None:
        reason = "ambiguous_mark"
    elif not needs_review:
        reason = None
    return FieldReading(
        name=name,
        kind="mark",
        value=value,
        confidence=round(confidence, 4),
        needs_review=needs_review,
        reason=reason,
    )
