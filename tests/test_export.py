"""`attend export` as a payment system reads it: never a silent blank, each flag's disposition,
payable hours by the program's rule. Sheets are recorded through the real receipt
(`tests/sheetdb.py`) and exported by the real command."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from fixtures.attend import MONTH, Cli
from tests import sheetdb as db


def _export(cli: Cli) -> dict[str, Any]:
    return dict(json.loads(cli.ok("export", "--month", MONTH, "--format", "json")))


def _sheet(data: dict[str, Any], serial: str) -> dict[str, Any]:
    return next(s for s in data["sheets"] if s["serial"] == serial)


def test_a_page_that_was_not_read_is_never_a_verified_blank(issued_cli: Cli) -> None:
    """GIVEN a sheet received from a page that could not be registered (nothing was read)
    WHEN the month is exported
    THEN every time, absence and signature of it needs review with the reason `not_read`,
    and the sheet is not payable; an issued sheet not yet received has nothing to review."""
    engine = db.engine_for(issued_cli)
    serial = db.serial_of(engine, "C-1001", MONTH)
    db.receive(engine, serial, read=False)

    data = _export(issued_cli)
    sheet = _sheet(data, serial)
    assert sheet["status"] == "in_review"
    for day in sheet["days"]:
        for key in ("time_in", "time_out"):
            field = day[key]
            assert (field["machine_value"], field["needs_review"], field["reason"]) == (
                None,
                True,
                "not_read",
            ), (day["date"], key)
        assert day["absence"]["needs_review"] and day["absence"]["reason"] == "not_read"
    for who in ("parent", "provider"):
        signature = sheet["signatures"][who]
        assert (signature["signed"], signature["needs_review"], signature["reason"]) == (
            None,
            True,
            "not_read",
        )
    payments = list(csv.DictReader(io.StringIO(
        issued_cli.ok("export", "--month", MONTH, "--format", "payments")
    )))  # fmt: skip
    assert next(r for r in payments if r["serial"] == serial)["payable"] == "false"
    issued = _sheet(data, db.serial_of(engine, "C-1002", MONTH))
    assert issued["status"] == "issued"
    assert not any(day["time_in"]["needs_review"] for day in issued["days"])


def test_an_unsure_absence_box_leaves_the_day_in_doubt(issued_cli: Cli) -> None:
    """GIVEN a day whose child-ill box the machine read as empty but was not sure of
    WHEN the month is exported
    THEN that day's absence needs review (with the machine's reason), though none is marked."""
    engine = db.engine_for(issued_cli)
    serial = db.serial_of(engine, "C-1001", MONTH)
    db.receive(engine, serial, {"day.09.absence.child_ill": (None, 0.55, True)})
    day = next(d for d in _sheet(_export(issued_cli), serial)["days"] if d["date"].endswith("-09"))
    assert day["absence"]["code"] is None
    assert day["absence"]["needs_review"] is True
    assert day["absence"]["reason"] == "low_confidence"


def test_flags_carry_their_disposition_and_payable_hours_their_rule(issued_cli: Cli) -> None:
    """GIVEN a full-time sheet with care starting an hour early on Nov 2 and no parent
    signature
    WHEN the month is exported
    THEN the early start is a note and the missing signature a review flag; the totals and
    the payment CSV carry the payable hours and the rule that gave them (the certified
    need), and the payment CSV's first columns are as before."""
    engine = db.engine_for(issued_cli)
    serial = db.serial_of(engine, "C-1001", MONTH)
    db.receive(
        engine,
        serial,
        {"day.02.in": ("06:30", 0.99, False), "signature.parent": (None, 0.99, False)},
    )
    sheet = _sheet(_export(issued_cli), serial)
    by_code = {f["code"]: f for f in sheet["flags"]}
    assert by_code["outside_authorized_hours"]["disposition"] == "note"
    assert by_code["parent_signature_missing"]["disposition"] == "review"
    assert sheet["totals"]["payable_rule"] == "certified_need"
    assert sheet["totals"]["payable_hours"] == sheet["totals"]["certified_hours"] > 0
    text = issued_cli.ok("export", "--month", MONTH, "--format", "payments")
    header = text.splitlines()[0].split(",")
    assert header[:16] == [
        "month", "serial", "certificate_id", "provider_id", "status", "received_at",
        "certified_hours", "attended_hours", "days_attended", "absences_excused",
        "absences_best_interest", "absences_unexcused", "absences_provider_closed",
        "red_flags", "yellow_flags", "payable",
    ]  # fmt: skip
    assert header[16:] == ["payable_hours", "payable_rule"]
    row = next(r for r in csv.DictReader(io.StringIO(text)) if r["serial"] == serial)
    assert float(row["payable_hours"]) == sheet["totals"]["payable_hours"]
    assert row["payable_rule"] == "certified_need"
