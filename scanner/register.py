"""Register a scanned page to its layout: find the four fiducials, fit a transform, warp.

The sheet carries four fiducial targets, concentric squares inset 0.3 in from the page
corners (black 18 pt, white 10 pt, black 5 pt core; ``forms.render``). Given which way the
page is turned (from the QR code, or tried in turn by the caller), each target is looked for
only in a window around where it should be (+-1.2 in: room for +-5 degrees of skew, 95-105 %
"fit to page" scaling and a feed offset), first at about 100 dpi, then its centre is refined
at full resolution in a small window. A target is accepted only with its ring structure
(dark square, light square hole, dark core, all square and concentric, of the printed size
within the scale tolerance), so handwriting, blots, text and the QR code's own finder
patterns are not taken for one.

Coordinates. ``Registration.matrix`` maps layout POINTS (x right, y down, origin top-left)
to PIXEL coordinates of the image as given, where pixel ``image[r, c]`` covers
``[c, c + 1) x [r, r + 1)`` (its centre is ``(c + 0.5, r + 0.5)``); an unscaled upright page
at ``dpi`` is ``diag(dpi / 72, dpi / 72, 1)``. This matches `scanner.readings.canon_slice`,
where canonical pixel ``k`` covers points ``[k / s, (k + 1) / s)``.

The fit and its residual:

- Four targets found: the mapping is the homography through the four centres
  (``cv2.findHomography``, method 0), which absorbs slight perspective exactly. Four points
  determine a homography, so its own error is always zero and says nothing; the residual is
  therefore that of a least-squares AFFINE fit of the same four points.
- Three targets found and a QR code given: the missing corner is replaced by the QR symbol's
  centre (the mean of zbar's polygon) matched to the centre of ``layout.barcode`` (the symbol
  is centred in that rect whatever QR version was printed, so no version or module size is
  needed). The mapping is the least-squares affine fit of these four points.
- ``residual_pt`` is the RMS, over those four reference points, of the distance in layout
  points between each point's layout position and where the affine fit maps its image
  position back to. It measures how far the found points are from any parallelogram
  arrangement of the printed ones: ~0.1 pt on a clean scan, ~1.4 pt for a 1 % keystone, and
  ``d / 4`` when one point is ``d`` pt from where it belongs (a blot taken for a target, a
  different form, a crumpled page). Above ``max_residual_pt`` the page is
  ``poor_registration``.
- The transform must also be plausible: scale within 90-110 % of nominal on both axes
  (aspect within 6 %), not mirrored, and turned within 10 degrees of `rotation`; otherwise
  ``implausible_transform``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from forms.layout import Layout, Rect
from scanner.barcode import Barcode
from scanner.readings import CANON_PX_PER_PT, canon_shape

POOR_REGISTRATION = "poor_registration"
"""The found points do not fit the layout's arrangement within ``max_residual_pt``."""

FIDUCIALS_NOT_FOUND = "fiducials_not_found"
"""Fewer than three targets, or three and no QR code to stand in for the fourth."""

IMPLAUSIBLE_TRANSFORM = "implausible_transform"
"""The fit is consistent but scaled, stretched, mirrored or turned beyond any real scan."""

SEARCH_DPI = 100.0
"""Resolution of the first, coarse search: a target is still 25 px wide, its core 7 px."""

SEARCH_HALF_IN = 1.2
"""Half-size of the search window around a target's expected position, in inches."""

REFINE_HALF_PT = 15.0
"""Half-size of the full-resolution refinement window (target half-diagonal is 12.7 pt)."""

# Printed proportions of a target (forms.render): black 18, white 10, black 5.
_HOLE_RATIO = 10.0 / 18.0
_CORE_RATIO = 5.0 / 18.0

# Accepted size of a target relative to the nominal one (generous: blur and thresholding
# change a small target's apparent size), and accepted scale of the fitted page: "fit to
# page" printing shrinks to about 94 %, a scanner's own scaling is off by a few percent.
_SCALE_RANGE = (0.85, 1.18)
_PLAUSIBLE_SCALE = (0.9, 1.1)
_MAX_ASPECT_DEVIATION = 0.06
_MAX_ANGLE_DEG = 10.0

_QUARTER_TURNS = (0, 90, 180, 270)


@dataclass(frozen=True)
class Registration:
    """How a scanned page lies relative to its layout (see the module docstring).

    `matrix` maps layout points to image pixels (a nominal, unfitted guess when not `ok`);
    `residual_pt` is ``math.inf`` when too few points were found to fit anything;
    `reason` is None when `ok`; `model` says which fit produced `matrix`
    ("homography", "affine", or "nominal" when no fit was made).
    """

    ok: bool
    reason: str | None
    matrix: tuple[tuple[float, float, float], ...]
    residual_pt: float
    fiducials_found: int
    rotation: int
    model: str = "nominal"


@dataclass(frozen=True)
class _Target:
    x: float  # window pixel coordinates, index convention (pixel centres at integers)
    y: float


def register_page(
    image: np.ndarray,
    *,
    dpi: float,
    layout: Layout,
    rotation: int,
    barcode: Barcode | None = None,
    max_residual_pt: float = 2.5,
) -> Registration:
    """Find the page's fiducials (turned by `rotation` clockwise) and fit layout -> image."""
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError("image must be a 2-D uint8 grey image")
    if dpi <= 0:
        raise ValueError("dpi must be positive")
    if rotation not in _QUARTER_TURNS:
        raise ValueError("rotation must be 0, 90, 180 or 270")

    nominal = _nominal_matrix(image.shape, dpi=dpi, layout=layout, rotation=rotation)
    scale = dpi / 72.0
    src: list[tuple[float, float]] = []
    dst: list[tuple[float, float]] = []
    for rect in layout.fiducials:
        centre = _rect_centre(rect)
        expected = _apply(nominal, centre)
        found = _find_fiducial(image, expected, scale)
        if found is not None:
            src.append(centre)
            dst.append(found)
    count = len(src)

    def failure(
        reason: str, matrix: np.ndarray = nominal, residual: float = math.inf
    ) -> Registration:
        model = "nominal" if matrix is nominal else "affine"
        return Registration(
            ok=False,
            reason=reason,
            matrix=_as_tuple(matrix),
            residual_pt=residual,
            fiducials_found=count,
            rotation=rotation,
            model=model,
        )

    if count == 3 and barcode is not None and barcode.polygon:
        src.append(_rect_centre(layout.barcode))
        xs = [p[0] for p in barcode.polygon]
        ys = [p[1] for p in barcode.polygon]
        dst.append((sum(xs) / len(xs), sum(ys) / len(ys)))
    elif count < 4:
        return failure(FIDUCIALS_NOT_FOUND)

    src_arr = np.array(src, dtype=np.float64)
    dst_arr = np.array(dst, dtype=np.float64)
    affine = _fit_affine(src_arr, dst_arr)
    residual = _affine_residual_pt(affine, src_arr, dst_arr)
    if count == 4:
        homography, _ = cv2.findHomography(src_arr, dst_arr, 0)
        if homography is None:
            return failure(POOR_REGISTRATION, affine, residual)
        matrix, model = homography / homography[2, 2], "homography"
    else:
        matrix, model = affine, "affine"
    if not _plausible(affine, scale=scale, rotation=rotation):
        return failure(IMPLAUSIBLE_TRANSFORM, affine, residual)
    if residual > max_residual_pt:
        return failure(POOR_REGISTRATION, affine, residual)
    return Registration(
        ok=True,
        reason=None,
        matrix=_as_tuple(matrix),
        residual_pt=residual,
        fiducials_found=count,
        rotation=rotation,
        model=model,
    )


def warp_to_canon(image: np.ndarray, registration: Registration, layout: Layout) -> np.ndarray:
    """The page warped upright into layout coordinates at `CANON_PX_PER_PT` (white outside)."""
    height, width = canon_shape(layout.page_width_pt, layout.page_height_pt)
    return warp_rect(
        image,
        registration,
        (0.0, 0.0, width / CANON_PX_PER_PT, height / CANON_PX_PER_PT),
        px_per_pt=CANON_PX_PER_PT,
    )


def warp_rect(
    image: np.ndarray, registration: Registration, rect: Rect, *, px_per_pt: float
) -> np.ndarray:
    """Layout rect `rect` (points) cut upright from the page at `px_per_pt` (white outside).

    Output pixel ``[r, c]`` covers points ``x + [c, c + 1) / px_per_pt`` (likewise y), so with
    ``rect`` at the origin and ``CANON_PX_PER_PT`` this is the canonical image.
    """
    if not registration.ok:
        raise ValueError(f"cannot warp a page that did not register ({registration.reason})")
    x, y, w, h = rect
    out_w, out_h = max(1, round(w * px_per_pt)), max(1, round(h * px_per_pt))
    # Output index (c, r) -> points -> image edge coordinates -> image index coordinates.
    step = 1.0 / px_per_pt
    to_points = np.array([[step, 0, x + step / 2], [0, step, y + step / 2], [0, 0, 1]])
    to_index = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]], dtype=np.float64)
    matrix = to_index @ np.array(registration.matrix, dtype=np.float64) @ to_points
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    if np.allclose(matrix[2], (0.0, 0.0, 1.0), atol=1e-12):
        warped = cv2.warpAffine(image, matrix[:2], (out_w, out_h), flags=flags, borderValue=255)
    else:
        warped = cv2.warpPerspective(image, matrix, (out_w, out_h), flags=flags, borderValue=255)
    return np.asarray(warped, dtype=np.uint8)


def map_points(
    registration: Registration, points: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Where layout points (pt) land on the image (pixel edge coordinates)."""
    matrix = np.array(registration.matrix, dtype=np.float64)
    return [_apply(matrix, p) for p in points]


# --- fiducial search ---------------------------------------------------------------------


def _find_fiducial(
    image: np.ndarray, expected: tuple[float, float], scale: float
) -> tuple[float, float] | None:
    """Centre (pixel edge coordinates) of the target nearest `expected`, or None."""
    half = SEARCH_HALF_IN * 72.0 * scale
    window, (left, top) = _window(image, expected, half)
    if window is None:
        return None
    coarse = min(1.0, SEARCH_DPI / (scale * 72.0))
    if coarse < 1.0:
        size = (max(1, round(window.shape[1] * coarse)), max(1, round(window.shape[0] * coarse)))
        small = cv2.resize(window, size, interpolation=cv2.INTER_AREA)
        fx, fy = window.shape[1] / size[0], window.shape[0] / size[1]
    else:
        small, fx, fy = window, 1.0, 1.0
    targets = _find_targets(small, px_per_pt=scale / max(fx, fy))
    if not targets:
        return None
    ex, ey = expected[0] - left, expected[1] - top
    # Window index -> full-resolution edge coordinates (INTER_AREA keeps pixel edges aligned).
    cands = [((t.x + 0.5) * fx, (t.y + 0.5) * fy) for t in targets]
    cx, cy = min(cands, key=lambda c: (c[0] - ex) ** 2 + (c[1] - ey) ** 2)
    coarse_centre = (cx + left, cy + top)
    if coarse == 1.0:
        return coarse_centre
    return _refine(image, coarse_centre, scale) or coarse_centre


def _refine(
    image: np.ndarray, centre: tuple[float, float], scale: float
) -> tuple[float, float] | None:
    window, (left, top) = _window(image, centre, REFINE_HALF_PT * scale)
    if window is None:
        return None
    targets = _find_targets(window, px_per_pt=scale)
    if not targets:
        return None
    ex, ey = centre[0] - left, centre[1] - top
    best = min(targets, key=lambda t: (t.x + 0.5 - ex) ** 2 + (t.y + 0.5 - ey) ** 2)
    return (best.x + 0.5 + left, best.y + 0.5 + top)


def _window(
    image: np.ndarray, centre: tuple[float, float], half: float
) -> tuple[np.ndarray | None, tuple[int, int]]:
    height, width = image.shape
    left = max(0, math.floor(centre[0] - half))
    top = max(0, math.floor(centre[1] - half))
    right = min(width, math.ceil(centre[0] + half))
    bottom = min(height, math.ceil(centre[1] + half))
    if right - left < 8 or bottom - top < 8:
        return None, (left, top)
    return image[top:bottom, left:right], (left, top)


def _find_targets(grey: np.ndarray, *, px_per_pt: float) -> list[_Target]:
    """Every concentric-square target in `grey` (a small window), by contour hierarchy.

    Built around the white square hole: it must be a square of the printed size, hold one
    dark square core of half its side at its centre, and be surrounded by a dark band (the
    outer square). The outer square's own contour is not required: it is cut off when the
    target lies at the image's edge (a skewed page) or merges with a dark scanner backing.
    """
    side = 18.0 * px_per_pt
    _, ink = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    contours, hierarchy = cv2.findContours(ink, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    links = hierarchy[0]  # per contour: next, previous, first child, parent
    low, high = _SCALE_RANGE
    hole_nominal = side * _HOLE_RATIO
    # Contours run through boundary pixel centres: allow 2 px beyond the scale range.
    hole_min, hole_max = low * hole_nominal - 2.0, high * hole_nominal * 1.45 + 2.0
    found: list[_Target] = []
    for index, contour in enumerate(contours):
        core_first = int(links[index][2])
        if core_first < 0 or links[index][3] < 0:
            continue  # a hole has a parent (the dark ring) and here a child (the core)
        _, _, w, h = cv2.boundingRect(contour)
        if not (hole_min <= max(w, h) <= hole_max):
            continue
        if not _is_hole(links, index):
            continue
        target = _check_target(contours, links, ink, index, core_first, side=side)
        if target is not None:
            found.append(target)
    return found


def _is_hole(links: np.ndarray, index: int) -> bool:
    # In a RETR_TREE hierarchy, contours alternate outer/hole with depth: odd depth = hole.
    depth = 0
    parent = int(links[index][3])
    while parent >= 0:
        depth += 1
        parent = int(links[parent][3])
    return depth % 2 == 1


def _check_target(
    contours: Sequence[Any],
    links: np.ndarray,
    ink: np.ndarray,
    hole_index: int,
    core_first: int,
    *,
    side: float,
) -> _Target | None:
    """The target's centre when hole `hole_index` has exactly the printed ring structure."""
    low, high = _SCALE_RANGE
    hole = contours[hole_index]
    hole_rect = _square(hole, side * _HOLE_RATIO, low, high)
    if hole_rect is None:
        return None
    cores = _children(links, core_first)
    areas = [cv2.contourArea(contours[i]) for i in cores]
    core = contours[cores[int(np.argmax(areas))]]
    # Anything else inside the hole must be a speck, not a stroke through it.
    if sum(areas) - max(areas) > 0.25 * max(areas):
        return None
    core_rect = _square(core, side * _CORE_RATIO, low, high, min_fill=0.55)
    if core_rect is None:
        return None
    hole_centre, core_centre = _centroid(hole), _centroid(core)
    if hole_centre is None or core_centre is None:
        return None
    if math.dist(hole_centre, core_centre) > 0.08 * side + 1.0:
        return None
    hole_side = max(hole_rect[1])
    if not (0.3 < max(core_rect[1]) / hole_side < 0.7):  # printed 0.5
        return None
    if not _dark_band(ink, hole_rect):
        return None
    # The centroid of a closed contour is its enclosed area's: unbiased by the threshold.
    return _Target(hole_centre[0], hole_centre[1])


def _dark_band(ink: np.ndarray, hole_rect: tuple[Any, Any, float]) -> bool:
    """True when the band from 1.15 to 1.5 hole sides around the hole is mostly ink.

    The printed outer square reaches 1.8 hole sides; a QR finder pattern (a dark ring one
    module wide around a 5-module light square, then light) leaves a third of it light.
    """
    centre, size, angle = hole_rect
    # The hole's contour runs through the ring's boundary pixels: about 1 px too big.
    true_w, true_h = max(1.0, size[0] - 1.0), max(1.0, size[1] - 1.0)
    outer = cv2.boxPoints((centre, (true_w * 1.5, true_h * 1.5), angle))
    inner = cv2.boxPoints((centre, (true_w * 1.15, true_h * 1.15), angle))
    x0 = max(0, math.floor(outer[:, 0].min()))
    y0 = max(0, math.floor(outer[:, 1].min()))
    x1 = min(ink.shape[1], math.ceil(outer[:, 0].max()) + 1)
    y1 = min(ink.shape[0], math.ceil(outer[:, 1].max()) + 1)
    if x1 <= x0 or y1 <= y0:
        return False
    mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    offset = np.array([x0, y0], dtype=np.float32)
    cv2.fillPoly(mask, [np.round(outer - offset).astype(np.int32)], 255)
    cv2.fillPoly(mask, [np.round(inner - offset).astype(np.int32)], 0)
    band = mask > 0
    total = int(band.sum())
    # Part of the band may lie off the window (a target at the page's edge): judge what is
    # there, but require a good part of it.
    if total < 0.4 * true_w * true_h * (1.5**2 - 1.15**2):
        return False
    dark = np.count_nonzero(ink[y0:y1, x0:x1][band])
    return bool(dark >= 0.8 * total)


def _children(links: np.ndarray, first: int) -> list[int]:
    out: list[int] = []
    index = first
    while index >= 0:
        out.append(index)
        index = int(links[index][0])
    return out


def _square(
    contour: np.ndarray, nominal: float, low: float, high: float, *, min_fill: float = 0.75
) -> tuple[Any, Any, float] | None:
    """minAreaRect of `contour` when it is a filled square of about `nominal` px, else None."""
    area = cv2.contourArea(contour)
    if area <= 0:
        return None
    rect = cv2.minAreaRect(contour)
    w, h = rect[1]
    if w <= 0 or h <= 0:
        return None
    # Contours run through boundary pixel centres: allow ~2 px either way on small shapes.
    if not (low * nominal - 2.0 <= max(w, h) and min(w, h) <= high * nominal + 2.0):
        return None
    if min(w, h) / max(w, h) < 0.75 or area / (w * h) < min_fill:
        return None
    return (rect[0], rect[1], float(rect[2]))


def _centroid(contour: np.ndarray) -> tuple[float, float] | None:
    moments = cv2.moments(contour)
    if moments["m00"] == 0:
        return None
    return (moments["m10"] / moments["m00"], moments["m01"] / moments["m00"])


# --- geometry ----------------------------------------------------------------------------


def _rect_centre(rect: Rect) -> tuple[float, float]:
    x, y, w, h = rect
    return (x + w / 2, y + h / 2)


def _apply(matrix: np.ndarray, point: tuple[float, float]) -> tuple[float, float]:
    x, y = point
    u, v, w = matrix @ np.array([x, y, 1.0])
    return (float(u / w), float(v / w))


def _as_tuple(matrix: np.ndarray) -> tuple[tuple[float, float, float], ...]:
    return tuple((float(r[0]), float(r[1]), float(r[2])) for r in matrix)


def _nominal_matrix(
    shape: tuple[int, ...], *, dpi: float, layout: Layout, rotation: int
) -> np.ndarray:
    """Layout points -> image pixels for a page turned by `rotation`, centred, unscaled."""
    height, width = shape[0], shape[1]
    upright_w, upright_h = (width, height) if rotation in (0, 180) else (height, width)
    s = dpi / 72.0
    upright = np.array(
        [
            [s, 0, upright_w / 2 - s * layout.page_width_pt / 2],
            [0, s, upright_h / 2 - s * layout.page_height_pt / 2],
            [0, 0, 1],
        ],
        dtype=np.float64,
    )
    # Turning the page clockwise, in edge coordinates: 90 maps (u, v) to (H - v, u).
    turn = {
        0: [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
        90: [[0, -1, upright_h], [1, 0, 0], [0, 0, 1]],
        180: [[-1, 0, upright_w], [0, -1, upright_h], [0, 0, 1]],
        270: [[0, 1, 0], [-1, 0, upright_w], [0, 0, 1]],
    }[rotation]
    return np.array(turn, dtype=np.float64) @ upright


def _fit_affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares affine src -> dst as a 3x3 matrix."""
    design = np.hstack([src, np.ones((len(src), 1))])
    solution, *_ = np.linalg.lstsq(design, dst, rcond=None)
    matrix = np.eye(3)
    matrix[:2] = solution.T
    return matrix


def _affine_residual_pt(affine: np.ndarray, src: np.ndarray, dst: np.ndarray) -> float:
    """RMS distance (points) between layout points and image points mapped back by `affine`."""
    try:
        inverse = np.linalg.inv(affine)
    except np.linalg.LinAlgError:
        return math.inf
    back = (inverse[:2, :2] @ dst.T).T + inverse[:2, 2]
    return float(np.sqrt(np.mean(np.sum((back - src) ** 2, axis=1))))


def _plausible(affine: np.ndarray, *, scale: float, rotation: int) -> bool:
    linear = affine[:2, :2] / scale
    if np.linalg.det(linear) <= 0:
        return False  # mirrored
    singular = np.linalg.svd(linear, compute_uv=False)
    low, high = _PLAUSIBLE_SCALE
    if singular.min() < low or singular.max() > high:
        return False
    if singular.max() / singular.min() > 1 + _MAX_ASPECT_DEVIATION:
        return False
    angle = math.degrees(math.atan2(linear[1, 0], linear[0, 0]))
    off = (angle - rotation + 180.0) % 360.0 - 180.0
    return abs(off) <= _MAX_ANGLE_DEG
