from __future__ import annotations

import numpy as np
import pytest

from scanner.digits import EMPTY, NOT_A_DIGIT
from scanner.timefield import (
    AMBIGUOUS_AMPM,
    BOTH_AMPM_MARKED,
    NOT_A_TIME,
    OFF_FIVE_MINUTE,
    AmPm,
    TimeDistribution,
    minute_prior,
    read_written_time,
    resolve_day,
    sheet_prior,
    time_distribution,
)


def cells(*classes: int, sure: float = 0.98) -> np.ndarray:
    """Probabilities for four cells, each `sure` on its class and the rest spread evenly."""
    p = np.full((4, 12), (1 - sure) / 11)
    for i, c in enumerate(classes):
        p[i, c] = sure
    return p


@pytest.mark.parametrize(
    ("classes", "hour", "minute"),
    [
        ((EMPTY, 7, 3, 0), 7, 30),
        ((0, 7, 3, 0), 7, 30),
        ((7, EMPTY, 3, 0), 7, 30),
        ((1, 2, 4, 5), 12, 45),
        ((1, 7, 0, 5), 17, 5),  # written as 24-hour
    ],
)
def test_valid_times_are_read_confidently(classes: tuple[int, ...], hour: int, minute: int) -> None:
    written = read_written_time(cells(*classes))
    assert (written.hour, written.minute) == (hour, minute)
    assert written.confidence > 0.9 and written.reason is None


def test_blank_field() -> None:
    written = read_written_time(cells(EMPTY, EMPTY, EMPTY, EMPTY))
    assert written.blank and written.confidence > 0.95


def test_grammar_overrules_an_impossible_digit() -> None:
    """A 7 in the tens of minutes is impossible; with a close second reading of 1 the
    grammar picks 1 (08:15), with lowered confidence."""
    p = cells(EMPTY, 8, 7, 5)
    p[2, 7], p[2, 1] = 0.6, 0.38
    written = read_written_time(p)
    assert (written.hour, written.minute) == (8, 15)
    assert written.confidence < 0.9


def test_crossed_out_or_incomplete_fields_are_not_times() -> None:
    crossed = read_written_time(cells(EMPTY, 8, NOT_A_DIGIT, 0))
    assert crossed.reason == NOT_A_TIME and crossed.confidence < 0.5
    missing_minutes = read_written_time(cells(EMPTY, 8, EMPTY, EMPTY))
    assert missing_minutes.confidence < 0.5


def test_uncertain_digit_lowers_confidence() -> None:
    p = cells(EMPTY, 7, 3, 0)
    p[1, 7], p[1, 1] = 0.55, 0.43
    written = read_written_time(p)
    assert written.hour == 7 and 0.4 < written.confidence < 0.7


def w(hour: int, minute: int) -> TimeDistribution:
    """Four cells that clearly say hour:minute."""
    per_time = np.zeros(24 * 60)
    per_time[hour * 60 + minute] = 0.99
    return TimeDistribution(per_time=per_time, blank=0.0, rest=0.01)


NONE = AmPm(am=False, pm=False)


def test_marked_am_pm_decide() -> None:
    t_in, t_out = resolve_day(
        w(7, 30), w(5, 15), in_marks=AmPm(True, False), out_marks=AmPm(False, True)
    )
    assert (t_in.text, t_out.text) == ("07:30", "17:15")
    assert t_in.reason is None and t_out.confidence > 0.98


def test_unmarked_am_pm_inferred_from_the_window_with_lower_confidence() -> None:
    t_in, t_out = resolve_day(
        w(7, 30), w(5, 15), in_marks=NONE, out_marks=NONE, windows=((450, 1050),)
    )
    assert (t_in.text, t_out.text) == ("07:30", "17:15")
    assert t_in.reason == AMBIGUOUS_AMPM and 0.9 < t_in.confidence < 0.99


def test_evening_schedule_makes_pm_likely() -> None:
    t_in, t_out = resolve_day(
        w(3, 0), w(8, 0), in_marks=NONE, out_marks=NONE, windows=((900, 1200),)
    )
    assert (t_in.text, t_out.text) == ("15:00", "20:00")


def test_both_boxes_marked_goes_to_review() -> None:
    t_in, _ = resolve_day(w(7, 0), w(4, 0), in_marks=AmPm(True, True), out_marks=AmPm(False, True))
    assert t_in.reason == BOTH_AMPM_MARKED  # a hard reason: always reviewed
    assert t_in.text == "07:00"


def test_twenty_four_hour_writing_ignores_marks() -> None:
    _, t_out = resolve_day(w(8, 0), w(17, 30), in_marks=AmPm(True, False), out_marks=NONE)
    assert t_out.text == "17:30" and t_out.reason is None


def test_blank_out_leaves_in_alone() -> None:
    blank = TimeDistribution(per_time=np.zeros(24 * 60), blank=0.98, rest=0.02)
    t_in, t_out = resolve_day(w(8, 10), blank, in_marks=AmPm(True, False), out_marks=NONE)
    assert t_in.text == "08:10" and t_out.text is None and t_out.confidence > 0.95


def test_the_schedule_outweighs_an_implausible_digit() -> None:
    """A 7 read as 1 with 70 %: 01:30 AM under a 07:30-17:30 certificate is far less likely
    than 07:30, so 07:30 it is; the written digits alone would have said 01:30."""
    p = cells(EMPTY, 1, 3, 0)
    p[1, 1], p[1, 7] = 0.70, 0.28
    assert read_written_time(p).hour == 1
    t_in, _ = resolve_day(
        time_distribution(p),
        w(5, 0),
        in_marks=AmPm(True, False),
        out_marks=AmPm(False, True),
        windows=((450, 1050),),
    )
    assert t_in.text == "07:30"


def test_out_before_in_is_not_read_confidently() -> None:
    t_in, t_out = resolve_day(
        w(8, 0), w(7, 45), in_marks=AmPm(True, False), out_marks=NONE, windows=((450, 1050),)
    )
    assert t_in.text == "08:00"
    assert t_out.confidence < 0.9


def test_minutes_on_the_five_are_more_likely_than_the_others() -> None:
    prior = minute_prior()
    assert prior[7 * 60 + 35] == prior[17 * 60] == 1.0
    assert prior[7 * 60 + 38] == prior[17 * 60 + 1] == OFF_FIVE_MINUTE < 1.0


def _last_cell(five: float, eight: float) -> TimeDistribution:
    """07:3? with the last cell `five` a 5 and `eight` an 8 (the rest spread evenly)."""
    p = cells(EMPTY, 7, 3, 5)
    p[3] = (1 - five - eight) / 10
    p[3, 5], p[3, 8] = five, eight
    return time_distribution(p)


def test_a_last_digit_as_much_a_5_as_an_8_reads_on_the_five() -> None:
    """The model cannot tell a 5 from an 8: people write 07:35 far more often than 07:38, so
    07:35 it is, surer than a coin toss but not sure enough to pass review unseen."""
    t_in, _ = resolve_day(
        _last_cell(0.48, 0.48), w(5, 0), in_marks=AmPm(True, False), out_marks=AmPm(False, True)
    )
    assert t_in.text == "07:35"
    assert 0.7 < t_in.confidence < 0.9


def test_a_clear_digit_off_the_five_is_read_as_written() -> None:
    """A clearly written 8 keeps 07:38: the rounding prior only settles what the digits
    leave open."""
    t_in, _ = resolve_day(
        _last_cell(0.005, 0.985), w(5, 0), in_marks=AmPm(True, False), out_marks=AmPm(False, True)
    )
    assert t_in.text == "07:38" and t_in.confidence > 0.9


def _sure(hour: int, minute: int) -> TimeDistribution:
    return w(hour, minute)


def _between(first: tuple[int, int], second: tuple[int, int]) -> TimeDistribution:
    """A field the digits leave half `first`, half `second` (hours as written)."""
    per_time = np.zeros(24 * 60)
    per_time[first[0] * 60 + first[1]] = 0.49
    per_time[second[0] * 60 + second[1]] = 0.49
    return TimeDistribution(per_time=per_time, blank=0.0, rest=0.02)


def _week(field: TimeDistribution, *, others: int = 4) -> dict[str, TimeDistribution]:
    written = {f"day.{d:02d}.in": _sure(7, 30 + d % 2 * 5) for d in range(2, 2 + others)}
    written["day.20.in"] = field
    written["day.20.out"] = _between((5, 0), (3, 0))  # the other column: left alone
    return written


def test_a_sheet_prior_settles_a_field_by_the_other_days() -> None:
    """GIVEN four days read surely at 07:30-07:35 and a day the digits leave as much 07:30 as
    09:30 WHEN the sheet prior applies THEN 07:30 outweighs 09:30 on that day, the day's total
    time mass is kept (blank and "not a time" keep their weight), and the other column, with
    no sure days of its own, is untouched."""
    written = _week(_between((7, 30), (9, 30)))
    after = sheet_prior(written, 3.0)
    field = after["day.20.in"]
    assert field.per_time[7 * 60 + 30] > 2 * field.per_time[9 * 60 + 30]
    assert field.per_time.sum() == pytest.approx(written["day.20.in"].per_time.sum())
    assert (field.blank, field.rest) == (0.0, 0.02)
    assert after["day.20.out"] is written["day.20.out"]
    t_in, _ = resolve_day(field, _sure(5, 0), in_marks=AmPm(True, False), out_marks=NONE)
    assert t_in.text == "07:30"


def test_a_sheet_prior_never_overrules_clear_digits_nor_acts_on_too_few_days() -> None:
    clear = _sure(8, 15)
    after = sheet_prior(_week(clear), 3.0)["day.20.in"]
    assert int(after.per_time.argmax()) == 8 * 60 + 15
    few = _week(_between((7, 30), (9, 30)), others=2)
    assert sheet_prior(few, 3.0)["day.20.in"] is few["day.20.in"]
    # A day's own reading is no evidence for itself: three sure days give each two others.
    three = {f"day.0{d}.in": _sure(7, 30) for d in (2, 3, 4)}
    after_three = sheet_prior(three, 3.0)
    assert all(after_three[name] is three[name] for name in three)
