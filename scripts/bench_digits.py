"""Measure the shipped digit reader: held-out accuracy, blanks and not-digits, calibration, speed.

Accuracy is measured on the 2,000 held-out real MNIST digits (`fixtures/digits-heldout.npz`,
never trained on), written into synthetic cells two ways and put through
`scanner.digits.prepare_cell`:

- plain: centred, a clean pen stroke, the drop-out box (`training.cells.plain_cell`);
- degraded: the full augmentation of training (`training.cells.random_cell`: elastic, affine,
  placement touching the border, stroke width, box remnants, blur, noise, JPEG, bilevel, pencil),
  drawn from a fixed seed unrelated to training's.

Blanks and not-digits are generated the same way (struck-out digits use held-out digits).
Speed is the median time of a batch of 120 prepared cells (30 days x the 4 digit cells of one
time column; a full page with time in and time out is two such batches) through onnxruntime and
through OpenCV dnn, both single-threaded, measured in the same run, and their ratio.

    .venv/bin/python scripts/bench_digits.py [--repeats 200] [--json] [--model FILE.onnx]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scanner.digits import EMPTY, NOT_A_DIGIT, DigitReader, prepare_cell
from training import cells
from training.train_digits import expected_calibration_error

REPO = Path(__file__).resolve().parent.parent
HELD_OUT = REPO / "fixtures" / "digits-heldout.npz"
SEED = 424242
GENERATED = 1000
PAGE_CELLS = 120
THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
NAMES = [str(d) for d in range(10)] + ["EMPTY", "NOT_A_DIGIT"]


def coverage_curve(probabilities: np.ndarray, labels: np.ndarray) -> list[dict[str, float]]:
    """For each threshold t: the share of cells whose top probability is >= t, and the
    accuracy of the top class on those."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    rows = []
    for threshold in THRESHOLDS:
        kept = confidence >= threshold
        accuracy = float(correct[kept].mean()) if kept.any() else float("nan")
        rows.append({"threshold": threshold, "kept": float(kept.mean()), "accuracy": accuracy})
    return rows


def top_confusions(predicted: np.ndarray, labels: np.ndarray, count: int = 6) -> list[str]:
    pairs: dict[tuple[int, int], int] = {}
    for truth, guess in zip(labels.tolist(), predicted.tolist(), strict=True):
        if truth != guess:
            pairs[(truth, guess)] = pairs.get((truth, guess), 0) + 1
    ordered = sorted(pairs.items(), key=lambda item: -item[1])[:count]
    return [f"{NAMES[t]}->{NAMES[g]} x{n}" for (t, g), n in ordered]


def class_shares(predicted: np.ndarray) -> dict[str, float]:
    return {
        "EMPTY": float((predicted == EMPTY).mean()),
        "NOT_A_DIGIT": float((predicted == NOT_A_DIGIT).mean()),
        "a digit": float((predicted < 10).mean()),
    }


def median_ms(function: Any, repeats: int) -> float:
    for _ in range(5):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--model", type=Path, help="a digit model (default: the shipped one)")
    args = parser.parse_args(argv)

    data = np.load(HELD_OUT)
    images, labels = data["images"], data["labels"].astype(np.int64)
    glyphs = [cells.mnist_glyph(image) for image in images]
    rng = np.random.default_rng(SEED)
    fonts = [font for font in cells.load_fonts() if font.handwriting]
    letters = [cells.font_glyph(font, char) for font in fonts for char in cells.NOT_DIGIT_CHARS]

    plain = np.stack([prepare_cell(cells.plain_cell(glyph)) for glyph in glyphs])
    degraded = np.stack([prepare_cell(cells.random_cell(glyph, rng)) for glyph in glyphs])
    raw = images.astype(np.float32) / 255.0
    blanks = np.stack([prepare_cell(cells.blank_cell(rng)) for _ in range(GENERATED)])
    nots = np.stack(
        [prepare_cell(cells.not_a_digit_cell(rng, glyphs, letters)) for _ in range(GENERATED)]
    )

    reader = DigitReader.load(args.model)
    figures: dict[str, Any] = {"model": reader.version}
    results = {}
    for name, inputs in (("plain", plain), ("degraded", degraded), ("raw_mnist", raw)):
        probabilities = reader.probabilities(inputs)
        predicted = probabilities.argmax(axis=1)
        results[name] = probabilities
        figures[f"heldout_{name}"] = {
            "accuracy": float((predicted == labels).mean()),
            "read_as_empty_or_not_a_digit": float((predicted >= 10).mean()),
            # Cells whose ink did not survive preparation at all (the renderer drew it too
            # faint): counted as errors here, they are read as EMPTY.
            "all_zero_inputs": int((inputs.reshape(len(inputs), -1).max(axis=1) == 0).sum()),
            "top_confusions": top_confusions(predicted, labels),
        }
    blank_p = reader.probabilities(blanks)
    not_p = reader.probabilities(nots)
    figures["generated_blanks"] = class_shares(blank_p.argmax(axis=1))
    figures["generated_not_a_digit"] = class_shares(not_p.argmax(axis=1))
    figures["generated_blanks"]["all_zero_input"] = float(
        (blanks.reshape(GENERATED, -1).max(1) == 0).mean()
    )

    everything = np.concatenate([results["plain"], results["degraded"], blank_p, not_p])
    truth = np.concatenate(
        [labels, labels, np.full(GENERATED, EMPTY), np.full(GENERATED, NOT_A_DIGIT)]
    )
    figures["ece"] = {
        "heldout_plain": expected_calibration_error(results["plain"], labels),
        "heldout_degraded": expected_calibration_error(results["degraded"], labels),
        "all": expected_calibration_error(everything, truth),
    }
    figures["coverage_heldout_degraded"] = coverage_curve(results["degraded"], labels)
    figures["coverage_heldout_plain"] = coverage_curve(results["plain"], labels)

    # Speed: one page's worth of prepared cells, each backend single-threaded.
    page = degraded[:PAGE_CELLS]
    page_crops = [cells.random_cell(glyph, rng) for glyph in glyphs[:PAGE_CELLS]]
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        ort = DigitReader.load(args.model, backend="onnxruntime")
        opencv = DigitReader.load(args.model, backend="opencv")
        ort_ms = median_ms(lambda: ort.probabilities(page), args.repeats)
        opencv_ms = median_ms(lambda: opencv.probabilities(page), args.repeats)
        prepare_ms = median_ms(
            lambda: [prepare_cell(c) for c in page_crops], max(20, args.repeats // 5)
        )
    finally:
        cv2.setNumThreads(threads)
    figures["speed_ms_per_120_cells"] = {
        "onnxruntime": ort_ms,
        "opencv_dnn": opencv_ms,
        "opencv_over_onnxruntime": opencv_ms / ort_ms,
        "prepare_cell": prepare_ms,
    }
    agreement = float(np.abs(ort.probabilities(page) - opencv.probabilities(page)).max())
    figures["backend_max_abs_difference"] = agreement

    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"model {figures['model']}")
    for name in ("plain", "degraded", "raw_mnist"):
        entry = figures[f"heldout_{name}"]
        print(
            f"held-out 2,000 real digits, {name:9s}: accuracy {entry['accuracy']:.4f}, "
            f"read as EMPTY/NOT_A_DIGIT {entry['read_as_empty_or_not_a_digit']:.4f} "
            f"(ink lost in preparation: {entry['all_zero_inputs']}); "
            f"{', '.join(entry['top_confusions'])}"
        )
    for name in ("generated_blanks", "generated_not_a_digit"):
        shares = figures[name]
        print(f"{name} ({GENERATED}): " + ", ".join(f"{k} {v:.3f}" for k, v in shares.items()))
    print("ECE: " + ", ".join(f"{k} {v:.4f}" for k, v in figures["ece"].items()))
    for name in ("coverage_heldout_degraded", "coverage_heldout_plain"):
        print(f"{name}: threshold / kept / accuracy")
        for row in figures[name]:
            print(f"  {row['threshold']:.3f}  {row['kept']:.4f}  {row['accuracy']:.4f}")
    speed = figures["speed_ms_per_120_cells"]
    print(
        f"median ms per {PAGE_CELLS} cells: onnxruntime {speed['onnxruntime']:.2f}, "
        f"OpenCV dnn {speed['opencv_dnn']:.2f} (ratio OpenCV/onnxruntime "
        f"{speed['opencv_over_onnxruntime']:.2f}); prepare_cell {speed['prepare_cell']:.2f}; "
        f"backends differ by at most {agreement:.1e}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
