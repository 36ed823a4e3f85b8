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

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from itertools import product

import numpy as np

# The digit model's classes: 0-9, then these (one definition, in scanner.digits).
from scanner.digits import CLASSES, EMPTY

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


@dataclass(frozen=True)
class TimeDistribution:
    """What four cells say, as probability mass over the times they could spell.

    `per_time[h * 60 + m]` is the mass of the time written as hour `h` (0-23, as written)
    and minute `m`; `blank` of all four cells empty; `rest` of everything else (not a time).
    The three add up to 1.
    """

    per_time: np.ndarray
    blank: float
    rest: float


def time_distribution(probabilities: np.ndarray) -> TimeDistribution:
    """The grammar applied to four cells' class probabilities, shape (4, 12)."""
    if probabilities.shape != (4, CLASSES):
        raise ValueError(f"expected (4, {CLASSES}) probabilities, got {probabilities.shape}")
    p = probabilities.astype(np.float64)
    assignments, keys = _hypotheses()
    scores = p[0, assignments[:, 0]] * p[1, assignments[:, 1]]
    scores *= p[2, assignments[:, 2]] * p[3, assignments[:, 3]]
    per_time = np.bincount(keys, weights=scores, minlength=24 * 60)
    blank = float(np.prod(p[:, EMPTY]))
    rest = max(0.0, 1.0 - float(per_time.sum()) - blank)
    return TimeDistribution(per_time=per_time, blank=blank, rest=rest)


def read_written_time(probabilities: np.ndarray) -> WrittenTime:
    """Best valid time (or blank) for four cells' class probabilities, shape (4, 12)."""
    dist = time_distribution(probabilities)
    total = float(dist.per_time.sum()) + dist.blank + LAMBDA * dist.rest
    if total <= 0:
        return WrittenTime(None, None, 0.0, NOT_A_TIME)
    best = int(dist.per_time.argmax())
    if dist.blank >= dist.per_time[best]:
        reason = NOT_A_TIME if dist.rest * LAMBDA > dist.blank else None
        return WrittenTime(None, None, dist.blank / total, reason)
    confidence = float(dist.per_time[best]) / total
    reason = NOT_A_TIME if LAMBDA * dist.rest > dist.per_time[best] else None
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


# A tick in the wrong box happens; weight of the unticked half-day when one box is ticked.
MISMARK = 0.02
# Out before (or at) in: possible on paper (and flagged by the rules), rarely what was meant.
OUT_BEFORE_IN = 0.02
# Plausibility of a time by its distance outside the authorized window: full within 30
# minutes, then falling by e every 30 minutes, never below FLOOR (care outside the
# certificate does happen; the rules flag it).
NEAR_MINUTES = 30
DECAY_MINUTES = 30
FLOOR = 0.01
TOP_K = 6
# People round the minutes they write: on paper most times end in 0 or 5 (arrivals at 7:30,
# 7:45, 8:05 far outnumber 7:38). A minute off the 5 keeps this prior weight against one on
# the 5: enough to settle a last digit the model finds as much a 5 as an 8 or 6, far too
# little to overrule a clearly written 8 (which the network reads with odds of hundreds).
OFF_FIVE_MINUTE = 0.25
# AM/PM inferred from context rests on the schedule being right about this day: keep some
# doubt even when the posterior is sure.
INFERRED_AMPM = 0.97


@cache
def _ampm_index() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Written keys on a 12-hour reading with their AM and PM 24-hour times; the other
    written keys (hour 0 or 13-23) with their own time."""
    keys = np.arange(24 * 60)
    hours, minutes = keys // 60, keys % 60
    twelve = (hours >= 1) & (hours <= 12)
    am = (hours[twelve] % 12) * 60 + minutes[twelve]
    return keys[twelve], am, am + 12 * 60, keys[~twelve]


@cache
def plausibility(windows: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Prior weight of each minute of the day (1440,) given the authorized windows, times
    the rounding prior of its minutes (`minute_prior`).

    Cached: a certificate has a handful of distinct windows. Callers must not modify it.
    """
    minutes = np.arange(24 * 60)
    outside = np.full(24 * 60, 24 * 60)
    for start, end in windows or (DEFAULT_WINDOW,):
        outside = np.minimum(outside, np.maximum(np.maximum(start - minutes, 0), minutes - end))
    weight = np.maximum(np.exp(-np.maximum(outside - NEAR_MINUTES, 0) / DECAY_MINUTES), FLOOR)
    return np.asarray(weight * minute_prior(), dtype=np.float64)


@cache
def minute_prior() -> np.ndarray:
    """Prior weight of each minute of the day (1440,) from its minutes alone: 1 on the 5,
    `OFF_FIVE_MINUTE` off it. Callers must not modify it."""
    minutes = np.arange(24 * 60) % 60
    return np.where(minutes % 5 == 0, 1.0, OFF_FIVE_MINUTE)


def _posterior(
    dist: TimeDistribution, marks: AmPm, prior: np.ndarray
) -> tuple[np.ndarray, float, float]:
    """Unnormalised mass of each 24-hour time, of blank and of "not a time"."""
    twelve_keys, am, pm, other_keys = _ampm_index()
    if marks.am and not marks.pm:
        w_am, w_pm = 1.0, MISMARK
    elif marks.pm and not marks.am:
        w_am, w_pm = MISMARK, 1.0
    else:
        w_am = w_pm = 0.5
    # Within each of the three groups the target minutes are distinct, so plain fancy-index
    # addition is exact (and much faster than np.add.at).
    mass = np.zeros(24 * 60)
    mass[am] += dist.per_time[twelve_keys] * w_am
    mass[pm] += dist.per_time[twelve_keys] * w_pm
    mass[other_keys] += dist.per_time[other_keys]
    return mass * prior, dist.blank, LAMBDA * dist.rest


def _top(mass: np.ndarray, blank: float, k: int) -> list[tuple[int | None, float]]:
    best = np.argpartition(mass, -k)[-k:]
    candidates: list[tuple[int | None, float]] = [(int(i), float(mass[i])) for i in best]
    candidates.append((None, blank))
    return sorted(candidates, key=lambda c: -c[1])


def _ampm_reason(dist: TimeDistribution, marks: AmPm, minutes: int | None) -> str | None:
    if minutes is None:
        return None
    written = int(dist.per_time.argmax())
    if not 1 <= written // 60 <= 12:
        return None  # written as a 24-hour time: the boxes do not matter
    if marks.am and marks.pm:
        return BOTH_AMPM_MARKED
    if not marks.am and not marks.pm:
        return AMBIGUOUS_AMPM
    return None


def resolve_day(
    time_in: TimeDistribution,
    time_out: TimeDistribution,
    *,
    in_marks: AmPm,
    out_marks: AmPm,
    windows: tuple[tuple[int, int], ...] = (),
) -> tuple[ResolvedTime, ResolvedTime]:
    """A day's two times, 24-hour, each with the probability that it is right.

    One posterior joins everything known: the digits (through the grammar), the AM/PM ticks
    (a tick in the wrong box stays possible), how plausible each time is for the day's
    authorized windows (a 01:30 arrival under a 07:30-17:30 certificate is far less likely
    than a 7 misread as a 1), and that a child leaves after arriving. The confidence of a
    field is the posterior mass of the reading chosen.
    """
    prior = plausibility(windows)
    sides = []
    for dist, marks in ((time_in, in_marks), (time_out, out_marks)):
        mass, blank, other = _posterior(dist, marks, prior)
        candidates = _top(mass, blank, TOP_K)
        leftover = max(0.0, float(mass.sum()) + blank - sum(c[1] for c in candidates)) + other
        sides.append((candidates, leftover, dist, marks))

    (cands_in, left_in, dist_in, marks_in), (cands_out, left_out, dist_out, marks_out) = sides
    # Joint mass of each pair of candidates; "leftover" pairs with anything without penalty.
    joint = np.zeros((len(cands_in) + 1, len(cands_out) + 1))
    for i, (a, pa) in enumerate(cands_in):
        for j, (b, pb) in enumerate(cands_out):
            penalty = OUT_BEFORE_IN if a is not None and b is not None and b <= a else 1.0
            joint[i, j] = pa * pb * penalty
        joint[i, -1] = pa * left_out
    for j, (_, pb) in enumerate(cands_out):
        joint[-1, j] = left_in * pb
    joint[-1, -1] = left_in * left_out
    total = float(joint.sum())
    if total <= 0:
        return ResolvedTime(None, 0.0, NOT_A_TIME), ResolvedTime(None, 0.0, NOT_A_TIME)
    marginal_in = joint[:-1, :].sum(axis=1) / total
    marginal_out = joint[:, :-1].sum(axis=0) / total
    i, j = int(marginal_in.argmax()), int(marginal_out.argmax())

    def result(
        value: int | None, confidence: float, dist: TimeDistribution, marks: AmPm
    ) -> ResolvedTime:
        reason = _ampm_reason(dist, marks, value)
        if reason == AMBIGUOUS_AMPM:
            confidence *= INFERRED_AMPM
        best = float(dist.per_time.max()) if value is not None else dist.blank
        if LAMBDA * dist.rest > best:
            reason = NOT_A_TIME
        return ResolvedTime(value, float(confidence), reason)

    return (
        result(cands_in[i][0], marginal_in[i], dist_in, marks_in),
        result(cands_out[j][0], marginal_out[j], dist_out, marks_out),
    )


# Another day's time is "confident" when its best written time holds this share of its mass.
SHEET_SURE = 0.9
# Days agree within about this many minutes (drift, rounding).
SHEET_SPREAD_MINUTES = 10.0
# A sheet prior needs this many other confident days of the same column.
SHEET_MIN_DAYS = 3


def sheet_prior(
    written: Mapping[str, TimeDistribution], strength: float
) -> dict[str, TimeDistribution]:
    """Each field's distribution reweighted towards the times the same column (``.in`` or
    ``.out``) holds on the sheet's other days, where those were read confidently: parents
    write the same times day after day. A pure function of the page's readings.

    A field's weight for written time k is ``1 + strength * mean_over_other_days(exp(-d^2 /
    2 s^2))`` with d the minutes from that day's time; its total time mass is kept, so only
    the order among times changes, never time against blank or "not a time"."""
    minutes = np.arange(24 * 60)
    out = dict(written)
    for column in (".in", ".out"):
        names = [name for name in written if name.endswith(column)]
        peaks: dict[str, int] = {}
        for name in names:
            dist = written[name]
            total = float(dist.per_time.sum()) + dist.blank + dist.rest
            best = int(dist.per_time.argmax())
            if total > 0 and dist.per_time[best] >= SHEET_SURE * total:
                peaks[name] = best
        for name in names:
            others = [key for other, key in peaks.items() if other != name]
            dist = written[name]
            mass = float(dist.per_time.sum())
            if len(others) < SHEET_MIN_DAYS or mass <= 0:
                continue
            near = np.zeros(24 * 60)
            for key in others:
                near += np.exp(-0.5 * ((minutes - key) / SHEET_SPREAD_MINUTES) ** 2)
            boosted = dist.per_time * (1.0 + strength * near / len(others))
            boosted *= mass / float(boosted.sum())
            out[name] = TimeDistribution(per_time=boosted, blank=dist.blank, rest=dist.rest)
    return out
