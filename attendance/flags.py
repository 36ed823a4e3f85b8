"""Rule flags: a stable code each, its severity, and whether a person must look at it.

The codes are a public contract (export JSON, payment CSV, returned-sheet notices): add codes,
never rename one. Severity red: the sheet cannot be paid as it is; yellow: check it.
"""

# ruff: noqa: E501  (the table of codes reads best one code per line)

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    RED = "red"
    YELLOW = "yellow"


@dataclass(frozen=True)
class FlagCode:
    code: str
    severity: Severity
    needs_review: bool  # a review item is opened for it (otherwise it is only reported)
    meaning: str


_CODES = (
    FlagCode(
        "incomplete_pair",
        Severity.YELLOW,
        True,
        "a day has a time in without a time out, or a time out without a time in",
    ),
    FlagCode("out_before_in", Severity.RED, True, "a day's time out is earlier than its time in"),
    FlagCode(
        "time_on_absent_day", Severity.YELLOW, True, "a day marked absent also has a time written"
    ),
    FlagCode(
        "absence_without_reason",
        Severity.YELLOW,
        True,
        "an authorized day with no times and no absence reason marked",
    ),
    FlagCode(
        "multiple_absence_codes",
        Severity.YELLOW,
        True,
        "more than one absence reason marked on one day",
    ),
    FlagCode(
        "outside_certificate_period",
        Severity.YELLOW,
        True,
        "care on a day before the certificate starts or after it ends",
    ),
    FlagCode(
        "weekday_not_authorized",
        Severity.YELLOW,
        True,
        "care on a weekday the certificate does not authorize",
    ),
    FlagCode(
        "outside_authorized_hours",
        Severity.YELLOW,
        True,
        "care starts before or ends after the authorized hours by more than the tolerance",
    ),
    FlagCode(
        "daily_hours_over",
        Severity.YELLOW,
        True,
        "a day's hours exceed the authorized daily hours by more than the tolerance",
    ),
    FlagCode(
        "weekly_hours_over",
        Severity.YELLOW,
        True,
        "a week's hours exceed the certified weekly hours",
    ),
    FlagCode(
        "weekly_hours_inconsistent",
        Severity.YELLOW,
        True,
        "a week's hours are not broadly consistent with the certified need (beyond the configured share)",
    ),
    FlagCode(
        "absence_limit_exceeded",
        Severity.YELLOW,
        True,
        "an absence beyond the fiscal year's limit for its category",
    ),
    FlagCode(
        "absence_not_payable",
        Severity.YELLOW,
        True,
        "an absence or closure at an exempt provider, which is not paid",
    ),
    FlagCode(
        "parent_signature_missing",
        Severity.RED,
        True,
        "the parent's signature box is empty: the sheet is incomplete",
    ),
    FlagCode(
        "provider_signature_missing",
        Severity.RED,
        True,
        "the provider's signature box is empty: the sheet is incomplete",
    ),
    FlagCode(
        "late",
        Severity.YELLOW,
        False,
        "received after the due date (by default the 5th of the next month, moved to the next business day; June sheets: July 15)",
    ),
    FlagCode(
        "past_due",
        Severity.RED,
        True,
        "received more than the configured number of days (default 30) after the end of the month",
    ),
    FlagCode(
        "duplicate_scan",
        Severity.YELLOW,
        False,
        "the sheet was scanned again from other bytes with the same content; the first scan stays the record",
    ),
    FlagCode(
        "duplicate_conflict",
        Severity.RED,
        True,
        "the sheet was received again with different content; the first scan stays the record until a reviewer decides",
    ),
    FlagCode(
        "page_not_read",
        Severity.RED,
        False,
        "the sheet's page could not be registered, so its fields were not read (the page is in the review queue)",
    ),
)

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
    def needs_review(self) -> bool:
        return FLAG_CODES[self.code].needs_review
