"""The attendance rules over hand-made sheets: every flag code, raised and narrowly missed.

The base sheet is December 2026 (Dec 1 is a Tuesday) for a licensed center, certified
Mon-Fri 07:30-17:30 and 50 hours a week, July 2026 - June 2027, with care 08:00-17:00 on every
weekday and both signatures: it raises no flag. Each test changes only what it is about.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest

from attendance.agency import AgencyConfig
from attendance.flags import FLAG_CODES, Disposition, Flag, Severity
from attendance.months import month_days
from attendance.rules import (
    CertificateTerms,
    DayEntry,
    DuplicateScan,
    SheetFacts,
    certified_hours,
    day_hours,
    due_date,
    evaluate_sheet,
    fiscal_year_start,
    month_weeks,
    past_due_after,
    payable_hours,
)
from attendance.schedule import parse_schedule

MONTH = dt.date(2026, 12, 1)
CONFIG = AgencyConfig()
# The per-week consistency rule is off by default (the month's hours_inconsistent replaces
# it); its tests switch it on.
WEEKLY = AgencyConfig(dispositions={"weekly_hours_inconsistent": "note"})
UTC = dt.UTC
SHA_A = "abc123def456" + "0" * 52
SHA_B = "fedcba987654" + "1" * 52


def d(day: int, month: dt.date = MONTH) -> dt.date:
    return month.replace(day=day)


def minutes(text: str) -> int:
    hours, mins = text.split(":")
    return int(hours) * 60 + int(mins)


def terms(**changes: Any) -> CertificateTerms:
    base = CertificateTerms(
        start_date=dt.date(2026, 7, 1),
        end_date=dt.date(2027, 6, 30),
        schedule=parse_schedule("Mon-Fri 07:30-17:30"),
        weekly_hours=50.0,
        provider_type="licensed_center",
    )
    return dataclasses.replace(base, **changes)


def sheet(
    times: Mapping[int, tuple[str | None, str | None]] | None = None,
    absences: Mapping[int, tuple[str, ...]] | None = None,
    *,
    month: dt.date = MONTH,
    **changes: Any,
) -> SheetFacts:
    """The base sheet for `month`, with `times` replacing a day's times (None: blank) and
    `absences` marking codes on a day (its default times are then left blank)."""
    times = times or {}
    absences = absences or {}
    days = []
    for day in month_days(month):
        codes = absences.get(day.day, ())
        if day.day in times:
            time_in, time_out = times[day.day]
        elif day.weekday() < 5 and not codes:
            time_in, time_out = "08:00", "17:00"
        else:
            time_in = time_out = None
        days.append(
            DayEntry(
                date=day,
                time_in=None if time_in is None else minutes(time_in),
                time_out=None if time_out is None else minutes(time_out),
                absences=codes,
            )
        )
    facts = SheetFacts(
        serial="7K2M9QXR4T8",
        month=month,
        terms=terms(),
        days=tuple(days),
        parent_signed=True,
        provider_signed=True,
        received_at=None,
    )
    return dataclasses.replace(facts, **changes)


def blank_week(first: int, last: int) -> dict[int, tuple[str | None, str | None]]:
    return {day: (None, None) for day in range(first, last + 1)}


def pairs(flags: list[Flag]) -> list[tuple[str, dt.date | None]]:
    return [(flag.code, flag.date) for flag in flags]


def of(flags: list[Flag], code: str) -> list[Flag]:
    return [flag for flag in flags if flag.code == code]


def received(local_day: dt.date, hour: int = 12) -> dt.datetime:
    """A UTC moment on `local_day` at `hour` o'clock in the agency's zone (Los Angeles)."""
    local = dt.datetime(local_day.year, local_day.month, local_day.day, hour, tzinfo=CONFIG.zone)
    return local.astimezone(UTC)


# --- the base sheet --------------------------------------------------------------------------


def test_base_sheet_raises_nothing() -> None:
    assert evaluate_sheet(sheet(), CONFIG) == []


def test_every_code_the_rules_raise_is_a_known_flag_code() -> None:
    """GIVEN a sheet that breaks many rules at once
    WHEN it is evaluated
    THEN every flag has a known code, a message naming no person, and no (code, date) repeats."""
    facts = sheet(
        {3: ("17:00", "08:00"), 4: ("08:00", None), 5: ("09:00", "12:00")},
        {9: ("child_ill", "best_interest")},
        parent_signed=False,
        received_at=received(dt.date(2027, 2, 1)),
        duplicates=(DuplicateScan(SHA_A, 2, False), DuplicateScan(SHA_B, 1, True)),
        prior_absences={"best_interest": 10},
    )
    flags = evaluate_sheet(facts, CONFIG)
    assert all(flag.code in FLAG_CODES for flag in flags)
    assert len(set(pairs(flags))) == len(flags)
    assert all(flag.message and "Testperson" not in flag.message for flag in flags)


def test_order_is_sheet_wide_first_then_date_then_code() -> None:
    facts = sheet(
        {3: ("17:00", "08:00"), 10: ("06:00", "19:00")},
        {3: ("child_ill",)},
        parent_signed=False,
        provider_signed=False,
        received_at=received(dt.date(2027, 1, 20)),
    )
    flags = evaluate_sheet(facts, CONFIG)
    sheet_wide = [f for f in flags if f.date is None]
    assert pairs(flags[: len(sheet_wide)]) == [
        ("late", None),
        ("parent_signature_missing", None),
        ("provider_signature_missing", None),
    ]
    dated = pairs(flags[len(sheet_wide) :])
    assert dated == sorted(dated, key=lambda p: (p[1], p[0]))
    assert ("out_before_in", d(3)) in dated
    assert ("time_on_absent_day", d(3)) in dated
    assert ("daily_hours_over", d(10)) in dated
    assert ("outside_authorized_hours", d(10)) in dated


# --- one day's fields ------------------------------------------------------------------------


def test_incomplete_pair_says_which_time_is_missing() -> None:
    flags = evaluate_sheet(sheet({3: ("08:00", None), 4: (None, "17:00")}), CONFIG)
    incomplete = of(flags, "incomplete_pair")
    assert pairs(incomplete) == [("incomplete_pair", d(3)), ("incomplete_pair", d(4))]
    assert "Dec 3" in incomplete[0].message and "no time out" in incomplete[0].message
    assert "Dec 4" in incomplete[1].message and "no time in" in incomplete[1].message
    assert incomplete[0].severity is Severity.YELLOW


def test_complete_pair_and_blank_day_are_not_incomplete() -> None:
    flags = evaluate_sheet(sheet({3: ("08:00", "09:00"), 5: (None, None)}), CONFIG)
    assert of(flags, "incomplete_pair") == []


def test_out_before_in_is_red_and_has_no_hours() -> None:
    facts = sheet({3: ("17:00", "08:00")})
    flags = evaluate_sheet(facts, CONFIG)
    [flag] = of(flags, "out_before_in")
    assert flag.date == d(3)
    assert flag.severity is Severity.RED
    assert "Dec 3" in flag.message and "5:00 PM" in flag.message and "8:00 AM" in flag.message
    assert day_hours(facts.days[2]) is None
    assert of(flags, "incomplete_pair") == []


def test_out_equal_to_in_is_zero_hours_and_no_flag() -> None:
    facts = sheet({3: ("08:00", "08:00")})
    assert day_hours(facts.days[2]) == 0.0
    codes = {code for code, _ in pairs(evaluate_sheet(facts, CONFIG))}
    assert "out_before_in" not in codes
    assert "incomplete_pair" not in codes


def test_day_hours() -> None:
    assert day_hours(DayEntry(d(3), minutes("07:45"), minutes("17:15"))) == 9.5
    assert day_hours(DayEntry(d(3), minutes("07:45"), None)) is None
    assert day_hours(DayEntry(d(3), None, minutes("17:15"))) is None
    assert day_hours(DayEntry(d(3))) is None


def test_time_on_absent_day() -> None:
    flags = evaluate_sheet(sheet({3: ("08:00", "17:00")}, {3: ("child_ill",)}), CONFIG)
    [flag] = of(flags, "time_on_absent_day")
    assert flag.date == d(3)
    assert "Dec 3" in flag.message and "child ill" in flag.message


def test_time_out_alone_on_absent_day_is_also_time_on_absent_day() -> None:
    flags = evaluate_sheet(sheet({3: (None, "17:00")}, {3: ("unexcused",)}), CONFIG)
    assert ("time_on_absent_day", d(3)) in pairs(flags)


def test_absence_without_time_is_not_time_on_absent_day() -> None:
    flags = evaluate_sheet(sheet(absences={3: ("child_ill",)}), CONFIG)
    assert of(flags, "time_on_absent_day") == []
    assert of(flags, "absence_without_reason") == []


def test_multiple_absence_codes() -> None:
    flags = evaluate_sheet(sheet(absences={3: ("child_ill", "best_interest")}), CONFIG)
    [flag] = of(flags, "multiple_absence_codes")
    assert flag.date == d(3)
    assert "child ill" in flag.message and "best interest" in flag.message


def test_one_absence_code_is_not_multiple() -> None:
    flags = evaluate_sheet(sheet(absences={3: ("best_interest",)}), CONFIG)
    assert of(flags, "multiple_absence_codes") == []


# --- authorized days -------------------------------------------------------------------------


def test_absence_without_reason_on_a_blank_authorized_day() -> None:
    flags = evaluate_sheet(sheet({3: (None, None)}), CONFIG)
    [flag] = of(flags, "absence_without_reason")
    assert flag.date == d(3)
    assert flag.message.startswith("Dec 3:")


def test_blank_weekend_holiday_and_uncovered_days_need_no_reason() -> None:
    """GIVEN blank days on a Saturday (Dec 5), a configured holiday (Dec 25) and days before
    the certificate starts (Dec 1-4)
    WHEN the sheet is evaluated
    THEN none of them is an absence without a reason."""
    config = AgencyConfig(holidays=(d(25),))
    facts = sheet(
        {**blank_week(1, 4), 25: (None, None)},
        terms=terms(start_date=d(7)),
    )
    flags = evaluate_sheet(facts, config)
    assert of(flags, "absence_without_reason") == []


def test_absence_without_reason_only_before_the_received_day() -> None:
    """GIVEN a sheet received (agency time) on Thu Dec 17 with Dec 16, 17 and 18 blank
    WHEN it is evaluated
    THEN only Dec 16 lacks a reason: the sheet could not report Dec 17 or later."""
    facts = sheet(blank_week(16, 18), received_at=received(d(17)))
    flags = evaluate_sheet(facts, CONFIG)
    assert pairs(of(flags, "absence_without_reason")) == [("absence_without_reason", d(16))]


def test_without_received_time_every_day_of_the_month_counts() -> None:
    flags = evaluate_sheet(sheet({31: (None, None)}), CONFIG)
    assert pairs(of(flags, "absence_without_reason")) == [("absence_without_reason", d(31))]


def test_outside_certificate_period_before_start_and_after_end() -> None:
    """GIVEN a certificate for Dec 7 - Dec 15 and care written on every weekday
    WHEN the sheet is evaluated
    THEN the days before the start and after the end are flagged, the covered days are not."""
    facts = sheet(terms=terms(start_date=d(7), end_date=d(15)))
    flags = of(evaluate_sheet(facts, CONFIG), "outside_certificate_period")
    flagged = [flag.date for flag in flags]
    assert flagged == [d(n) for n in (1, 2, 3, 4, 16, 17, 18, 21, 22, 23, 24, 25, 28, 29, 30, 31)]
    assert "before the certificate starts (Dec 7, 2026)" in flags[0].message
    assert "after the certificate ends (Dec 15, 2026)" in flags[-1].message
    assert d(7) not in flagged and d(15) not in flagged


def test_weekday_not_authorized() -> None:
    flags = evaluate_sheet(sheet({5: ("09:00", "12:00")}), CONFIG)
    [flag] = of(flags, "weekday_not_authorized")
    assert flag.date == d(5)
    assert "Saturday" in flag.message


def test_weekday_authorized_by_another_schedule_is_not_flagged() -> None:
    schedule = parse_schedule("Mon-Fri 07:30-17:30; Sat 08:00-13:00")
    facts = sheet({5: ("09:00", "12:00")}, terms=terms(schedule=schedule))
    assert of(evaluate_sheet(facts, CONFIG), "weekday_not_authorized") == []


def test_care_outside_the_period_is_not_also_an_unauthorized_weekday() -> None:
    facts = sheet({5: ("09:00", "12:00")}, terms=terms(start_date=d(7)))
    flags = evaluate_sheet(facts, CONFIG)
    assert ("outside_certificate_period", d(5)) in pairs(flags)
    assert of(flags, "weekday_not_authorized") == []


# --- authorized hours ------------------------------------------------------------------------


def test_outside_authorized_hours_beyond_the_tolerance() -> None:
    """GIVEN the window 07:30-17:30 and a 15-minute tolerance
    WHEN care starts at 07:14 on Dec 3 and ends at 17:46 on Dec 4
    THEN both days are outside the authorized hours."""
    flags = evaluate_sheet(sheet({3: ("07:14", "16:00"), 4: ("08:00", "17:46")}), CONFIG)
    outside = of(flags, "outside_authorized_hours")
    assert pairs(outside) == [
        ("outside_authorized_hours", d(3)),
        ("outside_authorized_hours", d(4)),
    ]
    assert "time in 7:14 AM" in outside[0].message
    assert "time out 5:46 PM" in outside[1].message


def test_within_the_tolerance_is_not_outside_authorized_hours() -> None:
    flags = evaluate_sheet(sheet({3: ("07:15", "16:00"), 4: ("08:00", "17:45")}), CONFIG)
    assert of(flags, "outside_authorized_hours") == []


def test_a_lone_time_is_checked_too() -> None:
    flags = evaluate_sheet(sheet({3: ("06:00", None)}), CONFIG)
    assert ("outside_authorized_hours", d(3)) in pairs(flags)
    assert ("incomplete_pair", d(3)) in pairs(flags)


def test_zero_tolerance_flags_one_minute_early() -> None:
    config = AgencyConfig(window_tolerance_minutes=0)
    flags = evaluate_sheet(sheet({3: ("07:29", "16:00")}), config)
    assert ("outside_authorized_hours", d(3)) in pairs(flags)
    flags = evaluate_sheet(sheet({3: ("07:30", "16:00")}), config)
    assert of(flags, "outside_authorized_hours") == []


def test_split_windows_use_first_start_and_last_end() -> None:
    schedule = parse_schedule("Mon-Fri 07:00-12:00,13:00-16:00")
    facts = sheet(
        {3: ("06:50", "16:10"), 4: ("06:40", "16:00")},
        terms=terms(schedule=schedule, weekly_hours=None),
    )
    outside = [flag.date for flag in of(evaluate_sheet(facts, CONFIG), "outside_authorized_hours")]
    assert d(4) in outside  # 06:40 is before 07:00 - 15 min
    assert d(3) not in outside  # 06:50 and 16:10 are within the tolerance


def test_daily_hours_over() -> None:
    """GIVEN 10 authorized hours a day and a 15-minute tolerance
    WHEN Dec 3 has 10 h 20 min inside the tolerated window
    THEN it exceeds the daily hours (but not the window)."""
    flags = evaluate_sheet(sheet({3: ("07:20", "17:40")}), CONFIG)
    [flag] = of(flags, "daily_hours_over")
    assert flag.date == d(3)
    assert "10.3 hours" in flag.message and "10.0 authorized" in flag.message
    assert of(flags, "outside_authorized_hours") == []


def test_daily_hours_within_the_tolerance() -> None:
    flags = evaluate_sheet(sheet({3: ("07:20", "17:35")}), CONFIG)
    assert of(flags, "daily_hours_over") == []


# --- weeks -----------------------------------------------------------------------------------


def test_month_weeks_are_monday_to_sunday_clipped_to_the_month() -> None:
    weeks = month_weeks(MONTH)
    assert [(w[0], w[-1]) for w in weeks] == [
        (d(1), d(6)),
        (d(7), d(13)),
        (d(14), d(20)),
        (d(21), d(27)),
        (d(28), d(31)),
    ]


def test_weekly_hours_over() -> None:
    """GIVEN 45 certified weekly hours
    WHEN the week of Dec 7 has 9 h 10 min on each of its five days (45.8 h)
    THEN the week is over, dated its Monday; the other weeks (45 h or less) are not."""
    longer = {day: ("08:00", "17:10") for day in range(7, 12)}
    facts = sheet(longer, terms=terms(weekly_hours=45.0))
    flags = of(evaluate_sheet(facts, CONFIG), "weekly_hours_over")
    assert pairs(flags) == [("weekly_hours_over", d(7))]
    assert flags[0].message.startswith("week of Dec 7: 45.8 hours")
    assert "45.0 certified weekly hours" in flags[0].message


def test_weekly_hours_exactly_certified_is_not_over() -> None:
    facts = sheet({day: ("07:30", "17:30") for day in range(7, 12)})
    assert of(evaluate_sheet(facts, CONFIG), "weekly_hours_over") == []


def test_no_weekly_hours_no_weekly_limit() -> None:
    facts = sheet({day: ("07:30", "17:30") for day in range(7, 12)}, terms=terms(weekly_hours=None))
    assert of(evaluate_sheet(facts, CONFIG), "weekly_hours_over") == []


def test_first_short_week_is_dated_the_first_of_the_month() -> None:
    facts = sheet(terms=terms(weekly_hours=30.0))
    flags = of(evaluate_sheet(facts, CONFIG), "weekly_hours_over")
    assert [flag.date for flag in flags] == [d(1), d(7), d(14), d(21), d(28)]


def test_weekly_hours_inconsistent() -> None:
    """GIVEN 50 certified hours in the week of Dec 14 (Mon-Fri, 10 h each)
    WHEN only three days have care (27 h) and two are blank
    THEN attended is 46% off the need, beyond 25%: the week is flagged on its Monday."""
    flags = evaluate_sheet(sheet(blank_week(17, 18)), WEEKLY)
    [flag] = of(flags, "weekly_hours_inconsistent")
    assert flag.date == d(14)
    assert flag.message == "week of Dec 14: 27.0 hours attended vs 50.0 certified hours"


def test_absent_days_leave_the_certified_need() -> None:
    """GIVEN a week with Dec 18 marked child ill and care on the other four days (36 h)
    WHEN the week is evaluated
    THEN the need is 40 h, 10% off: consistent."""
    flags = evaluate_sheet(sheet(absences={18: ("child_ill",)}), WEEKLY)
    assert of(flags, "weekly_hours_inconsistent") == []


def test_holidays_leave_the_certified_need() -> None:
    """GIVEN Dec 25 blank
    WHEN it is a configured holiday THEN the week (36 h vs 40 h) is consistent;
    WHEN it is not THEN the week (36 h vs 50 h, 28% off) is inconsistent."""
    facts = sheet({25: (None, None)})
    with_holiday = evaluate_sheet(facts, dataclasses.replace(WEEKLY, holidays=(d(25),)))
    assert of(with_holiday, "weekly_hours_inconsistent") == []
    without = evaluate_sheet(facts, WEEKLY)
    assert pairs(of(without, "weekly_hours_inconsistent")) == [("weekly_hours_inconsistent", d(21))]


def test_a_week_of_absences_without_care_is_not_inconsistent() -> None:
    """GIVEN the week of Dec 14 with Monday best-interest and the other days blank
    WHEN it is evaluated
    THEN no time pair and an absence: not judged for consistency (the blank days are flagged
    on their own)."""
    facts = sheet(blank_week(15, 18), {14: ("best_interest",)})
    flags = evaluate_sheet(facts, WEEKLY)
    assert of(flags, "weekly_hours_inconsistent") == []
    assert [f.date for f in of(flags, "absence_without_reason")] == [d(15), d(16), d(17), d(18)]


def test_a_blank_week_without_absences_is_inconsistent() -> None:
    flags = evaluate_sheet(sheet(blank_week(14, 18)), WEEKLY)
    [flag] = of(flags, "weekly_hours_inconsistent")
    assert "0.0 hours attended vs 50.0 certified hours" in flag.message


def test_weeks_reaching_the_received_day_are_not_judged_for_consistency() -> None:
    """GIVEN blank weeks of Dec 7 and Dec 14, and the sheet received on Sun Dec 13 (agency time)
    WHEN it is evaluated
    THEN the week of Dec 7 (ending on the received day) is skipped, and so is Dec 14's;
    received on Mon Dec 14, the week of Dec 7 is judged."""
    facts = sheet({**blank_week(7, 11), **blank_week(14, 18)}, received_at=received(d(13)))
    assert of(evaluate_sheet(facts, WEEKLY), "weekly_hours_inconsistent") == []
    facts = dataclasses.replace(facts, received_at=received(d(14)))
    flags = of(evaluate_sheet(facts, WEEKLY), "weekly_hours_inconsistent")
    assert [flag.date for flag in flags] == [d(7)]


def test_certified_hours() -> None:
    """Dec 2026 has 23 weekdays of 10 h; capped at 40 h a week it is 5 weeks x 40 h; a
    certificate ending Dec 15 covers Dec 1-15 only (4 + 5 + 2 days)."""
    assert certified_hours(sheet()) == 230.0
    assert certified_hours(sheet(terms=terms(weekly_hours=40.0))) == 200.0
    assert certified_hours(sheet(terms=terms(end_date=d(15)))) == 110.0
    assert certified_hours(sheet(terms=terms(weekly_hours=None))) == 230.0


# --- absence limits --------------------------------------------------------------------------


def test_fiscal_year_start() -> None:
    assert fiscal_year_start(dt.date(2026, 12, 10)) == dt.date(2026, 7, 1)
    assert fiscal_year_start(dt.date(2027, 6, 30)) == dt.date(2026, 7, 1)
    assert fiscal_year_start(dt.date(2027, 7, 1)) == dt.date(2027, 7, 1)
    assert fiscal_year_start(dt.date(2026, 1, 1)) == dt.date(2025, 7, 1)


def test_earlier_months_push_best_interest_days_over_the_limit() -> None:
    """GIVEN 9 best-interest days used Jul-Nov (limit 10)
    WHEN December marks best-interest on Dec 3 and Dec 10
    THEN Dec 3 is day 10 (allowed) and Dec 10 is day 11 (over the limit)."""
    facts = sheet(
        absences={3: ("best_interest",), 10: ("best_interest",)},
        prior_absences={"best_interest": 9},
    )
    flags = of(evaluate_sheet(facts, CONFIG), "absence_limit_exceeded")
    assert len(flags) == 1
    assert flags[0].date == d(10)
    assert flags[0].message == "Dec 10: best-interest day 11 of 10 allowed this fiscal year"
    assert flags[0].severity is Severity.YELLOW


def test_within_the_limit_is_not_exceeded() -> None:
    facts = sheet(
        absences={3: ("best_interest",), 10: ("best_interest",)},
        prior_absences={"best_interest": 8},
    )
    assert of(evaluate_sheet(facts, CONFIG), "absence_limit_exceeded") == []


def test_a_new_fiscal_year_starts_counting_again() -> None:
    """GIVEN a child who used all 10 best-interest days by June 2027
    WHEN the June sheet marks one more THEN it is over the limit;
    WHEN the July 2027 sheet marks one THEN it is in a new fiscal year (the review gathers no
    earlier days for it) and allowed."""
    june = dt.date(2027, 6, 1)
    july = dt.date(2027, 7, 1)
    assert fiscal_year_start(june) != fiscal_year_start(july)
    june_sheet = sheet(
        absences={7: ("best_interest",)}, month=june, prior_absences={"best_interest": 10}
    )
    assert pairs(of(evaluate_sheet(june_sheet, CONFIG), "absence_limit_exceeded")) == [
        ("absence_limit_exceeded", dt.date(2027, 6, 7))
    ]
    july_sheet = sheet(
        absences={7: ("best_interest",)},
        month=july,
        terms=terms(end_date=dt.date(2028, 6, 30)),
        prior_absences={},
    )
    assert of(evaluate_sheet(july_sheet, CONFIG), "absence_limit_exceeded") == []


def test_excused_and_unexcused_are_unlimited_by_default() -> None:
    facts = sheet(
        absences={3: ("child_ill",), 4: ("unexcused",)},
        prior_absences={"excused": 200, "unexcused": 200},
    )
    assert of(evaluate_sheet(facts, CONFIG), "absence_limit_exceeded") == []


def test_provider_closed_days_have_their_own_limit() -> None:
    facts = sheet(absences={3: ("provider_closed",)}, prior_absences={"provider_closed": 10})
    [flag] = of(evaluate_sheet(facts, CONFIG), "absence_limit_exceeded")
    assert flag.message == "Dec 3: provider-closed day 11 of 10 allowed this fiscal year"


def test_codes_of_one_category_on_one_day_count_once() -> None:
    """GIVEN an agency limit of 1 excused absence and none used yet
    WHEN Dec 3 marks child ill and parent ill (one category) and Dec 4 marks child ill
    THEN Dec 3 is excused absence 1 (allowed) and Dec 4 is 2 (over)."""
    config = CONFIG.with_setting("absence_limits.excused", "1")
    facts = sheet(absences={3: ("child_ill", "parent_ill_appointment"), 4: ("child_ill",)})
    flags = of(evaluate_sheet(facts, config), "absence_limit_exceeded")
    assert pairs(flags) == [("absence_limit_exceeded", d(4))]
    assert flags[0].message == "Dec 4: excused absence 2 of 1 allowed this fiscal year"


def test_codes_of_two_categories_on_one_day_count_in_each_and_flag_once() -> None:
    facts = sheet(
        absences={3: ("best_interest", "provider_closed")},
        prior_absences={"best_interest": 10, "provider_closed": 10},
    )
    [flag] = of(evaluate_sheet(facts, CONFIG), "absence_limit_exceeded")
    assert flag.message == (
        "Dec 3: best-interest day 11 of 10 allowed this fiscal year; "
        "provider-closed day 11 of 10 allowed this fiscal year"
    )


def test_exempt_provider_absences_are_not_payable_and_not_counted() -> None:
    """GIVEN an exempt provider and a child far over the best-interest limit
    WHEN December marks best-interest on Dec 3 and provider closed on Dec 4
    THEN both days are not payable, and no limit is applied."""
    facts = sheet(
        absences={3: ("best_interest",), 4: ("provider_closed",)},
        terms=terms(provider_type="exempt"),
        prior_absences={"best_interest": 30},
    )
    flags = evaluate_sheet(facts, CONFIG)
    assert pairs(of(flags, "absence_not_payable")) == [
        ("absence_not_payable", d(3)),
        ("absence_not_payable", d(4)),
    ]
    assert of(flags, "absence_limit_exceeded") == []
    assert "exempt provider" in of(flags, "absence_not_payable")[0].message


def test_licensed_provider_absences_are_payable() -> None:
    facts = sheet(absences={3: ("best_interest",)}, terms=terms(provider_type="licensed_family"))
    assert of(evaluate_sheet(facts, CONFIG), "absence_not_payable") == []


# --- signatures ------------------------------------------------------------------------------


def test_missing_signatures_are_red_sheet_wide_flags() -> None:
    flags = evaluate_sheet(sheet(parent_signed=False, provider_signed=False), CONFIG)
    assert pairs(flags) == [
        ("parent_signature_missing", None),
        ("provider_signature_missing", None),
    ]
    assert all(flag.severity is Severity.RED for flag in flags)


def test_signatures_not_read_raise_nothing() -> None:
    assert evaluate_sheet(sheet(parent_signed=None, provider_signed=None), CONFIG) == []


# --- a page that was not read ----------------------------------------------------------------


def test_page_not_read_still_gets_deadline_and_duplicate_flags() -> None:
    """GIVEN a sheet whose page was not registered (blank fields, signatures unknown or empty)
    received late and scanned again
    WHEN it is evaluated
    THEN it is flagged not read, late and duplicated, and no field or signature rule runs."""
    facts = sheet(
        {day.day: (None, None) for day in month_days(MONTH)},
        read=False,
        parent_signed=False,
        provider_signed=None,
        received_at=received(dt.date(2027, 1, 6)),
        duplicates=(DuplicateScan(SHA_A, 2, False),),
    )
    flags = evaluate_sheet(facts, CONFIG)
    assert pairs(flags) == [("duplicate_scan", None), ("late", None), ("page_not_read", None)]
    assert of(flags, "page_not_read")[0].severity is Severity.RED


# --- deadlines -------------------------------------------------------------------------------


def test_due_date_on_a_weekday() -> None:
    assert due_date(dt.date(2026, 12, 1), CONFIG) == dt.date(2027, 1, 5)  # a Tuesday
    assert due_date(dt.date(2026, 9, 1), CONFIG) == dt.date(2026, 10, 5)  # a Monday


def test_due_date_on_a_weekend_moves_to_monday() -> None:
    # Dec 5, 2026 is a Saturday.
    assert dt.date(2026, 12, 5).weekday() == 5
    assert due_date(dt.date(2026, 11, 1), CONFIG) == dt.date(2026, 12, 7)
    # Apr 5, 2026 is a Sunday.
    assert dt.date(2026, 4, 5).weekday() == 6
    assert due_date(dt.date(2026, 3, 1), CONFIG) == dt.date(2026, 4, 6)


def test_due_date_on_a_holiday_moves_to_the_next_business_day() -> None:
    config = AgencyConfig(holidays=(dt.date(2027, 1, 5),))
    assert due_date(dt.date(2026, 12, 1), config) == dt.date(2027, 1, 6)


def test_due_date_weekend_then_holiday_chain() -> None:
    """GIVEN Labor Day, Mon Sep 7 2026, as a holiday
    WHEN the August sheet's due day, Sat Sep 5, is moved
    THEN it passes Sunday and the holiday Monday to Tue Sep 8."""
    config = AgencyConfig(holidays=(dt.date(2026, 9, 7),))
    assert due_date(dt.date(2026, 8, 1), config) == dt.date(2026, 9, 8)
    assert due_date(dt.date(2026, 8, 1), CONFIG) == dt.date(2026, 9, 7)


def test_june_is_due_july_15() -> None:
    assert due_date(dt.date(2026, 6, 1), CONFIG) == dt.date(2026, 7, 15)
    config = AgencyConfig(holidays=(dt.date(2026, 7, 15), dt.date(2026, 7, 16)))
    assert due_date(dt.date(2026, 6, 1), config) == dt.date(2026, 7, 17)


def test_configured_due_day() -> None:
    config = CONFIG.with_setting("due_day", "10")
    assert due_date(dt.date(2026, 12, 1), config) == dt.date(2027, 1, 11)  # Jan 10 is a Sunday


def test_past_due_after() -> None:
    assert past_due_after(dt.date(2026, 12, 1), CONFIG) == dt.date(2027, 1, 30)
    assert past_due_after(dt.date(2027, 2, 1), CONFIG) == dt.date(2027, 3, 30)
    config = CONFIG.with_setting("past_due_days", "10")
    assert past_due_after(dt.date(2026, 11, 1), config) == dt.date(2026, 12, 10)


@pytest.mark.parametrize(
    ("local_day", "codes"),
    [
        (dt.date(2026, 12, 20), []),  # before the month ended
        (dt.date(2027, 1, 5), []),  # the due day
        (dt.date(2027, 1, 6), ["late"]),
        (dt.date(2027, 1, 30), ["late"]),  # the last day before past due
        (dt.date(2027, 1, 31), ["past_due"]),
    ],
)
def test_late_and_past_due(local_day: dt.date, codes: list[str]) -> None:
    facts = sheet(received_at=received(local_day))
    flags = [f for f in evaluate_sheet(facts, CONFIG) if f.code in ("late", "past_due")]
    assert [flag.code for flag in flags] == codes


def test_late_and_past_due_messages_and_severities() -> None:
    [late] = evaluate_sheet(sheet(received_at=received(dt.date(2027, 1, 6))), CONFIG)
    assert late.message == "received Jan 6, 2027, after the due date Jan 5, 2027"
    assert late.severity is Severity.YELLOW and late.default_disposition is Disposition.NOTE
    [past] = evaluate_sheet(sheet(received_at=received(dt.date(2027, 2, 2))), CONFIG)
    assert past.code == "past_due"
    assert past.message == (
        "received Feb 2, 2027, more than 30 days after the month ended (Dec 31, 2026)"
    )
    assert past.severity is Severity.RED and past.default_disposition is Disposition.REVIEW


def test_received_time_is_judged_on_the_agency_calendar() -> None:
    """GIVEN the December sheet due Tue Jan 5, 2027
    WHEN it is received at 03:00 UTC on Jan 6 (7 PM on Jan 5 in Los Angeles)
    THEN it is on time; received at 09:00 UTC on Jan 6 (1 AM Jan 6 there) it is late."""
    evening = dt.datetime(2027, 1, 6, 3, 0, tzinfo=UTC)
    assert evaluate_sheet(sheet(received_at=evening), CONFIG) == []
    night = dt.datetime(2027, 1, 6, 9, 0, tzinfo=UTC)
    assert pairs(evaluate_sheet(sheet(received_at=night), CONFIG)) == [("late", None)]
    # In an agency on UTC, the same evening moment is already Jan 6.
    utc_agency = AgencyConfig(timezone="UTC")
    assert pairs(evaluate_sheet(sheet(received_at=evening), utc_agency)) == [("late", None)]


def test_not_received_has_no_deadline_flags() -> None:
    assert evaluate_sheet(sheet(received_at=None), CONFIG) == []


# --- duplicates ------------------------------------------------------------------------------


def test_duplicate_scan_message_matches_the_export() -> None:
    flags = evaluate_sheet(sheet(duplicates=(DuplicateScan(SHA_A, 2, False),)), CONFIG)
    assert pairs(flags) == [("duplicate_scan", None)]
    assert flags[0].message == "scanned again: file abc123def456 page 2; the first scan is kept"
    assert flags[0].severity is Severity.YELLOW


def test_duplicate_conflict() -> None:
    flags = evaluate_sheet(sheet(duplicates=(DuplicateScan(SHA_B, 3, True),)), CONFIG)
    assert pairs(flags) == [("duplicate_conflict", None)]
    assert flags[0].message == (
        "received again with different content: file fedcba987654 page 3; "
        "the first scan stays the record until a reviewer decides"
    )
    assert flags[0].severity is Severity.RED


def test_several_duplicates_merge_into_one_flag_per_code() -> None:
    facts = sheet(
        duplicates=(
            DuplicateScan(SHA_A, 2, False),
            DuplicateScan(SHA_B, 1, False),
            DuplicateScan(SHA_B, 4, True),
        )
    )
    flags = evaluate_sheet(facts, CONFIG)
    assert pairs(flags) == [("duplicate_conflict", None), ("duplicate_scan", None)]
    assert flags[1].message == (
        "scanned again: file abc123def456 page 2, file fedcba987654 page 1; the first scan is kept"
    )


def test_no_duplicates_no_duplicate_flags() -> None:
    assert evaluate_sheet(sheet(duplicates=()), CONFIG) == []


# --- dispositions, the month's consistency, payable hours ------------------------------------


def test_every_code_has_a_disposition_and_a_reason() -> None:
    for code in FLAG_CODES.values():
        assert code.disposition in tuple(Disposition), code.code
        assert len(code.why) > 20, code.code


def test_a_code_set_off_is_not_raised() -> None:
    """GIVEN a day whose care starts an hour early
    WHEN the agency has set outside_authorized_hours off
    THEN the flag is not raised; by default it is."""
    facts = sheet({2: ("06:30", "16:00")})
    assert of(evaluate_sheet(facts, CONFIG), "outside_authorized_hours")
    quiet = AgencyConfig(dispositions={"outside_authorized_hours": "off"})
    assert of(evaluate_sheet(facts, quiet), "outside_authorized_hours") == []


def test_hours_inconsistent_is_one_finding_about_the_month() -> None:
    """GIVEN 230 certified hours in December (23 weekdays of 10 h)
    WHEN the first two weeks have no care written (no absence marked)
    THEN attended (126 h) is 45% under the need: one sheet-wide finding, no per-week ones."""
    facts = sheet(blank_week(1, 4) | blank_week(7, 11))
    flags = evaluate_sheet(facts, CONFIG)
    [flag] = of(flags, "hours_inconsistent")
    assert flag.date is None
    assert flag.message == (
        "126.0 hours attended vs 230.0 certified hours this month (-45%; more than 25% off)"
    )
    assert of(flags, "weekly_hours_inconsistent") == []


def test_hours_within_the_share_are_consistent() -> None:
    """GIVEN 9 h a day against 10 h certified (10% under) THEN no finding."""
    assert of(evaluate_sheet(sheet(), CONFIG), "hours_inconsistent") == []
    strict = AgencyConfig(hours_consistency=0.05)
    assert len(of(evaluate_sheet(sheet(), strict), "hours_inconsistent")) == 1


def test_payable_hours_full_time_is_the_certified_need() -> None:
    """GIVEN a licensed full-time certificate (50 h a week) and a month with two blank weeks
    THEN the payable hours are the certified need, whatever was attended."""
    facts = sheet(blank_week(1, 4) | blank_week(7, 11))
    pay = payable_hours(facts, CONFIG)
    assert pay.rule == "certified_need"
    assert pay.hours == certified_hours(facts) == 230.0


def test_payable_hours_part_time_licensed_is_the_certified_need() -> None:
    facts = sheet(terms=terms(schedule_type="part_time"))
    assert payable_hours(facts, CONFIG).rule == "certified_need"


@pytest.mark.parametrize(
    ("schedule_type", "provider_type"),
    [("variable", "licensed_center"), ("variable", "exempt"), ("part_time", "exempt")],
)
def test_payable_hours_actual_within_the_authorized_hours(
    schedule_type: str, provider_type: str
) -> None:
    """GIVEN actual-hours care (variable schedules, license-exempt part-time) certified
    Mon-Fri 07:30-17:30, 50 h a week
    WHEN Dec 1 runs 06:00-19:00 (13 h) and Dec 2 is blank, the rest 08:00-17:00
    THEN only the authorized part counts (Dec 1: 07:30-17:30, 10 h), care on a Saturday
    (not authorized) counts nothing, and weeks are capped at 50 h."""
    facts = sheet(
        {1: ("06:00", "19:00"), 2: (None, None), 5: ("09:00", "12:00")},
        terms=terms(schedule_type=schedule_type, provider_type=provider_type),
    )
    pay = payable_hours(facts, CONFIG)
    assert pay.rule == "actual_capped"
    # 22 weekdays besides Dec 1 and 2 at 9 h, plus Dec 1 at 10 h; Saturday Dec 5 is not paid.
    assert pay.hours == 21 * 9 + 10


def test_payable_hours_are_capped_at_the_weekly_hours() -> None:
    """GIVEN 20 certified weekly hours and care 08:00-17:00 every weekday (45 h a week)
    THEN each full week pays 20 h."""
    facts = sheet(terms=terms(schedule_type="variable", weekly_hours=20.0))
    pay = payable_hours(facts, CONFIG)
    weeks = month_weeks(MONTH)
    expected = sum(min(20.0, 9.0 * sum(1 for day in week if day.weekday() < 5)) for week in weeks)
    assert pay.hours == expected


def test_the_agency_chooses_the_payable_rule() -> None:
    facts = sheet(blank_week(1, 4))
    config = AgencyConfig(payable_rules={"full_time": "actual_capped"})
    pay = payable_hours(facts, config)
    assert pay.rule == "actual_capped" and pay.hours < certified_hours(facts)
