"""The review queue's item routes (JSON, keyboard clients) and grouped verification.

The review page itself (`/review`, one screen per sheet) is `review_ui.routes.screen`; it
sends its decisions here. `POST /review/next` claims items one at a time (like `attend review
next`), for scripts and the server-time benchmark. `accept`, `correct` and `skip` call the
same functions as the command line (attendance.decisions), with the viewer as the reviewer,
so the decisions and the audit events are the same whichever way a reviewer works; a field's
decision names the version the reviewer saw, a finding's its `finding_version`, and a stale
one is refused (409) with nothing written.

Grouped verification (`/review/groups`) shows the crops of open field items that share one
machine reading; the ticked ones are confirmed in one transaction (all or none).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import cv2
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlmodel import Session, col, func, or_, select

from attendance import decisions, errors, review_queue, sheets, values
from attendance.db import session_scope
from attendance.evidence import EvidenceMissing, item_evidence_png
from attendance.models import ItemKind, ItemState, ReviewItem, ScannedPage, Sheet, utcnow
from review_ui import drawing
from review_ui.web import CSRF, ReviewerViewer, engine_of, render, settings_of, stored_page_image

router = APIRouter(include_in_schema=False)

CLAIM_BATCH = 5  # items claimed per /review/next: the reviewer's own claims come back first
GROUP_LIMIT = 48  # crops shown on one group page
MAX_IDS = 500  # ids a client may send in one request (skipped items, ticked tiles)
GROUP_KINDS = ("time", "mark", "signature")
FIELD_KINDS = (ItemKind.FIELD.value, ItemKind.QA_SAMPLE.value)
# Page images and crops show children's names and handwriting: never kept by a browser or proxy.
IMAGE_CACHE = "no-store"


# --- request bodies ---------------------------------------------------------------------------


class NextRequest(BaseModel):
    group: str | None = Field(default=None, max_length=80)
    skip: list[int] = Field(default_factory=list, max_length=MAX_IDS)


class AcceptRequest(BaseModel):
    version: int | None = None
    reason: str | None = Field(default=None, max_length=500)
    finding_version: str | None = Field(default=None, max_length=64)


class CorrectRequest(BaseModel):
    value: str = Field(max_length=40)
    version: int | None = None
    reason: str | None = Field(default=None, max_length=500)


# --- helpers ----------------------------------------------------------------------------------


def parse_group(text: str | None) -> tuple[str, str | None] | None:
    """`time:07:30` -> ("time", "07:30"); `mark:blank` -> ("mark", None), like the CLI."""
    if not text:
        return None
    kind, sep, value = text.partition(":")
    if kind not in GROUP_KINDS or not sep:
        raise HTTPException(400, detail="a group is KIND:VALUE, e.g. time:07:30 or mark:blank")
    return kind, None if value in ("", "blank") else value


def group_key(kind: str, value: str | None) -> str:
    return f"{kind}:{value or 'blank'}"


def group_url(kind: str, value: str | None) -> str:
    return f"/review/groups/{quote(kind, safe='')}/{quote(value or 'blank', safe=':')}"


def error_response(exc: errors.ReviewError) -> JSONResponse:
    """A review error as JSON: the status is its kind's (the same kind gives the command
    line's exit code), the message says why."""
    detail = str(exc)
    if isinstance(exc, errors.ItemHeld):
        detail = f"held by another reviewer: {exc}"
    elif isinstance(exc, errors.VersionConflict):
        detail = f"changed since you loaded it: {exc}"
    return JSONResponse({"detail": detail}, status_code=exc.kind.http_status)


def decision_json(decision: decisions.Decision) -> dict[str, Any]:
    return {
        "item_id": decision.item_id,
        "resolution": decision.resolution,
        "value": decision.value,
        "sheet_status": decision.sheet_status,
    }


def _available(reviewer: str, now: dt.datetime) -> Any:
    """Open items this reviewer may take: unclaimed, their claim run out, or held by them."""
    return (
        ReviewItem.state == ItemState.OPEN.value,
        or_(
            col(ReviewItem.claimed_by).is_(None),
            col(ReviewItem.claim_expires_at) < now,
            col(ReviewItem.claimed_by) == reviewer,
        ),
    )


def _remaining(session: Session, reviewer: str) -> int:
    count = session.exec(
        select(func.count()).select_from(ReviewItem).where(*_available(reviewer, utcnow()))
    ).one()
    return int(count)


def item_json(view: review_queue.ItemView) -> dict[str, Any]:
    data = view.to_json()
    data["weekday"] = f"{view.date:%A}" if view.date else None
    data["evidence_url"] = f"/review/items/{view.id}/evidence.png"
    data["page_url"] = f"/review/items/{view.id}/page.png"
    data["sheet_url"] = f"/sheets/{view.serial}" if view.serial else None
    data["identify_url"] = (
        f"/review/pages/{view.id}" if view.kind == ItemKind.UNIDENTIFIED_PAGE.value else None
    )
    return data


def _page_image_path(request: Request, session: Session, item: ReviewItem) -> Path | None:
    """The registered (canonical) image of the item's page, else its preview image."""
    page = session.get(ScannedPage, item.page_id) if item.page_id else None
    if page is None and item.sheet_id is not None:
        sheet = session.get(Sheet, item.sheet_id)
        page = sheets.source_page(session, sheet) if sheet else None
    return stored_page_image(settings_of(request), page) if page else None


def _png(content: bytes) -> Response:
    return Response(content, media_type="image/png", headers={"Cache-Control": IMAGE_CACHE})


# --- the queue --------------------------------------------------------------------------------


@router.post("/review/next", dependencies=[CSRF])
def next_item(
    request: Request, viewer: ReviewerViewer, body: NextRequest | None = None
) -> Response:
    body = body or NextRequest()
    try:
        group = parse_group(body.group)
    except HTTPException as exc:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
    engine = engine_of(request)
    ids = review_queue.claim_items(
        engine, reviewer=viewer.username, limit=CLAIM_BATCH, group=group, exclude=body.skip
    )
    with session_scope(engine) as session:
        remaining = _remaining(session, viewer.username)
        if not ids:
            return JSONResponse({"item": None, "remaining": remaining})
        view = review_queue.describe_item(session, ids[0])
    return JSONResponse({"item": item_json(view), "remaining": remaining})


@router.get("/review/items/{item_id}/evidence.png")
def evidence(request: Request, viewer: ReviewerViewer, item_id: int) -> Response:
    with session_scope(engine_of(request)) as session:
        try:
            content = item_evidence_png(session, item_id)
        except errors.ItemNotFound:
            raise HTTPException(404, detail=f"no review item {item_id}") from None
        except EvidenceMissing:
            raise HTTPException(404, detail=f"item {item_id} has no stored image") from None
    return _png(content)


@router.get("/review/items/{item_id}/page.png")
def page_image(request: Request, viewer: ReviewerViewer, item_id: int) -> Response:
    with session_scope(engine_of(request)) as session:
        item = session.get(ReviewItem, item_id)
        if item is None:
            raise HTTPException(404, detail=f"no review item {item_id}")
        path = _page_image_path(request, session, item)
    if path is None:
        raise HTTPException(404, detail=f"item {item_id}: the page image is not stored")
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise HTTPException(404, detail=f"item {item_id}: the page image cannot be read")
    return _png(drawing.png_bytes(drawing.scale_to_width(image, drawing.PAGE_IMAGE_WIDTH)))


@router.post("/review/items/{item_id}/accept", dependencies=[CSRF])
def accept(
    request: Request, viewer: ReviewerViewer, item_id: int, body: AcceptRequest | None = None
) -> Response:
    body = body or AcceptRequest()
    reason = body.reason.strip() if body.reason and body.reason.strip() else None
    try:
        decision = decisions.accept_item(
            engine_of(request),
            item_id,
            reviewer=viewer.username,
            version=body.version,
            reason=reason,
            finding_version=body.finding_version,
        )
    except errors.ReviewError as exc:
        return error_response(exc)
    return JSONResponse(decision_json(decision))


@router.post("/review/items/{item_id}/correct", dependencies=[CSRF])
def correct(
    request: Request, viewer: ReviewerViewer, item_id: int, body: CorrectRequest
) -> Response:
    """The reviewer's value; typing the value the field already has confirms it instead."""
    engine = engine_of(request)
    reason = body.reason.strip() if body.reason and body.reason.strip() else None
    try:
        with session_scope(engine) as session:
            view = review_queue.describe_item(session, item_id)
        if view.field_kind is not None and view.kind in FIELD_KINDS:
            same = values.normalize_value(view.field_kind, body.value) == view.value
        else:
            same = False
        if same:
            decision = decisions.accept_item(
                engine, item_id, reviewer=viewer.username, version=body.version, reason=reason
            )
        else:
            decision = decisions.correct_item(
                engine,
                item_id,
                body.value,
                reviewer=viewer.username,
                version=body.version,
                reason=reason,
            )
    except errors.ReviewError as exc:
        return error_response(exc)
    return JSONResponse(decision_json(decision))


@router.post("/review/items/{item_id}/skip", dependencies=[CSRF])
def skip(request: Request, viewer: ReviewerViewer, item_id: int) -> Response:
    try:
        review_queue.release_item(engine_of(request), item_id, reviewer=viewer.username)
    except errors.ReviewError as exc:
        return error_response(exc)
    return JSONResponse({"item_id": item_id, "resolution": "skipped"})


# --- grouped verification ---------------------------------------------------------------------


@router.get("/review/groups")
def groups_page(request: Request, viewer: ReviewerViewer, confirmed: int | None = None) -> Response:
    with session_scope(engine_of(request)) as session:
        found = review_queue.groups(session)
    rows = [
        {
            "key": group_key(g.field_kind, g.machine_value),
            "url": group_url(g.field_kind, g.machine_value),
            "kind": g.field_kind,
            "value": g.machine_value or "blank",
            "count": g.count,
        }
        for g in found
    ]
    return render(request, "groups.html", {"groups": rows, "confirmed": confirmed})


def _group_items(session: Session, reviewer: str, kind: str, value: str | None) -> list[int]:
    """The open items of one group that this reviewer may take, in queue order."""
    query = select(ReviewItem.id).where(
        *_available(reviewer, utcnow()),
        col(ReviewItem.kind).in_(FIELD_KINDS),
        ReviewItem.field_kind == kind,
        col(ReviewItem.machine_value).is_(None)
        if value is None
        else ReviewItem.machine_value == value,
    )
    ids = session.exec(
        query.order_by(
            col(ReviewItem.deadline), col(ReviewItem.priority), col(ReviewItem.id)
        ).limit(GROUP_LIMIT)
    ).all()
    return [i for i in ids if i is not None]


def _group_page(
    request: Request,
    viewer: ReviewerViewer,
    kind: str,
    value: str | None,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    with session_scope(engine_of(request)) as session:
        ids = _group_items(session, viewer.username, kind, value)
    return render(
        request,
        "group.html",
        {
            "group": group_key(kind, value),
            "kind": kind,
            "value": value or "blank",
            "items": ids,
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/review/groups/{kind}/{value}")
def group_page(request: Request, viewer: ReviewerViewer, kind: str, value: str) -> Response:
    parsed = parse_group(f"{kind}:{value}")
    assert parsed is not None
    return _group_page(request, viewer, *parsed)


@router.post("/review/groups/accept", dependencies=[CSRF])
def group_accept(
    request: Request,
    viewer: ReviewerViewer,
    group: Annotated[str, Form(max_length=80)],
    item: Annotated[list[int] | None, Form(max_length=MAX_IDS)] = None,
    shown: Annotated[list[int] | None, Form(max_length=MAX_IDS)] = None,
) -> Response:
    """Confirm the ticked crops (all or none); the unticked ones go back to the queue."""
    parsed = parse_group(group)
    assert parsed is not None
    kind, value = parsed
    ticked = list(dict.fromkeys(item or []))
    unticked = [i for i in dict.fromkeys(shown or []) if i not in set(ticked)]
    engine = engine_of(request)
    with session_scope(engine) as session:
        rows = {
            r.id: r
            for r in session.exec(
                select(ReviewItem).where(col(ReviewItem.id).in_(ticked + unticked))
            ).all()
        }
        mine = {i for i in unticked if i in rows and rows[i].claimed_by == viewer.username}
    for item_id in ticked:
        row = rows.get(item_id)
        if (
            row is None
            or row.kind not in FIELD_KINDS
            or row.field_kind != kind
            or row.machine_value != value
        ):
            return _group_page(
                request,
                viewer,
                kind,
                value,
                error=f"item {item_id} is not in the group {group_key(kind, value)}; "
                "nothing was confirmed",
                status_code=400,
            )
    try:
        made = decisions.accept_items(engine, ticked, reviewer=viewer.username)
    except errors.ReviewError as exc:
        status = 404 if isinstance(exc, errors.ItemNotFound) else 409
        if isinstance(exc, errors.ItemHeld):
            message = f"held by another reviewer: {exc}"
        else:
            message = str(exc)
        return _group_page(
            request,
            viewer,
            kind,
            value,
            error=f"{message}. Nothing was confirmed; look at the group again.",
            status_code=status,
        )
    for item_id in sorted(mine):
        # Taken or finished meanwhile: nothing to give back.
        with contextlib.suppress(errors.ReviewError):
            review_queue.release_item(engine, item_id, reviewer=viewer.username)
    return RedirectResponse(f"/review/groups?confirmed={len(made)}", status_code=303)
