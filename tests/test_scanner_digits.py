"""The handwritten-digit reader: the shipped network on held-out real digits, blanks and
crossed-out cells, on both backends. No mocks: the real ONNX model, real onnxruntime and OpenCV."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from scanner.digits import (
    CLASSES,
    EMPTY,
    MODEL_PATH,
    NOT_A_DIGIT,
    DigitReader,
    ink_fraction,
    prepare_cell,
)
from training.cells import DROPOUT_GREY, mnist_glyph, plain_cell, random_cell

REPO = Path(__file__).resolve().parent.parent
HELD_OUT = REPO / "fixtures" / "digits-heldout.npz"
# What the shipped model reaches on the 2,000 held-out digits in plain cells (0.991), less a margin
# (see scanner/models/digits-v1.md and scripts/bench_digits.py).
HELD_OUT_ACCURACY = 0.985
# The same digits in heavily degraded cells (scripts/bench_digits.py "degraded": 0.9425).
DEGRADED_ACCURACY = 0.93


@pytest.fixture(scope="module")
def held_out() -> tuple[np.ndarray, np.ndarray]:
    data = np.load(HELD_OUT)
    return data["images"], data["labels"].astype(np.int64)


@pytest.fixture(scope="module")
def prepared(held_out: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    images, _ = held_out
    return np.stack([prepare_cell(plain_cell(mnist_glyph(image))) for image in images])


@pytest.fixture(scope="module")
def reader() -> DigitReader:
    return DigitReader.load()


def _box(height: int = 48, width: int = 40) -> np.ndarray:
    """A blank cell crop: white paper, the drop-out box line along the edges (2 px, grey 191)."""
    cell = np.full((height, width), 250, np.uint8)
    cv2.rectangle(cell, (0, 0), (width - 1, height - 1), DROPOUT_GREY, 2)
    return cell


def _struck_out(digit: np.ndarray, strokes: int) -> np.ndarray:
    """A held-out digit in a cell, struck through corner to corner (one or both diagonals)."""
    cell = plain_cell(mnist_glyph(digit)).copy()
    cv2.line(cell, (4, 8), (35, 40), 30, 3, cv2.LINE_AA)
    if strokes == 2:
        cv2.line(cell, (4, 40), (35, 8), 30, 3, cv2.LINE_AA)
    return cell


def test_shipped_model_is_small_and_loads_on_both_backends(reader: DigitReader) -> None:
    assert MODEL_PATH.exists()
    assert MODEL_PATH.stat().st_size <= 2 * 1024 * 1024
    assert reader.version == "digits-v2" == MODEL_PATH.stem  # from the file's own metadata
    assert len(reader.sha256) == 64
    assert DigitReader.load(backend="opencv").backend == "opencv"
    with pytest.raises(ValueError, match="backend"):
        DigitReader.load(backend="tensorflow")


def test_backends_agree(prepared: np.ndarray, reader: DigitReader) -> None:
    opencv = DigitReader.load(backend="opencv")
    batch = prepared[:240]
    assert np.abs(reader.probabilities(batch) - opencv.probabilities(batch)).max() < 1e-4


def test_held_out_real_digits_are_read(
    held_out: tuple[np.ndarray, np.ndarray], prepared: np.ndarray, reader: DigitReader
) -> None:
    """GIVEN the 2,000 held-out MNIST digits (never trained on) written plainly into cells
    WHEN each cell is prepared and read
    THEN the top class is the true digit for at least HELD_OUT_ACCURACY of them."""
    _, labels = held_out
    predicted = reader.probabilities(prepared).argmax(axis=1)
    accuracy = float((predicted == labels).mean())
    assert accuracy >= HELD_OUT_ACCURACY, accuracy
    for digit in range(10):
        assert (predicted[labels == digit] == digit).mean() >= 0.94, digit


def test_held_out_digits_in_degraded_cells_are_mostly_read(
    held_out: tuple[np.ndarray, np.ndarray], reader: DigitReader
) -> None:
    """GIVEN the held-out digits written into cells with the full augmentation (rotation,
    shear, border crossing, box remnants, blur, noise, JPEG, bilevel, pencil), fixed seed
    WHEN they are read
    THEN most are read right (the bench's figure, less a margin)."""
    images, labels = held_out
    rng = np.random.default_rng(424242)
    inputs = np.stack([prepare_cell(random_cell(mnist_glyph(image), rng)) for image in images])
    accuracy = float((reader.probabilities(inputs).argmax(axis=1) == labels).mean())
    assert accuracy >= DEGRADED_ACCURACY, accuracy


def test_probabilities_are_distributions(prepared: np.ndarray, reader: DigitReader) -> None:
    probabilities = reader.probabilities(prepared[:50])
    assert probabilities.shape == (50, CLASSES)
    assert probabilities.dtype == np.float32
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert (probabilities >= 0).all()
    assert reader.probabilities(np.zeros((0, 28, 28), np.float32)).shape == (0, CLASSES)


def test_blank_cell_with_box_remnants_is_empty(reader: DigitReader) -> None:
    rng = np.random.default_rng(3)
    blanks = []
    plain = _box()
    blanks.append(plain)
    # Shifted crop: the box line 3 px inside the top and left edges, plus scanner noise.
    shifted = np.full((48, 40), 248, np.uint8)
    cv2.rectangle(shifted, (3, 3), (45, 52), DROPOUT_GREY, 2)
    noisy = np.clip(shifted + rng.normal(0, 8, shifted.shape), 0, 255).astype(np.uint8)
    blanks.append(noisy)
    # A bilevel scan that turned the border black along one edge, and a speck of dust.
    dark = _box()
    dark[46:48, 2:38] = 0
    dark[20, 17] = 40
    blanks.append(dark)
    inputs = np.stack([prepare_cell(cell) for cell in blanks])
    probabilities = reader.probabilities(inputs)
    assert (probabilities.argmax(axis=1) == EMPTY).all()
    assert (probabilities[:, EMPTY] >= 0.95).all(), probabilities[:, EMPTY]


@pytest.mark.parametrize("strokes", [1, 2])
def test_struck_out_digit_is_not_read_as_a_digit(
    held_out: tuple[np.ndarray, np.ndarray], reader: DigitReader, strokes: int
) -> None:
    """GIVEN held-out digits struck through with one or two strokes
    WHEN they are read
    THEN NOT_A_DIGIT is the top class, or no digit gets a confident probability."""
    images, labels = held_out
    chosen = [int(np.flatnonzero(labels == digit)[5]) for digit in range(10)]
    inputs = np.stack([prepare_cell(_struck_out(images[i], strokes)) for i in chosen])
    probabilities = reader.probabilities(inputs)
    for row in probabilities:
        assert row.argmax() == NOT_A_DIGIT or row[:10].max() < 0.5, row


def test_scribble_is_not_a_digit(reader: DigitReader) -> None:
    cell = _box()
    points = np.array([[8, 12], [30, 35], [10, 38], [32, 10], [12, 24], [30, 26], [9, 9]])
    cv2.polylines(cell, [points.reshape(-1, 1, 2)], False, 20, 3, cv2.LINE_AA)
    probabilities = reader.probabilities(prepare_cell(cell)[None])[0]
    assert probabilities.argmax() == NOT_A_DIGIT or probabilities[:10].max() < 0.5


def test_prepare_cell_centres_the_ink(held_out: tuple[np.ndarray, np.ndarray]) -> None:
    images, _ = held_out
    for image in images[::50]:
        prepared = prepare_cell(plain_cell(mnist_glyph(image)))
        assert prepared.shape == (28, 28)
        assert prepared.dtype == np.float32
        assert prepared.min() >= 0.0 and prepared.max() <= 1.0
        ys, xs = np.indices(prepared.shape)
        total = prepared.sum()
        centre = (27 / 2, 27 / 2)
        assert abs((ys * prepared).sum() / total - centre[0]) <= 1.5
        assert abs((xs * prepared).sum() / total - centre[1]) <= 1.5
        rows = np.flatnonzero(prepared.max(axis=1) > 0)
        cols = np.flatnonzero(prepared.max(axis=0) > 0)
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 20


def test_prepare_cell_of_an_empty_cell_is_zeros() -> None:
    assert not prepare_cell(np.full((48, 40), 255, np.uint8)).any()
    assert not prepare_cell(_box()).any()
    # Colour crops and other sizes are accepted.
    assert not prepare_cell(cv2.cvtColor(_box(60, 50), cv2.COLOR_GRAY2BGR)).any()


def test_ink_fraction_ignores_the_drop_out_box(held_out: tuple[np.ndarray, np.ndarray]) -> None:
    images, _ = held_out
    assert ink_fraction(_box()) == 0.0
    assert ink_fraction(plain_cell(mnist_glyph(images[0]))) > 0.05


def test_reading_does_not_import_torch() -> None:
    code = (
        "import sys; from scanner.digits import DigitReader, prepare_cell; "
        "DigitReader.load(); print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_fast_percentile_equals_numpys() -> None:
    from scanner.digits import _percentile

    rng = np.random.default_rng(5)
    for size in (1, 2, 7, 48 * 40, 1001):
        values = rng.integers(0, 256, size=size, dtype=np.uint8)
        for q in (0.0, 50.0, 90.0, 99.5, 100.0):
            assert _percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
