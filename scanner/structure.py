"""What every sheet of a form revision prints, as an image to register scanned pages against.

`forms.render.render_structure` draws the form's fixed parts (targets, rules, drop-out boxes,
the header's and footer's fixed words, the column headers); poppler rasterizes that once per
process and revision. The page's variable parts (QR code, serial, names, month, weekdays,
hatching, handwriting) are not in it, so nothing about one child's sheet can mislead the fit.

`structure_points` cuts it into small patches, keeping those with structure in both
directions (a corner, a word, a box: not a bare rule, which slides along itself), and
`match_points` finds each patch on a page already roughly placed, by normalised
cross-correlation in a window around where the rough placement puts it. Each match is one
correspondence (layout point -> image pixel) for the robust fit in `scanner.register`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from forms.layout import Layout, Rect
from forms.render import render_structure
from scanner.load import load_pages

TEMPLATE_PX_PER_PT = 2.0
"""The structure image's resolution (144 dpi): fine enough for 0.1 pt matches."""


@dataclass(frozen=True)
class Level:
    """One resolution of the coarse-to-fine search: patch size and how far to look."""

    px_per_pt: float
    patch_pt: float
    step_pt: float


COARSE = Level(px_per_pt=0.5, patch_pt=72.0, step_pt=36.0)
MEDIUM = Level(px_per_pt=1.0, patch_pt=40.0, step_pt=40.0)
FINE = Level(px_per_pt=2.0, patch_pt=24.0, step_pt=36.0)

# A patch is kept when its weaker structure-tensor eigenvalue (mean over the patch, template
# grey levels) is at least this: a word or a box corner passes, a lone rule does not.
_MIN_CORNERNESS = 12.0
# A match counts when the correlation peak is at least this high ...
_MIN_SCORE = 0.45
# ... and, in a wide search, clearly above any other peak (the table's rows repeat).
_MIN_MARGIN = 0.08


@dataclass(frozen=True)
class Patch:
    """A template patch centred at `centre` (layout points)."""

    centre: tuple[float, float]
    image: np.ndarray


@dataclass(frozen=True)
class Match:
    """Where a patch's centre was found: `found` in the rough frame's points; its score."""

    centre: tuple[float, float]
    found: tuple[float, float]
    score: float


@lru_cache(maxsize=4)
def structure_image(form: str) -> np.ndarray:
    """The form's fixed structure, upright, at `TEMPLATE_PX_PER_PT` (grey uint8)."""
    with tempfile.TemporaryDirectory(prefix="attend-structure-") as tmp:
        pdf = Path(tmp) / "structure.pdf"
        render_structure(form, pdf)
        page = next(iter(load_pages(pdf, dpi=round(72 * TEMPLATE_PX_PER_PT))))
    image = np.ascontiguousarray(page.image)
    image.setflags(write=False)
    return image


@lru_cache(maxsize=16)
def structure_points(form: str, level: Level) -> tuple[Patch, ...]:
    """The patches of `form`'s structure at `level` that can be matched unambiguously."""
    template = _at(structure_image(form), level.px_per_pt / TEMPLATE_PX_PER_PT)
    s = level.px_per_pt
    half = round(level.patch_pt * s / 2)
    grey = template.astype(np.float32)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3) / 8
    box = (2 * half, 2 * half)
    sxx = cv2.boxFilter(gx * gx, -1, box)
    syy = cv2.boxFilter(gy * gy, -1, box)
    sxy = cv2.boxFilter(gx * gy, -1, box)
    weaker = (sxx + syy) / 2 - np.sqrt(((sxx - syy) / 2) ** 2 + sxy**2)
    height, width = template.shape
    patches: list[Patch] = []
    y = level.step_pt / 2
    while y < height / s:
        x = level.step_pt / 2
        while x < width / s:
            r, c = round(y * s), round(x * s)
            inside = half <= r < height - half and half <= c < width - half
            if inside and weaker[r, c] >= _MIN_CORNERNESS:
                image = template[r - half : r + half, c - half : c + half].copy()
                image.setflags(write=False)
                patches.append(Patch((c / s, r / s), image))
            x += level.step_pt
        y += level.step_pt
    return tuple(patches)


def flatten(grey: np.ndarray, px_per_pt: float, *, widest_pt: float = 12.0) -> np.ndarray:
    """`grey` with its paper made even: shadows, uneven light and a grey photocopy lifted.

    Each pixel is divided by the local paper brightness (a grey closing wider than any dark
    thing of up to `widest_pt` points), so ink keeps its contrast and the paper becomes white.
    """
    size = max(3, round(widest_pt * px_per_pt) | 1)
    paper = cv2.morphologyEx(
        grey, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    )
    paper = cv2.blur(paper, (size, size))
    flat = grey.astype(np.float32) * 255.0 / np.maximum(paper.astype(np.float32), 16.0)
    return np.clip(flat, 0, 255).astype(np.uint8)


def match_points(
    framed: np.ndarray,
    origin_pt: tuple[float, float],
    form: str,
    level: Level,
    radius_pt: float,
    *,
    skip: tuple[Rect, ...] = (),
    every: int = 1,
) -> list[Match]:
    """Every structure patch of `level` found in `framed` within `radius_pt` of its place.

    `framed` is the page warped by a rough placement into layout coordinates at
    ``level.px_per_pt``, its pixel [0, 0] at layout point `origin_pt`. Patches overlapping
    a rect of `skip` (the QR code: it differs on every sheet) are not looked for; with
    `every` above 1 only every so many patches are (a placement already close needs fewer).
    """
    s = level.px_per_pt
    radius = max(2, round(radius_pt * s))
    wide = radius_pt > level.patch_pt / 4
    out: list[Match] = []
    for patch in structure_points(form, level)[::every]:
        cx, cy = patch.centre
        half_w = patch.image.shape[1] / 2 / s
        half_h = patch.image.shape[0] / 2 / s
        if any(_overlaps((cx - half_w, cy - half_h, 2 * half_w, 2 * half_h), r) for r in skip):
            continue
        ph, pw = patch.image.shape
        left = round((cx - origin_pt[0]) * s - pw / 2) - radius
        top = round((cy - origin_pt[1]) * s - ph / 2) - radius
        if left < 0 or top < 0:
            continue
        window = framed[top : top + ph + 2 * radius, left : left + pw + 2 * radius]
        if window.shape != (ph + 2 * radius, pw + 2 * radius):
            continue
        if float(window[::4, ::4].std()) < 4.0:
            continue  # blank paper or off the page
        scores = cv2.matchTemplate(window, patch.image, cv2.TM_CCOEFF_NORMED)
        _, best, _, (bx, by) = cv2.minMaxLoc(scores)
        if not np.isfinite(best) or best < _MIN_SCORE:
            continue
        if wide and _second_peak(scores, (bx, by), max(2, round(6 * s))) > best - _MIN_MARGIN:
            continue
        dx, dy = _subpixel(scores, bx, by)
        fx = cx + (bx + dx - radius) / s
        fy = cy + (by + dy - radius) / s
        out.append(Match((cx, cy), (fx, fy), float(best)))
    return out


def _second_peak(scores: np.ndarray, at: tuple[int, int], guard: int) -> float:
    masked = scores.copy()
    x, y = at
    masked[max(0, y - guard) : y + guard + 1, max(0, x - guard) : x + guard + 1] = -1.0
    return float(masked.max()) if masked.size else -1.0


def _subpixel(scores: np.ndarray, x: int, y: int) -> tuple[float, float]:
    def vertex(a: float, b: float, c: float) -> float:
        denominator = a - 2 * b + c
        if denominator >= 0:
            return 0.0
        return min(0.5, max(-0.5, 0.5 * (a - c) / denominator))

    height, width = scores.shape
    row, column = scores[y].tolist(), scores[:, x].tolist()
    dx = vertex(row[x - 1], row[x], row[x + 1]) if 0 < x < width - 1 else 0.0
    dy = vertex(column[y - 1], column[y], column[y + 1]) if 0 < y < height - 1 else 0.0
    return dx, dy


def _at(image: np.ndarray, factor: float) -> np.ndarray:
    if factor == 1.0:
        return image
    size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _overlaps(a: Rect, b: Rect) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def variable_rects(layout: Layout) -> tuple[Rect, ...]:
    """The parts of the page that differ from sheet to sheet near the fixed structure."""
    x, y, w, h = layout.barcode
    sx, sy, sw, sh = layout.serial_text
    return ((x - 2, y - 2, w + 4, h + 4), (sx - 2, sy - 2, sw + 4, sh + 4))
