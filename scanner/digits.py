"""Handwritten digits: a cell crop in, calibrated probabilities of 0-9, EMPTY, NOT_A_DIGIT out.

Two halves. `prepare_cell` turns a grey crop of one digit cell of the canonical image (ink dark on
light paper, about 40 x 48 px at 200 dpi) into the 28 x 28 MNIST-style input of the network:
the drop-out tone of the printed box vanishes in the threshold, straight remnants of the box
along the cell's edges and specks are dropped, and what is left is cropped, scaled so its longer
side is 20 px and centred by its centre of mass. Training builds its inputs with this very
function (`training/train_digits.py` renders synthetic cells and calls it), so reading and
training share their preprocessing exactly.

`DigitReader` runs a network (the shipped `models/digits-v2.onnx` by default, model card beside
it; an agency's promoted model from `intake.models`) with onnxruntime or OpenCV's dnn module.
Its version is the one written into the file's metadata by training, so what a reading records
is the model that read it. The temperature that calibrates its probabilities is baked into the
graph, so both backends return the same calibrated numbers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

EMPTY = 10
NOT_A_DIGIT = 11
CLASSES = 12

MODEL_PATH = Path(__file__).resolve().parent / "models" / "digits-v2.onnx"

INPUT_SIZE = 28
# MNIST puts the digit's bounding box in 20 x 20 and centres its mass in 28 x 28.
BOX_SIZE = 20

# Ink is darker than this share of the paper level. Pen ink sits near 0.1-0.4 of it, pencil
# near 0.5, and the drop-out box tone near 0.75 (191 of 255): it vanishes, ink stays.
INK_RATIO = 0.66
# Paper is the bright majority of a cell; the floor keeps an almost fully inked cell (a blot)
# from being taken for dark paper and losing all its ink.
PAPER_PERCENTILE = 90
PAPER_FLOOR = 160.0

# Box remnants: straight runs along an edge at least this share of the edge long, within the
# edge band. A printed box line runs the cell's whole side; a digit written to fill the box
# puts its own level strokes in the band too (a 7's bar, a 5's top), up to about three
# quarters of the width: at 0.55 they were cut off (7 read as 1, 5 as 3), at 0.8 they stay.
EDGE_LINE_MIN_SHARE = 0.8
# The edge band: where the cell's own border (and its neighbour's, after a registration error
# of a few pixels) can land.
EDGE_BAND_SHARE = 0.12
# Components smaller than this share of the cell area are specks (scanner dust, noise).
SPECK_SHARE = 0.004
# A component this share of the largest one is part of the mark even far from it (a 5's bar);
# a smaller one only when it lies close to the large ones (a bilevel scan's broken stroke).
MAJOR_SHARE = 0.25
MINOR_SHARE = 0.03
# "Close to the mark": within this share of the mark's size of its bounding box.
REACH_SHARE = 0.35
# Ink whose longer side is under this share of the cell height is no written digit: a dot.
MIN_MARK_SHARE = 0.15
# Small marks are not magnified past this: a mark of 30 % of the cell height fills the 20 px
# box, anything smaller stays small, so a speck does not turn into a blot.
MAX_MAGNIFY_SHARE = 0.30


def _grey(cell: np.ndarray) -> np.ndarray:
    """`cell` as a 2-D uint8 grey image (BGR and 0..1 float crops are accepted too)."""
    image = np.asarray(cell)
    if image.ndim == 3:
        image = cv2.cvtColor(image.astype(np.uint8, copy=False), cv2.COLOR_BGR2GRAY)
    if image.dtype != np.uint8:
        values = image.astype(np.float32)
        if values.size and float(values.max()) <= 1.0:
            values = values * 255.0
        image = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return image


def _percentile(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` (linear interpolation), several times faster on small
    crops: a partial sort of two elements instead of numpy's general machinery."""
    flat = values.ravel()
    position = q / 100 * (flat.size - 1)
    low = int(np.floor(position))
    high = min(low + 1, flat.size - 1)
    partitioned = np.partition(flat, (low, high))
    low_value, high_value = float(partitioned[low]), float(partitioned[high])
    return low_value + (position - low) * (high_value - low_value)


def _threshold(grey: np.ndarray) -> float:
    """Grey level below which a pixel of this cell is ink."""
    paper = max(_percentile(grey, PAPER_PERCENTILE), PAPER_FLOOR)
    return paper * INK_RATIO


def _ink_mask(grey: np.ndarray) -> np.ndarray:
    return (grey < _threshold(grey)).astype(np.uint8)


def ink_fraction(cell: np.ndarray) -> float:
    """Share of the cell's pixels that are ink under `prepare_cell`'s threshold."""
    grey = _grey(cell)
    if grey.size == 0:
        return 0.0
    return float(_ink_mask(grey).mean())


def _mark_labels(
    boxes: dict[int, tuple[int, ...]], ink_area: np.ndarray, shape: tuple[int, ...]
) -> list[int]:
    """Which components (label -> x, y, w, h in the cell) make up the written mark."""
    height, width = shape[0], shape[1]
    band_rows = max(2, round(EDGE_BAND_SHARE * height))
    band_cols = max(2, round(EDGE_BAND_SHARE * width))
    min_area = max(3.0, SPECK_SHARE * height * width)
    candidates: list[int] = []
    for label, (x, y, w, h) in boxes.items():
        if ink_area[label] < min_area:
            continue
        # A sliver lying wholly in one edge band and touching that edge is a box remnant or a
        # neighbour's stroke poking in, not part of this cell's digit. (+1: the grown mask.)
        in_top = y + h <= band_rows + 1 and y == 0
        in_bottom = y >= height - band_rows - 1 and y + h == height
        in_left = x + w <= band_cols + 1 and x == 0
        in_right = x >= width - band_cols - 1 and x + w == width
        if in_top or in_bottom or in_left or in_right:
            continue
        candidates.append(label)
    if not candidates:
        return []
    largest = max(int(ink_area[label]) for label in candidates)
    major = [label for label in candidates if ink_area[label] >= MAJOR_SHARE * largest]
    x0 = min(boxes[label][0] for label in major)
    y0 = min(boxes[label][1] for label in major)
    x1 = max(boxes[label][0] + boxes[label][2] for label in major)
    y1 = max(boxes[label][1] + boxes[label][3] for label in major)
    reach_x, reach_y = REACH_SHARE * (x1 - x0), REACH_SHARE * (y1 - y0)
    keep = list(major)
    for label in candidates:
        if label in major or ink_area[label] < MINOR_SHARE * largest:
            continue
        x, y, w, h = boxes[label]
        near_x = x + w >= x0 - reach_x and x <= x1 + reach_x
        near_y = y + h >= y0 - reach_y and y <= y1 + reach_y
        if near_x and near_y:
            keep.append(label)
    return keep


def _grow(stack: np.ndarray) -> np.ndarray:
    """Each (N, h, w) layer dilated by a 3 x 3 square, nothing beyond its own edges (what
    ``cv2.dilate`` does to one layer)."""
    n, h, w = stack.shape
    padded = np.zeros((n, h + 2, w + 2), stack.dtype)
    padded[:, 1:-1, 1:-1] = stack
    grown = padded[:, :h, :w].copy()
    for dy in range(3):
        for dx in range(3):
            np.maximum(grown, padded[:, dy : dy + h, dx : dx + w], out=grown)
    return grown


def _drop_edge_lines_stack(stack: np.ndarray) -> np.ndarray:
    """Each (N, h, w) layer without long straight horizontal/vertical runs inside its edge
    band (box remnants), the openings done once for all: a horizontal run cannot reach
    another layer stacked above or below, a vertical run not one set beside it."""
    n, height, width = stack.shape
    band_rows = max(2, round(EDGE_BAND_SHARE * height))
    band_cols = max(2, round(EDGE_BAND_SHARE * width))
    horizontal = cv2.getStructuringElement(
        cv2.MORPH_RECT, (max(3, round(EDGE_LINE_MIN_SHARE * width)), 1)
    )
    vertical = cv2.getStructuringElement(
        cv2.MORPH_RECT, (1, max(3, round(EDGE_LINE_MIN_SHARE * height)))
    )
    runs_h = cv2.morphologyEx(
        np.ascontiguousarray(stack.reshape(n * height, width)), cv2.MORPH_OPEN, horizontal
    ).reshape(n, height, width)
    side_by_side = np.ascontiguousarray(stack.transpose(1, 0, 2).reshape(height, n * width))
    runs_v = (
        cv2.morphologyEx(side_by_side, cv2.MORPH_OPEN, vertical)
        .reshape(height, n, width)
        .transpose(1, 0, 2)
    )
    lines = np.zeros_like(stack)
    lines[:, :band_rows] |= runs_h[:, :band_rows]
    lines[:, -band_rows:] |= runs_h[:, -band_rows:]
    lines[:, :, :band_cols] |= runs_v[:, :, :band_cols]
    lines[:, :, -band_cols:] |= runs_v[:, :, -band_cols:]
    # One pixel more across the line takes its anti-aliased fringe with it.
    lines = _grow(lines)
    edge = np.zeros((height, width), np.uint8)
    edge[: band_rows + 1] = 1
    edge[-band_rows - 1 :] = 1
    edge[:, : band_cols + 1] = 1
    edge[:, -band_cols - 1 :] = 1
    cleaned = stack.copy()
    cleaned[(lines & edge) > 0] = 0
    return cleaned


def _keep_marks_stack(stack: np.ndarray) -> np.ndarray:
    """The components of each (N, h, w) layer that make up its written mark (specks and edge
    slivers gone): one connected-components pass over the layers stacked with a blank row
    between them (8-connected components cannot cross it). Pieces one or two pixels apart
    are one stroke (a light or bilevel stroke breaks up): they are grouped on slightly grown
    layers, but only the original ink pixels are kept."""
    n, height, width = stack.shape
    pitch = height + 1
    tiled = np.zeros((n * pitch, width), np.uint8)
    tiled.reshape(n, pitch, width)[:, :height] = _grow(stack)
    ink = np.zeros_like(tiled)
    ink.reshape(n, pitch, width)[:, :height] = stack
    count, labels, stats, _ = cv2.connectedComponentsWithStats(tiled, connectivity=8)
    kept = np.zeros_like(stack)
    if count <= 1:
        return kept
    ink_area = np.bincount(labels[ink > 0], minlength=count)
    per_layer: dict[int, dict[int, tuple[int, ...]]] = {}
    for label in range(1, count):
        x, y, w, h = (int(v) for v in stats[label, :4])
        layer = y // pitch
        per_layer.setdefault(layer, {})[label] = (x, y - layer * pitch, w, h)
    wanted = np.zeros(count, np.uint8)
    for boxes in per_layer.values():
        wanted[_mark_labels(boxes, ink_area, (height, width))] = 1
    chosen = (wanted[labels] & ink).reshape(n, pitch, width)[:, :height]
    kept[:] = chosen
    return kept


def ink_masks(cells: Sequence[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Each cell's ink mask and ink share, exactly as `prepare_cell` and `ink_fraction` find
    them, computed for all cells of one size at once (a page's digit cells are nearly all
    one size: one partial sort and one comparison for the lot instead of one per cell)."""
    greys = [_grey(cell) for cell in cells]
    masks: list[np.ndarray] = [np.zeros((0, 0), np.uint8)] * len(greys)
    shares = np.zeros(len(greys), np.float64)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for index, grey in enumerate(greys):
        if grey.size:
            by_shape.setdefault(grey.shape, []).append(index)
    for shape, indices in by_shape.items():
        stack = np.stack([greys[i] for i in indices])
        flat = stack.reshape(len(indices), -1)
        position = PAPER_PERCENTILE / 100 * (flat.shape[1] - 1)
        low = int(np.floor(position))
        high = min(low + 1, flat.shape[1] - 1)
        partitioned = np.partition(flat, (low, high), axis=1)
        low_value = partitioned[:, low].astype(np.float64)
        high_value = partitioned[:, high].astype(np.float64)
        paper = np.maximum(low_value + (position - low) * (high_value - low_value), PAPER_FLOOR)
        threshold = paper * INK_RATIO
        inked = (stack < threshold.reshape(-1, *([1] * len(shape)))).astype(np.uint8)
        for k, index in enumerate(indices):
            masks[index] = inked[k]
            shares[index] = inked[k].mean()
    return masks, shares


def prepare_cell(cell: np.ndarray) -> np.ndarray:
    """The network's input for one cell crop: float32 (28, 28) in 0..1, ink 1; zeros if empty."""
    grey = _grey(cell)
    if grey.ndim != 2 or min(grey.shape) < 8:
        return np.zeros((INPUT_SIZE, INPUT_SIZE), np.float32)
    return prepare_mask(_ink_mask(grey))


def prepare_mask(mask: np.ndarray) -> np.ndarray:
    """`prepare_cell` from the cell's ink mask (`ink_masks`): the same input, step for step."""
    result: np.ndarray = prepare_masks([mask])[0]
    return result


def prepare_masks(masks: Sequence[np.ndarray]) -> np.ndarray:
    """The network's input for every cell's ink mask, (N, 28, 28); zeros for a mask too small
    to hold a digit. The morphology and the connected components of all masks of one size
    are done in one pass each; a layer never reaches into another, so a mask prepared alone
    (`prepare_cell`, training) gets the very input it gets among a page's cells."""
    out = np.zeros((len(masks), INPUT_SIZE, INPUT_SIZE), np.float32)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for index, mask in enumerate(masks):
        if mask.ndim == 2 and min(mask.shape) >= 8:
            by_shape.setdefault(mask.shape, []).append(index)
    for indices in by_shape.values():
        stack = np.stack([masks[i] for i in indices]).astype(np.uint8, copy=False)
        marks = _keep_marks_stack(_drop_edge_lines_stack(stack))
        for k, index in enumerate(indices):
            out[index] = _network_input(marks[k])
    return out


def _network_input(mark: np.ndarray) -> np.ndarray:
    """The 28 x 28 input for the kept mark of one cell (cropped, scaled, centred by mass)."""
    out = np.zeros((INPUT_SIZE, INPUT_SIZE), np.float32)
    height = mark.shape[0]
    rows = np.flatnonzero(mark.any(axis=1))
    cols = np.flatnonzero(mark.any(axis=0))
    if rows.size == 0:
        return out
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    longer = max(bottom - top, right - left)
    if longer < MIN_MARK_SHARE * height:
        return out
    box = mark[top:bottom, left:right].astype(np.float32)
    scale = BOX_SIZE / max(longer, MAX_MAGNIFY_SHARE * height)
    size = (
        max(1, min(BOX_SIZE, round((right - left) * scale))),
        max(1, min(BOX_SIZE, round((bottom - top) * scale))),
    )
    # Area averaging when shrinking gives MNIST's anti-aliased strokes; linear when enlarging.
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    patch = np.clip(cv2.resize(box, size, interpolation=interpolation), 0.0, 1.0)
    total = float(patch.sum())
    if total <= 0:
        return out
    ys, xs = np.indices(patch.shape)
    centre_y = float((ys * patch).sum()) / total
    centre_x = float((xs * patch).sum()) / total
    centre = (INPUT_SIZE - 1) / 2
    # Clamped so that the whole mark stays inside: losing ink costs more than an off-centre mass.
    row = int(np.clip(round(centre - centre_y), 0, INPUT_SIZE - patch.shape[0]))
    col = int(np.clip(round(centre - centre_x), 0, INPUT_SIZE - patch.shape[1]))
    out[row : row + patch.shape[0], col : col + patch.shape[1]] = patch
    return out


def _onnxruntime_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime as ort

    # Nothing about an agency's work leaves the machine.
    if hasattr(ort, "disable_telemetry_events"):
        ort.disable_telemetry_events()
    options = ort.SessionOptions()
    # One thread: pages are read in parallel by intake workers, not inside one page.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {input_name: batch})[0])

    return run


def _opencv_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    net = cv2.dnn.readNetFromONNX(str(path))

    def run(batch: np.ndarray) -> np.ndarray:
        net.setInput(batch)
        return np.asarray(net.forward())

    return run


_RUNNERS: dict[str, Callable[[Path], Callable[[np.ndarray], np.ndarray]]] = {
    "onnxruntime": _onnxruntime_runner,
    "opencv": _opencv_runner,
}


def model_metadata(path: Path) -> dict[str, str]:
    """The metadata training wrote into an ONNX file (``version``, ``classes``, ...).

    Raises ValueError when the file is no ONNX model onnxruntime can load."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ValueError(f"not an ONNX model onnxruntime can load ({type(exc).__name__})") from None
    return dict(session.get_modelmeta().custom_metadata_map)


@dataclass(frozen=True)
class DigitReader:
    """The digit network, loaded once and run on batches of prepared cells.

    `version` is the model's own (its metadata), `sha256` the file's: two files that claim the
    same version are told apart."""

    version: str
    backend: str
    _run: Callable[[np.ndarray], np.ndarray] = field(repr=False, compare=False)
    sha256: str = ""

    @classmethod
    def load(cls, path: Path | None = None, *, backend: str = "onnxruntime") -> DigitReader:
        """Load the network at `path` (the shipped model by default) for `backend`:
        ``"onnxruntime"`` (single-threaded session) or ``"opencv"`` (``cv2.dnn``).

        ValueError when the file is not a digit model of ours (no ONNX, or not 12 classes)."""
        if backend not in _RUNNERS:
            raise ValueError(f"unknown backend {backend!r}: use one of {sorted(_RUNNERS)}")
        model = MODEL_PATH if path is None else path
        metadata = model_metadata(model)
        classes = metadata.get("classes", "").split(",")
        if len(classes) != CLASSES:
            raise ValueError(f"not a digit model: it names {len(classes)} classes, not {CLASSES}")
        digest = hashlib.sha256(model.read_bytes()).hexdigest()
        return cls(
            version=metadata.get("version") or model.stem,
            backend=backend,
            _run=_RUNNERS[backend](model),
            sha256=digest,
        )

    def probabilities(self, cells: np.ndarray) -> np.ndarray:
        """(N, 28, 28) float32 inputs from `prepare_cell` -> (N, 12) calibrated probabilities
        (columns 0-9 the digits, then EMPTY and NOT_A_DIGIT)."""
        batch = np.ascontiguousarray(np.asarray(cells, np.float32).reshape(-1, 1, 28, 28))
        if batch.shape[0] == 0:
            return np.zeros((0, CLASSES), np.float32)
        probabilities: Any = self._run(batch)
        return np.asarray(probabilities, np.float32).reshape(-1, CLASSES)
