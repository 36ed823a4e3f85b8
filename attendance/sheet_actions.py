"""What staff do to a whole sheet: return it to its provider (with the notice), void it, hand
the month's verified sheets to the payment unit. Status moves go through the state machine."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

from sqlmodel import Session, col, select

from attendance.agency_settings import load_config
from attendance.db import record_event
from attendance.errors import NotAllowed
from attendance.findings import evaluate_later_months, return_problems, sheet_notes
from attendance.lifecycle import move_status
from attendance.models import (
    Certificate,
    Event,
    Provider,
    Sheet,
    SheetStatus,
    utcnow,
)
from attendance.months import parse_month
from attendance.notices import Problem, ReturnedNotice
from attendance.review_queue import close_sheet_items


def return_sheet(session: Session, sheet: Sheet, *, actor: str, reason: str | None) -> None:
    """Send the sheet back to the provider: its open items close, the move is logged."""
    problems = [f"{f.code}@{f.day}" if f.day else f.code for f in return_problems(session, sheet)]
    if not problems and not (reason and reason.strip()):
        raise NotAllowed(f"sheet {sheet.serial} has no open problem: give a reason to return it")
    move_status(session, sheet, SheetStatus.RETURNED, actor=actor, reason=reason)
    close_sheet_items(session, sheet, resolution="returned", actor=actor)
    record_event(
        session,
        actor=actor,
        entity="sheet",
        entity_id=sheet.serial,
        action="returned",
        after={"problems": problems, "reason": reason},
    )


def void_sheet(session: Session, sheet: Sheet, *, actor: str, reason: str) -> None:
    if not reason.strip():
        raise NotAllowed("voiding a sheet needs a reason")
    move_status(session, sheet, SheetStatus.VOID, actor=actor, reason=reason)
    close_sheet_items(session, sheet, resolution="voided", actor=actor)
    evaluate_later_months(session, sheet, actor=actor)


def mark_exported(session: Session, sheets: Iterable[Sheet], *, actor: str) -> int:
    """Verified sheets handed to the payment unit become exported."""
    moved = 0
    for sheet in sheets:
        if sheet.status == SheetStatus.VERIFIED.value:
            move_status(session, sheet, SheetStatus.EXPORTED, actor=actor)
            moved += 1
    return moved


def returned_notice(session: Session, sheet: Sheet, *, agency_name: str) -> ReturnedNotice:
    """The notice that tells the provider what to fix on a returned sheet, and how."""
    certificate = session.get(Certificate, sheet.certificate_id)
    assert certificate is not None
    provider = session.get(Provider, certificate.provider_id)
    assert provider is not None
    config = load_config(session)
    returned = session.exec(
        select(Event)
        .where(Event.entity == "sheet", Event.entity_id == sheet.serial, Event.action == "returned")
        .order_by(col(Event.id).desc())
    ).first()
    note = None
    returned_on = config.local_date(utcnow())
    if returned is not None:
        note = json.loads(returned.after_json or "{}").get("reason")
        returned_on = config.local_date(returned.at)
    problems = tuple(
        Problem(code=f.code, date=dt.date.fromisoformat(f.day) if f.day else None)
        for f in return_problems(session, sheet)
    )
    notes = tuple(
        Problem(code=f.code, date=dt.date.fromisoformat(f.day) if f.day else None)
        for f in sheet_notes(session, sheet)
    )
    return ReturnedNotice(
        serial=sheet.serial,
        month=parse_month(sheet.month),
        provider_id=provider.provider_id,
        provider_name=provider.name,
        child_name=f"{certificate.child_first_name} {certificate.child_last_name}",
        specialist_name=certificate.specialist_name,
        specialist_phone=certificate.specialist_phone or config.agency_phone,
        agency_name=agency_name,
        return_address=config.return_address,
        returned_on=returned_on,
        problems=problems,
        note=note,
        past_due_days=config.past_due_days,
        notes=notes,
    )
