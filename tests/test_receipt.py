"""The receipt (`attendance.receipt`) and the sheet's state machine (`attendance.lifecycle`):
a sheet is received once, whatever two workers do at the same moment, and its status moves
only along the flow's paths, each move an event."""

from __future__ import annotations

import ast
import hashlib
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from attendance import lifecycle
from attendance.db import session_scope
from attendance.errors import NotAllowed
from attendance.models import (
    FileStatus,
    PageStatus,
    ScannedFile,
    ScannedPage,
    Sheet,
    SheetStatus,
)
from attendance.receipt import PageRecord, record_pages
from forms.layout import FORM_V1
from tests import sheetdb as db
from tests.conftest import MONTH, Cli

REPO = Path(__file__).resolve().parent.parent


def _file(session: Session, name: str) -> ScannedFile:
    sha = hashlib.sha256(name.encode()).hexdigest()
    row = ScannedFile(
        sha256=sha, original_name=name, size_bytes=1, status=FileStatus.PROCESSED.value
    )
    session.add(row)
    session.flush()
    return row


def _page(serial: str) -> PageRecord:
    return PageRecord(
        number=1,
        serial=serial,
        form=FORM_V1,
        rotation=0,
        barcode_method="test",
        reason=None,
        preview=None,
        review_reason="not_registered",  # no readings: the receipt itself is what is tested
    )


def _record_slowly(
    engine: Engine, serial: str, name: str, hold_s: float, out: dict[str, str]
) -> None:
    with session_scope(engine) as session:
        [outcome] = record_pages(
            session,
            _file(session, name),
            [_page(serial)],
            actor=name,
            received_at=db.default_received(MONTH),
            model_version=None,
        )
        out[name] = outcome.status
        time.sleep(hold_s)  # the transaction stays open: a second receipt must wait for it


def test_two_scans_of_one_sheet_at_once_receive_it_once(issued_backend: Cli) -> None:
    """GIVEN an issued sheet and two workers each recording a different scan of it
    WHEN the second starts while the first's transaction is still open
    THEN the second waits for the first, and finds the sheet received: one receipt, one
    duplicate, one record page, one `received` event (on SQLite and on PostgreSQL)."""
    engine = db.engine_for(issued_backend)
    serial = db.serial_of(engine, "C-1001", MONTH)
    outcomes: dict[str, str] = {}
    first = threading.Thread(target=_record_slowly, args=(engine, serial, "a", 1.0, outcomes))
    first.start()
    while "a" not in outcomes:  # the first holds its lock (and has not committed)
        time.sleep(0.01)
    started = time.perf_counter()
    _record_slowly(engine, serial, "b", 0.0, outcomes)
    waited = time.perf_counter() - started
    first.join()

    assert outcomes == {"a": PageStatus.IDENTIFIED.value, "b": PageStatus.DUPLICATE.value}
    assert waited > 0.5, "the second receipt did not wait for the first"
    with Session(engine) as session:
        sheet = session.exec(select(Sheet).where(Sheet.serial == serial)).one()
        records = session.exec(
            select(ScannedPage).where(ScannedPage.sheet_id == sheet.id, ScannedPage.is_record)
        ).all()
    assert sheet.status != SheetStatus.ISSUED.value
    assert len(records) == 1
    assert len(db.events(engine, entity="sheet", entity_id=serial, action="received")) == 1


def test_the_database_refuses_a_second_record_page(issued_backend: Cli) -> None:
    """GIVEN a received sheet
    WHEN something writes a second page marked as its record, bypassing the receipt
    THEN the database refuses it (uq_one_record_page_per_sheet) and nothing is written."""
    engine = db.engine_for(issued_backend)
    serial = db.serial_of(engine, "C-1001", MONTH)
    db.receive(engine, serial)
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        sheet = session.exec(select(Sheet).where(Sheet.serial == serial)).one()
        session.add(
            ScannedPage(
                file_id=_file(session, "rogue").id or 0,
                page_number=1,
                status=PageStatus.IDENTIFIED.value,
                sheet_id=sheet.id,
                is_record=True,
            )
        )
    with Session(engine) as session:
        assert (
            session.exec(select(ScannedFile).where(ScannedFile.original_name == "rogue")).all()
            == []
        )


@pytest.mark.parametrize("start", [s.value for s in SheetStatus])
def test_every_status_move_goes_along_the_flow(issued_cli: Cli, start: str) -> None:
    """GIVEN a sheet in each status
    WHEN it is moved to every other status, and received
    THEN the moves the flow has happen with an event each; every other move is refused with
    nothing changed."""
    engine = db.engine_for(issued_cli)
    serial = db.serial_of(engine, "C-1001", MONTH)
    for target in SheetStatus:
        with session_scope(engine) as session:
            sheet = session.exec(select(Sheet).where(Sheet.serial == serial)).one()
            sheet.status = start  # the test's own set-up, outside the flow on purpose
            session.add(sheet)
        events_before = len(db.events(engine, entity="sheet", entity_id=serial))
        allowed = target.value == start or target.value in lifecycle.TRANSITIONS[start]
        with session_scope(engine) as session:
            sheet = session.exec(select(Sheet).where(Sheet.serial == serial)).one()
            if allowed:
                lifecycle.move_status(session, sheet, target, actor="t")
            else:
                with pytest.raises(NotAllowed):
                    lifecycle.move_status(session, sheet, target, actor="t")
        after = db.sheet(engine, serial).status
        moved = len(db.events(engine, entity="sheet", entity_id=serial)) - events_before
        assert after == (target.value if allowed else start)
        assert moved == (1 if allowed and target.value != start else 0)
    with session_scope(engine) as session:
        sheet = session.exec(select(Sheet).where(Sheet.serial == serial)).one()
        sheet.status = start
        session.add(sheet)
    receivable = start in (SheetStatus.ISSUED.value, SheetStatus.RETURNED.value)
    with session_scope(engine) as session:
        sheet = session.exec(select(Sheet).where(Sheet.serial == serial)).one()
        if receivable:
            lifecycle.receive(
                session, sheet, actor="t", received_at=db.default_received(MONTH),
                file_sha256="ab" * 32, page=1,
            )  # fmt: skip
        else:
            with pytest.raises(NotAllowed):
                lifecycle.receive(
                    session, sheet, actor="t", received_at=db.default_received(MONTH),
                    file_sha256="ab" * 32, page=1,
                )  # fmt: skip
    assert db.sheet(engine, serial).status == ("received" if receivable else start)


def test_only_the_state_machine_writes_a_sheet_status() -> None:
    """No module but attendance/lifecycle.py assigns a sheet's status (issuing creates
    sheets as issued), so every change is checked against the flow and logged."""
    offenders = []
    for package in ("attendance", "intake", "review_ui", "cli", "scanner", "forms"):
        for path in sorted((REPO / package).rglob("*.py")):
            if path.name == "lifecycle.py" or "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                targets = node.targets if isinstance(node, ast.Assign) else []
                for target in targets:
                    if (
                        isinstance(target, ast.Attribute)
                        and target.attr == "status"
                        and isinstance(target.value, ast.Name)
                        and target.value.id == "sheet"
                    ):
                        offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []
