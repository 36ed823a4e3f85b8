"""A reviewer says which sheet an unidentified page is: the page is then read like any other.

The page image kept for the reviewer is read as the named sheet by the scanner's composer
(`scanner.pipeline.read_page_as`: without a barcode nothing machine-readable says which way
up the page was, so the turn in which the sheet's printed structure fits is taken), and the
page is recorded exactly as intake would have recorded it had the barcode been read.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
from sqlalchemy import Engine
from sqlmodel import Session

from attendance import decisions, errors, review_queue
from attendance.db import record_event, session_scope
from attendance.models import ItemKind, PageStatus, ScannedFile, ScannedPage, utcnow
from attendance.receipt import record_pages
from attendance.sheets import find_sheet
from forms.payload import BarcodePayload
from intake.oneshot import PREVIEW_DPI, Reading, ReadPage, page_record, save_canon, sheet_context
from scanner.load import PageImage
from scanner.pipeline import METHOD_REVIEWER, NOT_REGISTERED, PageIdentity, read_page_as

log = logging.getLogger(__name__)


class PageNotRegistered(errors.NotAllowed):
    """The page does not fit the named sheet's layout (a blank page, another form)."""


def _read_as(
    page: ScannedPage, sha: str, serial: str, *, engine: Engine, store_dir: Path, reading: Reading
) -> ReadPage:
    context = sheet_context(engine, serial)
    assert context is not None
    preview = Path(page.image_path) if page.image_path else None
    image = cv2.imread(str(preview), cv2.IMREAD_GRAYSCALE) if preview else None
    if image is None:
        identity = PageIdentity(
            payload=BarcodePayload(serial=serial, form=context.form, page=1),
            barcode=None,
            rotation=None,
            reason=None,
            method=METHOD_REVIEWER,
        )
        return ReadPage(page.page_number, identity, preview, review_reason="page_image_missing")
    result = read_page_as(PageImage(page.page_number, image, PREVIEW_DPI), context, reading)
    canon = None
    if result.canon is not None:
        canon = save_canon(result.canon, store_dir, sha, page.page_number)
    return ReadPage(
        page.page_number,
        result.identity,
        preview,
        result.readings,
        result.residual_pt,
        result.review_reason,
        canon,
    )


def identify_item(
    engine: Engine,
    item_id: int,
    serial_text: str,
    *,
    reviewer: str,
    store_dir: Path,
    reading: Reading,
    model_version: str | None,
    require_registration: bool = False,
) -> decisions.Decision:
    """Record the unidentified page of item `item_id` as the sheet `serial_text` (its check
    character is validated: InvalidSerial, SheetNotFound), read its fields, apply the rules.

    A page that cannot be registered to the sheet's layout is recorded as that sheet's
    unregistered page, to be keyed; with `require_registration` it is refused instead
    (PageNotRegistered) and nothing is written.
    """
    with Session(engine) as session:
        view = review_queue.describe_item(session, item_id)
        if view.kind != ItemKind.UNIDENTIFIED_PAGE.value or view.page_id is None:
            raise errors.NotAllowed(f"item {item_id} is not an unidentified page")
        page = session.get(ScannedPage, view.page_id)
        assert page is not None
        file_row = session.get(ScannedFile, page.file_id)
        assert file_row is not None
        serial = find_sheet(session, serial_text).serial
    # Reading takes a second or so: done before the transaction, which then checks again
    # that the item is still open and not held by someone else.
    read = _read_as(
        page, file_row.sha256, serial, engine=engine, store_dir=store_dir, reading=reading
    )
    if require_registration and read.review_reason in (NOT_REGISTERED, "page_image_missing"):
        raise PageNotRegistered(
            f"the page does not match the layout of sheet {serial} ({read.review_reason})"
        )
    with session_scope(engine) as session:
        item = review_queue.take_item(session, item_id, reviewer=reviewer, now=utcnow())
        page_row = session.get(ScannedPage, page.id)
        file_row = session.get(ScannedFile, page.file_id)
        assert page_row is not None and file_row is not None
        if page_row.status != PageStatus.UNIDENTIFIED.value:
            raise errors.NotAllowed(f"item {item_id}: the page was identified meanwhile")
        received_at = file_row.received_at
        record_pages(
            session,
            file_row,
            [page_record(read)],
            actor=reviewer,
            received_at=received_at,
            model_version=model_version,
            existing={page_row.page_number: page_row},
        )
        record_event(
            session,
            actor=reviewer,
            entity="page",
            entity_id=f"{file_row.sha256[:12]}/{page_row.page_number}",
            action="identified",
            before={"status": PageStatus.UNIDENTIFIED.value, "reason": page.reason},
            after={"serial": serial, "status": page_row.status, "item": item_id},
        )
        review_queue.finish_item(session, item, resolution="identified", actor=reviewer)
        sheet = find_sheet(session, serial)
        return decisions.Decision(item_id, "identified", sheet.status, serial)
