"""Register a scanned page or photo to its layout from everything the form prints.

A page is placed by a robust fit of many correspondences (layout point -> image pixel):

- the four fiducial targets (concentric squares near the corners; ``forms.render``), each
  accepted only with its ring structure (dark square, light square hole, dark core, all square
  and concentric), so handwriting, blots and the QR code's finder patterns are not taken for
  one; any of them may be missing (cut off by a skewed or enlarged copy, stapled, blotted);
- the QR code's centre when the code was read (it is centred in ``layout.barcode``);
- every patch of the form's fixed printed structure (`scanner.structure`: table rules, the
  drop-out digit and mark boxes, the column headers, the header's and footer's fixed words,
  the targets), found by normalised cross-correlation coarse to fine (0.5, 1, then 2 px/pt).

The search starts from rough placements, tried in turn until one fits: the targets found
where a scan at `dpi` puts them (two or more); the paper's outline against a darker
background (a phone photo: this also gives the scale, since a photo's DPI means nothing); the
image taken as the page (a scan whose DPI is wrong); and the plain scan at `dpi`. From each,
structure patches are matched in wide windows at low resolution, a robust fit (RANSAC) keeps
the consistent ones, and the fit is refined at higher resolution in narrow windows; the final
map is a homography (perspective: photos, copiers) fitted by least squares to the points that
agree with it.

Coordinates. ``Registration.matrix`` maps layout POINTS (x right, y down, origin top-left)
to PIXEL coordinates of the image as given, where pixel ``image[r, c]`` covers
``[c, c + 1) x [r, r + 1)`` (its centre is ``(c + 0.5, r + 0.5)``); an unscaled upright page
at ``dpi`` is ``diag(dpi / 72, dpi / 72, 1)``. This matches `scanner.readings.canon_slice`,
where canonical pixel ``k`` covers points ``[k / s, (k + 1) / s)``.

Quality. ``residual_pt`` is the RMS, in layout points, of the distance between each agreeing
point's layout position and where the fit maps its image position back to (~0.2-0.4 pt on a
scan, more on a photo); ``matched`` is how many points agree and ``checked`` how many were
found at all. A fit needs at least `MIN_MATCHED` agreeing points, half of those found, and a
residual within ``max_residual_pt``; otherwise ``poor_registration`` (a crumpled page, another
form). Too little structure found to fit anything is ``structure_not_found``. The fit must
also be plausible: not mirrored, turned within 12 degrees of `rotation`, its two axes' scales
within 8 % of each other at the page's centre, and the page at least a fifth of the image's
width; otherwise ``implausible_transform``. Its scale is not checked against `dpi`: a
"fit to page" copy at 90 % or a photo at any distance is still the form.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

from forms.layout import Layout, Rect
from scanner.barcode import Barcode
from scanner.readings import CANON_PX_PER_PT, canon_shape
from scanner.structure import COARSE, FINE, MEDIUM, flatten, match_points, variable_rects

POOR_REGISTRATION = "poor_registration"
"""The found points do not fit the layout's arrangement within ``max_residual_pt``."""

STRUCTURE_NOT_FOUND = "structure_not_found"
"""Too little of the form's printed structure (targets, rules, boxes, words) was found."""

FIDUCIALS_NOT_FOUND = "fiducials_not_found"
"""Too few targets (the reason before registration used all the printed structure; pages
read then keep it)."""

IMPLAUSIBLE_TRANSFORM = "implausible_transform"
"""The fit is consistent but stretched, mirrored, turned or shrunk beyond any real page."""

MIN_MATCHED = 12
"""A fit needs at least this many points that agree with it."""

SEARCH_DPI = 100.0
"""Resolution of the first, coarse target search: a target is still 25 px wide."""

SEARCH_HALF_IN = 1.2
"""Half-size of the search window around a target's expected position, in inches."""

REFINE_HALF_PT = 15.0
"""Half-size of the full-resolution refinement window (target half-diagonal is 12.7 pt)."""

# Printed proportions of a target (forms.render): black 18, white 10, black 5.
_HOLE_RATIO = 10.0 / 18.0
_CORE_RATIO = 5.0 / 18.0

# Accepted size of a target relative to the expected one (generous: blur and thresholding
# change a small target's apparent size).
_SCALE_RANGE = (0.85, 1.18)
_MAX_ASPECT_DEVIATION = 0.08
_MAX_ANGLE_DEG = 12.0
_MIN_PAGE_WIDTH_FRACTION = 0.2
# Points agree with a fit within this (layout points), per search level.
_AGREE_PT = {COARSE: 6.0, MEDIUM: 2.5, FINE: 1.5}
# Each level's search radius (points) around the rougher placement's prediction.
_WIDE = ((COARSE, 70.0), (MEDIUM, 10.0), (FINE, 8.0))
_NARROW = ((FINE, 8.0),)
# The page is cut into this many bands each way; the worst band's median misfit counts.
_REGIONS = 4

_QUARTER_TURNS = (0, 90, 180, 270)
_RANSAC_SEED = 20261

Matrix = np.ndarray
Pair = tuple[tuple[float, float], tuple[float, float]]  # layout point, image point


@dataclass(frozen=True)
class Registration:
    """How a scanned page lies relative to its layout (see the module docstring).

    `matrix` maps layout points to image pixels (a rough guess when not `ok`);
    `residual_pt` is ``math.inf`` when too few points were found to fit anything;
    `reason` is None when `ok`; `model` says which fit produced `matrix`
    ("homography", "affine", or "nominal" when no fit was made); `matched` counts the points
    (targets, QR code, structure patches) that agree with the fit and `checked` those found;
    `start` names the rough placement the fit grew from ("targets", "page", "frame",
    "nominal", or "targets again": targets that disagreed with a first fit).
    """

    ok: bool
    reason: str | None
    matrix: tuple[tuple[float, float, float], ...]
    residual_pt: float
    fiducials_found: int
    rotation: int
    model: str = "nominal"
    matched: int = 0
    checked: int = 0
    start: str = ""


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
    max_residual_pt: float = 1.5,
) -> Registration:
    """Place the page (turned by `rotation` clockwise) on `layout` from its printed structure.

    `dpi` is where to look first; the scale is measured from the form itself.
    """
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError("image must be a 2-D uint8 grey image")
    if dpi <= 0:
        raise ValueError("dpi must be positive")
    if rotation not in _QUARTER_TURNS:
        raise ValueError("rotation must be 0, 90, 180 or 270")

    nominal = _nominal_matrix(image.shape, dpi=dpi, layout=layout, rotation=rotation)
    targets = _targets_at(image, nominal, layout)
    qr = _qr_pair(layout, barcode)
    starts: list[tuple[str, Matrix, int]] = []  # name, placement, targets it stands on
    known = targets + ([qr] if qr is not None else [])
    if len(targets) >= 2 or (targets and qr is not None):
        rough = _similarity(known) if len(known) < 3 else _affine_of(known)
        if rough is not None:
            starts.append(("targets", rough, len(targets)))
    quad = _page_quad(image)
    if quad is not None:
        starts.append(("page", _corners_matrix(quad, layout, rotation), 0))
    height, width = image.shape
    frame = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)
    starts.append(("frame", _corners_matrix(frame, layout, rotation), 0))
    starts.append(("nominal", nominal, 0))

    pyramid = _Pyramid(image)
    best: Registration | None = None
    tried: list[Matrix] = []
    while starts:
        start, rough, standing_on = starts.pop(0)
        retry = start == "targets again"
        if not retry and any(_same_placement(rough, other, layout) for other in tried):
            continue
        tried.append(rough)
        if not _plausible(rough, rotation=rotation, layout=layout, image_shape=image.shape):
            continue
        found = _fit_from(
            pyramid,
            layout,
            rotation,
            rough,
            start=start,
            qr=qr,
            wide=standing_on < 4,
            max_residual_pt=max_residual_pt,
        )
        if found.ok:
            return found
        # Targets found where this fit put them but disagreeing with it: the structure locked
        # onto a repeat (the table's rows); start again from the targets themselves.
        again = _targets_at(image, np.array(found.matrix), layout, half_in=0.5)
        if found.reason == POOR_REGISTRATION and len(again) >= 2 and not retry:
            redo = _similarity(again) if len(again) < 3 else _affine_of(again)
            if redo is not None:
                starts.insert(0, ("targets again", redo, len(again)))
        if best is None or (found.matched, -found.residual_pt) > (best.matched, -best.residual_pt):
            best = found
    if best is None:
        return Registration(
            ok=False,
            reason=STRUCTURE_NOT_FOUND,
            matrix=_as_tuple(nominal),
            residual_pt=math.inf,
            fiducials_found=len(targets),
            rotation=rotation,
        )
    return best


class _Pyramid:
    """The page at the resolutions the levels need, made once each (INTER_AREA)."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = image
        self._cache: dict[int, tuple[np.ndarray, float, float]] = {}

    def near(self, factor: float) -> tuple[np.ndarray, float, float]:
        """The image reduced by about `factor` (<= 1), with its exact x and y factors."""
        if factor >= 0.8:
            return self.image, 1.0, 1.0
        key = max(1, round(1 / factor))
        if key not in self._cache:
            height, width = self.image.shape
            size = (max(8, round(width / key)), max(8, round(height / key)))
            small = cv2.resize(self.image, size, interpolation=cv2.INTER_AREA)
            self._cache[key] = (small, size[0] / width, size[1] / height)
        return self._cache[key]


def _fit_from(
    pyramid: _Pyramid,
    layout: Layout,
    rotation: int,
    rough: Matrix,
    *,
    start: str,
    qr: Pair | None,
    wide: bool,
    max_residual_pt: float,
) -> Registration:
    """Grow a fit from placement `rough`: structure coarse to fine, then targets, one fit."""
    skip = variable_rects(layout)
    matrix = rough
    pairs: list[Pair] = []
    for level, radius in _WIDE if wide else _NARROW:
        framed, origin = _framed(pyramid, matrix, layout, level.px_per_pt, radius + level.patch_pt)
        # From the four targets the placement is close: half the fine patches are plenty.
        every = 2 if not wide and level is FINE else 1
        matches = match_points(framed, origin, layout.form, level, radius, skip=skip, every=every)
        pairs = [(m.centre, _apply(matrix, m.found)) for m in matches]
        # A photo's perspective is kept from the first level on when there are points enough.
        fitted = _robust_fit(
            pairs, matrix, agree_pt=_AGREE_PT[level], affine=level is COARSE and len(pairs) < 12
        )
        if fitted is None:
            return _failed(STRUCTURE_NOT_FOUND, matrix, rotation, start, checked=len(pairs))
        matrix, _ = fitted
    targets = _targets_at(pyramid.image, matrix, layout, half_in=0.35)
    extra = targets + ([qr] if qr is not None else [])
    # The targets are found to a tenth of a point: they count as much as several patches.
    weighted = pairs + extra * 4
    fitted = _robust_fit(weighted, matrix, agree_pt=_AGREE_PT[FINE], affine=False)
    if fitted is None:
        return _failed(STRUCTURE_NOT_FOUND, matrix, rotation, start, checked=len(pairs))
    matrix, agree = fitted
    kept = [pair for pair, ok in zip(weighted, agree, strict=True) if ok]
    checked = len(pairs) + len(extra)
    matched = sum(agree[: len(pairs)])
    extra_agree = _errors_pt(matrix, extra) <= _AGREE_PT[FINE]
    matched += int(np.sum(extra_agree))
    residual = _residual_pt(matrix, kept, pairs + extra, layout)
    result = Registration(
        ok=False,
        reason=None,
        matrix=_as_tuple(matrix),
        residual_pt=residual,
        fiducials_found=len(targets),
        rotation=rotation,
        model="homography",
        matched=matched,
        checked=checked,
        start=start,
    )
    if matched < MIN_MATCHED or matched < 0.5 * checked:
        return replace(result, reason=POOR_REGISTRATION)
    if len(extra) - int(np.sum(extra_agree)) >= 2:
        return replace(result, reason=POOR_REGISTRATION)  # two targets say otherwise
    if not _plausible(matrix, rotation=rotation, layout=layout, image_shape=pyramid.image.shape):
        return replace(result, reason=IMPLAUSIBLE_TRANSFORM)
    if residual > max_residual_pt:
        return replace(result, reason=POOR_REGISTRATION)
    return replace(result, ok=True)


def _failed(
    reason: str, matrix: Matrix, rotation: int, start: str, *, checked: int
) -> Registration:
    return Registration(
        ok=False,
        reason=reason,
        matrix=_as_tuple(matrix),
        residual_pt=math.inf,
        fiducials_found=0,
        rotation=rotation,
        checked=checked,
        start=start,
    )


def _framed(
    pyramid: _Pyramid, matrix: Matrix, layout: Layout, px_per_pt: float, margin_pt: float
) -> tuple[np.ndarray, tuple[float, float]]:
    """The page warped upright by `matrix` at `px_per_pt`, `margin_pt` beyond each edge,
    its paper flattened; and the layout point its pixel [0, 0] starts at."""
    local = _local_scale(matrix, layout)
    image, fx, fy = pyramid.near(1.5 * px_per_pt / local)
    scaled = np.diag([fx, fy, 1.0]) @ matrix
    rect = (
        -margin_pt,
        -margin_pt,
        layout.page_width_pt + 2 * margin_pt,
        layout.page_height_pt + 2 * margin_pt,
    )
    warped = _warp(image, scaled, rect, px_per_pt)
    # Correlation is blind to a window's brightness and contrast, so only the coarse level's
    # large windows, which a shadow's edge may cross, need the paper made even.
    if px_per_pt <= COARSE.px_per_pt:
        warped = flatten(warped, px_per_pt)
    return warped, (-margin_pt, -margin_pt)


def _robust_fit(
    pairs: list[Pair], guess: Matrix, *, agree_pt: float, affine: bool
) -> tuple[Matrix, list[bool]] | None:
    """RANSAC over `pairs`, then least squares on the agreeing ones; None if too few."""
    if len(pairs) < (3 if affine else 6):
        return None
    src = np.array([p[0] for p in pairs], dtype=np.float64)
    dst = np.array([p[1] for p in pairs], dtype=np.float64)
    threshold = agree_pt * max(1e-6, math.sqrt(abs(np.linalg.det(guess[:2, :2]))))
    # RANSAC draws from OpenCV's global generator, whose state depends on every call before:
    # seeded here, a page registers the same whatever was read before it.
    cv2.setRNGSeed(_RANSAC_SEED)
    if affine:
        found, mask = cv2.estimateAffine2D(
            src, dst, method=cv2.RANSAC, ransacReprojThreshold=threshold, maxIters=2000
        )
        if found is None or mask is None:
            return None
        agree = mask.ravel().astype(bool)
        if agree.sum() < 3:
            return None
        matrix = _fit_affine(src[agree], dst[agree])
    else:
        found, mask = cv2.findHomography(src, dst, cv2.RANSAC, threshold, maxIters=2000)
        if found is None or mask is None:
            return None
        agree = mask.ravel().astype(bool)
        if agree.sum() < 6:
            return None
        refined, _ = cv2.findHomography(src[agree], dst[agree], 0)
        matrix = (refined if refined is not None else found).astype(np.float64)
        matrix = matrix / matrix[2, 2]
    return matrix, [bool(a) for a in agree]


def _errors_pt(matrix: Matrix, pairs: list[Pair]) -> np.ndarray:
    """Distance (points) between each pair's layout point and its image point mapped back."""
    if not pairs:
        return np.zeros(0)
    try:
        inverse = np.linalg.inv(matrix)
    except np.linalg.LinAlgError:
        return np.full(len(pairs), math.inf)
    src = np.array([p[0] for p in pairs], dtype=np.float64)
    dst = np.array([(*p[1], 1.0) for p in pairs], dtype=np.float64)
    back = dst @ inverse.T
    back = back[:, :2] / back[:, 2:3]
    return np.asarray(np.hypot(*(back - src).T), dtype=np.float64)


def _residual_pt(matrix: Matrix, kept: list[Pair], found: list[Pair], layout: Layout) -> float:
    """The larger of the RMS misfit of the agreeing points and the worst region's median.

    A page bent in one corner fits everywhere else: the points there disagree with the fit,
    and the region's median says so even though RANSAC set them aside.
    """
    if not kept:
        return math.inf
    rms = float(np.sqrt(np.mean(_errors_pt(matrix, kept) ** 2)))
    errors = _errors_pt(matrix, found)
    bands: dict[tuple[int, int], list[float]] = {}
    for ((x, y), _), error in zip(found, errors.tolist(), strict=True):
        column = min(_REGIONS - 1, max(0, int(x / layout.page_width_pt * _REGIONS)))
        row = min(_REGIONS - 1, max(0, int(y / layout.page_height_pt * _REGIONS)))
        bands.setdefault((column, row), []).append(error)
    worst = max((float(np.median(v)) for v in bands.values() if len(v) >= 5), default=0.0)
    return max(rms, worst)


# --- rough placements --------------------------------------------------------------------


def _targets_at(
    image: np.ndarray, matrix: Matrix, layout: Layout, *, half_in: float = SEARCH_HALF_IN
) -> list[Pair]:
    """The targets found near where `matrix` puts them (layout centre, image centre)."""
    found: list[Pair] = []
    for rect in layout.fiducials:
        centre = _rect_centre(rect)
        expected = _apply(matrix, centre)
        scale = _scale_at(matrix, centre)
        spot = _find_fiducial(image, expected, scale, half_in=half_in)
        if spot is not None:
            found.append((centre, spot))
    return found


def _qr_pair(layout: Layout, barcode: Barcode | None) -> Pair | None:
    if barcode is None or not barcode.polygon:
        return None
    xs = [p[0] for p in barcode.polygon]
    ys = [p[1] for p in barcode.polygon]
    return (_rect_centre(layout.barcode), (sum(xs) / len(xs), sum(ys) / len(ys)))


def _similarity(pairs: list[Pair]) -> Matrix | None:
    """Least-squares turn + uniform scale + shift through two or more pairs."""
    if len(pairs) < 2:
        return None
    src = np.array([complex(*p[0]) for p in pairs])
    dst = np.array([complex(*p[1]) for p in pairs])
    ds, dd = src - src.mean(), dst - dst.mean()
    norm = float(np.sum(np.abs(ds) ** 2))
    if norm <= 0:
        return None
    a = complex(np.sum(dd * np.conj(ds)) / norm)
    b = complex(dst.mean() - a * src.mean())
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag], [0, 0, 1]])


def _affine_of(pairs: list[Pair]) -> Matrix:
    """Affine through three pairs; the homography (perspective: a photo) through four."""
    src = np.array([p[0] for p in pairs], dtype=np.float64)
    dst = np.array([p[1] for p in pairs], dtype=np.float64)
    if len(pairs) == 4:
        found, _ = cv2.findHomography(src, dst, 0)
        if found is not None and abs(found[2, 2]) > 1e-12:
            return np.asarray(found / found[2, 2], dtype=np.float64)
    return _fit_affine(src, dst)


def _page_quad(image: np.ndarray) -> np.ndarray | None:
    """The paper's four corners (clockwise from top-left, image pixels) when the page lies on
    a clearly darker background (a photo); None for a scan (paper to the image's edges).

    The paper is what is clearly brighter than the background seen along the image's edges;
    a shadow across the page is still brighter than the desk, though Otsu's threshold may
    cut it off, so the larger of the two pages found is taken.
    """
    height, width = image.shape
    factor = 600.0 / max(height, width)
    small = cv2.resize(
        image,
        (max(8, round(width * factor)), max(8, round(height * factor))),
        interpolation=cv2.INTER_AREA,
    )
    blurred = cv2.GaussianBlur(small, (5, 5), 0)
    edge = np.concatenate([blurred[:4].ravel(), blurred[-4:].ravel()])
    edge = np.concatenate([edge, blurred[:, :4].ravel(), blurred[:, -4:].ravel()])
    desk, bright = float(np.median(edge)), float(np.percentile(blurred, 90))
    if bright - desk < 40:
        return None  # no darker background: a scan
    _, otsu = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    _, low = cv2.threshold(blurred, desk + 0.25 * (bright - desk), 255, cv2.THRESH_BINARY)
    best: np.ndarray | None = None
    best_area = 0.0
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9))
    for paper in (otsu, low):
        paper = cv2.morphologyEx(paper, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        paper = cv2.morphologyEx(paper, cv2.MORPH_CLOSE, kernel)
        contours, _ = cv2.findContours(paper, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not contours:
            continue
        hull = cv2.convexHull(max(contours, key=cv2.contourArea))
        area = cv2.contourArea(hull)
        if 0.2 * paper.size <= area <= 0.95 * paper.size and area > best_area:
            best, best_area = hull, area
    if best is None:
        return None
    quad = cv2.approxPolyDP(best, 0.02 * cv2.arcLength(best, True), True).reshape(-1, 2)
    if len(quad) != 4:
        quad = cv2.boxPoints(cv2.minAreaRect(best))
    points = np.asarray(quad, dtype=np.float64) / factor
    return _clockwise(points)


def _clockwise(points: np.ndarray) -> np.ndarray:
    centre = points.mean(axis=0)
    angles = np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0])
    ordered = points[np.argsort(angles)]  # y down: increasing angle is clockwise on screen
    first = int(np.argmin(ordered.sum(axis=1)))
    return np.roll(ordered, -first, axis=0)


def _corners_matrix(quad: np.ndarray, layout: Layout, rotation: int) -> Matrix:
    """The homography taking the paper's corners to `quad` (clockwise from the image's
    top-left) for a page turned by `rotation`."""
    w, h = layout.page_width_pt, layout.page_height_pt
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    shift = rotation // 90
    image_corners = np.array([quad[(k + shift) % 4] for k in range(4)], dtype=np.float64)
    matrix = cv2.getPerspectiveTransform(
        corners.astype(np.float32), image_corners.astype(np.float32)
    )
    return np.asarray(matrix, dtype=np.float64)


def _same_placement(a: Matrix, b: Matrix, layout: Layout) -> bool:
    """True when two placements put every page corner within 8 pt of each other."""
    w, h = layout.page_width_pt, layout.page_height_pt
    scale = _local_scale(a, layout)
    for corner in ((0.0, 0.0), (w, 0.0), (w, h), (0.0, h)):
        if math.dist(_apply(a, corner), _apply(b, corner)) > 8.0 * scale:
            return False
    return True


def warp_to_canon(image: np.ndarray, registration: Registration, layout: Layout) -> np.ndarray:
    """The page warped upright into layout coordinates at `CANON_PX_PER_PT` (white outside).

    Paper that is not evenly white (a phone photo's shadow and exposure, a grey photocopy) is
    made so (`scanner.structure.flatten`), so the field readers see what they see on a scan.
    """
    height, width = canon_shape(layout.page_width_pt, layout.page_height_pt)
    canon = warp_rect(
        image,
        registration,
        (0.0, 0.0, width / CANON_PX_PER_PT, height / CANON_PX_PER_PT),
        px_per_pt=CANON_PX_PER_PT,
    )
    return even_paper(canon)


# Paper this even and this white is left as scanned.
_EVEN_PAPER_LEVEL = 225
_EVEN_PAPER_SPREAD = 20


def even_paper(canon: np.ndarray) -> np.ndarray:
    """`canon` with its paper made white when it is grey or uneven; unchanged otherwise."""
    small = cv2.resize(canon, None, fx=0.125, fy=0.125, interpolation=cv2.INTER_AREA)
    paper = cv2.morphologyEx(small, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    low, high = np.percentile(paper, [5, 95])
    if low >= _EVEN_PAPER_LEVEL and high - low <= _EVEN_PAPER_SPREAD:
        return canon
    # Wider than a blacked-out mark box (11.5 pt) or a thick signature stroke.
    return flatten(canon, CANON_PX_PER_PT, widest_pt=24.0)


def warp_rect(
    image: np.ndarray, registration: Registration, rect: Rect, *, px_per_pt: float
) -> np.ndarray:
    """Layout rect `rect` (points) cut upright from the page at `px_per_pt` (white outside).

    Output pixel ``[r, c]`` covers points ``x + [c, c + 1) / px_per_pt`` (likewise y), so with
    ``rect`` at the origin and ``CANON_PX_PER_PT`` this is the canonical image.
    """
    if not registration.ok:
        raise ValueError(f"cannot warp a page that did not register ({registration.reason})")
    return _warp(image, np.array(registration.matrix, dtype=np.float64), rect, px_per_pt)


def _warp(image: np.ndarray, layout_to_image: Matrix, rect: Rect, px_per_pt: float) -> np.ndarray:
    x, y, w, h = rect
    out_w, out_h = max(1, round(w * px_per_pt)), max(1, round(h * px_per_pt))
    # Output index (c, r) -> points -> image edge coordinates -> image index coordinates.
    step = 1.0 / px_per_pt
    to_points = np.array([[step, 0, x + step / 2], [0, step, y + step / 2], [0, 0, 1]])
    to_index = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]], dtype=np.float64)
    matrix = to_index @ layout_to_image @ to_points
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
    image: np.ndarray, expected: tuple[float, float], scale: float, *, half_in: float
) -> tuple[float, float] | None:
    """Centre (pixel edge coordinates) of the target nearest `expected`, or None.

    `scale` is the page's pixels per point there; the search covers +-`half_in` inches."""
    half = half_in * 72.0 * scale
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


def _scale_at(matrix: Matrix, point: tuple[float, float]) -> float:
    """Pixels per point of `matrix` around layout `point` (geometric mean of the axes)."""
    x, y = point
    origin = _apply(matrix, (x, y))
    right = _apply(matrix, (x + 1.0, y))
    down = _apply(matrix, (x, y + 1.0))
    jacobian = np.array(
        [[right[0] - origin[0], down[0] - origin[0]], [right[1] - origin[1], down[1] - origin[1]]]
    )
    return math.sqrt(max(1e-12, abs(float(np.linalg.det(jacobian)))))


def _local_scale(matrix: Matrix, layout: Layout) -> float:
    return _scale_at(matrix, (layout.page_width_pt / 2, layout.page_height_pt / 2))


def _plausible(
    matrix: Matrix, *, rotation: int, layout: Layout, image_shape: tuple[int, ...]
) -> bool:
    """Not mirrored, turned near `rotation`, axes' scales alike, the page not tiny."""
    cx, cy = layout.page_width_pt / 2, layout.page_height_pt / 2
    origin = _apply(matrix, (cx, cy))
    right = _apply(matrix, (cx + 1.0, cy))
    down = _apply(matrix, (cx, cy + 1.0))
    linear = np.array(
        [[right[0] - origin[0], down[0] - origin[0]], [right[1] - origin[1], down[1] - origin[1]]]
    )
    if not np.all(np.isfinite(linear)) or np.linalg.det(linear) <= 0:
        return False  # mirrored or degenerate
    singular = np.linalg.svd(linear, compute_uv=False)
    if singular.max() / max(1e-9, singular.min()) > 1 + _MAX_ASPECT_DEVIATION:
        return False
    page_width_px = layout.page_width_pt * float(singular.mean())
    if page_width_px < _MIN_PAGE_WIDTH_FRACTION * min(image_shape[0], image_shape[1]):
        return False
    angle = math.degrees(math.atan2(linear[1, 0], linear[0, 0]))
    off = (angle - rotation + 180.0) % 360.0 - 180.0
    return abs(off) <= _MAX_ANGLE_DEG
