"""Write `scanner/models/heldout-cells.npz`: the held-out real digits as degraded cell crops.

`attend model promote` judges a candidate model on these (and on verified crops it was not
trained on). They are the 2,000 MNIST digits never trained on (`fixtures/digits-heldout.npz`,
fixed by `training/mnist_split.py`), each written into one cell with the full augmentation of
`training.cells.random_cell` from a fixed seed: raw grey crops, so that they are prepared at
judging time by the `prepare_cell` of the program that judges.

    .venv/bin/python training/heldout_cells.py

Layout: ``pixels`` uint8 (all crops' pixels, row-major, one after the other), ``shapes``
(N, 2) each crop's height and width, ``labels`` (N,).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import cells

REPO = Path(__file__).resolve().parent.parent
HELD_OUT = REPO / "fixtures" / "digits-heldout.npz"
OUT = REPO / "scanner" / "models" / "heldout-cells.npz"
SEED = 424242


def build(seed: int = SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pixels, shapes, labels) of every held-out digit in one degraded cell."""
    with np.load(HELD_OUT) as data:
        images, labels = data["images"], data["labels"].astype(np.int64)
    rng = np.random.default_rng(seed)
    crops = [cells.random_cell(cells.mnist_glyph(image), rng) for image in images]
    pixels = np.concatenate([crop.ravel() for crop in crops]).astype(np.uint8)
    shapes = np.asarray([crop.shape for crop in crops], np.int32)
    return pixels, shapes, labels


def main() -> int:
    pixels, shapes, labels = build()
    np.savez_compressed(OUT, pixels=pixels, shapes=shapes, labels=labels)
    print(f"{OUT}: {len(labels)} cells, {OUT.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
