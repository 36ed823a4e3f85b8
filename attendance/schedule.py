"""Authorized schedules: ``Mon-Fri 07:30-17:30`` or ``Mon,Wed 08:00-12:00; Fri 13:00-18:00``.

Grammar: segments separated by ``;``. A segment is a day list and one or more time windows
separated by commas: ``Mon-Wed,Fri 07:00-12:00,13:00-17:30``. Days are three-letter English
names (any case); a range wraps the week (``Sat-Mon``). Times are 24-hour ``HH:MM``. A window
that ends before it starts (overnight care) is refused for now, with that reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import pairwise

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAY_INDEX = {name.lower(): i for i, name in enumerate(DAY_NAMES)}
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_SEGMENT = re.compile(r"^\s*(?P<days>[A-Za-z][A-Za-z,\-\s]*?)\s+(?P<times>\d.*)$")


class ScheduleError(ValueError):
    """Schedule text that does not follow the grammar; the message says where."""


@dataclass(frozen=True)
class Window:
    """Authorized care from `start` to `end`, in minutes after midnight."""

    start: int
    end: int

    @property
    def hours(self) -> float:
        return (self.end - self.start) / 60


@dataclass(frozen=True)
class Schedule:
    """Authorized windows per weekday (0 = Monday)."""

    days: tuple[tuple[Window, ...], ...]  # always 7 entries

    @property
    def weekdays(self) -> frozenset[int]:
        """Weekdays with any authorized care."""
        return frozenset(i for i, windows in enumerate(self.days) if windows)

    def daily_hours(self, weekday: int) -> float:
        return sum(w.hours for w in self.days[weekday])

    def to_json(self) -> str:
        """Stable JSON: {"0": [[450, 1050]], ...} for weekdays with care."""
        data = {str(i): [[w.start, w.end] for w in ws] for i, ws in enumerate(self.days) if ws}
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Schedule:
        data = json.loads(text)
        return cls(
            days=tuple(
                tuple(Window(start, end) for start, end in data.get(str(i), [])) for i in range(7)
            )
        )


def _parse_minutes(text: str) -> int:
    match = _TIME.match(text.strip())
    if not match:
        raise ScheduleError(f"time {text.strip()!r} is not HH:MM (24-hour)")
    return int(match.group(1)) * 60 + int(match.group(2))


def _parse_days(text: str) -> list[int]:
    days: list[int] = []
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            raise ScheduleError("empty day name in the day list")
        ends = [p.strip() for p in part.split("-")]
        if len(ends) > 2 or any(e not in _DAY_INDEX for e in ends):
            raise ScheduleError(f"unknown day {part!r} (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)")
        first, last = _DAY_INDEX[ends[0]], _DAY_INDEX[ends[-1]]
        span = (last - first) % 7
        days.extend((first + k) % 7 for k in range(span + 1))
    return days


def parse_schedule(text: str) -> Schedule:
    """Parse schedule text into windows per weekday, or raise ScheduleError."""
    if not text.strip():
        raise ScheduleError("schedule is empty")
    per_day: list[list[Window]] = [[] for _ in range(7)]
    for segment in text.split(";"):
        if not segment.strip():
            continue
        match = _SEGMENT.match(segment)
        if not match:
            raise ScheduleError(f"{segment.strip()!r} is not 'Days HH:MM-HH:MM'")
        days = _parse_days(match.group("days"))
        for window_text in match.group("times").split(","):
            bounds = window_text.split("-")
            if len(bounds) != 2:
                raise ScheduleError(f"time window {window_text.strip()!r} is not HH:MM-HH:MM")
            start, end = _parse_minutes(bounds[0]), _parse_minutes(bounds[1])
            if end <= start:
                raise ScheduleError(
                    f"time window {window_text.strip()!r} ends before it starts "
                    "(overnight care is not supported yet)"
                )
            for day in days:
                per_day[day].append(Window(start, end))
    for day, windows in enumerate(per_day):
        windows.sort(key=lambda w: w.start)
        for a, b in pairwise(windows):
            if b.start < a.end:
                raise ScheduleError(f"time windows overlap on {DAY_NAMES[day]}")
    return Schedule(days=tuple(tuple(ws) for ws in per_day))
