"""The programs' attendance rules over one sheet: plain facts in, flags out.

No database here: `attendance.review` gathers a sheet's facts (its final values, the
certificate's terms, the child's absences earlier in the fiscal year) and stores the flags.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from attendance.agency import (
    ABSENCE_CATEGORIES,
    ACTUAL_CAPPED,
    BEST_INTEREST,
    EXCUSED,
    PROVIDER_CLOSED,
    UNEXCUSED,
    AgencyConfig,
    absence_category,
)
from attendance.flags import OFF, Flag
from attendance.months import month_days, month_last_day
from attendance.schedule import Schedule


@dataclass(frozen=True)
class CertificateTerms:
    """What the certificate authorizes."""

    start_date: dt.date
    end_date: dt.date
    schedule: Schedule
    weekly_hours: float | None
    provider_type: str  # attendance.models.ProviderType value
    schedule_type: str = "full_time"  # attendance.models.ScheduleType value


@dataclass(frozen=True)
class DayEntry:
    """One day's final values on the sheet (the reviewer's value where there is one)."""

    date: dt.date
    time_in: int | None = None  # minutes after midnight
    time_out: int | None = None
    absences: tuple[str, ...] = ()  # absence codes marked (forms.layout.ABSENCE_CODES)


@dataclass(frozen=True)
class DuplicateScan:
    """Another scan of the same sheet, after the one that is the record."""

    file_sha256: str
    page: int
    differs: bool  # its content differs from the record's


@dataclass(frozen=True)
class SheetFacts:
    serial: str
    month: dt.date  # first day of the month
    terms: CertificateTerms
    days: tuple[DayEntry, ...]  # every day of the month, in order
    parent_signed: bool | None  # None: not read (the page was not registered)
    provider_signed: bool | None
    received_at: dt.datetime | None  # aware, UTC; None: not received
    read: bool = True  # False: the page was not registered, its fields were never read
    # Days of each absence category already used this fiscal year, in earlier months.
    prior_absences: Mapping[str, int] = field(default_factory=dict)
    duplicates: tuple[DuplicateScan, ...] = ()


def evaluate_sheet(facts: SheetFacts, config: AgencyConfig) -> list[Flag]:
    """Every flag the rules raise on the sheet, ordered by date (sheet-wide first), then code."""
    flags: list[Flag] = []
    if facts.read:
        flags.extend(_day_flags(facts, config))
        flags.extend(_week_flags(facts, config))
        flags.extend(_month_flags(facts, config))
        flags.extend(_absence_count_flags(facts, config))
        flags.extend(_signature_flags(facts))
    else:
        flags.append(
            Flag(
                "page_not_read",
                "the sheet's page could not be registered, so its fields were not read",
            )
        )
    flags.extend(_deadline_flags(facts, config))
    flags.extend(_duplicate_flags(facts))
    return _merged_and_ordered([f for f in flags if config.disposition(f.code) != OFF])


def due_date(month: dt.date, config: AgencyConfig) -> dt.date:
    """The day a sheet for `month` is due (moved to the next business day)."""
    if month.month == 6:
        day = dt.date(month.year, 7, config.june_due_day)
    else:
        following = _next_month(month)
        day = dt.date(following.year, following.month, config.due_day)
    holidays = set(config.holidays)
    while day.weekday() >= 5 or day in holidays:
        day += dt.timedelta(days=1)
    return day


def past_due_after(month: dt.date, config: AgencyConfig) -> dt.date:
    """The last day a sheet for `month` is not yet past due."""
    return month_last_day(month) + dt.timedelta(days=config.past_due_days)


def fiscal_year_start(day: dt.date) -> dt.date:
    """July 1 of the fiscal year (July 1 - June 30) containing `day`."""
    return dt.date(day.year if day.month >= 7 else day.year - 1, 7, 1)


def day_hours(day: DayEntry) -> float | None:
    """Hours of care on `day`: out - in, or None without a complete pair in order."""
    if day.time_in is None or day.time_out is None or day.time_out < day.time_in:
        return None
    return (day.time_out - day.time_in) / 60


def certified_hours(facts: SheetFacts) -> float:
    """Authorized hours in the month: the schedule's daily hours on each day of the month that
    the certificate covers (capped per week by the weekly hours, when set)."""
    terms = facts.terms
    total = 0.0
    for week in month_weeks(facts.month):
        hours = sum(
            terms.schedule.daily_hours(day.weekday()) for day in week if _in_period(day, terms)
        )
        if terms.weekly_hours is not None:
            hours = min(hours, terms.weekly_hours)
        total += hours
    return total


def month_weeks(month: dt.date) -> list[list[dt.date]]:
    """The month's Monday-Sunday weeks, clipped to the month (first and last may be short)."""
    weeks: list[list[dt.date]] = []
    for day in month_days(month):
        if not weeks or day.weekday() == 0:
            weeks.append([])
        weeks[-1].append(day)
    return weeks


# --- day rules -------------------------------------------------------------------------------


def _day_flags(facts: SheetFacts, config: AgencyConfig) -> list[Flag]:
    terms = facts.terms
    holidays = set(config.holidays)
    cutoff = _received_local(facts, config)
    tolerance = config.window_tolerance_minutes
    flags: list[Flag] = []
    for day in _entries(facts):
        when = _day_label(day.date)
        has_time = day.time_in is not None or day.time_out is not None
        windows = terms.schedule.days[day.date.weekday()]
        in_period = _in_period(day.date, terms)

        if day.time_in is not None and day.time_out is None:
            flags.append(
                Flag("incomplete_pair", f"{when}: a time in is written but no time out", day.date)
            )
        elif day.time_out is not None and day.time_in is None:
            flags.append(
                Flag("incomplete_pair", f"{when}: a time out is written but no time in", day.date)
            )
        elif day.time_in is not None and day.time_out is not None and day.time_out < day.time_in:
            flags.append(
                Flag(
                    "out_before_in",
                    f"{when}: time out {_clock(day.time_out)} is earlier than time in "
                    f"{_clock(day.time_in)}",
                    day.date,
                )
            )

        if day.absences and has_time:
            flags.append(
                Flag(
                    "time_on_absent_day",
                    f"{when}: marked absent ({_codes_text(day.absences)}) but a time is written",
                    day.date,
                )
            )
        if len(set(day.absences)) > 1:
            flags.append(
                Flag(
                    "multiple_absence_codes",
                    f"{when}: more than one absence reason marked ({_codes_text(day.absences)})",
                    day.date,
                )
            )

        authorized = in_period and bool(windows) and day.date not in holidays
        if (
            authorized
            and not has_time
            and not day.absences
            and (cutoff is None or day.date < cutoff)
        ):
            flags.append(
                Flag(
                    "absence_without_reason",
                    f"{when}: an authorized day with no times and no absence reason marked",
                    day.date,
                )
            )

        if not has_time:
            continue
        if not in_period:
            if day.date < terms.start_date:
                text = f"before the certificate starts ({_full_date(terms.start_date)})"
            else:
                text = f"after the certificate ends ({_full_date(terms.end_date)})"
            flags.append(
                Flag("outside_certificate_period", f"{when}: care written {text}", day.date)
            )
            continue
        if not windows:
            flags.append(
                Flag(
                    "weekday_not_authorized",
                    f"{when}: care written on a {day.date:%A}, "
                    "a weekday the certificate does not authorize",
                    day.date,
                )
            )
            continue

        earliest = windows[0].start - tolerance
        latest = windows[-1].end + tolerance
        outside = [
            f"{label} {_clock(minutes)}"
            for label, minutes in (("time in", day.time_in), ("time out", day.time_out))
            if minutes is not None and not earliest <= minutes <= latest
        ]
        if outside:
            flags.append(
                Flag(
                    "outside_authorized_hours",
                    f"{when}: {' and '.join(outside)} outside the authorized hours "
                    f"{_clock(windows[0].start)}-{_clock(windows[-1].end)} "
                    f"(by more than {tolerance} minutes)",
                    day.date,
                )
            )

        hours = day_hours(day)
        allowed = terms.schedule.daily_hours(day.date.weekday())
        if hours is not None and hours > allowed + tolerance / 60:
            flags.append(
                Flag(
                    "daily_hours_over",
                    f"{when}: {hours:.1f} hours of care, more than the {allowed:.1f} "
                    "authorized hours a day",
                    day.date,
                )
            )
    return flags


# --- week rules ------------------------------------------------------------------------------


def _week_flags(facts: SheetFacts, config: AgencyConfig) -> list[Flag]:
    terms = facts.terms
    cutoff = _received_local(facts, config)
    entries = {day.date: day for day in _entries(facts)}
    flags: list[Flag] = []
    for week in month_weeks(facts.month):
        days = [entries[d] for d in week]
        attended = sum(day_hours(day) or 0.0 for day in days)
        label = f"week of {_day_label(week[0])}"
        if terms.weekly_hours is not None and attended > terms.weekly_hours + 1e-9:
            flags.append(
                Flag(
                    "weekly_hours_over",
                    f"{label}: {attended:.1f} hours of care, more than the "
                    f"{terms.weekly_hours:.1f} certified weekly hours",
                    week[0],
                )
            )
        if cutoff is not None and week[-1] >= cutoff:
            continue
        need, _ = _need_and_attended(facts, config, days)
        has_pair = any(day_hours(day) is not None for day in days)
        has_absence = any(day.absences for day in days)
        if (
            need > 0
            and (has_pair or not has_absence)
            and abs(attended - need) / need > config.weekly_consistency
        ):
            flags.append(
                Flag(
                    "weekly_hours_inconsistent",
                    f"{label}: {attended:.1f} hours attended vs {need:.1f} certified hours",
                    week[0],
                )
            )
    return flags


def _need_and_attended(
    facts: SheetFacts, config: AgencyConfig, days: list[DayEntry]
) -> tuple[float, float]:
    """Certified need and attended hours over `days`: need counts the schedule's hours on the
    certificate's days that are not holidays and not marked absent."""
    holidays = set(config.holidays)
    need = sum(
        facts.terms.schedule.daily_hours(day.date.weekday())
        for day in days
        if _in_period(day.date, facts.terms) and day.date not in holidays and not day.absences
    )
    return need, sum(day_hours(day) or 0.0 for day in days)


def _month_flags(facts: SheetFacts, config: AgencyConfig) -> list[Flag]:
    """One finding about the sheet when its hours are not broadly consistent with the
    certified need: the programs judge the month, and the contractor then contacts the
    parent. Days after the sheet was received are left out (not yet lived)."""
    cutoff = _received_local(facts, config)
    days = [d for d in _entries(facts) if cutoff is None or d.date < cutoff]
    need, attended = _need_and_attended(facts, config, days)
    has_pair = any(day_hours(day) is not None for day in days)
    if need <= 0 or not has_pair:
        return []
    off = (attended - need) / need
    if abs(off) <= config.hours_consistency:
        return []
    return [
        Flag(
            "hours_inconsistent",
            f"{attended:.1f} hours attended vs {need:.1f} certified hours this month "
            f"({off:+.0%}; more than {config.hours_consistency:.0%} off)",
        )
    ]


# --- payable hours ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Payable:
    """The hours the program pays for the sheet, and the rule that gave them."""

    hours: float
    rule: str  # attendance.agency.CERTIFIED_NEED | ACTUAL_CAPPED


def payable_hours(facts: SheetFacts, config: AgencyConfig) -> Payable:
    """Payable hours by the program's rule (CDE MB 14-04), per the agency's `payable_rule`:

    - certified need: the certificate's hours in the month (its schedule on the days it
      covers, capped per week at the certified weekly hours), whatever the attendance;
    - actual, capped: each day's care counted only within the authorized windows, on the
      authorized days of the certificate period, capped per week at the certified weekly
      hours. Care outside the authorized days and hours is not paid by the program.

    Whether the sheet may be paid at all (complete, verified) is the export's `payable`.
    """
    terms = facts.terms
    rule = config.payable_rule(terms.schedule_type, terms.provider_type)
    if rule != ACTUAL_CAPPED:
        return Payable(round(certified_hours(facts), 2), rule)
    entries = {day.date: day for day in _entries(facts)}
    total = 0.0
    for week in month_weeks(facts.month):
        hours = sum(_authorized_minutes(entries[d], terms) for d in week) / 60
        if terms.weekly_hours is not None:
            hours = min(hours, terms.weekly_hours)
        total += hours
    return Payable(round(total, 2), rule)


def _authorized_minutes(day: DayEntry, terms: CertificateTerms) -> int:
    """Minutes of the day's care inside its authorized windows (0 outside the certificate)."""
    if day.time_in is None or day.time_out is None or day.time_out < day.time_in:
        return 0
    if not _in_period(day.date, terms):
        return 0
    return sum(
        max(0, min(day.time_out, window.end) - max(day.time_in, window.start))
        for window in terms.schedule.days[day.date.weekday()]
    )


# --- absence counts --------------------------------------------------------------------------

_CATEGORY_LABELS = {
    EXCUSED: "excused absence",
    BEST_INTEREST: "best-interest day",
    UNEXCUSED: "unexcused absence",
    PROVIDER_CLOSED: "provider-closed day",
}


def _absence_count_flags(facts: SheetFacts, config: AgencyConfig) -> list[Flag]:
    flags: list[Flag] = []
    days = [day for day in _entries(facts) if day.absences]
    if facts.terms.provider_type == _EXEMPT:
        for day in days:
            flags.append(
                Flag(
                    "absence_not_payable",
                    f"{_day_label(day.date)}: absence marked ({_codes_text(day.absences)}) "
                    "at an exempt provider, which is not paid",
                    day.date,
                )
            )
        return flags
    counts = {category: facts.prior_absences.get(category, 0) for category in ABSENCE_CATEGORIES}
    for day in days:
        over: list[str] = []
        for category in _categories(day.absences):
            counts[category] = counts.get(category, 0) + 1
            limit = config.limit(category)
            if limit is not None and counts[category] > limit:
                label = _CATEGORY_LABELS.get(category, category)
                over.append(f"{label} {counts[category]} of {limit} allowed this fiscal year")
        if over:
            flags.append(
                Flag(
                    "absence_limit_exceeded",
                    f"{_day_label(day.date)}: {'; '.join(over)}",
                    day.date,
                )
            )
    return flags


def _categories(codes: tuple[str, ...]) -> list[str]:
    """The distinct categories of a day's absence codes, in the order first marked."""
    return list(dict.fromkeys(absence_category(code) for code in codes))


# --- sheet-wide rules ------------------------------------------------------------------------


def _signature_flags(facts: SheetFacts) -> list[Flag]:
    flags: list[Flag] = []
    if facts.parent_signed is False:
        flags.append(Flag("parent_signature_missing", "the parent's signature box is empty"))
    if facts.provider_signed is False:
        flags.append(Flag("provider_signature_missing", "the provider's signature box is empty"))
    return flags


def _deadline_flags(facts: SheetFacts, config: AgencyConfig) -> list[Flag]:
    received = _received_local(facts, config)
    if received is None:
        return []
    limit = past_due_after(facts.month, config)
    if received > limit:
        return [
            Flag(
                "past_due",
                f"received {_full_date(received)}, more than {config.past_due_days} days "
                f"after the month ended ({_full_date(month_last_day(facts.month))})",
            )
        ]
    due = due_date(facts.month, config)
    if received > due:
        return [
            Flag("late", f"received {_full_date(received)}, after the due date {_full_date(due)}")
        ]
    return []


def _duplicate_flags(facts: SheetFacts) -> list[Flag]:
    same = [scan for scan in facts.duplicates if not scan.differs]
    different = [scan for scan in facts.duplicates if scan.differs]
    flags: list[Flag] = []
    if same:
        flags.append(
            Flag("duplicate_scan", f"scanned again: {_scans_text(same)}; the first scan is kept")
        )
    if different:
        flags.append(
            Flag(
                "duplicate_conflict",
                f"received again with different content: {_scans_text(different)}; "
                "the first scan stays the record until a reviewer decides",
            )
        )
    return flags


def _scans_text(scans: list[DuplicateScan]) -> str:
    return ", ".join(f"file {scan.file_sha256[:12]} page {scan.page}" for scan in scans)


# --- helpers ---------------------------------------------------------------------------------

_EXEMPT = "exempt"  # attendance.models.ProviderType.EXEMPT (not imported: rules stay pure)


def _merged_and_ordered(flags: list[Flag]) -> list[Flag]:
    """One flag per (code, date), messages of repeats joined; sheet-wide first, then by date,
    then by code."""
    merged: dict[tuple[str, dt.date | None], Flag] = {}
    for flag in flags:
        key = (flag.code, flag.date)
        if key in merged:
            previous = merged[key]
            if flag.message != previous.message:
                merged[key] = Flag(flag.code, f"{previous.message}; {flag.message}", flag.date)
        else:
            merged[key] = flag
    return sorted(
        merged.values(),
        key=lambda f: (f.date is not None, f.date or dt.date.min, f.code),
    )


def _entries(facts: SheetFacts) -> list[DayEntry]:
    """One entry per day of the month, in order (an empty one for a day the facts lack)."""
    given = {day.date: day for day in facts.days}
    return [given.get(day, DayEntry(day)) for day in month_days(facts.month)]


def _received_local(facts: SheetFacts, config: AgencyConfig) -> dt.date | None:
    return None if facts.received_at is None else config.local_date(facts.received_at)


def _in_period(day: dt.date, terms: CertificateTerms) -> bool:
    return terms.start_date <= day <= terms.end_date


def _next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _day_label(day: dt.date) -> str:
    return f"{day:%b} {day.day}"


def _full_date(day: dt.date) -> str:
    return f"{day:%b} {day.day}, {day.year}"


def _clock(minutes: int) -> str:
    hour, minute = divmod(minutes, 60)
    suffix = "AM" if hour < 12 else "PM"
    return f"{(hour - 1) % 12 + 1}:{minute:02d} {suffix}"


def _codes_text(codes: tuple[str, ...]) -> str:
    return ", ".join(code.replace("_", " ") for code in codes)
