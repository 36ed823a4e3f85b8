"""Handwritten times: four digit cells ``H H : M M`` plus AM/PM marks -> a 24-hour time.

The digit model gives, for each cell, probabilities over 0-9, EMPTY and NOT_A_DIGIT. A time
is read by asking which *valid* time best explains all four cells at once (the grammar):
hours 1-12 as the form asks, or 0-23 because people write "17:30" anyway; the first hour
cell empty or 0 for one-digit hours (or the hour written in the first cell and the second
left empty); minutes 00-59. Treating cells as independent, the probability of an assignment
of classes to the four cells is the product of the cells' probabilities, and these products
sum to 1 over all assignments. So

    confidence = P(best time) / (P(all valid times) + P(blank) + LAMBDA * P(anything else))

is the best time's posterior under a prior that puts little weight on "not a time" (a
scribble, a crossed-out digit, digits in impossible places). LAMBDA > 0 keeps such fields
from being confidently read as the nearest valid time: they go to a reviewer.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from itertools import product

import numpy as np

EMPTY = 10
NOT_A_DIGIT = 11
CLASSES = 12
LAMBDA = 0.25  # prior weight of "not a valid time" relative to one valid reading

# Reasons a time field goes to review (stable codes, shown to reviewers).
NOT_A_TIME = "not_a_time"
AMBIGUOUS_AMPM = "ambiguous_ampm"
BOTH_AMPM_MARKED = "both_ampm_marked"
LOW_CONFIDENCE = "low_confidence"

# Without a certificate window, care is assumed to happen in the daytime.
DEFAULT_WINDOW = (6 * 60, 19 * 60)


@dataclass(frozen=True)
class WrittenTime:
    """The digits as written, before AM/PM is applied.

    `hour` is as written (1-12 on a 12-hour reading, 0 or 13-23 when written as 24-hour);
    both None when the field is blank.
    """

    hour: int | None
    minute: int | None
    confidence: float
    reason: str | None = None

    @property
    def blank(self) -> bool:
        return self.hour is None

    @property
    def twelve_hour(self) -> bool:
        """True when AM/PM decides the time (hours 1-12)."""
        return self.hour is not None and 1 <= self.hour <= 12


@cache
def _hypotheses() -> tuple[np.ndarray, np.ndarray]:
    """All cell assignments that spell a valid time, and the time (minutes) each spells.

    Times are keyed as ``hour * 60 + minute`` with the hour as written (0-23).
    """
    assignments: list[tuple[int, int, int, int]] = []
    keys: list[int] = []
    for hour, minute in product(range(24), range(60)):
        tens, ones = divmod(minute, 10)
        if hour < 10:
            hour_forms = [(EMPTY, hour), (0, hour)]
            if hour != 0:
                hour_forms.append((hour, EMPTY))  # "7 _ : 3 0"
        else:
            hour_forms = [divmod(hour, 10)]
        for h1, h2 in hour_forms:
            assignments.append((h1, h2, tens, ones))
            keys.append(hour * 60 + minute)
    return np.asarray(assignments, dtype=np.intp), np.asarray(keys, dtype=np.intp)


def read_written_time(probabilities: np.ndarray) -> WrittenTime:
    """Best valid time (or blank) for four cells' class probabilities, shape (4, 12)."""
    if probabilities.shape != (4, CLASSES):
        raise ValueError(f"expected (4, {CLASSES}) probabilities, got {probabilities.shape}")
    p = probabilities.astype(np.float64)
    assignments, keys = _hypotheses()
    scores = p[0, assignments[:, 0]] * p[1, assignments[:, 1]]
    scores *= p[2, assignments[:, 2]] * p[3, assignments[:, 3]]
    per_time = np.bincount(keys, weights=scores, minlength=24 * 60)
    blank = float(np.prod(p[:, EMPTY]))
    valid = float(per_time.sum())
    rest = max(0.0, 1.0 - valid - blank)
    total = valid + blank + LAMBDA * rest
    if total <= 0:
        return WrittenTime(None, None, 0.0, NOT_A_TIME)
    best = int(per_time.argmax())
    if blank >= per_time[best]:
        reason = NOT_A_TIME if rest * LAMBDA > blank else None
        return WrittenTime(None, None, blank / total, reason)
    confidence = float(per_time[best]) / total
    reason = NOT_A_TIME if LAMBDA * rest > per_time[best] else None
    return WrittenTime(best // 60, best % 60, confidence, reason)


@dataclass(frozen=True)
class AmPm:
    """What the AM and PM boxes say: each marked or not, with the mark reader's confidence."""

    am: bool
    pm: bool
    confidence: float = 1.0


@dataclass(frozen=True)
class ResolvedTime:
    """A 24-hour time (minutes after midnight) or None, its confidence and review reason."""

    minutes: int | None
    confidence: float
    reason: str | None

    @property
    def text(self) -> str | None:
        """``HH:MM`` or None."""
        if self.minutes is None:
            return None
        return f"{self.minutes // 60:02d}:{self.minutes % 60:02d}"


def _candidates(written: WrittenTime, marks: AmPm) -> tuple[list[int], float, str | None]:
    """Possible 24-hour times, the confidence factor from the marks, and a reason."""
    assert written.hour is not None and written.minute is not None
    if not written.twelve_hour:
        return [written.hour * 60 + written.minute], 1.0, None
    am = (written.hour % 12) * 60 + written.minute
    pm = am + 12 * 60
    if marks.am and not marks.pm:
        return [am], marks.confidence, None
    if marks.pm and not marks.am:
        return [pm], marks.confidence, None
    return [am, pm], 1.0, BOTH_AMPM_MARKED if marks.am and marks.pm else AMBIGUOUS_AMPM


def _distance(minutes: int, windows: tuple[tuple[int, int], ...]) -> int:
    """Minutes outside the nearest authorized window (0 inside one)."""
    return min(max(start - minutes, 0, minutes - end) for start, end in windows)


def resolve_day(
    time_in: WrittenTime,
    time_out: WrittenTime,
    *,
    in_marks: AmPm,
    out_marks: AmPm,
    windows: tuple[tuple[int, int], ...] = (),
) -> tuple[ResolvedTime, ResolvedTime]:
    """Apply AM/PM to a day's two times, inferring it from context where the marks don't say.

    Where neither or both boxes are marked, the day's pair is chosen so that in comes before
    out and both lie as close as possible to the authorized windows of that weekday (a
    daytime window when there is none). The confidence is then lowered: a little when one
    reading is clearly better than the others, a lot when it is not.
    """
    if not windows:
        windows = (DEFAULT_WINDOW,)
    options_in: list[int | None] = [None]
    options_out: list[int | None] = [None]
    factor_in = factor_out = 1.0
    reason_in: str | None = None
    reason_out: str | None = None
    if not time_in.blank:
        found, factor_in, reason_in = _candidates(time_in, in_marks)
        options_in = list(found)
    if not time_out.blank:
        found, factor_out, reason_out = _candidates(time_out, out_marks)
        options_out = list(found)

    scored: list[tuple[int, int | None, int | None]] = []
    for a, b in product(options_in, options_out):
        cost = sum(_distance(t, windows) for t in (a, b) if t is not None)
        if a is not None and b is not None and b <= a:
            cost += 24 * 60  # out before in: possible (and flagged later), but unlikely
        scored.append((cost, a, b))
    scored.sort(key=lambda item: item[0])
    best_cost, best_in, best_out = scored[0]
    if len(scored) > 1:
        # How decisively context picked: a clear winner costs little confidence.
        margin = scored[1][0] - best_cost
        context_factor = 0.97 if margin >= 120 else 0.9 if margin >= 30 else 0.5
        if reason_in in (AMBIGUOUS_AMPM, BOTH_AMPM_MARKED):
            factor_in *= context_factor if reason_in == AMBIGUOUS_AMPM else 0.5
        if reason_out in (AMBIGUOUS_AMPM, BOTH_AMPM_MARKED):
            factor_out *= context_factor if reason_out == AMBIGUOUS_AMPM else 0.5

    def result(
        written: WrittenTime, minutes: int | None, factor: float, reason: str | None
    ) -> ResolvedTime:
        if written.blank:
            return ResolvedTime(None, written.confidence, written.reason)
        return ResolvedTime(minutes, written.confidence * factor, written.reason or reason)

    return (
        result(time_in, best_in, factor_in, reason_in),
        result(time_out, best_out, factor_out, reason_out),
    )
