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
