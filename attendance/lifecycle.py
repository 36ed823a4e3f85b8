"""A sheet's status: the one state machine every status change goes through.

issued -> received -> in_review <-> verified -> exported; returned and void from most states;
a returned sheet is received again when its new scan arrives. Every move is an event.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from attendance.db import record_event
from attendance.errors import NotAllowed
from attendance.models import (
    Sheet,
    SheetStatus,
)
from attendance.review_queue import open_item_count

IN_PLAY = (SheetStatus.RECEIVED.value, SheetStatus.IN_REVIEW.value, SheetStatus.VERIFIED.value)

# Sheet status moves; every move is an event.
TRANSITIONS: dict[str, set[str]] = {
    SheetStatus.ISSUED.value: {SheetStatus.RECEIVED.value, SheetStatus.VOID.value},
    SheetStatus.RECEIVED.value: {
        SheetStatus.IN_REVIEW.value,
        SheetStatus.VERIFIED.value,
        SheetStatus.RETURNED.value,
        SheetStatus.VOID.value,
    },
    SheetStatus.IN_REVIEW.value: {
        SheetStatus.VERIFIED.value,
        SheetStatus.RETURNED.value,
        SheetStatus.VOID.value,
    },
    SheetStatus.VERIFIED.value: {
        SheetStatus.IN_REVIEW.value,
        SheetStatus.EXPORTED.value,
        SheetStatus.RETURNED.value,
        SheetStatus.VOID.value,
    },
    SheetStatus.EXPORTED.value: set(),
    SheetStatus.RETURNED.value: {SheetStatus.RECEIVED.value, SheetStatus.VOID.value},
    SheetStatus.VOID.value: set(),
}


def _check_move(sheet: Sheet, status: SheetStatus) -> None:
    if status.value not in TRANSITIONS[sheet.status]:
        raise NotAllowed(f"sheet {sheet.serial} is {sheet.status}: it cannot become {status}")


def receive(
    session: Session,
    sheet: Sheet,
    *,
    actor: str,
    received_at: dt.datetime,
    file_sha256: str,
    page: int,
    via: str = "scan",
) -> None:
    """The sheet is received (issued, or returned and sent back): the scan of `page` of the
    file `file_sha256` is its record from now on; `via` says how it arrived (`scan`, or
    `phone` for a provider's photo). NotAllowed from any other status."""
    _check_move(sheet, SheetStatus.RECEIVED)
    before = {"status": sheet.status, "received_at": sheet.received_at}
    sheet.status = SheetStatus.RECEIVED.value
    sheet.received_at = received_at
    sheet.source_file_sha256 = file_sha256
    sheet.source_page = page
    sheet.received_via = via
    session.add(sheet)
    record_event(
        session,
        actor=actor,
        entity="sheet",
        entity_id=sheet.serial,
        action="received",
        before=before,
        after={
            "status": sheet.status,
            "received_at": received_at,
            "file_sha256": file_sha256,
            "page": page,
            "via": via,
        },
    )


def move_status(
    session: Session, sheet: Sheet, status: SheetStatus, *, actor: str, reason: str | None = None
) -> None:
    """Move the sheet to `status` (NotAllowed if the move is not one the flow has)."""
    if sheet.status == status.value:
        return
    _check_move(sheet, status)
    before = sheet.status
    sheet.status = status.value
    session.add(sheet)
    record_event(
        session,
        actor=actor,
        entity="sheet",
        entity_id=sheet.serial,
        action="status",
        before={"status": before},
        after={"status": status.value, **({"reason": reason} if reason else {})},
    )


def settle_status(session: Session, sheet: Sheet, *, actor: str) -> None:
    """received / in review / verified, from whether anything is left for a person."""
    assert sheet.id is not None
    if sheet.status not in IN_PLAY:
        return
    pending = open_item_count(session, sheet.id) > 0
    target = SheetStatus.IN_REVIEW if pending else SheetStatus.VERIFIED
    move_status(session, sheet, target, actor=actor)
