"""Rule flags: a stable code each, its severity, and what becomes of it by default.

The codes are a public contract (export JSON, payment CSV, returned-sheet notices): add codes,
never rename one. Severity red: the sheet cannot be paid as it is; yellow: check it.

A flag's disposition says what becomes of it (each agency can change it: `attend agency set
disposition.CODE review|note|off`):

- `review`: a person must decide before the sheet is payable. One decision per problem: the
  days a code touches on a sheet are one finding in the review queue.
- `note`: a rule settles it (payable hours are computed by the program's rule; care outside
  the authorized days and hours is not paid); it is recorded and shown on the sheet view, in
  the export and on a returned-sheet notice, never queued.
- `off`: not raised at all.

The defaults follow one question: does it change what is paid AND need a human judgement?
Each code says why its default is what it is (`why`, printed in the README).
"""

# ruff: noqa: E501  (the table of codes reads best one code per line)

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    RED = "red"
    YELLOW = "yellow"


class Disposition(StrEnum):
    REVIEW = "review"  # a person decides before the sheet is payable
    NOTE = "note"  # recorded and shown; a rule settles it
    OFF = "off"  # not raised


REVIEW, NOTE, OFF = Disposition.REVIEW, Disposition.NOTE, Disposition.OFF


@dataclass(frozen=True)
class FlagCode:
    code: str
    severity: Severity
    disposition: Disposition  # the default; agencies may change it
    meaning: str
    why: str  # why the default disposition is what it is


_CODES = (
    FlagCode(
        "incomplete_pair", Severity.YELLOW, REVIEW,
        "a day has a time in without a time out, or a time out without a time in",
        "a day's hours cannot be counted without both times; only the page (or the provider) "
        "can say what the missing time is",
    ),
    FlagCode(
        "out_before_in", Severity.RED, REVIEW,
        "a day's time out is earlier than its time in",
        "the times contradict each other (often AM and PM swapped): a person reads the page",
    ),
    FlagCode(
        "time_on_absent_day", Severity.YELLOW, REVIEW,
        "a day marked absent also has a time written",
        "the day says both absent and in care; which one is paid is a judgement",
    ),
    FlagCode(
        "absence_without_reason", Severity.YELLOW, NOTE,
        "an authorized day with no times and no absence reason marked",
        "no care is claimed for the day, so nothing is paid for it by an actual-hours rule and "
        "the certified need does not change; nothing is counted against an absence limit",
    ),
    FlagCode(
        "multiple_absence_codes", Severity.YELLOW, NOTE,
        "more than one absence reason marked on one day",
        "the day counts once in each category marked, so the limits stay on the safe side",
    ),
    FlagCode(
        "outside_certificate_period", Severity.YELLOW, REVIEW,
        "care on a day before the certificate starts or after it ends",
        "care the certificate does not cover is not paid, and may mean a new certificate is "
        "due: a person checks it",
    ),
    FlagCode(
        "weekday_not_authorized", Severity.YELLOW, REVIEW,
        "care on a weekday the certificate does not authorize",
        "care outside the certificate is not paid by the program, and may mean the schedule "
        "changed: a person checks it",
    ),
    FlagCode(
        "outside_authorized_hours", Severity.YELLOW, NOTE,
        "care starts before or ends after the authorized hours by more than the tolerance",
        "a rule settles it: care outside the authorized hours is not counted in the payable "
        "hours",
    ),
    FlagCode(
        "daily_hours_over", Severity.YELLOW, NOTE,
        "a day's hours exceed the authorized daily hours by more than the tolerance",
        "a rule settles it: payable hours are counted within the authorized hours only",
    ),
    FlagCode(
        "weekly_hours_over", Severity.YELLOW, NOTE,
        "a week's hours exceed the certified weekly hours",
        "a rule settles it: payable hours are capped at the certified weekly hours",
    ),
    FlagCode(
        "weekly_hours_inconsistent", Severity.YELLOW, OFF,
        "a week's hours are not broadly consistent with the certified need (beyond the configured share)",
        "replaced by the one sheet-wide finding hours_inconsistent (the programs judge the "
        "month, not each week)",
    ),
    FlagCode(
        "hours_inconsistent", Severity.YELLOW, NOTE,
        "the month's attended hours are not broadly consistent with the certified need (off by more than the configured share)",
        "a finding about the sheet for the case worker, who contacts the parent; payment "
        "follows the payable-hours rule either way",
    ),
    FlagCode(
        "absence_limit_exceeded", Severity.YELLOW, REVIEW,
        "an absence beyond the fiscal year's limit for its category",
        "whether an absence over the limit is paid (good cause, another category) is a "
        "judgement the programs leave to staff",
    ),
    FlagCode(
        "absence_not_payable", Severity.YELLOW, NOTE,
        "an absence or closure at an exempt provider, which is not paid",
        "a rule settles it: exempt providers are not paid for absences",
    ),
    FlagCode(
        "parent_signature_missing", Severity.RED, REVIEW,
        "the parent's signature box is empty: the sheet is incomplete",
        "a sheet without both signatures cannot be paid: a person confirms the box is empty "
        "and returns the sheet",
    ),
    FlagCode(
        "provider_signature_missing", Severity.RED, REVIEW,
        "the provider's signature box is empty: the sheet is incomplete",
        "a sheet without both signatures cannot be paid: a person confirms the box is empty "
        "and returns the sheet",
    ),
    FlagCode(
        "late", Severity.YELLOW, NOTE,
        "received after the due date (by default the 5th of the next month, moved to the next business day; June sheets: July 15)",
        "a rule settles it: late sheets are paid on the next payment date",
    ),
    FlagCode(
        "past_due", Severity.RED, REVIEW,
        "received more than the configured number of days (default 30) after the end of the month",
        "a past-due sheet may not be paid at all: paying it is an exception a person grants",
    ),
    FlagCode(
        "duplicate_scan", Severity.YELLOW, NOTE,
        "the sheet was scanned again from other bytes with the same content; the first scan stays the record",
        "the same content again changes nothing: it is recorded, never a second claim",
    ),
    FlagCode(
        "duplicate_conflict", Severity.RED, REVIEW,
        "the sheet was received again with different content; the first scan stays the record until a reviewer decides",
        "two different versions of one sheet: a person decides which is the record",
    ),
    FlagCode(
        "page_not_read", Severity.RED, NOTE,
        "the sheet's page could not be registered, so its fields were not read (the page is in the review queue)",
        "the page itself is the decision in the queue (key it or return the sheet); the flag "
        "only keeps the sheet from being paid until then",
    ),
)  # fmt: skip

FLAG_CODES: dict[str, FlagCode] = {code.code: code for code in _CODES}


@dataclass(frozen=True)
class Flag:
    """One finding of the rules on one sheet (and day, when it concerns a day)."""

    code: str
    message: str
    date: dt.date | None = None

    @property
    def severity(self) -> Severity:
        return FLAG_CODES[self.code].severity

    @property
    def default_disposition(self) -> Disposition:
        return FLAG_CODES[self.code].disposition
