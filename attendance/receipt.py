"""What a recorded page means for its sheet: received, a duplicate, a resubmission, or unknown.

Intake reads pages and stores files; it hands each page here as a plain `PageRecord`, in the
transaction that records its file or page job. This module stores the page and what was read
on it, and decides what it means:

- the first scan of an issued sheet receives it (through the state machine);
- a scan of a returned sheet is the provider sending it back: it becomes the record;
- any later scan of a received sheet is a duplicate: stored as evidence, flagged, never a
  second claim;
- a page whose serial or form is unknown, or that was not identified, waits for a reviewer.

One sheet per child per month is paid once, so a receipt cannot happen twice: the sheet's row
is locked (`FOR UPDATE`) before it is looked at, so two workers recording two scans of the
same sheet take turns and the second sees the first; and the database itself refuses a second
record page for a sheet (`uq_one_record_page_per_sheet`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from attendance import findings, lifecycle, review_queue
from attendance.agency import PHOTO_SUBMISSION
from attendance.agency_settings import load_config
from attendance.db import record_event
from attendance.models import (
    ArrivalState,
    Certificate,
    FieldReading,
    IntakeFile,
    PageStatus,
    ScannedFile,
    ScannedPage,
    Sheet,
    SheetStatus,
)
from attendance.review_queue import NewReading
from forms.layout import FORMS

log = logging.getLogger(__name__)

KNOWN_FORMS = frozenset(FORMS)


class MachineReading(Protocol):
    """One field as the machine read it (`scanner.readings.FieldReading` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def value(self) -> str | None: ...
    @property
    def confidence(self) -> float: ...
    @property
    def needs_review(self) -> bool: ...
    @property
    def reason(self) -> str | None: ...


@dataclass(frozen=True)
class PageRecord:
    """One scanned page as intake hands it over: what it says it is, and what was read."""

    number: int
    serial: str | None  # read from its QR code or printed serial; None: not identified
    form: str | None
    rotation: int | None
    barcode_method: str | None  # how the QR code was found (None: no QR code read)
    reason: str | None  # why it was not identified (`no_barcode_found`, `blank_page`, ...)
    preview: Path | None  # the page image kept for a reviewer, when there is one
    readings: Sequence[MachineReading] = ()
    residual_pt: float | None = None  # registration fit, points (None: not registered)
    review_reason: str | None = None  # why the page could not be read as a whole
    canon: Path | None = None  # the registered page, upright on its layout


@dataclass(frozen=True)
class PageOutcome:
    """What became of one page."""

    number: int
    status: str  # identified | unidentified | duplicate
    serial: str | None
    rotation: int | None
    method: str | None
    reason: str | None


def _locked_sheet(session: Session, serial: str) -> Sheet | None:
    """The sheet with `serial`, its row locked until the transaction ends (PostgreSQL; SQLite
    already holds the one write lock since `BEGIN IMMEDIATE`)."""
    query = select(Sheet).where(Sheet.serial == serial).with_for_update()
    # Read the row as committed when the lock was granted, not as this session last saw it.
    return session.exec(query.execution_options(populate_existing=True)).first()


def _meaning(page: PageRecord, sheet: Sheet | None) -> tuple[PageStatus, str | None, bool]:
    """The page's status, its reason, and whether it resubmits a returned sheet."""
    if page.serial is None:
        return PageStatus.UNIDENTIFIED, page.reason, False
    if page.form not in KNOWN_FORMS:
        return PageStatus.UNIDENTIFIED, "unknown_form", False
    if sheet is None:
        return PageStatus.UNIDENTIFIED, "unknown_serial", False
    if sheet.received_at is None and sheet.status == SheetStatus.ISSUED.value:
        return PageStatus.IDENTIFIED, None, False
    if sheet.status == SheetStatus.RETURNED.value:
        # The provider sent the returned sheet back: this scan becomes the record.
        return PageStatus.IDENTIFIED, None, True
    if sheet.received_at is not None:
        return PageStatus.DUPLICATE, "already_received", False
    return PageStatus.IDENTIFIED, f"sheet_{sheet.status}", False


@dataclass(frozen=True)
class Sender:
    """Who sent a file, as far as the receipt must know: a provider's phone photo, or a scan."""

    via: str  # VIA_SCAN or VIA_PHONE
    provider_id: str | None = None  # the provider who sent a phone photo


VIA_SCAN, VIA_PHONE = "scan", "phone"
# Page reasons only phone photos have: a sheet of another provider (never received from this
# one's photo; the page waits for a reviewer like any unidentified page), and a photo kept as
# an advance copy while the sheet waits for its original (agency setting `phone_photos`).
OTHER_PROVIDER = "other_provider"
ADVANCE_COPY = "advance_copy"


def sender_of(session: Session, file_row: ScannedFile) -> Sender:
    """How `file_row` arrived: the arrival that brought its bytes (the latest one that was not
    a duplicate), a phone photo when a provider sent it from the provider page."""
    arrival = session.exec(
        select(IntakeFile)
        .where(
            IntakeFile.file_id == file_row.id,
            IntakeFile.state != ArrivalState.DUPLICATE.value,
        )
        .order_by(col(IntakeFile.id).desc())
    ).first()
    if arrival is not None and arrival.source == VIA_PHONE:
        return Sender(VIA_PHONE, arrival.provider_id)
    return Sender(VIA_SCAN)


def _photo_meaning(
    session: Session,
    sender: Sender,
    sheet: Sheet | None,
    meaning: tuple[PageStatus, str | None, bool],
    *,
    reviewed: bool,
    photos: str,
) -> tuple[PageStatus, str | None, bool]:
    """A phone photo's page: a sheet of another provider is not that provider's to send (a
    reviewer's identification stands, though), and where the agency pays only on originals a
    photo that would receive the sheet is kept as an advance copy instead."""
    status, reason, resubmitted = meaning
    if sender.via != VIA_PHONE or sheet is None or status is PageStatus.UNIDENTIFIED:
        return meaning
    certificate = session.get(Certificate, sheet.certificate_id)
    if not reviewed and (certificate is None or certificate.provider_id != sender.provider_id):
        return PageStatus.UNIDENTIFIED, OTHER_PROVIDER, False
    if status is PageStatus.IDENTIFIED and reason is None and photos != PHOTO_SUBMISSION:
        return PageStatus.IDENTIFIED, ADVANCE_COPY, False
    return status, reason, resubmitted


def record_pages(
    session: Session,
    file_row: ScannedFile,
    pages: Sequence[PageRecord],
    *,
    actor: str,
    received_at: dt.datetime,
    model_version: str | None,
    existing: dict[int, ScannedPage] | None = None,
) -> list[PageOutcome]:
    """Store what was read on each page, receive sheets, open review items and apply the
    rules, in the caller's transaction. `existing` (by page number) are page rows stored
    before, updated in place: an unidentified page a reviewer has identified.

    A file a provider sent from the provider page (a phone photo) receives only that
    provider's sheets, and only when the agency takes photos as submissions (`phone_photos`);
    the sheet records how it arrived (`Sheet.received_via`)."""
    assert file_row.id is not None
    outcomes: list[PageOutcome] = []
    config = load_config(session)
    sender = sender_of(session, file_row)
    for page in pages:
        sheet = None
        if page.serial is not None and page.form in KNOWN_FORMS:
            sheet = _locked_sheet(session, page.serial)
        status, reason, resubmitted = _photo_meaning(
            session,
            sender,
            sheet,
            _meaning(page, sheet),
            reviewed=bool(existing),
            photos=config.phone_photos,
        )
        if status is PageStatus.UNIDENTIFIED:
            sheet = None
        values: dict[str, Any] = dict(
            file_id=file_row.id,
            page_number=page.number,
            status=status.value,
            serial=page.serial,
            sheet_id=sheet.id if sheet else None,
            rotation=page.rotation,
            barcode_method=page.barcode_method,
            reason=reason,
            image_path=str(page.preview) if page.preview else None,
            registration_residual_pt=page.residual_pt,
            needs_review=page.review_reason is not None,
            review_reason=page.review_reason,
            canon_path=str(page.canon) if page.canon else None,
            is_record=False,
        )
        page_row = (existing or {}).get(page.number) or ScannedPage(**values)
        for name, value in values.items():
            setattr(page_row, name, value)
        session.add(page_row)
        stored: list[NewReading] = []
        if sheet is not None and page.readings:
            # Kept for duplicates too: a second scan's content is evidence a reviewer compares.
            session.flush()  # the page's id, for its readings
            stored = _store_readings(session, sheet, page_row, page.readings, model_version)
        if sheet is not None and status is PageStatus.IDENTIFIED and reason is None:
            if resubmitted:
                review_queue.close_sheet_items(session, sheet, resolution="superseded", actor=actor)
                _no_longer_the_record(session, sheet)
            session.flush()
            page_row.is_record = True
            session.add(page_row)
            lifecycle.receive(
                session,
                sheet,
                actor=actor,
                received_at=received_at,
                file_sha256=file_row.sha256,
                page=page.number,
                via=sender.via,
            )
            session.flush()
            review_queue.open_page_items(
                session,
                sheet=sheet,
                page=page_row,
                file_sha256=file_row.sha256,
                config=config,
                readings=stored,
            )
            findings.evaluate(session, sheet, actor=actor, config=config)
        elif sheet is not None and status is PageStatus.DUPLICATE:
            record_event(
                session,
                actor=actor,
                entity="sheet",
                entity_id=sheet.serial,
                action="duplicate_scan",
                after={"file_sha256": file_row.sha256, "page": page.number},
            )
            session.flush()
            findings.evaluate(session, sheet, actor=actor, config=config)
        elif sheet is not None and reason == ADVANCE_COPY:
            record_event(
                session,
                actor=actor,
                entity="sheet",
                entity_id=sheet.serial,
                action="advance_copy",
                after={"file_sha256": file_row.sha256, "page": page.number},
            )
        elif status is PageStatus.UNIDENTIFIED:
            session.flush()
            review_queue.open_unidentified_item(
                session, page=page_row, received_at=received_at, config=config
            )
        # The serial is logged, never names: the log may be read by anyone with the server.
        log.info(
            "file %s page %d: %s%s",
            file_row.sha256[:12],
            page.number,
            status.value,
            f" serial {page.serial}" if page.serial else f" ({reason})",
        )
        outcomes.append(
            PageOutcome(
                number=page.number,
                status=status.value,
                serial=page.serial,
                rotation=page.rotation,
                method=page.barcode_method,
                reason=reason,
            )
        )
    return outcomes


def _store_readings(
    session: Session,
    sheet: Sheet,
    page_row: ScannedPage,
    readings: Sequence[MachineReading],
    model_version: str | None,
) -> list[NewReading]:
    """Insert the page's readings in one statement; each with the id it was given."""
    assert sheet.id is not None and page_row.id is not None
    # One multi-row INSERT (nulls written out, so every row has the same columns): ~270
    # readings a page one by one through the ORM cost 27 ms of a worker's page time (and of
    # the SQLite write lock).
    ids = session.execute(
        insert(FieldReading)
        .returning(col(FieldReading.id), col(FieldReading.field_name), sort_by_parameter_order=True)
        .execution_options(render_nulls=True),
        [
            {
                "sheet_id": sheet.id,
                "page_id": page_row.id,
                "field_name": machine.name,
                "kind": machine.kind,
                "machine_value": machine.value,
                "confidence": machine.confidence,
                "needs_review": machine.needs_review,
                "reason": machine.reason,
                "model_version": model_version,
                "final_value": None,
                "reviewed": False,
                "reviewed_by": None,
                "reviewed_at": None,
                "version": 1,
            }
            for machine in readings
        ],
    ).all()
    stored = []
    for (row_id, name), machine in zip(ids, readings, strict=True):
        assert name == machine.name  # RETURNING in the order of the rows given
        stored.append(
            NewReading(
                id=row_id,
                field_name=machine.name,
                kind=machine.kind,
                machine_value=machine.value,
                confidence=machine.confidence,
                needs_review=machine.needs_review,
            )
        )
    return stored


def _no_longer_the_record(session: Session, sheet: Sheet) -> None:
    """The returned sheet's old record page steps down before its new scan becomes the record
    (one record page per sheet: the database refuses two)."""
    session.execute(
        update(ScannedPage)
        .where(col(ScannedPage.sheet_id) == sheet.id, col(ScannedPage.is_record).is_(True))
        .values(is_record=False)
    )
    session.flush()
