"""The sheet view (status, flags, the page with its fields coloured, history, returning) and
the unidentified pages (say which sheet a page is, or that it is not a sheet).

Admins and reviewers only. Each decision calls the same domain function as the command line
(`attend sheets return`, `attend notices`, `attend review identify`, `attend review accept`),
with the viewer's username as the actor.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import cv2
import numpy as np
from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from attendance import (
    agency_settings,
    decisions,
    errors,
    review_queue,
    sheet_actions,
    sheets,
    values,
)
from attendance.db import session_scope
from attendance.evidence import EvidenceMissing, field_box, layout_for, load_canon
from attendance.flags import Severity
from attendance.ids import content_disposition
from attendance.models import (
    Certificate,
    Event,
    FlagState,
    ItemKind,
    ItemState,
    Provider,
    ReviewItem,
    Role,
    ScannedFile,
    ScannedPage,
    Sheet,
    SheetFlag,
    SheetStatus,
)
from attendance.months import InvalidMonth, parse_month
from attendance.notices import render_notices
from attendance.settings import Settings
from attendance.sheets import InvalidSerial, SheetNotFound, find_sheet
from forms.layout import MarkField, TimeField
from forms.serial import format_serial
from review_ui import drawing
from review_ui.drawing import BoxState
from scanner.header import HeaderReading, read_header, turned
from scanner.tesseract import TesseractError

if TYPE_CHECKING:
    from scanner.pipeline import Reading
from review_ui.web import (
    CSRF,
    ReviewerViewer,
    Viewer,
    engine_of,
    not_found,
    render,
    require,
    settings_of,
    visible_sheet,
)

log = logging.getLogger("attend.web.sheets")
router = APIRouter(include_in_schema=False)

SHEET_ROWS = 200
EVENT_ROWS = 500
# A sheet can be sent back to its provider from these statuses (lifecycle.TRANSITIONS).
RETURNABLE = frozenset(
    {SheetStatus.RECEIVED.value, SheetStatus.IN_REVIEW.value, SheetStatus.VERIFIED.value}
)
# A returned sheet's notice: for reviewers, and for the provider whose sheet it is.
NoticeViewer = Annotated[Viewer, require(Role.ADMIN, Role.REVIEWER, Role.PROVIDER)]
# Page images and crops show children's names and handwriting: never kept by a browser or proxy.
IMAGE_CACHE = "no-store"
_PROVIDER_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


# --- helpers ----------------------------------------------------------------------------------


def _zone(session: Session) -> zoneinfo.ZoneInfo:
    return agency_settings.load_config(session).zone


def _local(moment: dt.datetime | None, zone: zoneinfo.ZoneInfo) -> str:
    """A moment in the agency's time zone, the zone named (`2026-12-02 09:00 PST`)."""
    if moment is None:
        return ""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _png(body: bytes) -> Response:
    return Response(body, media_type="image/png", headers={"Cache-Control": IMAGE_CACHE})


def _child_name(certificate: Certificate) -> str:
    return f"{certificate.child_first_name} {certificate.child_last_name}"


# --- the sheet list ----------------------------------------------------------------------------


@router.get("/sheets")
def sheet_list(
    request: Request,
    viewer: ReviewerViewer,
    serial: Annotated[str, Query(max_length=32)] = "",
    month: Annotated[str, Query(max_length=7)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
    provider: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    error: str | None = None
    status_code = 200
    engine = engine_of(request)
    if serial.strip():
        with session_scope(engine) as session:
            try:
                sheet = find_sheet(session, serial)
            except InvalidSerial as exc:
                error, status_code = f"That serial is mistyped: {exc}.", 400
            except SheetNotFound:
                error, status_code = "No sheet was issued with that serial.", 404
            else:
                return RedirectResponse(f"/sheets/{sheet.serial}", status_code=303)
    month = month.strip()
    if month:
        try:
            parse_month(month)
        except InvalidMonth:
            error, status_code = "The month must be written YYYY-MM, for example 2026-11.", 400
            month = ""
    status = status.strip()
    if status and status not in {s.value for s in SheetStatus}:
        error, status_code, status = "Unknown status.", 400, ""
    provider = provider.strip()
    if provider and not _PROVIDER_ID.match(provider):
        error, status_code, provider = "Unknown provider id.", 400, ""
    with session_scope(engine) as session:
        zone = _zone(session)
        statement = select(Sheet, Certificate).join(
            Certificate, col(Sheet.certificate_id) == col(Certificate.certificate_id)
        )
        if month:
            statement = statement.where(Sheet.month == month)
        if status:
            statement = statement.where(Sheet.status == status)
        if provider:
            statement = statement.where(Certificate.provider_id == provider)
        found = session.exec(
            statement.order_by(
                col(Sheet.month).desc(),
                col(Certificate.provider_id),
                col(Certificate.child_last_name),
                col(Certificate.child_first_name),
                col(Sheet.serial),
            ).limit(SHEET_ROWS + 1)
        ).all()
        truncated = len(found) > SHEET_ROWS
        found = found[:SHEET_ROWS]
        ids = [s.id for s, _ in found if s.id is not None]
        counts: dict[int, int] = {}
        if ids:
            counts = {
                sheet_id: count
                for sheet_id, count in session.exec(
                    select(ReviewItem.sheet_id, func.count(col(ReviewItem.id)))
                    .where(
                        col(ReviewItem.sheet_id).in_(ids),
                        ReviewItem.state == ItemState.OPEN.value,
                    )
                    .group_by(col(ReviewItem.sheet_id))
                ).all()
                if sheet_id is not None
            }
        rows = [
            {
                "serial": s.serial,
                "serial_display": format_serial(s.serial),
                "provider_id": c.provider_id,
                "child_name": _child_name(c),
                "month": s.month,
                "status": s.status,
                "received_at": _local(s.received_at, zone),
                "open_items": counts.get(s.id or 0, 0),
            }
            for s, c in found
        ]
        providers = list(session.exec(select(Provider.provider_id).order_by(Provider.provider_id)))
        months = list(
            session.exec(select(Sheet.month).distinct().order_by(col(Sheet.month).desc()))
        )
    return render(
        request,
        "sheets.html",
        {
            "rows": rows,
            "truncated": truncated,
            "limit": SHEET_ROWS,
            "error": error,
            "filters": {"serial": serial, "month": month, "status": status, "provider": provider},
            "statuses": [s.value for s in SheetStatus],
            "providers": providers,
            "months": months,
        },
        status_code=status_code,
    )


# --- one sheet ---------------------------------------------------------------------------------


def _flag_days(session: Session, sheet_id: int) -> dict[str, str]:
    """Day (YYYY-MM-DD) -> the worst severity of its flags that are not cleared."""
    days: dict[str, str] = {}
    for flag in session.exec(
        select(SheetFlag).where(
            SheetFlag.sheet_id == sheet_id, SheetFlag.state != FlagState.CLEARED.value
        )
    ).all():
        if not flag.day:
            continue
        if flag.severity == Severity.RED.value or days.get(flag.day) == Severity.RED.value:
            days[flag.day] = Severity.RED.value
        elif flag.severity == Severity.YELLOW.value:
            days[flag.day] = Severity.YELLOW.value
    return days


def _open_readings(session: Session, sheet_id: int) -> set[int]:
    return {
        reading_id
        for reading_id in session.exec(
            select(ReviewItem.reading_id).where(
                ReviewItem.sheet_id == sheet_id,
                ReviewItem.state == ItemState.OPEN.value,
                col(ReviewItem.reading_id).is_not(None),
            )
        ).all()
        if reading_id is not None
    }


def field_states(session: Session, sheet: Sheet, page: ScannedPage) -> list[tuple[Any, BoxState]]:
    """Every field box of the sheet's layout (points) with the state it is drawn in."""
    assert sheet.id is not None and page.id is not None
    readings = sheets.page_readings(session, page.id)
    open_ids = _open_readings(session, sheet.id)
    flag_days = _flag_days(session, sheet.id)
    boxes: list[tuple[Any, BoxState]] = []
    for field in layout_for(sheet.serial, sheet.month, sheet.form_version).fields:
        reading = readings.get(field.name)
        blank = reading is None or values.current_value(reading) is None
        day = (
            field.date.isoformat()
            if isinstance(field, (TimeField, MarkField)) and field.date
            else None
        )
        severity = flag_days.get(day) if day else None
        state: BoxState
        if reading is not None and reading.id in open_ids:
            state = BoxState.OPEN
        elif reading is not None and reading.reviewed:
            state = BoxState.CORRECTED
        elif severity and not (blank and isinstance(field, MarkField)):
            # A flagged day's times (even a missing one) and its marked boxes; the blank
            # absence boxes stay faint, so the day's row is not a solid block of colour.
            state = BoxState.RED_DAY if severity == Severity.RED.value else BoxState.YELLOW_DAY
        elif blank:
            state = BoxState.BLANK
        else:
            state = BoxState.AUTO
        boxes.append((field_box(field), state))
    return boxes


@dataclass(frozen=True)
class HistoryRow:
    at: str
    actor: str
    action: str
    entity: str
    field: str
    before: str
    after: str


_HIDDEN_KEYS = frozenset({"version"})


def _summary(data: str | None) -> str:
    if not data:
        return ""
    try:
        values = json.loads(data)
    except ValueError:
        return ""
    if not isinstance(values, dict):
        return str(values)
    parts = []
    for key, value in values.items():
        if key in _HIDDEN_KEYS or value is None or value == []:
            continue
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        parts.append(f"{key}: {value}")
    return "; ".join(parts)


def _history(
    session: Session, sheet: Sheet, page: ScannedPage | None, zone: zoneinfo.ZoneInfo
) -> list[HistoryRow]:
    """The events of the sheet, its fields, flags and record page, oldest first."""
    conditions = [
        col(Event.entity_id) == sheet.serial,
        col(Event.entity_id).like(f"{sheet.serial}/%"),
    ]
    if page is not None and sheet.source_file_sha256 is not None:
        conditions.append(
            col(Event.entity_id) == f"{sheet.source_file_sha256[:12]}/{page.page_number}"
        )
    events = session.exec(
        select(Event).where(or_(*conditions)).order_by(col(Event.id)).limit(EVENT_ROWS)
    ).all()
    rows = []
    for event in events:
        field = ""
        if event.entity_id.startswith(f"{sheet.serial}/"):
            field = event.entity_id.split("/", 1)[1]
        rows.append(
            HistoryRow(
                at=_local(event.at, zone),
                actor=event.actor,
                action=event.action,
                entity=event.entity,
                field=field,
                before=_summary(event.before_json),
                after=_summary(event.after_json),
            )
        )
    return rows


def _sheet_page(
    request: Request,
    viewer: Viewer,
    serial: str,
    *,
    error: str | None = None,
    notice: str | None = None,
    reason: str = "",
    status_code: int = 200,
) -> Response:
    with session_scope(engine_of(request)) as session:
        sheet, certificate = visible_sheet(session, viewer, serial)
        assert sheet.id is not None
        zone = _zone(session)
        provider = session.get(Provider, certificate.provider_id)
        page = sheets.source_page(session, sheet)
        flags = session.exec(
            select(SheetFlag)
            .where(SheetFlag.sheet_id == sheet.id)
            .order_by(col(SheetFlag.day), col(SheetFlag.code))
        ).all()
        open_flags = [f for f in flags if f.state == FlagState.OPEN.value]
        closed_flags = [f for f in flags if f.state != FlagState.OPEN.value]
        severity_order = {Severity.RED.value: 0, Severity.YELLOW.value: 1}
        open_flags.sort(key=lambda f: (severity_order.get(f.severity, 2), f.day, f.code))
        items = session.exec(
            select(ReviewItem.kind, func.count(col(ReviewItem.id)))
            .where(ReviewItem.sheet_id == sheet.id, ReviewItem.state == ItemState.OPEN.value)
            .group_by(col(ReviewItem.kind))
        ).all()
        open_items = {kind: count for kind, count in items}
        history = _history(session, sheet, page, zone)
        readings = sheets.page_readings(session, page.id) if page and page.id else {}
        context = {
            "sheet": sheet,
            "serial_display": format_serial(sheet.serial),
            "certificate": certificate,
            "child_name": _child_name(certificate),
            "provider_name": provider.name if provider else "",
            "received_at": _local(sheet.received_at, zone),
            "issued_at": _local(sheet.issued_at, zone),
            "has_image": bool(page and page.canon_path and Path(page.canon_path).is_file()),
            "page_reason": page.review_reason if page else None,
            "open_flags": open_flags,
            "closed_flags": closed_flags,
            "flag_local": {f.id: _local(f.resolved_at, zone) for f in closed_flags},
            "open_items": open_items,
            "open_item_total": sum(open_items.values()),
            "reviewed_fields": sum(1 for r in readings.values() if r.reviewed),
            "history": history,
            "history_truncated": len(history) >= EVENT_ROWS,
            "legend": drawing.legend(),
            "can_return": sheet.status in RETURNABLE,
            "is_returned": sheet.status == SheetStatus.RETURNED.value,
            "error": error,
            "notice": notice,
            "reason": reason,
        }
    return render(request, "sheet.html", context, status_code=status_code)


@router.get("/sheets/{serial}")
def sheet_view(
    request: Request, viewer: ReviewerViewer, serial: str, done: str | None = None
) -> Response:
    notice = {
        "returned": "The sheet was returned to its provider. Print the notice to send with it.",
        "identified": "The page was identified and read as this sheet.",
    }.get(done or "")
    return _sheet_page(request, viewer, serial, notice=notice)


@router.get("/sheets/{serial}/page.png")
def sheet_image(request: Request, viewer: ReviewerViewer, serial: str) -> Response:
    with session_scope(engine_of(request)) as session:
        sheet, _ = visible_sheet(session, viewer, serial)
        page = sheets.source_page(session, sheet)
        if page is None or not page.canon_path:
            raise HTTPException(404, detail="this sheet has no registered page image")
        try:
            canon = load_canon(page.canon_path)
        except EvidenceMissing as exc:
            raise HTTPException(404, detail=str(exc)) from None
        boxes = field_states(session, sheet, page)
    image = drawing.scale_to_width(drawing.draw_boxes(canon, boxes), drawing.SHEET_IMAGE_WIDTH)
    return _png(drawing.png_bytes(image))


@router.post("/sheets/{serial}/return", dependencies=[CSRF])
def sheet_return(
    request: Request,
    viewer: ReviewerViewer,
    serial: str,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    reason = reason.strip()
    try:
        with session_scope(engine_of(request)) as session:
            sheet, _ = visible_sheet(session, viewer, serial)
            if sheet.status == SheetStatus.RETURNED.value:
                raise errors.NotAllowed(f"sheet {sheet.serial} was already returned")
            sheet_actions.return_sheet(session, sheet, actor=viewer.actor, reason=reason or None)
            target = sheet.serial
    except errors.NotAllowed as exc:
        return _sheet_page(request, viewer, serial, error=str(exc), reason=reason, status_code=409)
    return RedirectResponse(f"/sheets/{target}?done=returned", status_code=303)


@router.get("/sheets/{serial}/notice.pdf")
def sheet_notice(request: Request, viewer: NoticeViewer, serial: str) -> Response:
    """The returned-sheet notice: reviewers for any sheet, a provider for its own (another
    provider's is the same 404 as a sheet that does not exist: `visible_sheet`)."""
    with session_scope(engine_of(request)) as session:
        sheet, _ = visible_sheet(session, viewer, serial)
        if sheet.status != SheetStatus.RETURNED.value:
            raise HTTPException(409, detail="only a returned sheet has a returned-sheet notice")
        notice = sheet_actions.returned_notice(
            session,
            sheet,
            agency_name=agency_settings.agency_name(session, settings_of(request).agency_name),
        )
        target = sheet.serial
    return Response(
        render_notices([notice]),
        media_type="application/pdf",
        headers={
            "Content-Disposition": content_disposition(f"notice-{target}.pdf"),
            "Cache-Control": "private, no-store",
        },
    )


# --- unidentified pages ------------------------------------------------------------------------


def _unidentified(session: Session, item_id: int) -> tuple[ReviewItem, ScannedPage, ScannedFile]:
    item = session.get(ReviewItem, item_id)
    if item is None or item.kind != ItemKind.UNIDENTIFIED_PAGE.value or item.page_id is None:
        raise not_found()
    page = session.get(ScannedPage, item.page_id)
    if page is None:
        raise not_found()
    file_row = session.get(ScannedFile, page.file_id)
    if file_row is None:
        raise not_found()
    return item, page, file_row


def _read_grey(path: str | None) -> np.ndarray | None:
    if not path or not Path(path).is_file():
        return None
    image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    return image if image is not None else None


@router.get("/review/pages")
def page_list(request: Request, viewer: ReviewerViewer) -> Response:
    with session_scope(engine_of(request)) as session:
        zone = _zone(session)
        found = session.exec(
            select(ReviewItem, ScannedPage, ScannedFile)
            .join(ScannedPage, col(ReviewItem.page_id) == col(ScannedPage.id))
            .join(ScannedFile, col(ScannedPage.file_id) == col(ScannedFile.id))
            .where(
                ReviewItem.kind == ItemKind.UNIDENTIFIED_PAGE.value,
                ReviewItem.state == ItemState.OPEN.value,
            )
            .order_by(col(ReviewItem.deadline).desc(), col(ReviewItem.id).desc())
            .limit(SHEET_ROWS)
        ).all()
        rows = [
            {
                "item_id": item.id,
                "file_name": file_row.original_name,
                "page_number": page.page_number,
                "page_count": file_row.page_count,
                "received_at": _local(file_row.received_at, zone),
                "reason": page.reason,
                "claimed_by": item.claimed_by,
                "has_image": bool(page.image_path),
            }
            for item, page, file_row in found
        ]
    return render(request, "pages.html", {"rows": rows})


# Header readings by page image: pages are named by content hash, so a reading stays true;
# a failure is not kept and is tried again next time.
_HEADER_CACHE: dict[str, HeaderReading] = {}
_HEADER_CACHE_SIZE = 64


def _header(image_path: str) -> tuple[HeaderReading | None, str | None]:
    """(reading, problem): the page image's header, read by `scanner.header`, cached."""
    if image_path in _HEADER_CACHE:
        return _HEADER_CACHE[image_path], None
    from intake.oneshot import PREVIEW_DPI  # what unidentified pages are kept at

    image = _read_grey(image_path)
    if image is None:
        return None, "the page image is not stored"
    try:
        found = read_header(image, dpi=PREVIEW_DPI)
    except TesseractError as exc:
        return None, str(exc)
    if len(_HEADER_CACHE) >= _HEADER_CACHE_SIZE:
        _HEADER_CACHE.clear()
    _HEADER_CACHE[image_path] = found
    return found, None


def _header_text(image_path: str) -> tuple[str | None, str | None]:
    """(text, problem): what tesseract reads in the header of the page image."""
    found, problem = _header(image_path)
    return (found.text if found else None), problem


def _upright(image_path: str, image: np.ndarray) -> np.ndarray:
    """The page image turned as its header reading found it upright (as scanned if unknown)."""
    found, _ = _header(image_path)
    return turned(image, found.turn) if found else image


@dataclass(frozen=True)
class Suggestion:
    serial: str
    serial_display: str
    provider_id: str
    month: str
    child_name: str


def _suggestions(session: Session, page_id: int) -> list[Suggestion]:
    found = []
    for serial in review_queue.unidentified_suggestions(session, page_id):
        sheet = session.exec(select(Sheet).where(Sheet.serial == serial)).first()
        if sheet is None:
            continue
        certificate = session.get(Certificate, sheet.certificate_id)
        if certificate is None:
            continue
        found.append(
            Suggestion(
                serial=serial,
                serial_display=format_serial(serial),
                provider_id=certificate.provider_id,
                month=sheet.month,
                child_name=_child_name(certificate),
            )
        )
    return found


def _page_view(
    request: Request,
    item_id: int,
    *,
    error: str | None = None,
    typed: str = "",
    reason: str = "",
    status_code: int = 200,
) -> Response:
    with session_scope(engine_of(request)) as session:
        zone = _zone(session)
        item, page, file_row = _unidentified(session, item_id)
        suggestions = _suggestions(session, page.id) if page.id is not None else []
        context: dict[str, Any] = {
            "item": item,
            "is_open": item.state == ItemState.OPEN.value,
            "page": page,
            "file_name": file_row.original_name,
            "page_count": file_row.page_count,
            "received_at": _local(file_row.received_at, zone),
            "resolved_at": _local(item.resolved_at, zone),
            "suggestions": suggestions,
            "error": error,
            "typed": typed,
            "reason": reason,
        }
        image_path = page.image_path
    text, problem = _header_text(image_path) if image_path else (None, "no page image")
    context.update(header_text=text, header_problem=problem, has_image=bool(image_path))
    return render(request, "page.html", context, status_code=status_code)


@router.get("/review/pages/{item_id}")
def page_view(request: Request, viewer: ReviewerViewer, item_id: int) -> Response:
    return _page_view(request, item_id)


@router.get("/review/pages/{item_id}/image.png")
def page_image(
    request: Request,
    viewer: ReviewerViewer,
    item_id: int,
    size: Literal["full", "thumb"] = "full",
) -> Response:
    with session_scope(engine_of(request)) as session:
        _, page, _ = _unidentified(session, item_id)
        path = page.image_path
    image = _read_grey(path)
    if image is None or path is None:
        raise HTTPException(404, detail="the page image is not stored")
    if size == "full":
        image = _upright(path, image)
    width = drawing.THUMB_WIDTH if size == "thumb" else drawing.PAGE_IMAGE_WIDTH
    return _png(drawing.png_bytes(drawing.scale_to_width(image, width)))


def _reading(settings: Settings) -> Reading:
    """The same reading set-up as `attend review identify`."""
    from intake.reading import load_reading

    return load_reading(settings)


def _chosen_serial(values: list[str]) -> str:
    """A suggestion button's serial comes after the typed box in the form: the last value
    given wins (pressing Enter in the box submits the form's first button, which has none)."""
    given = [v.strip() for v in values if v and v.strip()]
    return given[-1] if given else ""


@router.post("/review/pages/{item_id}/identify", dependencies=[CSRF])
def page_identify(
    request: Request,
    viewer: ReviewerViewer,
    item_id: int,
    serial: Annotated[list[str], Form()],
) -> Response:
    if len(serial) > 3 or any(len(v) > 32 for v in serial):
        raise HTTPException(400, detail="invalid input: serial")
    typed = _chosen_serial(serial)
    if not typed:
        return _page_view(
            request, item_id, error="Type the sheet's serial, or pick one.", status_code=400
        )
    engine = engine_of(request)
    problem: tuple[str, int] | None = None
    target = ""
    with session_scope(engine) as session:
        item, _, _ = _unidentified(session, item_id)
        if item.state != ItemState.OPEN.value:
            problem = (f"This page was already handled ({item.resolution}).", 409)
        else:
            try:
                sheet = find_sheet(session, typed)
            except InvalidSerial as exc:
                message = str(exc)
                if exc.reason == "bad_check":
                    message = (
                        "The serial's check character is wrong: the serial is mistyped. "
                        "Check it against the page and type it again."
                    )
                else:
                    message = f"That is not a serial: {message}."
                problem = (message, 400)
            except SheetNotFound:
                shown = format_serial(typed.upper()) if len(typed) == 11 else typed.upper()
                problem = (f"No sheet was issued with serial {shown}.", 400)
            else:
                target = sheet.serial
    # Rendered after the transaction: a second one inside it would wait for its own lock.
    if problem is not None:
        return _page_view(request, item_id, error=problem[0], typed=typed, status_code=problem[1])
    from intake.identify import PageNotRegistered, identify_item

    settings = settings_of(request)
    reading = _reading(settings)
    try:
        identify_item(
            engine,
            item_id,
            target,
            reviewer=viewer.actor,
            store_dir=settings.store_dir,
            reading=reading,
            model_version=reading.reader.version,
            require_registration=True,
        )
    except errors.ItemNotFound:
        raise not_found() from None
    except PageNotRegistered:
        return _page_view(
            request,
            item_id,
            error=(
                f"This page does not match the layout of sheet {format_serial(target)}: "
                "its corner marks could not be found (is it a blank page or another form?). "
                "Nothing was changed."
            ),
            typed=typed,
            status_code=409,
        )
    except (errors.ItemHeld, errors.NotAllowed, EvidenceMissing) as exc:
        return _page_view(request, item_id, error=str(exc), typed=typed, status_code=409)
    log.info("item %s identified as a sheet by %s", item_id, viewer.actor)
    return RedirectResponse(f"/sheets/{target}?done=identified", status_code=303)


@router.post("/review/pages/{item_id}/not-a-sheet", dependencies=[CSRF])
def page_not_a_sheet(
    request: Request,
    viewer: ReviewerViewer,
    item_id: int,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    reason = reason.strip()
    with session_scope(engine_of(request)) as session:
        _unidentified(session, item_id)
    if not reason:
        return _page_view(
            request,
            item_id,
            error="Say why this page is not an attendance sheet (for example: blank separator).",
            status_code=400,
        )
    try:
        decisions.accept_item(engine_of(request), item_id, reviewer=viewer.actor, reason=reason)
    except errors.ItemNotFound:
        raise not_found() from None
    except (errors.ItemHeld, errors.NotAllowed) as exc:
        return _page_view(request, item_id, error=str(exc), reason=reason, status_code=409)
    return RedirectResponse("/review/pages", status_code=303)
