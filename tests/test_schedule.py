from __future__ import annotations

import pytest

from attendance.schedule import Schedule, ScheduleError, Window, parse_schedule


def test_weekday_range() -> None:
    schedule = parse_schedule("Mon-Fri 07:30-17:30")
    assert schedule.weekdays == frozenset(range(5))
    assert schedule.days[0] == (Window(450, 1050),)
    assert schedule.daily_hours(4) == 10.0
    assert schedule.days[5] == ()


def test_segments_lists_and_split_windows() -> None:
    schedule = parse_schedule(
        "Mon,Wed 08:00-12:00; Fri 13:00-18:00; sat-sun 08:00-13:00,14:00-18:00"
    )
    assert schedule.weekdays == frozenset({0, 2, 4, 5, 6})
    assert schedule.daily_hours(2) == 4.0
    assert schedule.days[6] == (Window(480, 780), Window(840, 1080))
    assert Schedule.from_json(schedule.to_json()) == schedule


def test_range_wraps_the_week() -> None:
    assert parse_schedule("Sat-Mon 09:00-10:00").weekdays == frozenset({5, 6, 0})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("Mon-Fri", "is not 'Days HH:MM-HH:MM'"),
        ("Mon-Fry 07:00-12:00", "unknown day"),
        ("Mon 7.30-12:00", "not HH:MM"),
        ("Mon 25:00-26:00", "not HH:MM"),
        ("Mon 18:00-06:00", "overnight"),
        ("Mon 08:00-12:00; Mon 11:00-13:00", "overlap"),
        ("Mon 08:00", "not HH:MM-HH:MM"),
    ],
)
def test_bad_schedules_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(text)
