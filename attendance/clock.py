"""The program's idea of now: the wall clock, or the wall clock moved to another day.

Everything that stamps or compares a time (receipt times, due dates, events, leases, claims,
sessions) reads `now()`. The clock is the wall clock unless it is *shifted*: by
`ATTEND_CLOCK_SHIFT_S` (seconds to add; read once per process) or by `shift_to` in code.
A shift keeps the clock ticking, and every process given the same shift agrees on the time
to the second, so leases and claims behave as they do on the real clock.

Tests shift every process to one fixed day so that nothing depends on the date they run on;
`make demo` shifts to a day in time for its month. An agency never sets it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager

SHIFT_VARIABLE = "ATTEND_CLOCK_SHIFT_S"

_shift: dt.timedelta | None = None


def _wall() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _read_shift() -> dt.timedelta:
    text = os.environ.get(SHIFT_VARIABLE, "").strip()
    if not text:
        return dt.timedelta(0)
    try:
        return dt.timedelta(seconds=float(text))
    except ValueError as error:
        raise ValueError(f"{SHIFT_VARIABLE} must be a number of seconds, got {text!r}") from error


def current_shift() -> dt.timedelta:
    """How far the clock is from the wall clock (zero unless shifted)."""
    global _shift
    if _shift is None:
        _shift = _read_shift()
    return _shift


def now() -> dt.datetime:
    """Timezone-aware now in UTC, as this program sees it."""
    return _wall() + current_shift()


def shift_for(moment: dt.datetime) -> dt.timedelta:
    """The shift that makes the clock read `moment` now (a naive `moment` is UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment - _wall()


def set_shift(shift: dt.timedelta) -> None:
    """Shift this process's clock (and, through the environment, the programs it starts)."""
    global _shift
    _shift = shift
    os.environ[SHIFT_VARIABLE] = repr(shift.total_seconds())


def reset() -> None:
    """Back to the shift the environment gave at start (none when it gave none)."""
    global _shift
    _shift = None


@contextmanager
def shifted_to(moment: dt.datetime) -> Iterator[dt.timedelta]:
    """Within the block the clock reads `moment` (ticking on from it); restored after."""
    global _shift
    saved_shift, saved_env = _shift, os.environ.get(SHIFT_VARIABLE)
    shift = shift_for(moment)
    set_shift(shift)
    try:
        yield shift
    finally:
        _shift = saved_shift
        if saved_env is None:
            os.environ.pop(SHIFT_VARIABLE, None)
        else:
            os.environ[SHIFT_VARIABLE] = saved_env
