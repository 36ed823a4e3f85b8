"""Make a clean page raster look like a scan: turned, skewed, rescaled, blurred, noisy.

A test and demo aid: pure numpy/OpenCV, deterministic for a given seed.
"""

from __future__ import annotations

import cv2
import numpy as np

_QUARTER_TURNS = {0: 0, 90: 1, 180: 2, 270: 3}


def simulate_scan(
    image: np.ndarray,
    *,
    rotate: int = 0,
    skew_deg: float = 0.0,
    scale: float = 1.0,
    noise: float = 0.0,
    blur: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """Return a grey uint8 copy of `image` as a scanner might deliver it.

    `rotate` turns the page clockwise by exact quarter turns (0/90/180/270); `skew_deg` turns
    it a little further clockwise about its centre, filling uncovered corners with white paper;
    `scale` resizes; `blur` is a Gaussian sigma in pixels; `noise` a Gaussian sigma in grey
    levels drawn from a generator seeded with `seed`.
    """
    if rotate not in _QUARTER_TURNS:
        raise ValueError("rotate must be 0, 90, 180 or 270")
    if scale <= 0:
        raise ValueError("scale must be positive")
    if noise < 0 or blur < 0:
        raise ValueError("noise and blur must not be negative")
    page = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    page = page.astype(np.uint8, copy=False)
    # np.rot90 turns counter-clockwise for positive k, so negate for clockwise.
    page = np.ascontiguousarray(np.rot90(page, k=-_QUARTER_TURNS[rotate]))
    if skew_deg:
        height, width = page.shape
        # OpenCV's positive angle is counter-clockwise on screen (y points down).
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), -skew_deg, 1.0)
        page = cv2.warpAffine(
            page,
            matrix,
            (width, height),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=255,
        )
    if scale != 1.0:
        height, width = page.shape
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        page = cv2.resize(page, size, interpolation=interpolation)
    if blur:
        page = cv2.GaussianBlur(page, (0, 0), sigmaX=blur)
    if noise:
        rng = np.random.default_rng(seed)
        noisy = page.astype(np.float32) + rng.normal(0.0, noise, size=page.shape)
        page = np.clip(noisy, 0, 255).round().astype(np.uint8)
    return np.array(page, dtype=np.uint8, copy=True)


def simulate_photo(
    page: np.ndarray,
    *,
    tilt_deg: float = 10.0,
    turn_deg: float = 0.0,
    fill: float = 0.75,
    frame_px: int = 2400,
    shadow: float = 0.35,
    seed: int = 0,
) -> np.ndarray:
    """A phone photo of the grey `page` lying on a desk: a colour (BGR) uint8 frame.

    The camera is tilted `tilt_deg` from straight down (the page's far edge looks narrower,
    perspective), the page turned `turn_deg` in the frame, and scaled so its height fills
    `fill` of the portrait frame's `frame_px` long side. The desk is darker and textured,
    the light uneven (a gradient across the frame) and a soft shadow darkens part of the
    page by up to `shadow`; white balance is warm; sensor noise is added. Deterministic for
    `seed`. The frame has no resolution: a photo's scale is whatever the distance made it.
    """
    if not 0.2 <= fill <= 1.0:
        raise ValueError("fill must be 0.2..1")
    rng = np.random.default_rng(seed)
    grey = page if page.ndim == 2 else cv2.cvtColor(page, cv2.COLOR_BGR2GRAY)
    height, width = grey.shape
    frame_w, frame_h = round(frame_px * 3 / 4), frame_px
    # The page's corners in 3-D (centred, unit = page height), tilted about the x axis, turned
    # about the optical axis, then projected with a phone's ~70 degree field of view.
    aspect = width / height
    corners = np.array(
        [[-aspect / 2, -0.5, 0], [aspect / 2, -0.5, 0], [aspect / 2, 0.5, 0], [-aspect / 2, 0.5, 0]]
    )
    t = np.radians(tilt_deg)
    tilt = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
    r = np.radians(turn_deg)
    turn = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    placed = corners @ tilt.T @ turn.T
    distance = 1.4
    projected = placed[:, :2] / (distance + placed[:, 2:3])
    span = projected[:, 1].max() - projected[:, 1].min()
    projected *= fill * frame_h / span
    centre = np.array([frame_w / 2, frame_h / 2]) + rng.normal(0, 0.02, 2) * frame_h
    projected += centre - (projected.max(axis=0) + projected.min(axis=0)) / 2
    source = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(source, projected.astype(np.float32))

    # A desk: dark, with a low-frequency grain.
    base = float(rng.uniform(45, 105))
    grain: np.ndarray = cv2.resize(
        rng.normal(0, 12, (frame_h // 40 + 1, frame_w // 40 + 1)).astype(np.float32),
        (frame_w, frame_h),
        interpolation=cv2.INTER_CUBIC,
    )
    desk = base + grain + rng.normal(0, 4, (frame_h, frame_w)).astype(np.float32)
    warped: np.ndarray = cv2.warpPerspective(
        grey.astype(np.float32), matrix, (frame_w, frame_h), flags=cv2.INTER_AREA, borderValue=-1
    )
    mask: np.ndarray = cv2.warpPerspective(
        np.ones_like(grey, dtype=np.float32), matrix, (frame_w, frame_h), flags=cv2.INTER_LINEAR
    )
    # Paper in a photo is never white: exposure puts it at 75-92 % of full scale.
    exposure = float(rng.uniform(0.75, 0.92))
    scene: np.ndarray = mask * np.maximum(warped, 0) * exposure + (1 - mask) * desk
    # Uneven light: a gradient from one side, and a soft shadow (a hand, the phone) across
    # part of the page.
    ys, xs = np.mgrid[0:frame_h, 0:frame_w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xs / frame_w + np.sin(angle) * ys / frame_h + 1) / 2
    light = 1.0 - float(rng.uniform(0.1, 0.3)) * ramp
    if shadow > 0:
        blob: np.ndarray = np.zeros((frame_h, frame_w), np.float32)
        cx, cy = rng.uniform(0.2, 0.8) * frame_w, rng.uniform(0.2, 0.8) * frame_h
        axes = (int(rng.uniform(0.15, 0.35) * frame_w), int(rng.uniform(0.1, 0.3) * frame_h))
        cv2.ellipse(blob, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        blob = cv2.GaussianBlur(blob, (0, 0), frame_px / 40)
        light *= 1.0 - shadow * blob
    scene *= light
    scene = np.asarray(cv2.GaussianBlur(scene, (0, 0), 0.7), dtype=np.float32)
    balance = np.array([float(rng.uniform(0.8, 0.9)), float(rng.uniform(0.92, 0.97)), 1.0])
    colour = scene[:, :, None] * balance[None, None, :]  # BGR: warm light, less blue
    colour += rng.normal(0, 3.0, colour.shape)
    return np.asarray(np.clip(colour, 0, 255).round(), dtype=np.uint8)


def simulate_photocopy(page: np.ndarray, *, generations: int = 2, seed: int = 0) -> np.ndarray:
    """`page` photocopied `generations` times: each copy a little off scale and turned,
    darker and harder (toner), softer, with specks; grey uint8, the paper size kept."""
    if generations < 1:
        raise ValueError("generations must be at least 1")
    rng = np.random.default_rng(seed)
    out: np.ndarray = page.astype(np.float32)
    height, width = out.shape
    for _ in range(generations):
        scale = float(rng.uniform(0.985, 1.015))
        angle = float(rng.uniform(-0.8, 0.8))
        matrix = np.asarray(
            cv2.getRotationMatrix2D((width / 2, height / 2), angle, scale), dtype=np.float64
        )
        matrix[:, 2] += rng.normal(0, 0.004 * width, 2)
        out = cv2.warpAffine(
            out, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=255.0
        )
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.6, 1.0)))
        # Toner: a steep curve around mid-grey darkens ink and pale print, whitens paper.
        out = 255.0 / (1.0 + np.exp(-(out - float(rng.uniform(150, 185))) / 18.0))
        specks = rng.random((height, width)) < 0.0004
        out[specks] *= 0.3
        out += rng.normal(0, 4.0, out.shape)
        out = np.clip(out, 0, 255)
    return out.round().astype(np.uint8)
