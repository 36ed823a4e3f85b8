"""The review queue over sheets recorded by the real intake path (`record_pages`), with field
readings written by hand (`tests/sheetdb.py`): rules on stored sheets, items and claims,
decisions and their audit rows, the QA sample, training crops, returns and voids.

Unless a test says otherwise the agency's QA sample rate is 0, so the only items are the ones
a test asks for. Sheets are C-1001's (Mon-Fri 07:30-17:30, 50 h a week, licensed center)
unless named; November 2026 is due Monday Dec 7 (Dec 5 is a Saturday).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from attendance import decisions, findings, review_queue, sheet_actions
from attendance.agency import AgencyConfig
from attendance.db import session_scope
from attendance.decisions import Decision, accept_item, accept_items, correct_item, correct_page
from attendance.errors import InvalidValue, ItemHeld, NotAllowed, VersionConflict
from attendance.evidence import digit_cells, load_canon
from attendance.models import (
    FieldReading,
    ReviewItem,
    ScannedPage,
    Sheet,
    SheetStatus,
    TrainingCrop,
    utcnow,
)
from attendance.qa import qa_report
from attendance.review_queue import QA_KINDS, claim_items, qa_draw, qa_sampled, release_item
from attendance.rules import due_date
from attendance.values import normalize_value
from forms.layout import CURRENT_FORM, TimeField, build_layout
from tests import sheetdb as db
from tests.conftest import Cli
from tests.sheetdb import Override

NOV = "2026-11"
OCT = "2026-10"
NOV_DEADLINE = dt.date(2026, 12, 7)
OCT_DEADLINE = dt.date(2026, 11, 5)
# Every time, mark and signature field of a 30-day month: 2 times and 7 absence marks a day,
# the family-fee mark and two signatures.
NOV_FIELDS = 30 * 9 + 1 + 2


def unsure(value: str | None, confidence: float = 0.6) -> Override:
    """A reading the machine is not sure of (it goes to review)."""
    return (value, confidence, True)


def sure(value: str | None) -> Override:
    return (value, 0.99, False)


def unsure_days(*days: int) -> dict[str, Override]:
    """Both times of C-1001's `days` read as usual (07:45, 17:00), but unsure."""
    return {
        f"day.{day:02d}.{io}": unsure(value)
        for day in days
        for io, value in (("in", "07:45"), ("out", "17:00"))
    }


@pytest.fixture
def engine(issued_cli: Cli) -> Iterator[Engine]:
    with db.configured_engine(issued_cli) as engine:
        yield engine


@pytest.fixture
def any_engine(issued_backend: Cli) -> Iterator[Engine]:
    """As `engine`, once on SQLite and once on PostgreSQL."""
    with db.configured_engine(issued_backend) as engine:
        yield engine


def nov_serial(engine: Engine, certificate: str = "C-1001") -> str:
    return db.serial_of(engine, certificate, NOV)


def open_items(engine: Engine, serial: str) -> list[ReviewItem]:
    return db.items(engine, serial, state="open")


def describe(engine: Engine, item_id: int) -> review_queue.ItemView:
    with Session(engine) as session:
        return review_queue.describe_item(session, item_id)


# --- receiving ------------------------------------------------------------------------------------


def test_a_clean_sheet_is_received_then_verified_with_nothing_to_review(engine: Engine) -> None:
    """GIVEN November's sheet read cleanly (every field confident, every authorized day
    07:45-17:00, both signatures, received Dec 2, before the due date)
    WHEN intake records it
    THEN it is the sheet's record and verified at once: no flag, no item, the receipt event
    (from issued) and one status move received -> verified."""
    serial = nov_serial(engine)
    sha = db.receive(engine, serial)

    sheet = db.sheet(engine, serial)
    assert sheet.status == SheetStatus.VERIFIED.value
    assert (sheet.source_file_sha256, sheet.source_page) == (sha, 1)
    assert db.items(engine, serial) == []
    assert db.flags(engine, serial) == []
    receipts = db.events(engine, entity="sheet", entity_id=serial, action="received")
    assert len(receipts) == 1
    assert json.loads(receipts[0].before_json or "{}")["status"] == "issued"
    assert db.status_moves(engine, serial) == [("received", "verified")]
    readings = db.readings(engine, serial)
    assert len(readings) == NOV_FIELDS
    assert readings["day.02.in"].machine_value == "07:45"
    assert readings["day.01.in"].machine_value is None  # a Sunday
    assert not any(r.reviewed or r.final_value for r in readings.values())


@pytest.mark.parametrize(
    ("received", "code", "status", "items"),
    [
        # Dec 8 local: after the due date (Mon Dec 7): late is reported, nobody must look.
        (dt.datetime(2026, 12, 8, 18, 0, tzinfo=dt.UTC), "late", "verified", 0),
        # Dec 7, 23:30 in Los Angeles is Dec 8 07:30 UTC: still on the due date, locally.
        (dt.datetime(2026, 12, 8, 7, 30, tzinfo=dt.UTC), None, "verified", 0),
        # More than 30 days after Nov 30: past due is red and needs a person.
        (dt.datetime(2027, 1, 1, 18, 0, tzinfo=dt.UTC), "past_due", "in_review", 1),
    ],
)
def test_deadline_flags_use_the_receipt_date_in_the_agency_time_zone(
    engine: Engine, received: dt.datetime, code: str | None, status: str, items: int
) -> None:
    serial = nov_serial(engine)
    db.receive(engine, serial, received_at=received)
    assert [f.code for f in db.flags(engine, serial)] == ([code] if code else [])
    assert db.sheet(engine, serial).status == status
    assert len(open_items(engine, serial)) == items


# --- correcting fields ----------------------------------------------------------------------------


def test_correcting_a_low_confidence_time_keeps_the_machine_value_and_logs_one_event(
    engine: Engine,
) -> None:
    """GIVEN a sheet whose Nov 3 time in was read with confidence 0.6
    WHEN a reviewer looks at the item (version 1) and corrects it to "7:50"
    THEN the reviewer's value is stored beside the machine's, the version goes to 2, one field
    event records before/after, the item is done, and the sheet (nothing else open) is
    verified."""
    serial = nov_serial(engine)
    db.receive(engine, serial, {"day.03.in": unsure("07:45")})
    assert db.sheet(engine, serial).status == "in_review"
    [item] = open_items(engine, serial)
    assert item.kind == "field" and item.priority == pytest.approx(0.6)
    assert item.deadline == NOV_DEADLINE
    assert (item.field_kind, item.machine_value) == ("time", "07:45")

    view = describe(engine, item.id or 0)
    assert (view.field_name, view.value, view.version) == ("day.03.in", "07:45", 1)
    assert view.date == dt.date(2026, 11, 3)
    assert (view.authorized, view.other_time) == ("07:30-17:30", "17:00")

    decision = correct_item(
        engine, view.id, "7:50", reviewer="rev-a", version=view.version, reason="a 5 is a 0"
    )

    assert decision == Decision(view.id, "corrected", "verified", "07:50")
    reading = db.readings(engine, serial)["day.03.in"]
    assert reading.machine_value == "07:45" and reading.confidence == pytest.approx(0.6)
    assert (reading.final_value, reading.reviewed, reading.reviewed_by) == ("07:50", True, "rev-a")
    assert reading.version == 2 and reading.reviewed_at is not None
    [event] = db.events(engine, entity="field")
    assert (event.actor, event.entity_id, event.action) == (
        "rev-a",
        f"{serial}/day.03.in",
        "corrected",
    )
    assert json.loads(event.before_json or "") == {"value": "07:45", "version": 1}
    assert json.loads(event.after_json or "") == {
        "value": "07:50",
        "version": 2,
        "machine_value": "07:45",
        "confidence": 0.6,
        "reason": "a 5 is a 0",
        "item": view.id,
    }
    [done] = db.items(engine, serial)
    assert (done.state, done.resolution, done.resolved_by) == ("done", "corrected", "rev-a")
    assert done.claimed_by is None
    assert db.status_moves(engine, serial) == [("received", "in_review"), ("in_review", "verified")]


def test_a_correction_typed_as_the_machine_value_is_an_acceptance(engine: Engine) -> None:
    serial = nov_serial(engine)
    db.receive(engine, serial, {"day.03.in": unsure("07:45")})
    [item] = open_items(engine, serial)
    decision = correct_item(engine, item.id or 0, "0745", reviewer="rev")
    assert (decision.resolution, decision.value) == ("accepted", "07:45")
    [event] = db.events(engine, entity="field")
    assert event.action == "accepted"
    assert db.readings(engine, serial)["day.03.in"].final_value == "07:45"


def test_a_correction_that_fails_midway_leaves_no_value_and_no_event(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN an open field item
    WHEN the correction fails after the value and event were written (the rules blow up)
    THEN nothing of it stays: the event is in the same transaction as the value."""
    serial = nov_serial(engine)
    db.receive(engine, serial, {"day.03.in": unsure("07:45")})
    [item] = open_items(engine, serial)

    def boom(*_args: object, **_kwargs: object) -> list[object]:
        raise RuntimeError("rules failed")

    monkeypatch.setattr(decisions, "evaluate", boom)
    with pytest.raises(RuntimeError):
        correct_item(engine, item.id or 0, "07:50", reviewer="rev")

    reading = db.readings(engine, serial)["day.03.in"]
    assert (reading.final_value, reading.reviewed, reading.version) == (None, False, 1)
    assert db.events(engine, entity="field") == []
    assert [i.state for i in db.items(engine, serial)] == ["open"]


def test_an_invalid_value_is_refused_and_changes_nothing(engine: Engine) -> None:
    serial = nov_serial(engine)
    db.receive(engine, serial, {"day.03.in": unsure("07:45")})
    [item] = open_items(engine, serial)
    with pytest.raises(InvalidValue):
        correct_item(engine, item.id or 0, "25:00", reviewer="rev")
    assert db.readings(engine, serial)["day.03.in"].version == 1
    assert db.events(engine, entity="field") == []
    assert open_items(engine, serial)[0].id == item.id


def test_rules_run_again_on_correction_and_clear_the_flag_and_its_item(engine: Engine) -> None:
    """GIVEN Nov 2 read as in 07:45, out 07:40 (the out time unsure): out before in (red),
    with a flag item and the field item
    WHEN the reviewer corrects the out time to 5:40 pm
    THEN the flag is cleared (kept, state cleared), its item closes by itself, and the sheet
    is verified."""
    serial = nov_serial(engine)
    db.receive(engine, serial, {"day.02.out": unsure("07:40", 0.7)})
    [flag] = db.flags(engine, serial, code="out_before_in")
    assert (flag.severity, flag.day, flag.state) == ("red", "2026-11-02", "open")
    flag_item = db.flag_item(engine, serial, "out_before_in", "2026-11-02")
    assert flag_item.state == "open" and flag_item.priority == 0.0
    field = db.field_item(engine, serial, "day.02.out")
    assert "out_before_in" in describe(engine, field.id or 0).day_flags

    decision = correct_item(engine, field.id or 0, "5:40 pm", reviewer="rev")

    assert decision.sheet_status == "verified"
    [flag] = db.flags(engine, serial, code="out_before_in")
    assert (flag.state, flag.resolved_by) == ("cleared", "rev")
    assert all(f.state == "cleared" for f in db.flags(engine, serial))
    closed = db.flag_item(engine, serial, "out_before_in", "2026-11-02")
    assert (closed.state, closed.resolution) == ("done", "cleared")
    assert open_items(engine, serial) == []
    cleared = [
        json.loads(e.after_json or "")["cleared"]
        for e in db.events(engine, entity="sheet", entity_id=serial, action="flags")
    ]
    assert "out_before_in@2026-11-02" in cleared[-1]


# --- the queue ------------------------------------------------------------------------------------


def test_the_queue_works_the_soonest_deadline_first_then_flags_then_lowest_confidence(
    issued_cli: Cli, engine: Engine
) -> None:
    """GIVEN November's sheet with two unsure times (0.7 and 0.5) and no provider signature
    (a red flag), then October's sheet (due Nov 5, sooner) with one unsure time (0.9)
    WHEN a reviewer claims the queue
    THEN October's item comes first, then November's flag, then its fields lowest confidence
    first."""
    issued_cli.ok("sheets", "issue", "--month", OCT)
    nov, oct_ = nov_serial(engine), db.serial_of(engine, "C-1001", OCT)
    db.receive(
        engine,
        nov,
        {
            "day.02.in": unsure("07:45", 0.7),
            "day.03.in": unsure("07:45", 0.5),
            "signature.provider": sure(None),
        },
    )
    db.receive(engine, oct_, {"day.05.in": unsure("07:45", 0.9)})
    expected = [
        db.field_item(engine, oct_, "day.05.in").id,
        db.flag_item(engine, nov, "provider_signature_missing").id,
        db.field_item(engine, nov, "day.03.in").id,
        db.field_item(engine, nov, "day.02.in").id,
    ]
    assert db.field_item(engine, oct_, "day.05.in").deadline == OCT_DEADLINE
    assert due_date(dt.date(2026, 10, 1), AgencyConfig()) == OCT_DEADLINE

    assert claim_items(engine, reviewer="rev", limit=10) == expected


def test_groups_and_grouped_verification_are_all_or_nothing(engine: Engine) -> None:
    """GIVEN three unsure times read 07:45 and one read 17:00, and a red flag
    WHEN a reviewer claims the group (time, 07:45) and accepts it with the red flag in the batch
    THEN nothing is accepted (one transaction); without the flag, all three are."""
    serial = nov_serial(engine)
    db.receive(
        engine,
        serial,
        {
            "day.02.in": unsure("07:45"),
            "day.03.in": unsure("07:45"),
            "day.04.in": unsure("07:45"),
            "day.04.out": unsure("17:00"),
            "signature.parent": sure(None),
        },
    )
    with Session(engine) as session:
        assert review_queue.groups(session) == [review_queue.Group("time", "07:45", 3)]
        assert review_queue.groups(session, minimum=1)[-1] == review_queue.Group("time", "17:00", 1)
    group = claim_items(engine, reviewer="rev", group=("time", "07:45"), limit=10)
    assert len(group) == 3
    flag = db.flag_item(engine, serial, "parent_signature_missing").id or 0

    with pytest.raises(NotAllowed):
        accept_items(engine, [*group, flag], reviewer="rev")
    assert db.events(engine, entity="field") == []
    assert all(db.readings(engine, serial)[f"day.0{d}.in"].version == 1 for d in (2, 3, 4))

    decisions = accept_items(engine, group, reviewer="rev")
    assert [d.resolution for d in decisions] == ["accepted"] * 3
    assert len(db.events(engine, entity="field", action="accepted")) == 3
    with Session(engine) as session:
        assert review_queue.groups(session, minimum=1) == [review_queue.Group("time", "17:00", 1)]


def test_claims_are_disjoint_held_and_run_out(any_engine: Engine) -> None:
    """GIVEN six unsure fields and claims that last one minute
    WHEN reviewer A claims 3 and reviewer B claims 3
    THEN they hold different items, B cannot decide or release A's, and once A's claim has
    run out B claims and decides them (and then A cannot)."""
    engine = any_engine
    db.set_config(engine, claim_minutes=1)
    serial = nov_serial(engine)
    db.receive(engine, serial, unsure_days(2, 3, 4))
    assert len(open_items(engine, serial)) == 6

    a = claim_items(engine, reviewer="a", limit=3)
    b = claim_items(engine, reviewer="b", limit=3)
    assert len(a) == len(b) == 3 and not set(a) & set(b)
    assert claim_items(engine, reviewer="c", limit=3) == []  # everything is held
    assert describe(engine, a[0]).claimed_by == "a"
    with pytest.raises(ItemHeld):
        accept_item(engine, a[0], reviewer="b")
    with pytest.raises(ItemHeld):
        correct_item(engine, a[0], "07:45", reviewer="b")
    with pytest.raises(ItemHeld):
        release_item(engine, a[0], reviewer="b")
    assert db.events(engine, entity="field") == []

    later = utcnow() + dt.timedelta(minutes=2)
    taken = claim_items(engine, reviewer="b", limit=6, now=later)
    assert set(taken) == set(a) | set(b)
    accept_item(engine, a[0], reviewer="b")  # B holds it now
    with pytest.raises(ItemHeld):
        accept_item(engine, a[1], reviewer="a")
    release_item(engine, a[1], reviewer="b")
    assert claim_items(engine, reviewer="a", limit=1) == [a[1]]


def test_concurrent_claims_never_hand_out_the_same_item(
    issued_backend: Cli, any_engine: Engine
) -> None:
    """GIVEN twenty open items
    WHEN two reviewers on their own connections claim at the same moment, three rounds
    THEN no item is handed to two reviewers."""
    engine = any_engine
    serial = nov_serial(engine)
    db.receive(engine, serial, unsure_days(2, 3, 4, 5, 6, 9, 10, 11, 12, 13))
    assert len(open_items(engine, serial)) == 20
    engines = [db.engine_for(issued_backend) for _ in range(2)]
    claimed: dict[str, list[int]] = {}
    errors: list[BaseException] = []
    try:
        for round_ in range(3):
            barrier = threading.Barrier(2)

            def claim(
                index: int, round_: int = round_, barrier: threading.Barrier = barrier
            ) -> None:
                name = f"r{round_}-{index}"
                try:
                    barrier.wait(timeout=10)
                    claimed[name] = claim_items(engines[index], reviewer=name, limit=3)
                except BaseException as error:
                    errors.append(error)

            threads = [threading.Thread(target=claim, args=(i,)) for i in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
        assert errors == []
        every = [item for items in claimed.values() for item in items]
        assert len(every) == 18 and len(set(every)) == 18
        with Session(engine) as session:
            holders = dict(
                session.exec(
                    select(ReviewItem.id, ReviewItem.claimed_by).where(
                        col(ReviewItem.claimed_by).is_not(None)
                    )
                ).all()
            )
        assert holders == {item: name for name, items in claimed.items() for item in items}
    finally:
        for each in engines:
            each.dispose()


# The queue's order must not depend on how a database sorts NULL (an unclaimed item's
# "mine first" key): both tests run on SQLite and PostgreSQL.


@pytest.mark.parametrize(
    "issued_backend",
    [
        pytest.param("sqlite"),
        pytest.param("postgres", marks=pytest.mark.postgres),
    ],
    indirect=True,
)
def test_a_lapsed_claim_does_not_jump_the_queue(issued_backend: Cli, any_engine: Engine) -> None:
    """GIVEN October's unsure field (due Nov 5) and November's (due Dec 7); reviewer B claimed
    November's item and the claim has run out
    WHEN reviewer A claims one item
    THEN A gets October's (the soonest deadline), not B's lapsed November item."""
    engine = any_engine
    issued_backend.ok("sheets", "issue", "--month", OCT)
    nov = nov_serial(engine)
    db.receive(engine, nov, {"day.02.in": unsure("07:45")})
    [lapsed] = claim_items(engine, reviewer="b", limit=1)
    oct_ = db.serial_of(engine, "C-1001", OCT)
    db.receive(engine, oct_, {"day.05.in": unsure("07:45")})
    october = db.field_item(engine, oct_, "day.05.in").id
    later = utcnow() + dt.timedelta(hours=1)
    assert claim_items(engine, reviewer="a", limit=1, now=later) == [october]
    assert lapsed != october


@pytest.mark.parametrize(
    "issued_backend",
    [
        pytest.param("sqlite"),
        pytest.param(
            "postgres",
            marks=[pytest.mark.postgres],
        ),
    ],
    indirect=True,
)
def test_a_reviewer_gets_their_own_claims_back_first(any_engine: Engine) -> None:
    """GIVEN four open items and reviewer A holding the first two
    WHEN A claims two items again (a page reload)
    THEN A gets the same two back and holds no more than two."""
    engine = any_engine
    serial = nov_serial(engine)
    db.receive(engine, serial, {f"day.0{d}.in": unsure("07:45") for d in (2, 3, 4, 5)})
    first = claim_items(engine, reviewer="a", limit=2)
    assert claim_items(engine, reviewer="a", limit=2) == first
    assert len(db.items(engine, serial, claimed_by="a")) == 2


# --- conflicts and the audit trail ----------------------------------------------------------------


def test_the_second_of_two_reviewers_saving_one_field_does_not_overwrite_the_first(
    engine: Engine,
) -> None:
    """GIVEN two reviewers looking at the same unsure field (both see version 1)
    WHEN the first saves 07:50 and then the second saves 08:10 with version 1
    THEN the second is refused, no event is written for it, and 07:50 stands."""
    serial = nov_serial(engine)
    db.receive(engine, serial, {"day.03.in": unsure("07:45")})
    [item] = open_items(engine, serial)
    seen_a, seen_b = describe(engine, item.id or 0), describe(engine, item.id or 0)
    assert seen_a.version == seen_b.version == 1

    correct_item(engine, seen_a.id, "07:50", reviewer="a", version=seen_a.version)
    # The item is done once the first decided: the second gets "already done" before the
    # version check is reached (see the report: VersionConflict is not what the UI sees here).
    with pytest.raises(NotAllowed, match="already done"):
        correct_item(engine, seen_b.id, "08:10", reviewer="b", version=seen_b.version)

    reading = db.readings(engine, serial)["day.03.in"]
    assert (reading.final_value, reading.reviewed_by, reading.version) == ("07:50", "a", 2)
    assert [e.actor for e in db.events(engine, entity="field")] == ["a"]


def test_a_stale_version_is_a_conflict_that_changes_nothing(engine: Engine) -> None:
    """GIVEN an open field item whose reading another writer moved to version 2 (07:55)
    WHEN a reviewer saves with the version 1 they saw
    THEN VersionConflict: no event, the other value stands, the item stays open."""
    serial = nov_serial(engine)
    db.receive(engine, serial, {"day.03.in": unsure("07:45")})
    [item] = open_items(engine, serial)
    reading_id = item.reading_id
    with session_scope(engine) as session:
        session.execute(
            update(FieldReading)
            .where(col(FieldReading.id) == reading_id)
            .values(final_value="07:55", reviewed=True, reviewed_by="other", version=2)
        )

    with pytest.raises(VersionConflict):
        correct_item(engine, item.id or 0, "08:10", reviewer="b", version=1)
    with pytest.raises(VersionConflict):
        accept_item(engine, item.id or 0, reviewer="b", version=1)

    reading = db.readings(engine, serial)["day.03.in"]
    assert (reading.final_value, reading.version) == ("07:55", 2)
    assert db.events(engine, entity="field") == []
    assert [i.state for i in db.items(engine, serial)] == ["open"]
    # With the version it now has, the decision goes through.
    correct_item(engine, item.id or 0, "08:10", reviewer="b", version=2)
    assert db.readings(engine, serial)["day.03.in"].version == 3


def test_a_red_flag_is_accepted_only_with_a_reason_and_machine_values_are_never_touched(
    engine: Engine,
) -> None:
    """GIVEN a sheet without the provider's signature (red) and three unsure times
    WHEN the reviewer accepts the flag without a reason, then with one, and corrects the times
    THEN the first is refused; the second writes a flag event and verifies the sheet once the
    fields are done; no machine value or confidence ever changes."""
    serial = nov_serial(engine)
    db.receive(
        engine,
        serial,
        {
            "signature.provider": sure(None),
            "day.02.in": unsure("07:45"),
            "day.03.in": unsure("07:45"),
            "day.04.out": unsure(None),
        },
    )
    machine = {n: (r.machine_value, r.confidence) for n, r in db.readings(engine, serial).items()}
    flag_item = db.flag_item(engine, serial, "provider_signature_missing").id or 0

    for reason in (None, "", "   "):
        with pytest.raises(NotAllowed, match="needs a reason"):
            accept_item(engine, flag_item, reviewer="rev", reason=reason)
    assert db.events(engine, entity="flag") == []
    with pytest.raises(NotAllowed):
        correct_item(engine, flag_item, "signed", reviewer="rev")

    decision = accept_item(engine, flag_item, reviewer="rev", reason="provider called: signed copy")
    assert (decision.resolution, decision.sheet_status) == ("accepted", "in_review")
    [event] = db.events(engine, entity="flag")
    assert (event.actor, event.action) == ("rev", "accepted")
    assert event.entity_id == f"{serial}/provider_signature_missing"
    assert json.loads(event.after_json or "") == {
        "state": "accepted",
        "reason": "provider called: signed copy",
        "item": flag_item,
    }
    [flag] = db.flags(engine, serial, code="provider_signature_missing")
    assert (flag.state, flag.resolved_by, flag.note) == (
        "accepted",
        "rev",
        "provider called: signed copy",
    )

    correct_item(
        engine, db.field_item(engine, serial, "day.02.in").id or 0, "08:00", reviewer="rev"
    )
    accept_item(engine, db.field_item(engine, serial, "day.03.in").id or 0, reviewer="rev")
    last = correct_item(
        engine, db.field_item(engine, serial, "day.04.out").id or 0, "17:15", reviewer="rev"
    )
    assert last.sheet_status == "verified"
    # The accepted flag stays accepted while its facts do not change.
    assert db.flags(engine, serial, code="provider_signature_missing")[0].state == "accepted"
    after = {n: (r.machine_value, r.confidence) for n, r in db.readings(engine, serial).items()}
    assert after == machine
    finals = {n: r.final_value for n, r in db.readings(engine, serial).items() if r.reviewed}
    assert finals == {"day.02.in": "08:00", "day.03.in": "07:45", "day.04.out": "17:15"}


# --- the QA sample --------------------------------------------------------------------------------


def test_qa_sampled_is_a_reproducible_draw_at_the_rate() -> None:
    names = [f"day.{d:02d}.absence.x{i}" for d in range(1, 32) for i in range(300)]
    for rate in (0.02, 0.5):
        drawn = [qa_sampled("a" * 64, 1, n, rate) for n in names]
        assert drawn == [qa_sampled("a" * 64, 1, n, rate) for n in names]
        assert abs(sum(drawn) / len(names) - rate) < 0.01
    other_file = [qa_sampled("b" * 64, 1, n, 0.5) for n in names]
    assert other_file != [qa_sampled("a" * 64, 1, n, 0.5) for n in names]
    assert not any(qa_sampled("a" * 64, 1, n, 0.0) for n in names)
    assert all(qa_sampled("a" * 64, 1, n, 1.0) for n in names)


def test_the_qa_sample_measures_the_machine_error_per_kind(engine: Engine) -> None:
    """GIVEN a QA sample rate of 0.5 (and a batch cap that does not bind) and a sheet with one
    unsure time
    WHEN intake records it
    THEN about half of the confident time and signature fields, exactly those `qa_sampled`
    draws for the file, get a qa_sample item; no absence mark is sampled (the unsure time is
    a field item)
    AND WHEN a reviewer corrects one sampled time to another value, accepts another sampled
    time, confirms a third by typing the machine's value, and accepts a sampled signature
    THEN machine_was_wrong is True, False, False, False and the QA report counts them."""
    db.set_config(engine, qa_sample_rate=0.5, qa_batch_cap=1000)
    serial = nov_serial(engine)
    sha = db.receive(engine, serial, {"day.02.in": unsure("07:45")})

    readings = db.readings(engine, serial)
    expected = {
        name
        for name, r in readings.items()
        if not r.needs_review and r.kind in QA_KINDS and qa_sampled(sha, 1, name, 0.5)
    }
    qa_items = db.items(engine, serial, kind="qa_sample")
    by_reading = {r.id: name for name, r in readings.items()}
    assert {by_reading[i.reading_id] for i in qa_items} == expected
    eligible = sum(1 for r in readings.values() if r.kind in QA_KINDS) - 1
    assert 0.35 < len(qa_items) / eligible < 0.65
    assert {i.field_kind for i in qa_items} <= {"time", "signature"}
    assert [by_reading[i.reading_id] for i in db.items(engine, serial, kind="field")] == [
        "day.02.in"
    ]
    assert db.sheet(engine, serial).status == "in_review"

    def sampled(kind: str, *, written: bool) -> list[ReviewItem]:
        return [
            i for i in qa_items if i.field_kind == kind and (i.machine_value is not None) == written
        ]

    times = [i for i in sampled("time", written=True) if by_reading[i.reading_id].endswith(".in")]
    wrong, right, retyped = times[:3]
    signatures = sampled("signature", written=True)
    if not signatures:  # the draw for this file holds no signature: sample one more time
        signatures = [t for t in sampled("time", written=True) if t not in (wrong, right, retyped)]
    other = signatures[0]
    correct_item(engine, wrong.id or 0, "07:50", reviewer="qa")
    accept_item(engine, right.id or 0, reviewer="qa")
    correct_item(engine, retyped.id or 0, retyped.machine_value or "", reviewer="qa")
    accept_item(engine, other.id or 0, reviewer="qa")

    with Session(engine) as session:
        was_wrong = {
            i.id: i.machine_was_wrong
            for i in session.exec(select(ReviewItem).where(ReviewItem.kind == "qa_sample"))
        }
        report = qa_report(session)
    assert [was_wrong[i.id] for i in (wrong, right, retyped, other)] == [True, False, False, False]
    assert sum(1 for v in was_wrong.values() if v is not None) == 4

    assert report["sample_rate"] == 0.5
    assert report["sampled"] == len(qa_items)
    assert (report["reviewed"], report["wrong"]) == (4, 1)
    assert report["error_rate"] == pytest.approx(0.25)
    low, high = report["error_95"]
    assert 0.0 < low < 0.25 < high < 1.0
    time_report = report["by_kind"]["time"]
    assert time_report["sampled"] == len(sampled("time", written=True)) + len(
        sampled("time", written=False)
    )
    assert time_report["wrong"] == 1
    assert "mark" not in report["by_kind"]


def test_the_qa_sample_keeps_to_its_budget_per_batch(engine: Engine) -> None:
    """GIVEN a QA sample rate of 0.5 and a cap of 12 samples a batch
    WHEN two sheets are taken in the same day by `attend intake run` (one batch a day)
    THEN the first sheet opens 12 samples, its lowest draws, and the second none; the next
    day is another batch with its own budget."""
    db.set_config(engine, qa_sample_rate=0.5, qa_batch_cap=12)
    first, second = nov_serial(engine), db.serial_of(engine, "C-1002", NOV)
    day = dt.datetime(2026, 12, 2, 18, 0, tzinfo=dt.UTC)
    sha = db.receive(engine, first, received_at=day)
    db.receive(engine, second, received_at=day + dt.timedelta(hours=1))
    assert len(db.items(engine, first, kind="qa_sample")) == 12
    assert db.items(engine, second, kind="qa_sample") == []
    readings = db.readings(engine, first)
    draws = sorted(
        (qa_draw(sha, 1, name), name)
        for name, r in readings.items()
        if r.kind in QA_KINDS and qa_draw(sha, 1, name) < 0.5
    )
    by_reading = {r.id: name for name, r in readings.items()}
    sampled = {by_reading[i.reading_id] for i in db.items(engine, first, kind="qa_sample")}
    assert sampled == {name for _, name in draws[:12]}
    third = nov_serial(engine, "C-1003")
    db.receive(engine, third, received_at=day + dt.timedelta(days=1))
    assert len(db.items(engine, third, kind="qa_sample")) == 12


# --- training crops -------------------------------------------------------------------------------


def _crops(engine: Engine, serial: str) -> dict[str, list[TrainingCrop]]:
    readings = {r.id: name for name, r in db.readings(engine, serial).items()}
    found: dict[str, list[TrainingCrop]] = {}
    with Session(engine) as session:
        for crop in session.exec(select(TrainingCrop).order_by(col(TrainingCrop.cell))).all():
            found.setdefault(readings[crop.reading_id], []).append(crop)
    return found


def test_verified_times_keep_their_digit_cells_as_training_crops(
    engine: Engine, tmp_path: Path
) -> None:
    """GIVEN a sheet with its canonical image stored and four unsure times
    WHEN the reviewer corrects one to 17:30 and one to 10:15, accepts 07:45 as read, and
    corrects one to blank
    THEN the verified digit cells are kept with labels from the verified value (12-hour
    digits; the first cell only for hours 10-12), the reading's model version and the
    reviewer; the cells are the canonical image's pixels; nothing else is kept."""
    serial = nov_serial(engine)
    canon = db.write_canon(tmp_path / "canon.png", serial, NOV)
    db.receive(
        engine,
        serial,
        {
            "day.02.out": unsure("17:00"),
            "day.03.in": unsure("07:45"),
            "day.04.in": unsure("07:45"),
            "day.05.out": unsure("17:00"),
        },
        canon=canon,
    )
    correct_item(engine, db.field_item(engine, serial, "day.02.out").id or 0, "17:30", reviewer="r")
    correct_item(engine, db.field_item(engine, serial, "day.03.in").id or 0, "10:15", reviewer="r")
    accept_item(engine, db.field_item(engine, serial, "day.04.in").id or 0, reviewer="r")
    correct_item(engine, db.field_item(engine, serial, "day.05.out").id or 0, "blank", reviewer="r")

    crops = _crops(engine, serial)
    labels = {name: [(c.cell, c.label) for c in rows] for name, rows in crops.items()}
    assert labels == {
        "day.02.out": [(1, "5"), (2, "3"), (3, "0")],
        "day.03.in": [(0, "1"), (1, "0"), (2, "1"), (3, "5")],
        "day.04.in": [(1, "7"), (2, "4"), (3, "5")],
    }
    assert {(c.model_version, c.verified_by) for rows in crops.values() for c in rows} == {
        ("test", "r")
    }
    layout = build_layout(serial, dt.date(2026, 11, 1), form=CURRENT_FORM)
    field = layout.field("day.03.in")
    assert isinstance(field, TimeField)
    cells = digit_cells(load_canon(str(canon)), field)
    for crop in crops["day.03.in"]:
        image = cv2.imdecode(np.frombuffer(crop.png, np.uint8), cv2.IMREAD_GRAYSCALE)
        assert image is not None
        assert np.array_equal(image, cells[crop.cell])
        assert image.min() < 128  # the stroke drawn in the cell, not blank paper


def test_no_training_crops_without_a_canonical_image_or_from_unverified_fields(
    engine: Engine, tmp_path: Path
) -> None:
    serial = nov_serial(engine)
    db.receive(engine, serial, {"day.03.in": unsure("07:45")})  # no canonical image stored
    correct_item(engine, db.field_item(engine, serial, "day.03.in").id or 0, "10:15", reviewer="r")
    other = nov_serial(engine, "C-2001")  # Mon-Thu 06:30-15:00
    canon = db.write_canon(tmp_path / "canon.png", other, NOV)
    db.receive(engine, other, {"day.02.in": unsure("06:45")}, canon=canon)  # left open
    with Session(engine) as session:
        assert session.exec(select(TrainingCrop)).all() == []


# --- absence counts across months -----------------------------------------------------------------


def test_absence_limits_count_the_fiscal_year_across_stored_months(
    issued_cli: Cli, engine: Engine
) -> None:
    """GIVEN a best-interest limit of 2 a fiscal year and C-1002 (Mon, Wed 08:00-12:00; Fri
    13:00-18:00, Sep 2026 - Aug 2027)
    WHEN October 2026 has 2 best-interest days, then November 1 more, then July 2027 1
    THEN November's day is over the limit (3 of 2), October's and July's (a new fiscal year)
    are not."""
    db.set_config(engine, absence_limits={"best_interest": 2})
    issued_cli.ok("sheets", "issue", "--month", OCT)
    issued_cli.ok("sheets", "issue", "--month", "2027-07")
    october = db.serial_of(engine, "C-1002", OCT)
    november = db.serial_of(engine, "C-1002", NOV)
    july = db.serial_of(engine, "C-1002", "2027-07")

    db.receive(engine, october, {**db.absent("05"), **db.absent("07")})  # Mon, Wed
    assert db.flags(engine, october) == []
    assert db.sheet(engine, october).status == "verified"
    db.receive(engine, november, db.absent("02"))  # Mon
    [flag] = db.flags(engine, november)
    assert (flag.code, flag.day, flag.state) == ("absence_limit_exceeded", "2026-11-02", "open")
    assert "3 of 2" in flag.message
    assert db.flag_item(engine, november, "absence_limit_exceeded", "2026-11-02").state == "open"
    assert db.sheet(engine, november).status == "in_review"
    db.receive(engine, july, db.absent("05"))  # Mon Jul 5 2027: fiscal year 2027-28
    assert db.flags(engine, july) == []
    assert db.sheet(engine, july).status == "verified"


def test_receiving_an_earlier_month_later_reevaluates_the_later_sheets(
    issued_cli: Cli, engine: Engine
) -> None:
    """GIVEN November (1 best-interest day, limit 2) received and verified
    WHEN October with 2 best-interest days arrives after it
    THEN November is evaluated again in the same receipt: flagged and back in review."""
    db.set_config(engine, absence_limits={"best_interest": 2})
    issued_cli.ok("sheets", "issue", "--month", OCT)
    november = db.serial_of(engine, "C-1002", NOV)
    db.receive(engine, november, db.absent("02"))
    assert db.flags(engine, november) == []
    assert db.sheet(engine, november).status == "verified"

    db.receive(engine, db.serial_of(engine, "C-1002", OCT), {**db.absent("05"), **db.absent("07")})

    assert [(f.code, f.day) for f in db.flags(engine, november)] == [
        ("absence_limit_exceeded", "2026-11-02")
    ]
    assert db.sheet(engine, november).status == "in_review"
    assert db.status_moves(engine, november)[-1] == ("verified", "in_review")


def test_correcting_an_earlier_month_clears_the_later_months_flag(
    issued_cli: Cli, engine: Engine
) -> None:
    """GIVEN October (2 best-interest days, one of them an unsure mark) and November (1 more)
    WHEN the reviewer says October's unsure mark is blank
    THEN November is under the limit again: its flag is cleared and the sheet verified."""
    db.set_config(engine, absence_limits={"best_interest": 2})
    issued_cli.ok("sheets", "issue", "--month", OCT)
    october = db.serial_of(engine, "C-1002", OCT)
    november = db.serial_of(engine, "C-1002", NOV)
    unsure_mark = {**db.absent("07"), "day.07.absence.best_interest": unsure("marked")}
    db.receive(engine, october, {**db.absent("05"), **unsure_mark})
    db.receive(engine, november, db.absent("02"))
    assert db.flags(engine, november)[0].state == "open"

    # Blank, the day is an authorized day without a reason or times: October gets its own flag.
    item = db.field_item(engine, october, "day.07.absence.best_interest")
    correct_item(engine, item.id or 0, "blank", reviewer="rev")

    assert [f.state for f in db.flags(engine, november)] == ["cleared"]
    assert db.sheet(engine, november).status == "verified"
    october_flags = {(f.code, f.day) for f in db.flags(engine, october, state="open")}
    assert ("absence_without_reason", "2026-10-07") in october_flags


def test_voiding_an_earlier_month_reevaluates_the_later_sheets(
    issued_cli: Cli, engine: Engine
) -> None:
    """GIVEN October (2 best-interest days) and November (1 more: over the limit of 2)
    WHEN October is voided (issued in error)
    THEN November's absences are within the limit again: its flag is cleared."""
    db.set_config(engine, absence_limits={"best_interest": 2})
    issued_cli.ok("sheets", "issue", "--month", OCT)
    october = db.serial_of(engine, "C-1002", OCT)
    november = db.serial_of(engine, "C-1002", NOV)
    db.receive(engine, october, {**db.absent("05"), **db.absent("07")})
    db.receive(engine, november, db.absent("02"))
    assert db.flags(engine, november)[0].state == "open"

    with session_scope(engine) as session:
        sheet = session.exec(select(Sheet).where(Sheet.serial == october)).one()
        sheet_actions.void_sheet(session, sheet, actor="rev", reason="issued in error")

    assert [f.state for f in db.flags(engine, november)] == ["cleared"]
    assert db.sheet(engine, november).status == "verified"


# --- duplicates -----------------------------------------------------------------------------------


def test_a_second_scan_is_a_duplicate_or_a_conflict_and_the_first_stays_the_record(
    engine: Engine,
) -> None:
    """GIVEN a received, verified sheet
    WHEN the same sheet arrives in another file with the same content
    THEN a yellow duplicate_scan flag, no item, still verified
    AND WHEN a third file reads a time differently where the scan is sure (and another time
    differently where it is unsure)
    THEN a red duplicate_conflict flag with an item; the first scan stays the record."""
    serial = nov_serial(engine)
    first = db.receive(engine, serial)
    received_at = db.sheet(engine, serial).received_at

    second = db.receive(engine, serial, received_at=dt.datetime(2026, 12, 3, tzinfo=dt.UTC))
    assert [(f.code, f.severity) for f in db.flags(engine, serial)] == [
        ("duplicate_scan", "yellow")
    ]
    assert second[:12] in db.flags(engine, serial)[0].message
    assert db.items(engine, serial) == []
    assert db.sheet(engine, serial).status == "verified"
    with Session(engine) as session:
        pages = session.exec(select(ScannedPage).order_by(col(ScannedPage.id))).all()
        assert [(p.status, p.reason) for p in pages] == [
            ("identified", None),
            ("duplicate", "already_received"),
        ]

    db.receive(engine, serial, {"day.10.in": unsure("09:00")})  # unsure: not evidence
    assert [f.code for f in db.flags(engine, serial)] == ["duplicate_scan"]

    db.receive(engine, serial, {"day.02.in": sure("08:30")})
    found = {f.code: f for f in db.flags(engine, serial)}
    assert set(found) == {"duplicate_scan", "duplicate_conflict"}
    assert (found["duplicate_conflict"].severity, found["duplicate_conflict"].state) == (
        "red",
        "open",
    )
    [item] = open_items(engine, serial)
    assert item.finding_code == "duplicate_conflict"
    sheet = db.sheet(engine, serial)
    assert sheet.status == "in_review"
    assert (sheet.source_file_sha256, sheet.source_page) == (first, 1)
    assert sheet.received_at == received_at
    assert db.readings(engine, serial)["day.02.in"].machine_value == "07:45"
    assert len(db.events(engine, entity="sheet", entity_id=serial, action="duplicate_scan")) == 3


# --- returning, voiding, exporting ----------------------------------------------------------------


def _with_sheet(engine: Engine, serial: str, action: str, **kwargs: object) -> None:
    with session_scope(engine) as session:
        sheet = session.exec(select(Sheet).where(Sheet.serial == serial)).one()
        getattr(sheet_actions, action)(session, sheet, **kwargs)


def test_a_returned_sheet_closes_its_items_and_its_next_scan_becomes_the_record(
    engine: Engine,
) -> None:
    """GIVEN a sheet in review: the provider did not sign (red) and one time is unsure
    WHEN it is returned to the provider
    THEN it is returned, its items are closed as returned and the return is logged with its
    problems
    AND WHEN the provider's corrected sheet is scanned
    THEN that scan is the record: received again, verified (clean), the old flag cleared and
    the old items left closed."""
    serial = nov_serial(engine)
    first = db.receive(
        engine, serial, {"signature.provider": sure(None), "day.03.in": unsure("07:45")}
    )
    assert len(open_items(engine, serial)) == 2

    _with_sheet(engine, serial, "return_sheet", actor="rev", reason=None)

    assert db.sheet(engine, serial).status == "returned"
    old = db.items(engine, serial)
    assert [(i.state, i.resolution, i.resolved_by) for i in old] == [
        ("done", "returned", "rev")
    ] * 2
    assert db.status_moves(engine, serial)[-1] == ("in_review", "returned")
    [returned] = db.events(engine, entity="sheet", entity_id=serial, action="returned")
    assert json.loads(returned.after_json or "") == {
        "problems": ["provider_signature_missing"],
        "reason": None,
    }
    # Nothing more is done on a returned sheet until it comes back.
    with Session(engine) as session:
        sheet = session.exec(select(Sheet).where(Sheet.serial == serial)).one()
        assert findings.evaluate(session, sheet, actor="rev") == []

    again = dt.datetime(2026, 12, 4, 18, tzinfo=dt.UTC)
    second = db.receive(engine, serial, received_at=again)

    sheet = db.sheet(engine, serial)
    assert (sheet.status, sheet.source_file_sha256) == ("verified", second)
    assert second != first and sheet.received_at == again
    assert [(i.state, i.resolution) for i in db.items(engine, serial)] == [("done", "returned")] * 2
    [flag] = db.flags(engine, serial)
    assert (flag.code, flag.state) == ("provider_signature_missing", "cleared")
    receipts = db.events(engine, entity="sheet", entity_id=serial, action="received")
    assert [json.loads(e.before_json or "")["status"] for e in receipts] == ["issued", "returned"]
    assert db.status_moves(engine, serial)[-1] == ("received", "verified")


def test_a_new_scan_of_a_returned_sheet_supersedes_items_still_open(engine: Engine) -> None:
    """GIVEN a sheet moved to returned directly (its items left open)
    WHEN the provider's sheet is scanned again with a red problem of its own
    THEN the old items close as superseded and the new scan's problem gets its own item."""
    serial = nov_serial(engine)
    db.receive(engine, serial, {"day.03.in": unsure("07:45")})
    _with_sheet(engine, serial, "move_status", status=SheetStatus.RETURNED, actor="rev")
    [old] = open_items(engine, serial)

    db.receive(engine, serial, {"signature.parent": sure(None)})

    assert (db.items(engine, serial)[0].id, db.items(engine, serial)[0].resolution) == (
        old.id,
        "superseded",
    )
    [new] = open_items(engine, serial)
    assert new.finding_code == "parent_signature_missing"
    assert db.sheet(engine, serial).status == "in_review"


def test_returning_a_sheet_without_a_problem_needs_a_reason(engine: Engine) -> None:
    serial = nov_serial(engine)
    db.receive(engine, serial)
    with pytest.raises(NotAllowed):
        _with_sheet(engine, serial, "return_sheet", actor="rev", reason="  ")
    assert db.sheet(engine, serial).status == "verified"
    _with_sheet(engine, serial, "return_sheet", actor="rev", reason="wrong child's sheet")
    assert db.sheet(engine, serial).status == "returned"


def test_voiding_needs_a_reason_and_closes_the_items(engine: Engine) -> None:
    serial = nov_serial(engine)
    db.receive(engine, serial, {"day.03.in": unsure("07:45")})
    with pytest.raises(NotAllowed, match="reason"):
        _with_sheet(engine, serial, "void_sheet", actor="rev", reason=" ")
    assert db.sheet(engine, serial).status == "in_review"
    assert len(open_items(engine, serial)) == 1

    _with_sheet(engine, serial, "void_sheet", actor="rev", reason="issued in error")

    assert db.sheet(engine, serial).status == "void"
    assert [(i.state, i.resolution) for i in db.items(engine, serial)] == [("done", "voided")]
    [move] = db.events(engine, entity="sheet", entity_id=serial, action="status")[-1:]
    assert json.loads(move.after_json or "") == {"status": "void", "reason": "issued in error"}
    with pytest.raises(NotAllowed):
        _with_sheet(engine, serial, "move_status", status=SheetStatus.RECEIVED, actor="rev")


def test_an_exported_sheet_cannot_move_back(engine: Engine) -> None:
    serial = nov_serial(engine)
    in_review = nov_serial(engine, "C-1002")
    db.receive(engine, serial)
    db.receive(engine, in_review, {"day.02.in": unsure("08:15")})
    with session_scope(engine) as session:
        sheets = session.exec(select(Sheet).where(col(Sheet.serial).in_([serial, in_review]))).all()
        assert sheet_actions.mark_exported(session, sheets, actor="export") == 1
    assert db.sheet(engine, serial).status == "exported"
    assert db.sheet(engine, in_review).status == "in_review"
    events_before = len(db.events(engine))

    for target in (SheetStatus.RECEIVED, SheetStatus.IN_REVIEW, SheetStatus.VOID):
        with pytest.raises(NotAllowed, match="cannot become"):
            _with_sheet(engine, serial, "move_status", status=target, actor="rev")
    assert db.sheet(engine, serial).status == "exported"
    assert len(db.events(engine)) == events_before


# --- a page that could not be registered ----------------------------------------------------------


def test_a_page_that_did_not_register_is_keyed_by_the_reviewer(engine: Engine) -> None:
    """GIVEN a sheet whose page could not be registered (no readings): an unregistered_page
    item, and page_not_read reported
    WHEN the reviewer keys Nov 2's times and the parent's signature
    THEN every field is stored with no machine value (given ones as final values, the rest
    blank), the page event is written, and the rules run on the keyed values."""
    serial = nov_serial(engine)
    db.receive(engine, serial, read=False, review_reason="too_few_fiducials")
    [item] = open_items(engine, serial)
    assert (item.kind, item.priority, item.reading_id) == ("unregistered_page", 0.0, None)
    assert [(f.code, f.severity) for f in db.flags(engine, serial)] == [("page_not_read", "red")]
    assert db.sheet(engine, serial).status == "in_review"
    assert db.readings(engine, serial) == {}
    item_id = item.id or 0
    with pytest.raises(NotAllowed):
        accept_item(engine, item_id, reviewer="rev")
    with pytest.raises(NotAllowed):
        correct_item(engine, item_id, "07:45", reviewer="rev")
    with pytest.raises(InvalidValue, match="no field"):
        correct_page(engine, item_id, {"day.31.in": "07:45"}, reviewer="rev")  # 30 days
    with pytest.raises(InvalidValue):
        correct_page(engine, item_id, {"day.02.in": "25:00"}, reviewer="rev")
    assert db.readings(engine, serial) == {}

    decision = correct_page(
        engine,
        item_id,
        {"day.02.in": "7:45", "day.02.out": "5:00 pm", "signature.parent": "signed"},
        reviewer="rev",
        reason="keyed from the image",
    )

    assert decision == Decision(item_id, "keyed", "in_review")
    readings = db.readings(engine, serial)
    assert len(readings) == NOV_FIELDS
    assert all(r.machine_value is None and r.reviewed for r in readings.values())
    assert {r.reason for r in readings.values()} == {"keyed"}
    finals = {n: r.final_value for n, r in readings.items() if r.final_value is not None}
    assert finals == {"day.02.in": "07:45", "day.02.out": "17:00", "signature.parent": "signed"}
    assert (readings["day.02.in"].kind, readings["signature.parent"].kind) == ("time", "signature")
    assert readings["family_fee.paid"].kind == "mark"
    [keyed] = db.events(engine, entity="page", action="keyed")
    after = json.loads(keyed.after_json or "")
    assert after["fields"]["day.02.out"] == "17:00" and after["item"] == item_id
    flags = {(f.code, f.day): f.state for f in db.flags(engine, serial)}
    assert flags[("page_not_read", "")] == "cleared"
    assert flags[("provider_signature_missing", "")] == "open"
    assert flags[("absence_without_reason", "2026-11-03")] == "open"
    assert ("absence_without_reason", "2026-11-02") not in flags
    assert ("parent_signature_missing", "") not in flags
    assert db.items(engine, serial)[0].resolution == "keyed"
    with pytest.raises(NotAllowed):
        correct_page(engine, item_id, {}, reviewer="rev")


# --- typed values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("time", "7:30", "07:30"),
        ("time", "07:30", "07:30"),
        ("time", "0730", "07:30"),
        ("time", "730", "07:30"),
        ("time", "19:30", "19:30"),
        ("time", " 7:30 pm ", "19:30"),
        ("time", "7:30PM", "19:30"),
        ("time", "7:30 p", "19:30"),
        ("time", "12:05am", "00:05"),
        ("time", "12:00 pm", "12:00"),
        ("time", "11:59 a", "11:59"),
        ("time", "0:00", "00:00"),
        ("time", "23:59", "23:59"),
        ("time", "blank", None),
        ("time", "", None),
        ("time", "-", None),
        ("mark", "x", "marked"),
        ("mark", "X", "marked"),
        ("mark", "marked", "marked"),
        ("mark", "blank", None),
        ("mark", "none", None),
        ("signature", "signed", "signed"),
        ("signature", "yes", "signed"),
        ("signature", "unsigned", None),
        ("signature", "blank", None),
    ],
)
def test_typed_values_are_normalized(kind: str, text: str, expected: str | None) -> None:
    assert normalize_value(kind, text) == expected


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("time", "25:00"),
        ("time", "24:00"),
        ("time", "12:60"),
        ("time", "13:00 pm"),
        ("time", "0:30 am"),
        ("time", "7"),
        ("time", "07:30:00"),
        ("time", "half past seven"),
        ("mark", "maybe"),
        ("signature", "x?"),
        ("date", "11/02/26"),
    ],
)
def test_typed_values_that_are_not_values_are_refused(kind: str, text: str) -> None:
    with pytest.raises(InvalidValue):
        normalize_value(kind, text)


@pytest.mark.parametrize("text", ["10:5", "1:230", "1:2:3"])
def test_a_time_with_a_misplaced_colon_is_refused(text: str) -> None:
    with pytest.raises(InvalidValue):
        normalize_value("time", text)
