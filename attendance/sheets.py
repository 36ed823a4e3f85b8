"""Sheets: issuing one per certificate active in a month (each with its own serial), finding
them, and the scanned page that is a sheet's record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from attendance.db import record_event
from attendance.errors import DomainError, ErrorKind
from attendance.models import (
    Certificate,
    FieldReading,
    Provider,
    ScannedFile,
    ScannedPage,
    Sheet,
    SheetStatus,
)
from attendance.months import month_key, month_last_day
from attendance.safetext import shown
from attendance.schedule import Schedule
from forms.layout import CURRENT_FORM
from forms.render import SheetPrint
from forms.serial import InvalidSerial, new_serial, normalize_serial


class SheetNotFound(DomainError, LookupError):
    """No sheet matches (a well-formed serial that was never issued, or none for a month)."""

    kind = ErrorKind.NOT_FOUND


@dataclass(frozen=True)
class IssueResult:
    month: str
    issued: list[str]  # serials of new sheets
    already_issued: int


def active_certificates(session: Session, first: dt.date) -> Sequence[Certificate]:
    """Certificates whose period covers any day of the month starting at `first`."""
    last = month_last_day(first)
    statement = (
        select(Certificate)
        .where(Certificate.start_date <= last, Certificate.end_date >= first)
        .order_by(Certificate.provider_id, Certificate.certificate_id)
    )
    return session.exec(statement).all()


def _unused_serial(session: Session) -> str:
    # 50 random bits: a collision is astronomically rare, but a unique index is the real guard.
    while True:
        serial = new_serial()
        if session.exec(select(Sheet.id).where(Sheet.serial == serial)).first() is None:
            return serial


def issue_sheets(session: Session, first: dt.date, *, actor: str) -> IssueResult:
    """Issue a sheet for each active certificate that has none for the month (idempotent)."""
    month = month_key(first)
    existing = set(session.exec(select(Sheet.certificate_id).where(Sheet.month == month)).all())
    issued: list[str] = []
    for certificate in active_certificates(session, first):
        if certificate.certificate_id in existing:
            continue
        sheet = Sheet(
            serial=_unused_serial(session),
            certificate_id=certificate.certificate_id,
            month=month,
            form_version=CURRENT_FORM,
            status=SheetStatus.ISSUED.value,
        )
        session.add(sheet)
        record_event(
            session,
            actor=actor,
            entity="sheet",
            entity_id=sheet.serial,
            action="issued",
            after={"certificate_id": certificate.certificate_id, "month": month},
        )
        issued.append(sheet.serial)
    try:
        session.flush()
    except IntegrityError as exc:  # another process issued the same month at the same time
        raise RuntimeError("sheets for this month were issued concurrently; run again") from exc
    return IssueResult(month=month, issued=issued, already_issued=len(existing))


def find_sheet(session: Session, serial_text: str) -> Sheet:
    """The sheet for a typed serial; InvalidSerial if mistyped, SheetNotFound if unknown."""
    serial = normalize_serial(serial_text)
    sheet = session.exec(select(Sheet).where(Sheet.serial == serial)).first()
    if sheet is None:
        raise SheetNotFound(f"no sheet was issued with serial {serial}")
    return sheet


def list_sheets(
    session: Session,
    *,
    month: str | None = None,
    provider_id: str | None = None,
    certificate_id: str | None = None,
) -> list[tuple[Sheet, Certificate]]:
    """Sheets with their certificates, ordered by provider, certificate, month."""
    statement = select(Sheet, Certificate).join(
        Certificate, col(Sheet.certificate_id) == col(Certificate.certificate_id)
    )
    if month is not None:
        statement = statement.where(Sheet.month == month)
    if provider_id is not None:
        statement = statement.where(Certificate.provider_id == provider_id)
    if certificate_id is not None:
        statement = statement.where(Sheet.certificate_id == certificate_id)
    statement = statement.order_by(
        Certificate.provider_id, Certificate.child_last_name, Sheet.certificate_id, Sheet.month
    )
    return [(sheet, certificate) for sheet, certificate in session.exec(statement).all()]


def sheet_print(
    session: Session, sheet: Sheet, certificate: Certificate, *, agency_name: str
) -> SheetPrint:
    """Everything the printed page shows, as a plain record for `forms`."""
    provider = session.get(Provider, certificate.provider_id)
    assert provider is not None  # foreign key
    schedule = Schedule.from_json(certificate.schedule_json)
    year, month = (int(part) for part in sheet.month.split("-"))
    # Names as printed: format characters (U+202E and the like) replaced (safetext.shown).
    return SheetPrint(
        serial=sheet.serial,
        month=dt.date(year, month, 1),
        agency_name=shown(agency_name),
        child_name=shown(f"{certificate.child_first_name} {certificate.child_last_name}"),
        certificate_id=certificate.certificate_id,
        provider_id=provider.provider_id,
        provider_name=shown(provider.name),
        parent_name=shown(certificate.parent_name),
        schedule_text=certificate.schedule_text,
        weekly_hours=certificate.weekly_hours,
        schedule_type=certificate.schedule_type,
        specialist_name=shown(certificate.specialist_name),
        specialist_phone=certificate.specialist_phone,
        period_start=certificate.start_date,
        period_end=certificate.end_date,
        authorized_weekdays=schedule.weekdays,
        form=sheet.form_version,
    )


__all__ = [
    "InvalidSerial",
    "IssueResult",
    "SheetNotFound",
    "active_certificates",
    "find_sheet",
    "issue_sheets",
    "list_sheets",
    "sheet_print",
]


def source_page(session: Session, sheet: Sheet) -> ScannedPage | None:
    """The page that is the sheet's record (its first original scan, or the reviewer's pick)."""
    if sheet.source_file_sha256 is None or sheet.source_page is None:
        return None
    return session.exec(
        select(ScannedPage)
        .join(ScannedFile, col(ScannedPage.file_id) == col(ScannedFile.id))
        .where(
            ScannedFile.sha256 == sheet.source_file_sha256,
            ScannedPage.page_number == sheet.source_page,
        )
    ).first()


class FieldValue(NamedTuple):
    """The columns of a stored reading the rules read (no ORM object: a page has ~270)."""

    field_name: str
    kind: str
    machine_value: str | None
    final_value: str | None
    reviewed: bool
    needs_review: bool


def page_values(session: Session, page_id: int) -> dict[str, FieldValue]:
    """A page's readings by field name, as plain values (for the rules and comparisons)."""
    columns = [getattr(FieldReading, name) for name in FieldValue._fields]
    rows = session.execute(sa_select(*columns).where(col(FieldReading.page_id) == page_id)).all()
    return {row[0]: FieldValue(*row) for row in rows}


def page_readings(session: Session, page_id: int) -> dict[str, FieldReading]:
    return {
        r.field_name: r
        for r in session.exec(select(FieldReading).where(FieldReading.page_id == page_id)).all()
    }
