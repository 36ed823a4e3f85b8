"""The mailroom: batches of scans and what became of them, uploads, expected vs received.

Uploaded files go into the same queue as the watched folder (`intake.queue.accept_upload`),
with the same guarantees; the running intake service (`attend intake watch` / `attend intake
worker`) reads their pages. Files taken in with `attend intake run` have no batch id: they are
shown as one batch per day, `run-YYYYMMDD`.

Original file names are shown here (mailroom and admin only): scanners name files after
people, so they are never logged, put in a URL or a file name.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Annotated, Any

import cv2
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, func, select
from starlette.datastructures import UploadFile

from attendance import agency_settings
from attendance.agency import AgencyConfig
from attendance.db import session_scope
from attendance.models import (
    ArrivalState,
    Certificate,
    FileStatus,
    IntakeFile,
    PageStatus,
    Provider,
    ScannedFile,
    ScannedPage,
    Sheet,
    SheetStatus,
    utcnow,
)
from attendance.settings import Settings
from forms.serial import format_serial
from intake.folders import IntakeDirs, UnsafeConfiguration, check_folders, check_sqlite_location
from intake.queue import accept_upload, new_batch_id
from intake.report import batch_report
from review_ui import drawing
from review_ui.web import (
    CSRF,
    MailroomViewer,
    any_larger_than,
    chosen_files,
    engine_of,
    month_param,
    render,
    settings_of,
    stored_page_image,
)

router = APIRouter(include_in_schema=False)

MAX_FILE_BYTES = 200 * 1024 * 1024
"""The largest file one may upload (a 200-page colour scan at 300 dpi is well below)."""
RECENT_BATCHES = 50
ACCEPT = ".pdf,.tif,.tiff,.jpg,.jpeg,.png"
RUN_BATCH = re.compile(r"^run-(\d{4})(\d{2})(\d{2})$")
FINISHED = (ArrivalState.DONE.value, ArrivalState.FAILED.value, ArrivalState.DUPLICATE.value)


def intake_dirs(settings: Settings) -> IntakeDirs:
    """The intake's work folders, checked as `attend intake worker` checks them."""
    dirs = IntakeDirs(settings.intake_work_dir)
    try:
        check_folders(None, dirs, home=settings.home)
        url = make_url(settings.database_url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            check_sqlite_location(Path(str(url.database)))
    except UnsafeConfiguration as exc:
        raise HTTPException(status_code=503, detail=f"uploads are off: {exc}") from None
    dirs.ensure()
    return dirs


# --- batches -------------------------------------------------------------------------------


def _page_counts(session: Session, file_ids: list[int]) -> dict[int, Counter[str]]:
    """Per scanned file, its pages by status."""
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    if file_ids:
        for file_id, status, n in session.exec(
            select(ScannedPage.file_id, ScannedPage.status, func.count())
            .where(col(ScannedPage.file_id).in_(file_ids))
            .group_by(col(ScannedPage.file_id), col(ScannedPage.status))
        ).all():
            counts[file_id][status] = n
    return counts


def _run_files(session: Session) -> list[ScannedFile]:
    """Scanned files that no intake arrival brought (taken in with `attend intake run`)."""
    brought = select(IntakeFile.file_id).where(col(IntakeFile.file_id).is_not(None))
    return list(
        session.exec(
            select(ScannedFile)
            .where(col(ScannedFile.id).not_in(brought))
            .order_by(col(ScannedFile.id))
        ).all()
    )


def local_time(config: AgencyConfig, moment: dt.datetime) -> str:
    """A moment in the agency's time zone, the zone named: `2026-12-02 09:00 PST`."""
    return moment.astimezone(config.zone).strftime("%Y-%m-%d %H:%M %Z")


def source_words(arrivals: list[IntakeFile]) -> str:
    """Where a batch's files came from: `watch`, `upload`, or phone photos and whose."""
    words = set()
    for arrival in arrivals:
        if arrival.source == "phone":
            words.add(f"phone photos from provider {arrival.provider_id}")
        else:
            words.add(arrival.source)
    return ", ".join(sorted(words))


def _run_batch_id(config: AgencyConfig, moment: dt.datetime) -> str:
    return f"run-{config.local_date(moment):%Y%m%d}"


def list_batches(session: Session) -> list[dict[str, Any]]:
    """The most recent batches, newest first: id, when, files, pages, received, quarantined."""
    config = agency_settings.load_config(session)
    batches: list[dict[str, Any]] = []
    recent = session.exec(
        select(IntakeFile.batch_id, func.max(IntakeFile.id))
        .group_by(col(IntakeFile.batch_id))
        .order_by(func.max(IntakeFile.id).desc())
        .limit(RECENT_BATCHES)
    ).all()
    batch_ids = [batch_id for batch_id, _ in recent]
    arrivals = (
        session.exec(
            select(IntakeFile)
            .where(col(IntakeFile.batch_id).in_(batch_ids))
            .order_by(col(IntakeFile.id))
        ).all()
        if batch_ids
        else []
    )
    owning = [
        a.file_id
        for a in arrivals
        if a.file_id is not None and a.state != ArrivalState.DUPLICATE.value
    ]
    pages = _page_counts(session, owning)
    by_batch: dict[str, list[IntakeFile]] = defaultdict(list)
    for arrival in arrivals:
        by_batch[arrival.batch_id].append(arrival)
    for batch_id in batch_ids:
        rows = by_batch[batch_id]
        counted = [
            pages[a.file_id]
            for a in rows
            if a.file_id is not None and a.state != ArrivalState.DUPLICATE.value
        ]
        batches.append(
            {
                "batch_id": batch_id,
                "source": source_words(rows),
                "when": min(a.arrived_at for a in rows),
                "files": len(rows),
                "pages": sum(sum(c.values()) for c in counted),
                "received": sum(c[PageStatus.IDENTIFIED.value] for c in counted),
                "quarantined": sum(1 for a in rows if a.state == ArrivalState.FAILED.value),
                "in_progress": sum(1 for a in rows if a.state not in FINISHED),
            }
        )
    run_files = _run_files(session)
    run_pages = _page_counts(session, [f.id for f in run_files if f.id is not None])
    runs: dict[str, list[ScannedFile]] = defaultdict(list)
    for scanned in run_files:
        runs[_run_batch_id(config, scanned.received_at)].append(scanned)
    for batch_id, files in runs.items():
        counted = [run_pages[f.id] for f in files if f.id is not None]
        batches.append(
            {
                "batch_id": batch_id,
                "source": "intake run",
                "when": min(f.received_at for f in files),
                "files": len(files),
                "pages": sum(sum(c.values()) for c in counted),
                "received": sum(c[PageStatus.IDENTIFIED.value] for c in counted),
                "quarantined": sum(1 for f in files if f.status == FileStatus.FAILED.value),
                "in_progress": sum(1 for f in files if f.status == FileStatus.PROCESSING.value),
            }
        )
    batches.sort(key=lambda b: b["when"], reverse=True)
    for batch in batches:
        batch["when_local"] = local_time(config, batch["when"])
    return batches[:RECENT_BATCHES]


def _page_outcome(page: ScannedPage) -> tuple[str, str]:
    """What became of a page, in words, and a badge colour."""
    serial = format_serial(page.serial) if page.serial else None
    if page.status == PageStatus.IDENTIFIED.value and page.reason == "advance_copy":
        return f"advance copy of {serial}: waits for the original", "yellow"
    if page.status == PageStatus.IDENTIFIED.value:
        text = f"received {serial}" if serial else "received"
        if page.needs_review:
            return f"{text}; to review ({page.review_reason or 'page'})", "yellow"
        return text, "green"
    if page.status == PageStatus.UNIDENTIFIED.value:
        return f"unidentified ({page.reason})" if page.reason else "unidentified", "yellow"
    if page.status == PageStatus.DUPLICATE.value:
        return (f"duplicate of {serial}" if serial else "duplicate"), "yellow"
    if page.status == PageStatus.FAILED.value:
        return f"failed: {page.reason or 'unreadable'}", "red"
    return page.status, ""


def _pages_of(session: Session, file_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    pages: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not file_ids:
        return pages
    for page in session.exec(
        select(ScannedPage)
        .where(col(ScannedPage.file_id).in_(file_ids))
        .order_by(col(ScannedPage.file_id), col(ScannedPage.page_number))
    ).all():
        text, colour = _page_outcome(page)
        pages[page.file_id].append(
            {
                "id": page.id,
                "number": page.page_number,
                "outcome": text,
                "colour": colour,
                "status": page.status,
                "serial": page.serial,
                "has_image": bool(page.canon_path or page.image_path),
            }
        )
    return pages


def _intake_batch(request: Request, session: Session, batch_id: str) -> dict[str, Any]:
    try:
        report = batch_report(engine_of(request), batch_id)
    except LookupError:
        raise HTTPException(status_code=404, detail=f"no batch {batch_id}") from None
    arrivals = session.exec(
        select(IntakeFile).where(IntakeFile.batch_id == batch_id).order_by(col(IntakeFile.id))
    ).all()
    owning = [
        a.file_id
        for a in arrivals
        if a.file_id is not None and a.state != ArrivalState.DUPLICATE.value
    ]
    pages = _pages_of(session, owning)
    files = []
    for arrival in arrivals:
        show_pages = arrival.state != ArrivalState.DUPLICATE.value and arrival.file_id
        files.append(
            {
                "name": arrival.original_name,
                "state": arrival.state,
                "reason": arrival.reason,
                "message": arrival.message,
                "page_count": arrival.page_count,
                "size_bytes": arrival.size_bytes,
                "pages": pages.get(arrival.file_id, []) if show_pages and arrival.file_id else [],
            }
        )
    config = agency_settings.load_config(session)
    return {
        "when": local_time(config, arrivals[0].arrived_at),
        "source": source_words(list(arrivals)),
        "counts": report,
        "files": files,
    }


def _run_batch(session: Session, batch_id: str) -> dict[str, Any]:
    config = agency_settings.load_config(session)
    files = [f for f in _run_files(session) if _run_batch_id(config, f.received_at) == batch_id]
    if not files:
        raise HTTPException(status_code=404, detail=f"no batch {batch_id}")
    pages = _pages_of(session, [f.id for f in files if f.id is not None])
    status = Counter(f.status for f in files)
    page_status: Counter[str] = Counter(p["status"] for ps in pages.values() for p in ps)
    failed = [f for f in files if f.status == FileStatus.FAILED.value]
    counts = {
        "batch_id": batch_id,
        "finished": status[FileStatus.PROCESSING.value] == 0,
        "files": {
            "arrived": len(files),
            "done": status[FileStatus.PROCESSED.value],
            "failed": status[FileStatus.FAILED.value],
            "duplicate": 0,
            "in_progress": status[FileStatus.PROCESSING.value],
        },
        "pages": {
            "processed": sum(page_status.values()),
            "identified": page_status[PageStatus.IDENTIFIED.value],
            "unidentified": page_status[PageStatus.UNIDENTIFIED.value],
            "duplicate": page_status[PageStatus.DUPLICATE.value],
            "failed": page_status[PageStatus.FAILED.value],
            "waiting": 0,
        },
        "quarantined": dict(sorted(Counter(f.reason or "unknown" for f in failed).items())),
    }
    state_of = {
        FileStatus.PROCESSED.value: ArrivalState.DONE.value,
        FileStatus.FAILED.value: ArrivalState.FAILED.value,
        FileStatus.PROCESSING.value: ArrivalState.QUEUED.value,
    }
    return {
        "when": local_time(config, min(f.received_at for f in files)),
        "source": "intake run",
        "counts": counts,
        "files": [
            {
                "name": f.original_name,
                "state": state_of.get(f.status, f.status),
                "reason": f.reason,
                "message": f.message,
                "page_count": f.page_count,
                "size_bytes": f.size_bytes,
                "pages": pages.get(f.id, []) if f.id is not None else [],
            }
            for f in files
        ],
    }


# --- expected vs received ----------------------------------------------------------------


def expected_vs_received(session: Session, month: str) -> list[dict[str, Any]]:
    """Per provider: sheets issued for `month` (not void), received, missing, returned."""
    names = {p.provider_id: p.name for p in session.exec(select(Provider)).all()}
    rows: dict[str, Counter[str]] = defaultdict(Counter)
    for provider_id, status, n in session.exec(
        select(Certificate.provider_id, Sheet.status, func.count())
        .join(Certificate, col(Certificate.certificate_id) == Sheet.certificate_id)
        .where(Sheet.month == month)
        .group_by(col(Certificate.provider_id), col(Sheet.status))
    ).all():
        rows[provider_id][status] += n
    table = []
    for provider_id in sorted(rows):
        counts = rows[provider_id]
        issued = sum(n for status, n in counts.items() if status != SheetStatus.VOID.value)
        missing = counts[SheetStatus.ISSUED.value]
        table.append(
            {
                "provider_id": provider_id,
                "name": names.get(provider_id, ""),
                "issued": issued,
                "received": issued - missing,
                "missing": missing,
                "returned": counts[SheetStatus.RETURNED.value],
                "void": counts[SheetStatus.VOID.value],
            }
        )
    return table


def receiving_month(config: AgencyConfig, months: list[str]) -> str:
    """The month whose sheets are arriving now: last month (sheets come in after their month
    ends), or the newest issued month before it; the newest month if every one is later."""
    today = config.local_date(utcnow())
    last = dt.date(today.year, today.month, 1) - dt.timedelta(days=1)
    wanted = f"{last.year:04d}-{last.month:02d}"
    earlier = [m for m in months if m <= wanted]
    return max(earlier) if earlier else max(months)


@router.get("/mailroom")
def mailroom(
    request: Request,
    viewer: MailroomViewer,
    month: Annotated[str | None, Query(max_length=7)] = None,
) -> Response:
    with session_scope(engine_of(request)) as session:
        months = sorted(set(session.exec(select(Sheet.month).distinct()).all()), reverse=True)
        if month:
            month = month_param(month)
        elif months:
            month = receiving_month(agency_settings.load_config(session), months)
        expected = expected_vs_received(session, month) if month else []
        batches = list_batches(session)
    totals = {
        key: sum(row[key] for row in expected)
        for key in ("issued", "received", "missing", "returned")
    }
    return render(
        request,
        "mailroom.html",
        {
            "batches": batches,
            "months": months,
            "month": month,
            "expected": expected,
            "totals": totals,
            "accept": ACCEPT,
            "max_mb": MAX_FILE_BYTES // (1024 * 1024),
        },
    )


@router.get("/mailroom/batches/{batch_id}")
def batch_page(request: Request, viewer: MailroomViewer, batch_id: str) -> Response:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", batch_id):
        raise HTTPException(status_code=404, detail=f"no batch {batch_id}")
    with session_scope(engine_of(request)) as session:
        if RUN_BATCH.match(batch_id):
            batch = _run_batch(session, batch_id)
        else:
            batch = _intake_batch(request, session, batch_id)
    return render(request, "batch.html", {"batch_id": batch_id, **batch})


@router.get("/mailroom/pages/{page_id}/thumb.png")
def page_thumb(request: Request, viewer: MailroomViewer, page_id: int) -> Response:
    with session_scope(engine_of(request)) as session:
        page = session.get(ScannedPage, page_id)
    found = stored_page_image(settings_of(request), page) if page else None
    image = cv2.imread(str(found), cv2.IMREAD_GRAYSCALE) if found else None
    if image is None:
        raise HTTPException(status_code=404, detail="no image of this page")
    return Response(
        drawing.thumbnail_png(image),
        media_type="image/png",
        headers={"Cache-Control": "no-store"},  # a page may show a child's name
    )


# --- upload --------------------------------------------------------------------------------


def _store_uploads(request: Request, chosen: list[UploadFile]) -> str:
    """Put every uploaded file into the intake queue under one new batch id."""
    dirs = intake_dirs(settings_of(request))
    engine = engine_of(request)
    batch_id = new_batch_id()
    for item in chosen:
        item.file.seek(0)
        try:
            accept_upload(engine, dirs, item.file, name=item.filename or "", batch_id=batch_id)
        except OSError as exc:
            raise HTTPException(
                status_code=503,
                detail=f"could not store an uploaded file ({exc.strerror or 'disk error'}); "
                f"files before it are in batch {batch_id}",
            ) from None
    return batch_id


@router.post("/mailroom/upload", dependencies=[CSRF])
async def upload(request: Request, viewer: MailroomViewer) -> Response:
    """Files from the form's `files` field (a browser sends an empty part for no file)."""
    form = await request.form()
    chosen = chosen_files(form, "files")
    if not chosen:
        raise HTTPException(status_code=400, detail="choose at least one file to upload")
    if any_larger_than(chosen, MAX_FILE_BYTES):
        raise HTTPException(
            status_code=413,
            detail=f"a file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB: "
            "split the scan into smaller files; nothing was uploaded",
        )
    batch_id = await run_in_threadpool(_store_uploads, request, chosen)
    return RedirectResponse(f"/mailroom/batches/{batch_id}", status_code=303)
