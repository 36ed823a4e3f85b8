"""One screen per sheet: the review page (`/review`).

The page is a shell; its script (static/queue.js) asks `POST /review/sheets/next` for the
next sheet that needs a person. That claims every open item of the sheet for the viewer
(`review_queue.claim_sheet`, like `attend review sheet`) and answers the sheet: its page, and
its items top to bottom as they stand on the page, each with its crop, where it is on the page
(layout points) and what a reviewer needs beside it. The reviewer works them with the
keyboard; each decision goes to the item routes (review_ui.routes.queue) with the version on
screen, then the script asks for the sheet again (`serial`): what is still open on it, or the
next sheet when nothing is. Escape gives the sheet back (`release`); a key returns it to its
provider (`return`, the same as the sheet view's button); a page that could not be registered
is keyed here (`key`).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlmodel import Session, select

from attendance import (
    crops,
    decisions,
    errors,
    evidence,
    findings,
    review_queue,
    sheet_actions,
    sheets,
)
from attendance.db import session_scope
from attendance.flags import FLAG_CODES
from attendance.models import Certificate, ItemKind, Provider, Sheet, SheetStatus
from forms.layout import (
    ABSENCE_CODES,
    PAGE_HEIGHT_PT,
    PAGE_WIDTH_PT,
    MarkField,
    SignatureField,
    TimeField,
)
from forms.serial import format_serial
from review_ui.routes.queue import MAX_IDS, decision_json, error_response, item_json
from review_ui.routes.sheets import RETURNABLE
from review_ui.web import CSRF, ReviewerViewer, engine_of, render, visible_sheet

router = APIRouter(include_in_schema=False)

# The reading reasons a reviewer is told about in words (scanner.timefield writes them; the
# web cannot import the scanner's constants, a test checks they agree).
AMPM_INFERRED = "ambiguous_ampm"
AMPM_BOTH = "both_ampm_marked"
REASONS = {
    AMPM_INFERRED: "AM/PM inferred: neither box is ticked; the machine chose by the "
    "authorized hours",
    AMPM_BOTH: "both AM and PM are ticked",
    "not_a_time": "the cells do not read as a time",
    "low_confidence": "read with low confidence",
}
FIELD_KINDS = (ItemKind.FIELD.value, ItemKind.QA_SAMPLE.value)


# --- request bodies ---------------------------------------------------------------------------


class SheetRequest(BaseModel):
    """`serial`: this sheet while it has items for the viewer, else the next one; `skip`:
    sheets (ids) the viewer gave back, left out of the next."""

    serial: str | None = Field(default=None, max_length=32)
    skip: list[int] = Field(default_factory=list, max_length=MAX_IDS)


class ReturnRequest(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)


class KeyRequest(BaseModel):
    values: str = Field(max_length=8000)
    reason: str | None = Field(default=None, max_length=500)


# --- what the screen shows ---------------------------------------------------------------------


def twelve_hour(value: str | None) -> str | None:
    """`18:25` -> `6:25 PM` (the way the sheet is written)."""
    if not value or ":" not in value:
        return None
    hours, minutes = (int(part) for part in value.split(":"))
    return f"{hours % 12 or 12}:{minutes:02d} {'AM' if hours < 12 else 'PM'}"


def _finding_label(view: review_queue.ItemView) -> str:
    code = view.flag_code or ""
    name = code.replace("_", " ").capitalize()
    if code in crops.SIGNATURE_CODES:
        return name
    if not view.days:
        return f"{name} (the whole sheet)"
    if len(view.days) == 1:
        return f"{name} · {crops.day_text(view.days[0])}"
    return f"{name} · {len(view.days)} days"


def item_label(view: review_queue.ItemView, field: Any) -> str:
    """What the item is, as a reviewer names it: `Tue Nov 17 - time out`, `Incomplete pair ·
    Thu Nov 5`, `Parent signature (QA check)`."""
    if view.kind == ItemKind.UNREGISTERED_PAGE.value:
        return "The whole page: it could not be registered"
    if view.kind == ItemKind.FINDING.value or view.flag_code:
        return _finding_label(view)
    if isinstance(field, TimeField | MarkField | SignatureField):
        label = crops.field_title(field)
    else:
        label = view.field_name or f"item {view.id}"
    return label + (" (QA check)" if view.kind == ItemKind.QA_SAMPLE.value else "")


def screen_item(
    session: Session, view: review_queue.ItemView, sheet: Sheet, certificate: Certificate
) -> dict[str, Any]:
    """One item as the screen shows it (`item_json` and what the sheet screen adds)."""
    data = item_json(view)
    layout = evidence.layout_for(sheet.serial, sheet.month, sheet.form_version)
    field = None
    if view.field_name:
        try:
            field = layout.field(view.field_name)
        except KeyError:
            field = None
    data["label"] = item_label(view, field)
    data["rects"] = [[round(v, 2) for v in rect] for rect in evidence.item_rects(session, view.id)]
    data["value_12h"] = twelve_hour(view.value) if view.field_kind == "time" else None
    data["machine_12h"] = twelve_hour(view.machine_value) if view.field_kind == "time" else None
    data["reason_text"] = REASONS.get(view.reason or "")
    data["ampm"] = (
        "inferred" if view.reason == AMPM_INFERRED else "both" if view.reason == AMPM_BOTH else None
    )
    data["finding_version"] = None
    data["rows"] = []
    if view.kind == ItemKind.FINDING.value and view.flag_code and sheet.id is not None:
        flags = review_queue.finding_flags(session, sheet.id, view.flag_code)
        data["finding_version"] = review_queue.finding_version(flags)
        # The crop changes when the finding does: its URL says which one it shows.
        data["evidence_url"] += f"?v={data['finding_version']}"
        data["meaning"] = FLAG_CODES[view.flag_code].meaning
        data["rows"] = [
            {
                "date": day.isoformat(),
                "day": crops.day_text(day),
                "authorized": review_queue.authorized_hours(certificate, day),
                "message": message.split(": ", 1)[-1],
            }
            for day, message in zip(view.days, view.messages, strict=False)
        ]
    if view.kind == ItemKind.UNREGISTERED_PAGE.value:
        data["evidence_url"] = data["page_url"]
    return data


def _problem_text(code: str, day: str | None) -> str:
    meaning = FLAG_CODES[code].meaning if code in FLAG_CODES else code
    if not day:
        return meaning
    return f"{crops.day_text(dt.date.fromisoformat(day))}: {meaning}"


def sheet_json(session: Session, claim: review_queue.SheetClaim) -> dict[str, Any]:
    """The claimed sheet as the screen shows it: its facts, page and items in page order."""
    sheet = session.exec(select(Sheet).where(Sheet.serial == claim.serial)).one()
    certificate = session.get(Certificate, sheet.certificate_id)
    assert certificate is not None and sheet.id is not None
    provider = session.get(Provider, certificate.provider_id)
    views = [review_queue.describe_item(session, item_id) for item_id in claim.item_ids]
    page = sheets.source_page(session, sheet)
    registered = bool(page and page.canon_path and Path(page.canon_path).is_file())
    first = claim.item_ids[0]
    return {
        "id": sheet.id,
        "serial": sheet.serial,
        "serial_display": format_serial(sheet.serial),
        "month": sheet.month,
        "status": sheet.status,
        "deadline": views[0].deadline.isoformat() if views else None,
        "certificate_id": certificate.certificate_id,
        "child_name": f"{certificate.child_first_name} {certificate.child_last_name}",
        "provider_id": certificate.provider_id,
        "provider_name": provider.name if provider else "",
        "schedule": certificate.schedule_text,
        "sheet_url": f"/sheets/{sheet.serial}",
        "page_url": f"/review/items/{first}/page.png",
        "registered": registered,
        "page_size": [PAGE_WIDTH_PT, PAGE_HEIGHT_PT],
        "returnable": sheet.status in RETURNABLE,
        "problems": [
            _problem_text(f.code, f.day) for f in findings.return_problems(session, sheet)
        ],
        "items": [screen_item(session, view, sheet, certificate) for view in views],
    }


def _stats(session: Session) -> dict[str, Any]:
    stats = review_queue.queue_stats(session)
    return {
        "sheets_needing_review": stats["sheets_needing_review"],
        "decisions": stats["decisions"],
        "unidentified_pages": stats["by_kind"].get(ItemKind.UNIDENTIFIED_PAGE.value, 0),
    }


# --- the page and its JSON routes -------------------------------------------------------------


@router.get("/review")
def review_page(
    request: Request,
    viewer: ReviewerViewer,
    serial: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """The review screen; `?serial=` opens that sheet first (when it has open items)."""
    with session_scope(engine_of(request)) as session:
        stats = _stats(session)
    return render(request, "queue.html", {"stats": stats, "serial": serial.strip()})


@router.post("/review/sheets/next", dependencies=[CSRF])
def next_sheet(
    request: Request, viewer: ReviewerViewer, body: SheetRequest | None = None
) -> Response:
    """Claim a sheet for the viewer: `serial` while it has open items they may take, else the
    next that needs a person. `previous` says what became of `serial` when it is done."""
    body = body or SheetRequest()
    engine = engine_of(request)
    claim = None
    previous = None
    if body.serial and body.serial.strip():
        with session_scope(engine) as session:
            try:
                asked = sheets.find_sheet(session, body.serial)
            except (sheets.InvalidSerial, sheets.SheetNotFound):
                return JSONResponse({"detail": "no sheet has that serial"}, status_code=404)
            serial, status = asked.serial, asked.status
        claim = review_queue.claim_sheet(engine, reviewer=viewer.username, serial=serial)
        if claim is None:
            with session_scope(engine) as session:
                done = session.exec(select(Sheet).where(Sheet.serial == serial)).one()
                status = done.status
            previous = {"serial": serial, "serial_display": format_serial(serial), "status": status}
    for _ in range(3):
        if claim is not None:
            break
        # None also when another reviewer was claiming the same sheet at that moment (its
        # items were locked): asked again, the sheet is theirs and the next one comes.
        claim = review_queue.claim_sheet(engine, reviewer=viewer.username, exclude_sheets=body.skip)
    with session_scope(engine) as session:
        data = {
            "sheet": sheet_json(session, claim) if claim else None,
            "previous": previous,
            "stats": _stats(session),
        }
    return JSONResponse(data)


@router.post("/review/sheets/{serial}/release", dependencies=[CSRF])
def release_sheet(request: Request, viewer: ReviewerViewer, serial: str) -> Response:
    """Skip the sheet: the viewer's claims on it end; its items go back to the queue."""
    engine = engine_of(request)
    with session_scope(engine) as session:
        sheet, _ = visible_sheet(session, viewer, serial)
        assert sheet.id is not None
        sheet_id, target = sheet.id, sheet.serial
    released = review_queue.release_sheet(engine, sheet_id, reviewer=viewer.username)
    return JSONResponse({"serial": target, "sheet_id": sheet_id, "released": len(released)})


@router.post("/review/sheets/{serial}/return", dependencies=[CSRF])
def return_sheet(
    request: Request, viewer: ReviewerViewer, serial: str, body: ReturnRequest | None = None
) -> Response:
    """Return the sheet to its provider (as the sheet view's button does): its open items
    close; the notice is at `notice_url`."""
    body = body or ReturnRequest()
    reason = body.reason.strip() if body.reason and body.reason.strip() else None
    try:
        with session_scope(engine_of(request)) as session:
            sheet, _ = visible_sheet(session, viewer, serial)
            if sheet.status == SheetStatus.RETURNED.value:
                raise errors.AlreadyDone(f"sheet {sheet.serial} was already returned")
            if sheet.status not in RETURNABLE:
                raise errors.NotAllowed(
                    f"sheet {sheet.serial} is {sheet.status.replace('_', ' ')}: "
                    "it cannot be returned"
                )
            sheet_actions.return_sheet(session, sheet, actor=viewer.actor, reason=reason)
            target, status = sheet.serial, sheet.status
    except errors.ReviewError as exc:
        return error_response(exc)
    return JSONResponse(
        {
            "serial": target,
            "serial_display": format_serial(target),
            "status": status,
            "notice_url": f"/sheets/{target}/notice.pdf",
            "sheet_url": f"/sheets/{target}",
        }
    )


# A day's field written short: `5.in`, `05.out`, `5.ci` (an absence by its printed code).
_DAY_FIELD = re.compile(r"^(\d{1,2})\.(in|out|[a-z]{2}|absence\.[a-z_]+)$")
_SHORT = {a.short.lower(): a.code for a in ABSENCE_CODES}
_NAMED = {
    "parent": "signature.parent",
    "provider": "signature.provider",
    "fee": "family_fee.paid",
}


def parse_keyed(text: str) -> dict[str, str]:
    """`5.in=7:30 5.out=5:30p 12.ci=x parent=signed` -> field names and typed values.

    Pairs are separated by spaces, commas or semicolons; a day's field may be written short
    (`5.in` for `day.05.in`, `12.ci` for the day's CI absence box); `parent`, `provider` and
    `fee` name the signatures and the family fee box. Raises InvalidValue."""
    found: dict[str, str] = {}
    for token in re.split(r"[\s,;]+", text.strip()):
        if not token:
            continue
        name, sep, value = token.partition("=")
        if not sep or not name:
            raise errors.InvalidValue(f"{token!r} is not FIELD=VALUE (e.g. 5.in=7:30)")
        name = name.strip().lower()
        short = _DAY_FIELD.match(name)
        if short:
            day, part = int(short.group(1)), short.group(2)
            if part in _SHORT:
                part = f"absence.{_SHORT[part]}"
            name = f"day.{day:02d}.{part}"
        name = _NAMED.get(name, name)
        if name in found:
            raise errors.InvalidValue(f"{name} is given twice")
        found[name] = value
    if not found:
        raise errors.InvalidValue("type the page's fields as FIELD=VALUE pairs (e.g. 5.in=7:30)")
    return found


@router.post("/review/items/{item_id}/key", dependencies=[CSRF])
def key_page(request: Request, viewer: ReviewerViewer, item_id: int, body: KeyRequest) -> Response:
    """Key a page that could not be registered (`attend review key`): the typed pairs are its
    fields; every field not named is blank."""
    reason = body.reason.strip() if body.reason and body.reason.strip() else None
    try:
        values = parse_keyed(body.values)
        decision = decisions.correct_page(
            engine_of(request), item_id, values, reviewer=viewer.username, reason=reason
        )
    except errors.ReviewError as exc:
        return error_response(exc)
    return JSONResponse(decision_json(decision))
