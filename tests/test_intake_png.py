"""Page images stored at intake: PNG files any reader opens, pixel for pixel."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from intake.png import encode_grey_png


@pytest.mark.parametrize("shape", [(1, 1), (1, 37), (41, 1), (2200, 1700), (333, 257)])
def test_grey_png_decodes_to_the_same_pixels(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    # Paper, grain, and ink: values wrap around in the Up filter (200 - 20, 20 - 200).
    image = np.clip(rng.normal(235, 12, shape), 0, 255).astype(np.uint8)
    image[:: max(1, shape[0] // 7)] = 20
    data = encode_grey_png(image)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.dtype == np.uint8 and np.array_equal(decoded, image)
    with Image.open(io.BytesIO(data)) as pil:
        pil.load()  # Pillow checks every chunk's CRC
        assert pil.mode == "L" and np.array_equal(np.asarray(pil), image)


def test_only_grey_images_are_encoded() -> None:
    for bad in (np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.float32), np.zeros((0, 4))):
        with pytest.raises(ValueError):
            encode_grey_png(bad)
