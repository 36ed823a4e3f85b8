"""When a provider can expect to be paid for a sheet: the agency's payment calendar.

The Contra Costa manual's rule, as defaults of agency settings: sheets received by the 5th
of a month are paid on the 20th of that month, later ones on the 20th of the next; June
sheets (the fiscal year's last) count as on time until July 15. So each month has a cutoff
(`payment_cutoff_day`, moved to the next business day like a due date; for June sheets in
July, `june_payment_cutoff_day`) and a payment day (`payment_day`): a sheet is paid on the
payment day of the first cutoff on or after it was received, and never before its month
has ended. A sheet received more than `past_due_days` after its month may not be paid at all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from attendance.agency import AgencyConfig
from attendance.rules import past_due_after


@dataclass(frozen=True)
class PaymentDate:
    """The expected payment of one sheet."""

    cutoff: dt.date  # received by this day...
    paid_on: dt.date  # ...paid on this one
    past_due: bool  # received (or to be received) after the past-due day: may not be paid


def _next_month(first: dt.date) -> dt.date:
    return dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _business_day(day: dt.date, config: AgencyConfig) -> dt.date:
    holidays = set(config.holidays)
    while day.weekday() >= 5 or day in holidays:
        day += dt.timedelta(days=1)
    return day


def cutoff_in(sheet_month: dt.date, month: dt.date, config: AgencyConfig) -> dt.date:
    """The cutoff in calendar `month` for a sheet of `sheet_month` (first days of months)."""
    june_sheet_in_july = sheet_month.month == 6 and month == _next_month(sheet_month)
    day = config.june_payment_cutoff_day if june_sheet_in_july else config.payment_cutoff_day
    return _business_day(dt.date(month.year, month.month, day), config)


def expected_payment(
    sheet_month: dt.date, received_on: dt.date, config: AgencyConfig
) -> PaymentDate:
    """When a sheet of `sheet_month` received (in the agency's calendar) on `received_on`
    is expected to be paid: the payment day of the first cutoff on or after its receipt."""
    sheet_month = sheet_month.replace(day=1)
    start = max(received_on, _next_month(sheet_month))
    month = start.replace(day=1)
    while True:
        cutoff = cutoff_in(sheet_month, month, config)
        if start <= cutoff:
            paid = dt.date(month.year, month.month, config.payment_day)
            return PaymentDate(cutoff, paid, received_on > past_due_after(sheet_month, config))
        month = _next_month(month)
