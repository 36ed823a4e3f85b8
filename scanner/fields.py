"""Read every field of a registered sheet: times, absence marks, signatures, family fee.

Works on the canonical image (see `scanner.readings`). All digit cells of the page go to the
model in one batch; cells with almost no ink are EMPTY without asking it (most of a month's
cells are blank, and a blank cell is cheap to recognise).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from forms.layout import DateField, Layout, MarkField, Rect, SignatureField, TimeField
from scanner.digits import CLASSES, EMPTY, DigitReader, ink_masks, prepare_masks
from scanner.marks import mark_features_many, reading_of_mark
from scanner.readings import FieldReading, crop
from scanner.signature import read_signature
from scanner.timefield import (
    BOTH_AMPM_MARKED,
    NOT_A_TIME,
    AmPm,
    ResolvedTime,
    resolve_day,
    time_distribution,
)

Windows = tuple[tuple[int, int], ...]
MARKED = "marked"


@dataclass(frozen=True)
class ReadingSettings:
    """Review thresholds: a field whose confidence is below its threshold goes to review."""

    # Chosen from the accuracy-review curve of scripts/bench_reading.py: at 0.95 the error
    # among auto-accepted time fields is about 0.2 %, at 0.9 about 0.4 %.
    time_review_below: float = 0.95
    mark_review_below: float = 0.9
    signature_review_below: float = 0.9
    # Share of ink below which a digit cell is EMPTY without the model. Far below a written
    # digit (several percent of the cell) and above scan noise left after thresholding.
    empty_cell_ink: float = 0.004


def _cell_probabilities(
    canon: np.ndarray, fields: list[TimeField], reader: DigitReader, empty_ink: float
) -> np.ndarray:
    """(len(fields), 4, 12) class probabilities for every digit cell of `fields`."""
    out = np.zeros((len(fields), 4, CLASSES), dtype=np.float64)
    batch: list[np.ndarray] = []
    where: list[tuple[int, int]] = []
    places = [(f, c) for f, field in enumerate(fields) for c in range(len(field.cells))]
    masks, shares = ink_masks([crop(canon, fields[f].cells[c]) for f, c in places])
    for (f, c), mask, share in zip(places, masks, shares, strict=True):
        if share < empty_ink:
            out[f, c, EMPTY] = 1.0
            continue
        batch.append(mask)
        where.append((f, c))
    if batch:
        probabilities = reader.probabilities(prepare_masks(batch))
        for (f, c), row in zip(where, probabilities, strict=True):
            out[f, c] = row
    return out


def _marks(
    canon: np.ndarray, boxes: dict[str, Rect], settings: ReadingSettings
) -> dict[str, FieldReading]:
    """Every mark box of the page read (by name), measured all at once."""
    features = mark_features_many(canon, list(boxes.values()))
    return {
        name: reading_of_mark(name, found, review_below=settings.mark_review_below)
        for name, found in zip(boxes, features, strict=True)
    }


def _ampm(marks: dict[str, FieldReading], field: TimeField) -> AmPm:
    am, pm = marks[f"{field.name}.am"], marks[f"{field.name}.pm"]
    return AmPm(
        am=am.value == MARKED, pm=pm.value == MARKED, confidence=min(am.confidence, pm.confidence)
    )


def read_sheet_fields(
    canon: np.ndarray,
    layout: Layout,
    reader: DigitReader,
    *,
    windows: Mapping[dt.date, Windows] | None = None,
    settings: ReadingSettings | None = None,
) -> list[FieldReading]:
    """A reading for every time, mark and signature field of the layout, in layout order.

    `windows` gives each date's authorized care windows (minutes after midnight) from the
    certificate: they settle AM/PM when the boxes don't.
    """
    settings = settings or ReadingSettings()
    windows = windows or {}
    time_fields = [f for f in layout.fields if isinstance(f, TimeField)]
    probabilities = _cell_probabilities(canon, time_fields, reader, settings.empty_cell_ink)
    written = {
        field.name: time_distribution(probabilities[i]) for i, field in enumerate(time_fields)
    }
    by_name = {field.name: field for field in time_fields}
    boxes: dict[str, Rect] = {}
    for field in time_fields:
        boxes[f"{field.name}.am"], boxes[f"{field.name}.pm"] = field.am, field.pm
    boxes.update({f.name: f.box for f in layout.fields if isinstance(f, MarkField)})
    marks = _marks(canon, boxes, settings)

    readings: dict[str, FieldReading] = {}
    for field in time_fields:
        if not field.name.endswith(".in"):
            continue
        out_name = field.name[: -len(".in")] + ".out"
        out_field = by_name[out_name]
        resolved_in, resolved_out = resolve_day(
            written[field.name],
            written[out_name],
            in_marks=_ampm(marks, field),
            out_marks=_ampm(marks, out_field),
            windows=windows.get(field.date, ()),
        )
        readings[field.name] = _time_reading(field.name, resolved_in, settings)
        readings[out_name] = _time_reading(out_name, resolved_out, settings)

    for other in layout.fields:
        if isinstance(other, MarkField):
            readings[other.name] = marks[other.name]
        elif isinstance(other, SignatureField):
            readings[other.name] = read_signature(
                canon, other.name, other.box, review_below=settings.signature_review_below
            )
        elif isinstance(other, DateField):
            continue  # signing dates are not read yet
    return [readings[f.name] for f in layout.fields if f.name in readings]


def _time_reading(name: str, resolved: ResolvedTime, settings: ReadingSettings) -> FieldReading:
    confidence = float(min(max(resolved.confidence, 0.0), 1.0))
    needs_review = confidence < settings.time_review_below or resolved.reason in (
        NOT_A_TIME,
        BOTH_AMPM_MARKED,
    )
    return FieldReading(
        name=name,
        kind="time",
        value=resolved.text,
        confidence=round(confidence, 4),
        needs_review=needs_review,
        reason=resolved.reason,
    )
