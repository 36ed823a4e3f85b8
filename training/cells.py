"""Synthetic digit cells: a glyph (or a blank, or a scribble) written into a cell as a scan sees it.

A digit cell of the sheet is 14.5 x 17.1 pt, 40 x 48 px of the 200 dpi canonical image, its box
printed in a drop-out tone (grey ~191) with a 0.8 pt line. These functions render such a cell
with dark ink on light paper, so that training, the benchmark and the tests can all put it
through `scanner.digits.prepare_cell` exactly like a crop of a real page:

- `plain_cell`: the glyph centred, a clean pen stroke, the box border in the drop-out tone.
- `random_cell`: heavy augmentation (elastic, affine, stroke width, placement touching or
  crossing the border, border remnants in the drop-out tone and dark fragments, neighbour boxes,
  blur, noise, JPEG 45-90, bilevel 300 dpi scans at thresholds 135-170 resampled to 200 dpi,
  phone photos (light falling off, low resolution), low-contrast pencil).
- `crop_variant`: a real (verified) crop cut again a little differently, blurred, grained.
- `blank_cell` (class EMPTY) and `not_a_digit_cell` (scribbles, struck-out digits, 'x' and other
  letters, ticks, blots, two digits squeezed into one cell).

Pure numpy, OpenCV and Pillow: no deep-learning framework, deterministic for a given generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from fixtures.handwriting import smooth_curve

CELL_H = 48  # 17.1 pt at 200 dpi
CELL_W = 40  # 14.5 pt
DROPOUT_GREY = 191
# The box line is 0.8 pt: 2.2 px at 200 dpi, centred on the cell's edge.
BORDER_PX = 2.2
# Neighbouring cells of an hour (or a minute) pair are 2 pt apart: 5.6 px.
NEIGHBOUR_GAP_PX = 5.6
# Rendering happens on a canvas this much larger on every side, then the cell is cut out with
# a registration error: so a shifted crop shows the border inside it, or a neighbour's box.
MARGIN = 10
# Strokes and blanks are drawn this many times finer, then reduced: anti-aliased like a scan.
SUPERSAMPLE = 4

HANDWRITING_FONTS = (
    "/usr/share/fonts/truetype/fifthhorseman/dkg.ttf",
    "/usr/share/fonts/truetype/fifthhorseman/dkgIt.ttf",
    "/usr/share/fonts/truetype/fifthhorseman/dkgBd.ttf",
    "/usr/share/fonts/truetype/fifthhorseman/dkgBI.ttf",
    "/usr/share/fonts/truetype/breip/Breip.ttf",
    "/usr/share/fonts/truetype/humor-sans/Humor-Sans.ttf",
    "/usr/share/fonts/truetype/femkeklaver/femkeklaver.ttf",
    "/usr/share/fonts/truetype/rufscript/Rufscript010.ttf",
    "/usr/share/fonts/truetype/klee/KleeOne-Regular.ttf",
    "/usr/share/fonts/truetype/klee/KleeOne-SemiBold.ttf",
)
# Ordinary fonts, used sparingly: some people print their digits very regularly.
PLAIN_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Oblique.ttf",
)
# Letters and signs people write in a cell that must not be read as a digit. Letters and signs
# that look like digits (O, l, I, S, Z, B, g, q, b, h, A, E, ?) are left out on purpose: taught
# as "not a digit", they would only blur the digits they resemble.
NOT_DIGIT_CHARS = "xXkKwWmMHNR#*&@%"


@dataclass(frozen=True)
class Font:
    """A loaded font and whether it is handwriting (weighted more) or a plain print face."""

    path: str
    font: ImageFont.FreeTypeFont
    handwriting: bool


def load_fonts(paths: Sequence[str] = HANDWRITING_FONTS + PLAIN_FONTS) -> list[Font]:
    """The fonts of `paths` that exist on this machine and draw all ten digits."""
    fonts = []
    for path in paths:
        if not Path(path).exists():
            continue
        font = ImageFont.truetype(path, 96)
        if all(font.getbbox(str(d))[2] > font.getbbox(str(d))[0] for d in range(10)):
            fonts.append(Font(path, font, path in HANDWRITING_FONTS))
    return fonts


def font_glyph(font: Font, text: str, stroke: int = 0) -> np.ndarray:
    """`text` in `font` as a float32 ink mask (ink 1), cropped to its ink; `stroke` px of
    outline (at 96 px type) thicken it to a felt pen's weight, filling a hollow face in."""
    left, top, right, bottom = (int(v) for v in font.font.getbbox(text, stroke_width=stroke))
    image = Image.new("L", (right - left + 8, bottom - top + 8), 0)
    ImageDraw.Draw(image).text(
        (4 - left, 4 - top), text, fill=255, font=font.font, stroke_width=stroke
    )
    return _crop_ink(np.asarray(image, np.float32) / 255.0)


def mnist_glyph(image: np.ndarray) -> np.ndarray:
    """An MNIST digit (uint8 28 x 28, ink bright) as a float32 ink mask cropped to its ink."""
    return _crop_ink(np.asarray(image, np.float32) / 255.0)


def _crop_ink(mask: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(mask.max(axis=1) > 0.1)
    cols = np.flatnonzero(mask.max(axis=0) > 0.1)
    if rows.size == 0:
        return np.zeros((1, 1), np.float32)
    return np.ascontiguousarray(mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])


# --- geometry -------------------------------------------------------------------------------


def _elastic(mask: np.ndarray, rng: np.random.Generator, alpha: float, sigma: float) -> np.ndarray:
    """Simard-style elastic distortion: a smooth random displacement field of about `alpha` px
    whose features are about `sigma` px apart (drawn coarse and interpolated: cheap)."""
    height, width = mask.shape
    grid = (max(2, round(width / sigma)), max(2, round(height / sigma)))
    dx = cv2.resize(
        rng.uniform(-1, 1, grid[::-1]).astype(np.float32),
        (width, height),
        interpolation=cv2.INTER_CUBIC,
    )
    dy = cv2.resize(
        rng.uniform(-1, 1, grid[::-1]).astype(np.float32),
        (width, height),
        interpolation=cv2.INTER_CUBIC,
    )
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(mask, xs + alpha * dx, ys + alpha * dy, cv2.INTER_LINEAR, borderValue=0)


def _upsample(glyph: np.ndarray, height: int) -> np.ndarray:
    """`glyph` resized so it is `height` px tall, with a border of empty pixels around it."""
    scale = height / max(glyph.shape[0], 1)
    size = (max(1, round(glyph.shape[1] * scale)), height)
    big = cv2.resize(glyph, size, interpolation=cv2.INTER_CUBIC)
    pad = height // 4
    return cv2.copyMakeBorder(np.clip(big, 0, 1), pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)


def _stroke_width(mask: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Thicker or thinner strokes: grey dilation or erosion of the (large) glyph."""
    step = int(rng.integers(-2, 3)) if strength > 0 else 0
    if step == 0:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(step) + 1, 2 * abs(step) + 1))
    if step > 0:
        return cv2.dilate(mask, kernel)
    thinner = cv2.erode(mask, kernel)
    # Eroding a thin stroke away entirely would leave a blank labelled as a digit.
    return thinner if thinner.max() > 0.5 and thinner.sum() > 0.35 * mask.sum() else mask


def _place(
    glyph: np.ndarray,
    *,
    height_share: float,
    rotate_deg: float = 0.0,
    shear: float = 0.0,
    x_stretch: float = 1.0,
    offset: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Coverage (0..1) of the padded canvas with the ink of `glyph` centred in the cell, then
    transformed: ink `height_share` of the cell high, turned, sheared, stretched, and shifted by
    `offset` (x, y) pixels."""
    canvas_h, canvas_w = CELL_H + 2 * MARGIN, CELL_W + 2 * MARGIN
    rows = np.flatnonzero(glyph.max(axis=1) > 0.1)
    cols = np.flatnonzero(glyph.max(axis=0) > 0.1)
    if rows.size == 0:
        return np.zeros((canvas_h, canvas_w), np.float32)
    ink_h, ink_w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    target_h = height_share * CELL_H
    # Wide glyphs (a font's 0, two digits) must still fit the cell's width.
    target_h = min(target_h, 0.95 * CELL_W * ink_h / max(ink_w * x_stretch, 1))
    if ink_h > 2 * target_h:
        # Reduce by area first: a plain warp of a much larger glyph would alias.
        factor = 2 * target_h / ink_h
        size = (max(1, round(glyph.shape[1] * factor)), max(1, round(glyph.shape[0] * factor)))
        glyph = cv2.resize(glyph, size, interpolation=cv2.INTER_AREA)
        rows = np.flatnonzero(glyph.max(axis=1) > 0.1)
        cols = np.flatnonzero(glyph.max(axis=0) > 0.1)
        if rows.size == 0:
            return np.zeros((canvas_h, canvas_w), np.float32)
        ink_h = rows[-1] - rows[0] + 1
    scale = target_h / ink_h
    theta = np.deg2rad(rotate_deg)
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    linear = rotation @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([x_stretch, 1.0]) * scale
    source_centre = np.array([(cols[0] + cols[-1]) / 2, (rows[0] + rows[-1]) / 2])
    target_centre = np.array(
        [MARGIN + (CELL_W - 1) / 2 + offset[0], MARGIN + (CELL_H - 1) / 2 + offset[1]]
    )
    matrix = np.hstack([linear, (target_centre - linear @ source_centre)[:, None]])
    return cv2.warpAffine(
        glyph.astype(np.float32),
        matrix,
        (canvas_w, canvas_h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def _random_geometry(glyph: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`glyph` elastically distorted, thickened or thinned, and placed with a random affine."""
    big = _upsample(glyph, 64)
    if rng.random() < 0.8:
        big = _elastic(
            big, rng, alpha=float(rng.uniform(1.0, 4.0)), sigma=float(rng.uniform(12, 24))
        )
    big = _stroke_width(big, rng, 1.0)
    # From a small digit in the middle of the box to one filling it (people write 50-95 % of
    # the box height; the fixtures' writers 70-95 %).
    height_share = float(rng.uniform(0.5, 0.95))
    offset = (float(rng.normal(0, 2.5)), float(rng.normal(0, 2.5)))
    if rng.random() < 0.2:
        # Written off-centre: the ink touches or crosses one of the cell's edges, up to a
        # third of the digit spilling over the top or bottom border (and out of the crop).
        side = int(rng.integers(4))
        push = float(rng.uniform(0.15, 0.35)) if side < 2 else float(rng.uniform(0.15, 0.3))
        if side < 2:
            offset = (offset[0], (1 if side else -1) * push * CELL_H)
        else:
            offset = ((1 if side == 3 else -1) * push * CELL_W, offset[1])
    coverage = _place(
        big,
        height_share=height_share,
        rotate_deg=float(rng.uniform(-12, 12)),
        shear=float(rng.uniform(-0.3, 0.3)),
        x_stretch=float(rng.uniform(0.8, 1.2)),
        offset=offset,
    )
    return np.asarray(np.clip(coverage, 0, 1), np.float32)


# --- strokes (scribbles, strike-outs) --------------------------------------------------------


def _draw_strokes(
    polylines: Sequence[np.ndarray], thickness: float, canvas: np.ndarray | None = None
) -> np.ndarray:
    """Coverage of the padded canvas with pen `polylines` (canvas pixel coordinates) drawn."""
    canvas_h, canvas_w = CELL_H + 2 * MARGIN, CELL_W + 2 * MARGIN
    big = np.zeros((canvas_h * SUPERSAMPLE, canvas_w * SUPERSAMPLE), np.uint8)
    width = max(1, round(thickness * SUPERSAMPLE))
    for line in polylines:
        points = np.round(line * SUPERSAMPLE).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(big, [points], False, 255, width, lineType=cv2.LINE_AA)
    coverage = cv2.resize(big, (canvas_w, canvas_h), interpolation=cv2.INTER_AREA) / 255.0
    coverage = coverage.astype(np.float32)
    return coverage if canvas is None else np.maximum(canvas, coverage)


def _smooth_path(points: np.ndarray, steps: int = 12) -> np.ndarray:
    return smooth_curve(points, samples_per_segment=steps)


def _cell_point(rng: np.random.Generator, spread: float = 0.38) -> np.ndarray:
    centre = np.array([MARGIN + CELL_W / 2, MARGIN + CELL_H / 2])
    return np.asarray(centre + rng.uniform(-spread, spread, 2) * np.array([CELL_W, CELL_H]))


def _pen(rng: np.random.Generator) -> float:
    return float(rng.uniform(1.6, 4.5))


def _scribble(rng: np.random.Generator) -> np.ndarray:
    count = int(rng.integers(6, 14))
    points = np.array([_cell_point(rng) for _ in range(count)])
    return _draw_strokes([_smooth_path(points)], _pen(rng))


def _zigzag(rng: np.random.Generator, coverage: np.ndarray | None = None) -> np.ndarray:
    """Back-and-forth hatching over the cell: how people black out a mistake."""
    turns = int(rng.integers(3, 8))
    top, bottom = MARGIN + CELL_H * rng.uniform(0.1, 0.3), MARGIN + CELL_H * rng.uniform(0.7, 0.9)
    ys = np.linspace(top, bottom, turns)
    left, right = (
        MARGIN + CELL_W * rng.uniform(0.05, 0.25),
        MARGIN + CELL_W * rng.uniform(0.75, 0.95),
    )
    xs = np.where(np.arange(turns) % 2 == 0, left, right) + rng.normal(0, 1.5, turns)
    points = np.stack([xs, ys + rng.normal(0, 1.5, turns)], axis=1)
    if rng.random() < 0.5:
        points = points[:, ::-1] * np.array([CELL_W / CELL_H, CELL_H / CELL_W])
        points += np.array([MARGIN, MARGIN]) * (1 - np.array([CELL_W / CELL_H, CELL_H / CELL_W]))
    return _draw_strokes([points], _pen(rng), coverage)


def _strike(rng: np.random.Generator, coverage: np.ndarray) -> np.ndarray:
    """One or two strokes through the mark of `coverage`, reaching past it on both sides."""
    rows = np.flatnonzero(coverage.max(axis=1) > 0.3)
    cols = np.flatnonzero(coverage.max(axis=0) > 0.3)
    if rows.size == 0:
        rows, cols = np.array([MARGIN, MARGIN + CELL_H]), np.array([MARGIN, MARGIN + CELL_W])
    y0, y1, x0, x1 = float(rows[0]), float(rows[-1]), float(cols[0]), float(cols[-1])
    lines = []
    strokes = 1 if rng.random() < 0.5 else 2
    kind = rng.random()
    for index in range(strokes):
        if kind < 0.55:
            # A diagonal slash from corner to corner (both ways for a cross).
            flip = (index == 1) != (rng.random() < 0.5)
            start = np.array([x0 - rng.uniform(1, 5), (y0 if not flip else y1) + rng.normal(0, 2)])
            end = np.array([x1 + rng.uniform(1, 5), (y1 if not flip else y0) + rng.normal(0, 2)])
        elif kind < 0.8:
            # A level line well past the digit on both sides (not a 7's crossbar).
            y = y0 + (y1 - y0) * (0.35 + 0.3 * index + rng.normal(0, 0.05))
            start = np.array([min(x0 - 4, MARGIN + 1) - rng.uniform(0, 4), y + rng.normal(0, 1.5)])
            end = np.array(
                [max(x1 + 4, MARGIN + CELL_W - 1) + rng.uniform(0, 4), y + rng.normal(0, 1.5)]
            )
        else:
            # A steep stroke through the digit.
            x = x0 + (x1 - x0) * rng.uniform(0.2, 0.8)
            start = np.array([x - rng.uniform(4, 12), y0 - rng.uniform(2, 6)])
            end = np.array([x + rng.uniform(4, 12), y1 + rng.uniform(2, 6)])
        middle = (start + end) / 2 + rng.normal(0, 1.5, 2)
        lines.append(_smooth_path(np.stack([start, middle, end]), steps=6))
    return _draw_strokes(lines, _pen(rng), coverage)


def _cross(rng: np.random.Generator) -> np.ndarray:
    """A hand-drawn 'x' (or '+'-ish cross): two crossing strokes filling much of the cell."""
    size = rng.uniform(0.45, 0.85)
    centre = _cell_point(rng, 0.08)
    half = np.array([CELL_W, CELL_H]) * size / 2
    lines = []
    for sign in (1, -1):
        start = centre + np.array([-half[0], -sign * half[1]]) + rng.normal(0, 2, 2)
        end = centre + np.array([half[0], sign * half[1]]) + rng.normal(0, 2, 2)
        middle = (start + end) / 2 + rng.normal(0, 1.5, 2)
        lines.append(_smooth_path(np.stack([start, middle, end]), steps=6))
    return _draw_strokes(lines, _pen(rng))


def _tick(rng: np.random.Generator) -> np.ndarray:
    """A check mark (a tick meant for the AM/PM box, or a 'done' tick) in a digit cell."""
    size = rng.uniform(0.5, 0.9)
    centre = _cell_point(rng, 0.1)
    w, h = CELL_W * size, CELL_H * size * rng.uniform(0.6, 1.0)
    bottom = centre + np.array([-0.15 * w, 0.4 * h]) + rng.normal(0, 1.5, 2)
    start = bottom + np.array([-0.3 * w, -0.35 * h]) + rng.normal(0, 2, 2)
    end = bottom + np.array([0.65 * w, -0.9 * h]) + rng.normal(0, 2, 2)
    points = np.stack([start, bottom, (bottom + end) / 2 + rng.normal(0, 1.5, 2), end])
    return _draw_strokes([_smooth_path(points, steps=6)], _pen(rng))


def _blot(rng: np.random.Generator) -> np.ndarray:
    """A heavy filled blot (a digit inked over), irregular, covering much of the cell."""
    centre = _cell_point(rng, 0.1)
    count = int(rng.integers(7, 13))
    angles = np.sort(rng.uniform(0, 2 * np.pi, count))
    radius = rng.uniform(0.25, 0.45) * min(CELL_W, CELL_H) * rng.uniform(0.7, 1.3, count)
    stretch = np.array([1.0, rng.uniform(1.0, 1.5)])
    points = centre + np.stack([np.cos(angles), np.sin(angles)], axis=1) * radius[:, None] * stretch
    canvas_h, canvas_w = CELL_H + 2 * MARGIN, CELL_W + 2 * MARGIN
    big = np.zeros((canvas_h * SUPERSAMPLE, canvas_w * SUPERSAMPLE), np.uint8)
    cv2.fillPoly(big, [np.round(points * SUPERSAMPLE).astype(np.int32)], 255, cv2.LINE_AA)
    coverage = cv2.resize(big, (canvas_w, canvas_h), interpolation=cv2.INTER_AREA) / 255.0
    return coverage.astype(np.float32)


# --- paper, box and scanner -------------------------------------------------------------------


def _box_lines(image: np.ndarray, tone: float, rng: np.random.Generator | None) -> None:
    """Draw the cell's box (and its neighbours' edges) in the drop-out tone, in place."""
    height, width = image.shape
    big = np.zeros((height * SUPERSAMPLE, width * SUPERSAMPLE), np.uint8)
    half = BORDER_PX / 2 * SUPERSAMPLE

    def band(x0: float, y0: float, x1: float, y1: float) -> None:
        cv2.rectangle(
            big,
            (round(x0 * SUPERSAMPLE), round(y0 * SUPERSAMPLE)),
            (round(x1 * SUPERSAMPLE) - 1, round(y1 * SUPERSAMPLE) - 1),
            255,
            -1,
        )

    left, top, right, bottom = MARGIN, MARGIN, MARGIN + CELL_W, MARGIN + CELL_H
    edges: list[tuple[float, float, float, float]] = [(left, top, right, bottom)]
    if rng is not None:
        # The neighbouring cells of the time group, left and right.
        edges.append((left - NEIGHBOUR_GAP_PX - CELL_W, top, left - NEIGHBOUR_GAP_PX, bottom))
        edges.append((right + NEIGHBOUR_GAP_PX, top, right + NEIGHBOUR_GAP_PX + CELL_W, bottom))
    for x0, y0, x1, y1 in edges:
        band(
            x0 - half / SUPERSAMPLE,
            y0 - half / SUPERSAMPLE,
            x1 + half / SUPERSAMPLE,
            y0 + half / SUPERSAMPLE,
        )
        band(
            x0 - half / SUPERSAMPLE,
            y1 - half / SUPERSAMPLE,
            x1 + half / SUPERSAMPLE,
            y1 + half / SUPERSAMPLE,
        )
        band(
            x0 - half / SUPERSAMPLE,
            y0 - half / SUPERSAMPLE,
            x0 + half / SUPERSAMPLE,
            y1 + half / SUPERSAMPLE,
        )
        band(
            x1 - half / SUPERSAMPLE,
            y0 - half / SUPERSAMPLE,
            x1 + half / SUPERSAMPLE,
            y1 + half / SUPERSAMPLE,
        )
    coverage = cv2.resize(big, (width, height), interpolation=cv2.INTER_AREA) / 255.0
    np.copyto(image, image - (image - tone) * coverage)


def _dark_fragment(image: np.ndarray, rng: np.random.Generator) -> None:
    """A thin dark line along one edge of the cell: a border a bilevel scan turned black, or a
    printed rule the crop clipped."""
    side = int(rng.integers(4))
    thickness = float(rng.uniform(0.8, 2.2))
    inset = float(rng.uniform(-1.0, 3.0))
    share = float(rng.uniform(0.3, 1.0))
    if side < 2:
        y = MARGIN + (inset if side == 0 else CELL_H - inset)
        start = MARGIN + rng.uniform(0, 1 - share) * CELL_W
        line = np.array([[start, y], [start + share * CELL_W, y + rng.normal(0, 0.3)]])
    else:
        x = MARGIN + (inset if side == 2 else CELL_W - inset)
        start = MARGIN + rng.uniform(0, 1 - share) * CELL_H
        line = np.array([[x, start], [x + rng.normal(0, 0.3), start + share * CELL_H]])
    coverage = _draw_strokes([line], thickness)
    tone = float(rng.uniform(0, 110))
    np.copyto(image, image - (image - tone) * coverage)


def _specks(image: np.ndarray, rng: np.random.Generator, count: int) -> None:
    """Scanner dust and toner specks: tiny dark dots anywhere."""
    height, width = image.shape
    for _ in range(count):
        y, x = int(rng.integers(height)), int(rng.integers(width))
        radius = int(rng.integers(0, 2))
        cv2.circle(image, (x, y), radius, float(rng.uniform(0, 140)), -1)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.asarray(np.clip(np.rint(image), 0, 255), np.uint8)


def _scan(image: np.ndarray, rng: np.random.Generator, ink: float) -> np.ndarray:
    """The scanner's and file format's damage: bilevel, blur, noise, JPEG (`ink`: the ink's
    grey level, which a bilevel scan keeps black)."""
    if rng.random() < 0.15:
        # A phone photo: the page's light falls off across the cell, and the camera's
        # resolution on the page is lower than a scanner's (resampled down and up again).
        height, width = image.shape
        ramp = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
        angle = float(rng.uniform(0, np.pi))
        ramp = ramp * np.cos(angle) + np.linspace(-1.0, 1.0, height, dtype=np.float32)[
            :, None
        ] * np.sin(angle)
        image = image * (1.0 - float(rng.uniform(0.05, 0.3)) * (ramp + 1.0) / 2)
        factor = float(rng.uniform(0.5, 0.85))
        small = cv2.resize(
            image,
            (max(4, round(width * factor)), max(4, round(height * factor))),
            interpolation=cv2.INTER_AREA,
        )
        image = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.3:
        # A 1-bit scan at 300 dpi, resampled to the 200 dpi canonical image. Most scanners
        # threshold near the middle, 135-170 (the drop-out box vanishes); a few threshold
        # high, and the box turns black.
        height, width = image.shape
        big = cv2.resize(
            image, (round(width * 1.5), round(height * 1.5)), interpolation=cv2.INTER_LINEAR
        )
        # The level sits above the ink: a scan that drops the writing itself is unreadable
        # to anyone and is no example of a digit.
        low = min(max(135.0, ink + 30.0), 160.0)
        high = float(rng.uniform(195, 215))
        level = float(rng.uniform(low, 170)) if rng.random() < 0.85 else high
        big = np.where(big < level, 0.0, 255.0).astype(np.float32)
        image = cv2.resize(big, (width, height), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.3, 1.1)))
    if rng.random() < 0.7:
        image = image + rng.normal(0, rng.uniform(1, 12), image.shape).astype(np.float32)
    out = _to_uint8(image)
    if rng.random() < 0.35:
        quality = int(rng.integers(45, 91))
        ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
        decoded = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if ok else None
        if decoded is not None:
            out = np.asarray(decoded, np.uint8)
    return out


def _compose(
    coverage: np.ndarray, rng: np.random.Generator, *, dark_fragment: float = 0.1
) -> np.ndarray:
    """Ink `coverage` on paper with the box, scanned, cut out as a cell with a registration
    error: uint8 (about 48 x 40), ink dark."""
    canvas_h, canvas_w = coverage.shape
    paper = float(rng.uniform(215, 255)) if rng.random() < 0.3 else float(rng.uniform(240, 255))
    image = np.full((canvas_h, canvas_w), paper, np.float32)
    # Paper texture: a faint low-frequency mottle.
    mottle = cv2.GaussianBlur(rng.normal(0, 1, (canvas_h, canvas_w)).astype(np.float32), (0, 0), 3)
    image += mottle * float(rng.uniform(0, 12))
    if rng.random() < 0.92:
        # The drop-out tone as the scanner saw it: ~191 on white paper, lighter on some
        # scanners, sometimes not visible at all.
        _box_lines(image, paper * float(rng.uniform(0.71, 0.9)), rng)
    if rng.random() < dark_fragment:
        _dark_fragment(image, rng)
    pencil = rng.random() < 0.2
    # Pencil is lighter than pen, but still well below the drop-out tone (which is what the
    # sheet's instructions ask for: a dark pen or pencil).
    ink = min(float(rng.uniform(70, 125)), 0.55 * paper) if pencil else float(rng.uniform(5, 85))
    if pencil:
        # Graphite is grainy: coverage thins out in places.
        coverage = coverage * rng.uniform(0.85, 1.0, coverage.shape).astype(np.float32)
    image = image - (image - ink) * np.clip(coverage, 0, 1)
    if rng.random() < 0.3:
        _specks(image, rng, int(rng.integers(1, 4)))
    image = _scan(image, rng, ink)
    # Registration error of the cut (a few px) and a crop size that is not always exactly 48 x 40.
    dy, dx = (int(v) for v in np.clip(np.round(rng.normal(0, 1.6, 2)), -4, 4))
    dh, dw = int(rng.integers(-2, 3)), int(rng.integers(-2, 3))
    top, left = MARGIN + dy, MARGIN + dx
    return np.ascontiguousarray(image[top : top + CELL_H + dh, left : left + CELL_W + dw])


# --- the public renderers ---------------------------------------------------------------------


def plain_cell(glyph: np.ndarray) -> np.ndarray:
    """`glyph` written plainly in a cell: centred, 70 % of the cell high, a dark pen stroke of
    about 3 px, on white paper inside its drop-out box. Deterministic."""
    big = _upsample(glyph, 64)
    coverage = np.clip(_place(big, height_share=0.7), 0, 1)
    image = np.full(coverage.shape, 250.0, np.float32)
    _box_lines(image, DROPOUT_GREY, None)
    image = image - (image - 30.0) * coverage
    return np.ascontiguousarray(
        _to_uint8(image)[MARGIN : MARGIN + CELL_H, MARGIN : MARGIN + CELL_W]
    )


def random_cell(glyph: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`glyph` written and scanned with every augmentation drawn at random from `rng`."""
    return _compose(_random_geometry(glyph, rng), rng, dark_fragment=0.1)


def blank_cell(rng: np.random.Generator) -> np.ndarray:
    """An EMPTY cell: paper, box remnants, noise, a speck or a faint smudge, a neighbour's stroke
    poking in at an edge."""
    canvas_h, canvas_w = CELL_H + 2 * MARGIN, CELL_W + 2 * MARGIN
    coverage = np.zeros((canvas_h, canvas_w), np.float32)
    if rng.random() < 0.25:
        # A stroke from the neighbouring cell (or the row above/below) reaching just over
        # the edge.
        side = int(rng.integers(4))
        depth = float(rng.uniform(1, 4))
        if side < 2:
            y = MARGIN + (depth if side == 0 else CELL_H - depth)
            x = MARGIN + rng.uniform(0.1, 0.9) * CELL_W
            outside = -1 if side == 0 else 1
            line = np.array([[x + rng.normal(0, 4), y + outside * 10], [x, y]])
        else:
            x = MARGIN + (depth if side == 2 else CELL_W - depth)
            y = MARGIN + rng.uniform(0.1, 0.9) * CELL_H
            outside = -1 if side == 2 else 1
            line = np.array([[x + outside * 10, y + rng.normal(0, 4)], [x, y]])
        coverage = _draw_strokes([line], _pen(rng))
    if rng.random() < 0.2:
        # A dot left by resting the pen: small, sometimes near the middle.
        centre = _cell_point(rng, 0.35)
        coverage = _draw_strokes(
            [np.stack([centre, centre + rng.normal(0, 0.8, 2)])], _pen(rng), coverage
        )
    if rng.random() < 0.15:
        # An erased or faint smudge: light grey, below the ink threshold.
        smudge = _blot(rng) * float(rng.uniform(0.1, 0.3))
        coverage = np.maximum(coverage, smudge)
    cell = _compose(coverage, rng, dark_fragment=0.3)
    if rng.random() < 0.3:
        cell = cell.copy()
        _specks_uint8(cell, rng, int(rng.integers(1, 6)))
    return cell


def _specks_uint8(cell: np.ndarray, rng: np.random.Generator, count: int) -> None:
    height, width = cell.shape
    for _ in range(count):
        y, x = int(rng.integers(height)), int(rng.integers(width))
        cv2.circle(cell, (x, y), int(rng.integers(0, 2)), int(rng.integers(0, 140)), -1)


def not_a_digit_cell(
    rng: np.random.Generator,
    glyphs: Sequence[np.ndarray],
    letters: Sequence[np.ndarray],
) -> np.ndarray:
    """A NOT_A_DIGIT cell: a scribble, a digit struck out (`glyphs` to draw from), an 'x' or a
    letter (`letters`), a heavy blot, or two digits squeezed into one cell."""
    kind = rng.random()
    if kind < 0.17:
        coverage = _scribble(rng)
    elif kind < 0.47:
        digit = glyphs[int(rng.integers(len(glyphs)))]
        coverage = _random_geometry(digit, rng)
        coverage = _zigzag(rng, coverage) if rng.random() < 0.25 else _strike(rng, coverage)
    elif kind < 0.57:
        coverage = _cross(rng)
    elif kind < 0.65:
        coverage = _tick(rng)
    elif kind < 0.76:
        coverage = _random_geometry(letters[int(rng.integers(len(letters)))], rng)
    elif kind < 0.85:
        coverage = _blot(rng)
        if rng.random() < 0.5:
            coverage = _zigzag(rng, coverage)
    else:
        first = glyphs[int(rng.integers(len(glyphs)))]
        second = glyphs[int(rng.integers(len(glyphs)))]
        gap = np.zeros((max(first.shape[0], second.shape[0]), 2), np.float32)
        pair = np.hstack([_pad_to(first, gap.shape[0]), gap, _pad_to(second, gap.shape[0])])
        coverage = _random_geometry(pair, rng)
    return _compose(np.clip(coverage, 0, 1), rng, dark_fragment=0.1)


def _pad_to(glyph: np.ndarray, height: int) -> np.ndarray:
    extra = height - glyph.shape[0]
    return np.pad(glyph, ((extra // 2, extra - extra // 2), (0, 0)))


def crop_variant(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A real cell crop (grey uint8, a verified crop from a stored page) as another scan of it
    might give it: the cut moved by up to 2 px and 2 px larger or smaller, a little blur and
    grain. The writing itself is left as it is: it is real."""
    image = np.asarray(crop, np.float32)
    height, width = image.shape
    paper = float(np.percentile(image, 90))
    padded = cv2.copyMakeBorder(image, 4, 4, 4, 4, cv2.BORDER_CONSTANT, value=paper)
    dy, dx = (int(v) for v in rng.integers(-2, 3, 2))
    dh, dw = (int(v) for v in rng.integers(-2, 3, 2))
    out = padded[4 + dy : 4 + dy + height + dh, 4 + dx : 4 + dx + width + dw]
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.3, 0.8)))
    if rng.random() < 0.5:
        out = out + rng.normal(0, rng.uniform(1, 6), out.shape).astype(np.float32)
    return _to_uint8(out)
