"""Calendar months: ``YYYY-MM`` keys, their days, and their names in each language we write.

Dates are written from these tables, never from the machine's locale."""

from __future__ import annotations

import calendar
import datetime as dt
import re

from attendance.errors import DomainError

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class InvalidMonth(DomainError, ValueError):
    """Text that is not a YYYY-MM month."""


def parse_month(text: str) -> dt.date:
    """Return the first day of month `text` (``YYYY-MM``) or raise InvalidMonth."""
    match = _MONTH.match(text.strip())
    if not match:
        raise InvalidMonth(f"month {text!r} is not YYYY-MM (for example 2026-11)")
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


def month_key(day: dt.date) -> str:
    """``YYYY-MM`` for the month containing `day`."""
    return f"{day.year:04d}-{day.month:02d}"


def month_days(first: dt.date) -> list[dt.date]:
    """Every date of the month that starts on (or contains) `first`."""
    count = calendar.monthrange(first.year, first.month)[1]
    return [dt.date(first.year, first.month, d) for d in range(1, count + 1)]


def month_last_day(first: dt.date) -> dt.date:
    return month_days(first)[-1]


LANGUAGES = ("en", "es")

MONTH_NAMES: dict[str, tuple[str, ...]] = {
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
    "es": (
        "enero", "febrero", "marzo", "abril", "mayo", "junio",
        "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre",
    ),
}  # fmt: skip


def month_name(day: dt.date, lang: str) -> str:
    """The name of `day`'s month in `lang` (``November`` / ``noviembre``)."""
    if lang not in MONTH_NAMES:
        raise ValueError(f"language {lang!r} is not supported (use one of {', '.join(LANGUAGES)})")
    return MONTH_NAMES[lang][day.month - 1]
