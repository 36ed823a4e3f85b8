"""Sheets put in the database by the real intake path (`attendance.receipt.record_pages`), with
field readings written by hand instead of read from a scan: the review tests' raw material."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from attendance import findings, sheets
from attendance.agency import AgencyConfig
from attendance.db import make_engine, session_scope
from attendance.models import (
    Certificate,
    Event,
    FieldReading,
    FileStatus,
    ReviewItem,
    ScannedFile,
    Sheet,
    SheetFlag,
)
from attendance.months import parse_month
from attendance.receipt import PageRecord, record_pages
from attendance.schedule import Schedule
from forms.canon import canon_shape, canon_slice
from forms.layout import (
    CURRENT_FORM,
    Layout,
    MarkField,
    SignatureField,
    TimeField,
    build_layout,
)
from scanner.readings import FieldReading as MachineReading
from tests.conftest import Cli

# field name -> (value, confidence, needs_review)
Override = tuple[str | None, float, bool]

_files = itertools.count(1)


def engine_for(cli: Cli) -> Engine:
    return make_engine(cli.database_url or f"sqlite:///{cli.home / 'attend.sqlite3'}")


@contextmanager
def configured_engine(cli: Cli) -> Iterator[Engine]:
    """`cli`'s database with the test agency settings (`set_config`), disposed of after."""
    engine = engine_for(cli)
    set_config(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def serial_of(engine: Engine, certificate_id: str, month: str) -> str:
    with Session(engine) as session:
        sheet = session.exec(
            select(Sheet).where(Sheet.certificate_id == certificate_id, Sheet.month == month)
        ).one()
    return sheet.serial


def set_config(engine: Engine, **settings: Any) -> AgencyConfig:
    """Store agency settings (QA sampling off unless given) through `findings.change_settings`."""
    config = AgencyConfig(**{"qa_sample_rate": 0.0, **settings})
    with session_scope(engine) as session:
        findings.change_settings(session, config, actor="t")
    return config


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def layout_of(engine: Engine, serial: str) -> Layout:
    """The layout `serial` was printed with (its own form revision and month)."""
    with Session(engine) as session:
        sheet = session.exec(select(Sheet).where(Sheet.serial == serial)).one()
        return build_layout(serial, parse_month(sheet.month), form=sheet.form_version)


def clean_readings(
    session: Session, serial: str, overrides: Mapping[str, Override] | None = None
) -> list[MachineReading]:
    """Every time, mark and signature field of the sheet, read with confidence 0.99: each
    authorized day of the certificate 15 minutes after its window opens to 30 minutes before
    it closes (C-1001: 07:45 - 17:00), nothing else written, both signatures signed; then
    `overrides` by field name."""
    sheet = session.exec(select(Sheet).where(Sheet.serial == serial)).one()
    certificate = session.get(Certificate, sheet.certificate_id)
    assert certificate is not None
    schedule = Schedule.from_json(certificate.schedule_json)
    layout = build_layout(serial, parse_month(sheet.month), form=sheet.form_version)
    overrides = dict(overrides or {})
    readings = []
    for field in layout.fields:
        value: str | None
        if isinstance(field, TimeField):
            kind, value = "time", None
            windows = schedule.days[field.date.weekday()]
            if windows and certificate.start_date <= field.date <= certificate.end_date:
                if field.name.endswith(".in"):
                    value = _hhmm(windows[0].start + 15)
                else:
                    value = _hhmm(windows[-1].end - 30)
        elif isinstance(field, MarkField):
            kind, value = "mark", None
        elif isinstance(field, SignatureField):
            kind, value = "signature", "signed"
        else:
            continue
        confidence, needs_review = 0.99, False
        if field.name in overrides:
            value, confidence, needs_review = overrides.pop(field.name)
        reason = "low_confidence" if needs_review else None
        readings.append(MachineReading(field.name, kind, value, confidence, needs_review, reason))
    assert not overrides, f"no such fields: {sorted(overrides)}"
    return readings


def absent(day: str, code: str = "best_interest") -> dict[str, Override]:
    """Overrides for an absence on `day` ("07"): the times blank, the reason marked."""
    return {
        f"day.{day}.in": (None, 0.99, False),
        f"day.{day}.out": (None, 0.99, False),
        f"day.{day}.absence.{code}": ("marked", 0.99, False),
    }


def default_received(month: str) -> dt.datetime:
    """The 2nd of the following month, 18:00 UTC: in time for any month's due date."""
    first = parse_month(month)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return dt.datetime(following.year, following.month, 2, 18, 0, tzinfo=dt.UTC)


def write_canon(path: Path, serial: str, month: str, form: str = CURRENT_FORM) -> Path:
    """A synthetic canonical image (200 dpi grey) with a dark stroke in every digit cell of
    the layout of `form` (issued sheets are in the current revision)."""
    image = np.full(canon_shape(), 255, dtype=np.uint8)
    for field in build_layout(serial, parse_month(month), form=form).fields:
        if isinstance(field, TimeField):
            for rect in field.cells:
                rows, cols = canon_slice(rect, inset_pt=4)
                image[rows, cols] = 40
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def receive(
    engine: Engine,
    serial: str,
    overrides: Mapping[str, Override] | None = None,
    *,
    received_at: dt.datetime | None = None,
    sha: str | None = None,
    canon: Path | None = None,
    review_reason: str | None = None,
    read: bool = True,
    actor: str = "intake",
) -> str:
    """Record one scanned file of one page of `serial` through `record_pages`; its sha256.

    `read=False` records a page that could not be registered (no readings, `review_reason`).
    """
    sha = sha or hashlib.sha256(f"test-file-{next(_files)}-{serial}".encode()).hexdigest()
    with session_scope(engine) as session:
        sheet = session.exec(select(Sheet).where(Sheet.serial == serial)).one()
        readings = tuple(clean_readings(session, serial, overrides)) if read else ()
        page = PageRecord(
            number=1,
            serial=serial,
            form=sheet.form_version,
            rotation=0,
            barcode_method="test",
            reason=None,
            preview=None,
            readings=readings,
            residual_pt=0.5 if read else None,
            review_reason=None if read else (review_reason or "too_few_fiducials"),
            canon=canon,
        )
        when = received_at or default_received(sheet.month)
        file_row = ScannedFile(
            sha256=sha,
            original_name=f"{sha[:8]}.pdf",
            size_bytes=1000,
            status=FileStatus.PROCESSED.value,
            received_at=when,
        )
        session.add(file_row)
        session.flush()
        record_pages(
            session,
            file_row,
            [page],
            actor=actor,
            received_at=when,
            model_version="test",
        )
    return sha


# --- looking at what is stored --------------------------------------------------------------------


def sheet(engine: Engine, serial: str) -> Sheet:
    with Session(engine) as session:
        return session.exec(select(Sheet).where(Sheet.serial == serial)).one()


def items(engine: Engine, serial: str, **where: Any) -> list[ReviewItem]:
    """The sheet's review items, oldest first, filtered by column values."""
    with Session(engine) as session:
        query = (
            select(ReviewItem)
            .join(Sheet, col(ReviewItem.sheet_id) == col(Sheet.id))
            .where(Sheet.serial == serial)
        )
        for name, value in where.items():
            query = query.where(getattr(ReviewItem, name) == value)
        return list(session.exec(query.order_by(col(ReviewItem.id))).all())


def field_item(engine: Engine, serial: str, field_name: str, kind: str = "field") -> ReviewItem:
    with Session(engine) as session:
        item = session.exec(
            select(ReviewItem)
            .join(FieldReading, col(ReviewItem.reading_id) == col(FieldReading.id))
            .join(Sheet, col(FieldReading.sheet_id) == col(Sheet.id))
            .where(
                Sheet.serial == serial,
                FieldReading.field_name == field_name,
                ReviewItem.kind == kind,
            )
            .order_by(col(ReviewItem.id).desc())
        ).first()
    assert item is not None, f"no {kind} item for {serial}/{field_name}"
    return item


def flags(engine: Engine, serial: str, **where: Any) -> list[SheetFlag]:
    with Session(engine) as session:
        query = (
            select(SheetFlag)
            .join(Sheet, col(SheetFlag.sheet_id) == col(Sheet.id))
            .where(Sheet.serial == serial)
        )
        for name, value in where.items():
            query = query.where(getattr(SheetFlag, name) == value)
        return list(session.exec(query.order_by(col(SheetFlag.id))).all())


def flag_item(engine: Engine, serial: str, code: str, day: str = "") -> ReviewItem:
    """The review item of the sheet's finding `code` (one per code on a sheet, its days
    inside); with `day`, that day must be one of its flags."""
    with Session(engine) as session:
        item = session.exec(
            select(ReviewItem)
            .join(Sheet, col(ReviewItem.sheet_id) == col(Sheet.id))
            .where(Sheet.serial == serial, ReviewItem.finding_code == code)
        ).first()
        days = {
            f.day
            for f in session.exec(
                select(SheetFlag)
                .join(Sheet, col(SheetFlag.sheet_id) == col(Sheet.id))
                .where(Sheet.serial == serial, SheetFlag.code == code)
            ).all()
        }
    assert item is not None, f"no item for finding {code} on {serial}"
    assert day in days, f"finding {code} on {serial} has no flag on {day!r}"
    return item


def readings(engine: Engine, serial: str, *, source_only: bool = True) -> dict[str, FieldReading]:
    """The sheet's readings by field name (of its record page unless `source_only` is off)."""
    with Session(engine) as session:
        row = session.exec(select(Sheet).where(Sheet.serial == serial)).one()
        page = sheets.source_page(session, row) if source_only else None
        query = select(FieldReading).where(FieldReading.sheet_id == row.id)
        if page is not None:
            query = query.where(FieldReading.page_id == page.id)
        return {r.field_name: r for r in session.exec(query).all()}


def events(engine: Engine, **where: Any) -> list[Event]:
    with Session(engine) as session:
        query = select(Event)
        for name, value in where.items():
            if name == "entity_prefix":
                query = query.where(col(Event.entity_id).startswith(value))
            else:
                query = query.where(getattr(Event, name) == value)
        return list(session.exec(query.order_by(col(Event.id))).all())


def status_moves(engine: Engine, serial: str) -> list[tuple[str, str]]:
    """The sheet's status events, (before, after), in order."""
    moves = []
    for event in events(engine, entity="sheet", entity_id=serial, action="status"):
        before = json.loads(event.before_json or "{}")
        after = json.loads(event.after_json or "{}")
        moves.append((before["status"], after["status"]))
    return moves
