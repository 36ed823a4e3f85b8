"""What depends on the date, run at the dates where it turns: a month's last day, the 5th on a
weekend, June 30 and July 1, December 31 and January 1.

The rest of the suite runs at one fixed instant (tests/conftest.py); these tests move the
clock (`attendance.clock`) and take a printed sheet through the real `attend intake run`,
so the receipt time, the sheet's status, the look-up's date and the deadline flags all come
from the clock, and every expected value is written out by hand below.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from attendance import clock
from tests.conftest import Cli

# Noon in the agency's time zone (America/Los_Angeles, UTC-8 in winter, UTC-7 in summer).
WINTER_NOON = dt.time(20, 0)
SUMMER_NOON = dt.time(19, 0)

# (clock's day, noon there in UTC, the sheet's month, the flag expected: late, past_due or None)
CASES = [
    # The last day of November: November's own sheet is early, October's is late (due
    # Nov 5) but exactly 30 days after October ended, so not yet past due.
    ("2026-11-30", WINTER_NOON, "2026-11", None),
    ("2026-11-30", WINTER_NOON, "2026-10", "late"),
    # Saturday the 5th: November's sheet is due on the next business day, Monday Dec 7.
    ("2026-12-05", WINTER_NOON, "2026-11", None),
    # June 30: June's own sheet is early; May's is late (due Monday June 7) but not past due.
    ("2027-06-30", SUMMER_NOON, "2027-06", None),
    ("2027-06-30", SUMMER_NOON, "2027-05", "late"),
    # July 1, a new fiscal year: June's sheet is due July 15.
    ("2027-07-01", SUMMER_NOON, "2027-06", None),
    # December 31: November's sheet is past due (more than 30 days after Nov 30).
    ("2026-12-31", WINTER_NOON, "2026-11", "past_due"),
    # January 1, a new calendar year: December's sheet is due Tuesday Jan 5.
    ("2027-01-01", WINTER_NOON, "2026-12", None),
]


@pytest.mark.parametrize(("day", "noon", "month", "deadline_flag"), CASES)
def test_receipt_on_any_day(
    issued_cli: Cli,
    clock_at: Callable[[dt.datetime], None],
    tmp_path: Path,
    day: str,
    noon: dt.time,
    month: str,
    deadline_flag: str | None,
) -> None:
    """GIVEN the clock at noon (agency time) on `day` and a printed sheet of `month`
    WHEN the sheet is scanned in by `attend intake run`
    THEN it is received now, on `day` in the agency's calendar, the look-up says so, and
    only the expected deadline flag is raised."""
    moment = dt.datetime.combine(dt.date.fromisoformat(day), noon, tzinfo=dt.UTC)
    clock_at(moment)
    issued_cli.ok("sheets", "issue", "--month", month)
    sheets = json.loads(issued_cli.ok("sheets", "list", "--month", month, "--json"))
    serial = next(s["serial"] for s in sheets if s["certificate_id"] == "C-1002")
    pdf = tmp_path / "sheet.pdf"
    issued_cli.ok("sheets", "print", "--serial", serial, "-o", str(pdf))

    issued_cli.ok("intake", "run", str(pdf))

    status = json.loads(issued_cli.ok("status", serial, "--json"))
    received_at = dt.datetime.fromisoformat(status["received_at"].replace("Z", "+00:00"))
    assert abs((received_at - clock.now()).total_seconds()) < 120
    assert status["status"] in ("received", "in_review", "verified")
    export = json.loads(issued_cli.ok("export", "--month", month, "--format", "json"))
    sheet = next(s for s in export["sheets"] if s["serial"] == serial)
    deadline = {f["code"] for f in sheet["flags"]} & {"late", "past_due"}
    assert deadline == ({deadline_flag} if deadline_flag else set())
    status_line = issued_cli.ok("status", serial)
    assert "received" in status_line


def test_clock_shift_reaches_child_processes(clock_at: Callable[[dt.datetime], None]) -> None:
    """GIVEN the clock moved to a fixed instant
    WHEN another process reads the clock
    THEN it reads the same instant (to the second), so leases and receipts agree."""
    import subprocess
    import sys

    moment = dt.datetime(2027, 1, 1, 8, 0, tzinfo=dt.UTC)
    clock_at(moment)
    out = subprocess.run(
        [sys.executable, "-c", "from attendance import clock; print(clock.now().isoformat())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    child = dt.datetime.fromisoformat(out.strip())
    assert abs((child - clock.now()).total_seconds()) < 5
    assert child.date() == dt.date(2027, 1, 1)
