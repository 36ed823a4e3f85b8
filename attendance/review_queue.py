"""The review queue: items a person must look at, their claims, and what a reviewer sees.

An item exists once per thing it is about (`key`); a claim holds it for one reviewer at a
time (`FOR UPDATE SKIP LOCKED` on PostgreSQL, one writer on SQLite) until it runs out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, and_, case, insert, or_
from sqlmodel import Session, col, func, select

from attendance.agency import AgencyConfig
from attendance.agency_settings import load_config
from attendance.db import session_scope
from attendance.errors import AlreadyDone, ItemHeld, ItemNotFound
from attendance.flags import FLAG_CODES
from attendance.models import (
    Certificate,
    FieldReading,
    FlagState,
    IntakeFile,
    ItemKind,
    ItemState,
    ReviewItem,
    ScannedFile,
    ScannedPage,
    Sheet,
    SheetFlag,
    SheetStatus,
    utcnow,
)
from attendance.months import parse_month
from attendance.rules import due_date
from attendance.schedule import Schedule
from attendance.values import current_value


def sheet_deadline(sheet: Sheet, config: AgencyConfig) -> dt.date:
    """The sheet's payment deadline: the queue works the soonest first."""
    return due_date(parse_month(sheet.month), config)


def open_item(
    session: Session,
    *,
    key: str,
    kind: ItemKind,
    deadline: dt.date,
    priority: float,
    sheet_id: int | None = None,
    page_id: int | None = None,
    reading_id: int | None = None,
    flag_id: int | None = None,
    finding_code: str | None = None,
    field_kind: str | None = None,
    machine_value: str | None = None,
) -> None:
    item = session.exec(select(ReviewItem).where(ReviewItem.key == key)).first()
    if item is not None:
        if item.state == ItemState.OPEN.value:
            if item.priority != priority:  # a finding that gained (or lost) a red day
                item.priority = priority
                session.add(item)
            return
        item.priority = priority
        item.state = ItemState.OPEN.value
        item.resolution = item.resolved_by = None
        item.resolved_at = None
        item.claimed_by = None
        item.claim_expires_at = None
        item.deadline = deadline
        session.add(item)
        return
    session.add(
        ReviewItem(
            key=key,
            kind=kind.value,
            deadline=deadline,
            priority=priority,
            sheet_id=sheet_id,
            page_id=page_id,
            reading_id=reading_id,
            flag_id=flag_id,
            finding_code=finding_code,
            field_kind=field_kind,
            machine_value=machine_value,
        )
    )


def close_item(session: Session, key: str, *, resolution: str, actor: str) -> None:
    item = session.exec(select(ReviewItem).where(ReviewItem.key == key)).first()
    if item is not None and item.state == ItemState.OPEN.value:
        finish_item(session, item, resolution=resolution, actor=actor)


def finish_item(session: Session, item: ReviewItem, *, resolution: str, actor: str) -> None:
    item.state = ItemState.DONE.value
    item.resolution = resolution
    item.resolved_by = actor
    item.resolved_at = utcnow()
    item.claimed_by = None
    item.claim_expires_at = None
    session.add(item)


def open_item_count(session: Session, sheet_id: int) -> int:
    return len(
        session.exec(
            select(ReviewItem.id).where(
                ReviewItem.sheet_id == sheet_id, ReviewItem.state == ItemState.OPEN.value
            )
        ).all()
    )


QA_KINDS = ("time", "signature")
"""What the QA sample draws from: the fields whose errors change what is paid. (Absence marks
are read right nearly always, and a sample of blank marks measures nothing.)"""


def qa_draw(file_sha256: str, page_number: int, field_name: str) -> float:
    """A field's place in the QA draw, 0 to 1: a hash, not a random draw, so the same scan
    always gives the same sample (reproducible, and not gameable by retry)."""
    digest = hashlib.sha256(f"{file_sha256}:{page_number}:{field_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def qa_sampled(file_sha256: str, page_number: int, field_name: str, rate: float) -> bool:
    """Whether an auto-accepted field is drawn for the QA sample at `rate`."""
    return qa_draw(file_sha256, page_number, field_name) < rate


def batch_file_ids(session: Session, file_id: int, config: AgencyConfig) -> set[int]:
    """The files of the intake batch `file_id` came in: its watched-folder batch, or for files
    taken in by `attend intake run`, the files received the same day (one batch per day, as
    the mailroom shows them)."""
    batches = session.exec(select(IntakeFile.batch_id).where(IntakeFile.file_id == file_id)).all()
    if batches:
        return {
            f
            for f in session.exec(
                select(IntakeFile.file_id).where(col(IntakeFile.batch_id).in_(batches))
            ).all()
            if f is not None
        }
    this = session.get(ScannedFile, file_id)
    assert this is not None
    day = config.local_date(this.received_at)
    start = dt.datetime.combine(day, dt.time(0), tzinfo=config.zone)
    end = start + dt.timedelta(days=1)
    return {
        f
        for f in session.exec(
            select(ScannedFile.id).where(
                col(ScannedFile.received_at) >= start, col(ScannedFile.received_at) < end
            )
        ).all()
        if f is not None
    }


def qa_budget_left(session: Session, file_id: int, config: AgencyConfig) -> int:
    """How many more QA samples the batch of `file_id` may open (`qa_batch_cap`)."""
    files = batch_file_ids(session, file_id, config)
    used = session.exec(
        select(func.count())
        .select_from(ReviewItem)
        .join(ScannedPage, col(ReviewItem.page_id) == col(ScannedPage.id))
        .where(ReviewItem.kind == ItemKind.QA_SAMPLE.value, col(ScannedPage.file_id).in_(files))
    ).one()
    return max(0, config.qa_batch_cap - int(used))


@dataclass(frozen=True)
class NewReading:
    """A reading just stored for a page, as the receipt hands it to the queue."""

    id: int
    field_name: str
    kind: str
    machine_value: str | None
    confidence: float | None
    needs_review: bool


def open_page_items(
    session: Session,
    *,
    sheet: Sheet,
    page: ScannedPage,
    file_sha256: str,
    config: AgencyConfig,
    readings: Sequence[NewReading],
) -> None:
    """Queue what a person must look at on a page just recorded as the sheet's record: fields
    read with low confidence, the QA sample of the others, or the whole page when it did not
    register. Its readings are new, so no item can exist for them yet: the items are written
    in one statement."""
    assert sheet.id is not None and page.id is not None
    deadline = sheet_deadline(sheet, config)
    if page.needs_review and not readings:
        open_item(
            session,
            key=f"page:{page.id}",
            kind=ItemKind.UNREGISTERED_PAGE,
            deadline=deadline,
            priority=0.0,
            sheet_id=sheet.id,
            page_id=page.id,
        )
        return
    fields: list[tuple[NewReading, ItemKind]] = []
    drawn: list[tuple[float, NewReading]] = []
    for reading in readings:
        if reading.kind not in ("time", "mark", "signature"):
            continue
        if reading.needs_review:
            fields.append((reading, ItemKind.FIELD))
        elif reading.kind in QA_KINDS:
            draw = qa_draw(file_sha256, page.page_number, reading.field_name)
            if draw < config.qa_sample_rate:
                drawn.append((draw, reading))
    if drawn:
        # The lowest draws first, so a smaller budget keeps a subset of the same sample.
        budget = qa_budget_left(session, page.file_id, config)
        fields += [(reading, ItemKind.QA_SAMPLE) for _, reading in sorted(drawn)[:budget]]
    if not fields:
        return
    session.execute(
        insert(ReviewItem),
        [
            {
                "key": f"{'field' if kind is ItemKind.FIELD else 'qa'}:{reading.id}",
                "kind": kind.value,
                "state": ItemState.OPEN.value,
                "deadline": deadline,
                "priority": reading.confidence if reading.confidence is not None else 0.0,
                "sheet_id": sheet.id,
                "page_id": page.id,
                "reading_id": reading.id,
                "field_kind": reading.kind,
                "machine_value": reading.machine_value,
                "created_at": utcnow(),
            }
            for reading, kind in fields
        ],
    )


def open_unidentified_item(
    session: Session, *, page: ScannedPage, received_at: dt.datetime, config: AgencyConfig
) -> None:
    """Queue a page whose sheet is unknown. Its deadline is the day it arrived: nothing on it
    can be paid until someone says which sheet it is."""
    assert page.id is not None
    open_item(
        session,
        key=f"page:{page.id}",
        kind=ItemKind.UNIDENTIFIED_PAGE,
        deadline=config.local_date(received_at),
        priority=0.0,
        page_id=page.id,
    )


def close_sheet_items(session: Session, sheet: Sheet, *, resolution: str, actor: str) -> int:
    """Close every open item of the sheet (returned, voided, or replaced by a new scan)."""
    items = session.exec(
        select(ReviewItem).where(
            ReviewItem.sheet_id == sheet.id, ReviewItem.state == ItemState.OPEN.value
        )
    ).all()
    for item in items:
        finish_item(session, item, resolution=resolution, actor=actor)
    return len(items)


@dataclass(frozen=True)
class ItemView:
    """One review item with what a reviewer needs beside the evidence image."""

    id: int
    kind: str
    deadline: dt.date
    serial: str | None
    month: str | None
    field_name: str | None = None
    field_kind: str | None = None
    date: dt.date | None = None
    machine_value: str | None = None
    value: str | None = None
    confidence: float | None = None
    reason: str | None = None
    version: int | None = None
    flag_code: str | None = None
    severity: str | None = None
    message: str | None = None
    authorized: str | None = None  # the day's authorized hours, "07:30-17:30"
    other_time: str | None = None  # the other time of the day (in for out, out for in)
    day_flags: tuple[str, ...] = ()
    page_id: int | None = None
    claimed_by: str | None = None
    claim_expires_at: dt.datetime | None = None
    suggestions: tuple[str, ...] = field(default_factory=tuple)
    days: tuple[dt.date, ...] = ()  # a finding's days (none for a sheet-wide finding)
    messages: tuple[str, ...] = ()  # a finding's message for each of its days

    def to_json(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for key in ("deadline", "date", "claim_expires_at"):
            if data[key] is not None:
                data[key] = data[key].isoformat()
        data["day_flags"] = list(self.day_flags)
        data["suggestions"] = list(self.suggestions)
        data["days"] = [day.isoformat() for day in self.days]
        data["messages"] = list(self.messages)
        return data


def _hhmm(total: int) -> str:
    return f"{total // 60:02d}:{total % 60:02d}"


def describe_item(session: Session, item_id: int) -> ItemView:
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise ItemNotFound(f"no review item {item_id}")
    sheet = session.get(Sheet, item.sheet_id) if item.sheet_id else None
    base: dict[str, Any] = {
        "id": item_id,
        "kind": item.kind,
        "deadline": item.deadline,
        "serial": sheet.serial if sheet else None,
        "month": sheet.month if sheet else None,
        "page_id": item.page_id,
        "claimed_by": item.claimed_by,
        "claim_expires_at": item.claim_expires_at,
    }
    if item.reading_id is not None and sheet is not None:
        reading = session.get(FieldReading, item.reading_id)
        assert reading is not None
        base.update(
            field_name=reading.field_name,
            field_kind=reading.kind,
            machine_value=reading.machine_value,
            value=current_value(reading),
            confidence=reading.confidence,
            reason=reading.reason,
            version=reading.version,
        )
        base.update(_day_context(session, sheet, reading))
    elif item.finding_code is not None and sheet is not None:
        base.update(_finding_context(session, sheet, item.finding_code))
    elif item.flag_id is not None:
        flag = session.get(SheetFlag, item.flag_id)
        assert flag is not None
        base.update(
            flag_code=flag.code,
            severity=flag.severity,
            message=flag.message,
            date=dt.date.fromisoformat(flag.day) if flag.day else None,
        )
    elif item.kind == ItemKind.UNIDENTIFIED_PAGE.value and item.page_id is not None:
        base["suggestions"] = tuple(unidentified_suggestions(session, item.page_id))
    return ItemView(**base)


def finding_flags(session: Session, sheet_id: int, code: str) -> list[SheetFlag]:
    """The open flags of one finding, by day."""
    return list(
        session.exec(
            select(SheetFlag)
            .where(
                SheetFlag.sheet_id == sheet_id,
                SheetFlag.code == code,
                SheetFlag.state == FlagState.OPEN.value,
            )
            .order_by(col(SheetFlag.day))
        ).all()
    )


def _finding_context(session: Session, sheet: Sheet, code: str) -> dict[str, Any]:
    """A finding as one decision: what it is, on which days, and what each day says."""
    assert sheet.id is not None
    flags = finding_flags(session, sheet.id, code)
    days = tuple(dt.date.fromisoformat(f.day) for f in flags if f.day)
    certificate = session.get(Certificate, sheet.certificate_id)
    assert certificate is not None
    if not days:
        summary = "; ".join(f.message for f in flags)
    else:
        listed = ", ".join(f"{day:%b} {day.day}" for day in days)
        count = f"{len(days)} days" if len(days) > 1 else "1 day"
        summary = f"{FLAG_CODES[code].meaning} ({count}: {listed})"
    return {
        "flag_code": code,
        "severity": "red" if any(f.severity == "red" for f in flags) else "yellow",
        "message": summary,
        "date": days[0] if len(days) == 1 else None,
        "days": days,
        "messages": tuple(f.message for f in flags),
        "authorized": certificate.schedule_text,
    }


def _day_context(session: Session, sheet: Sheet, reading: FieldReading) -> dict[str, Any]:
    parts = reading.field_name.split(".")
    if parts[0] != "day":
        return {}
    day = parse_month(sheet.month).replace(day=int(parts[1]))
    certificate = session.get(Certificate, sheet.certificate_id)
    assert certificate is not None
    authorized = authorized_hours(certificate, day)
    other = None
    if parts[2] in ("in", "out"):
        other_name = f"day.{parts[1]}.{'out' if parts[2] == 'in' else 'in'}"
        other_row = session.exec(
            select(FieldReading).where(
                FieldReading.page_id == reading.page_id, FieldReading.field_name == other_name
            )
        ).first()
        other = current_value(other_row) if other_row else None
    day_flags = tuple(
        f.code
        for f in session.exec(
            select(SheetFlag).where(
                SheetFlag.sheet_id == sheet.id,
                SheetFlag.day == day.isoformat(),
                SheetFlag.state != FlagState.CLEARED.value,
            )
        ).all()
    )
    return {"date": day, "authorized": authorized, "other_time": other, "day_flags": day_flags}


def authorized_hours(certificate: Certificate, day: dt.date) -> str:
    """The certificate's authorized hours on `day`: `07:30-17:30`, `none`, or `none (outside
    the certificate)`."""
    if not certificate.start_date <= day <= certificate.end_date:
        return "none (outside the certificate)"
    windows = Schedule.from_json(certificate.schedule_json).days[day.weekday()]
    return ", ".join(f"{_hhmm(w.start)}-{_hhmm(w.end)}" for w in windows) or "none"


def finding_version(flags: Collection[SheetFlag]) -> str:
    """What a finding is made of, as a short token: its flags with their days, severities
    and messages. A decision sent with the token a reviewer saw is refused when the finding
    changed since (a correction elsewhere on the sheet added a day or made it red)."""
    parts = sorted(f"{f.id}|{f.day}|{f.severity}|{f.state}|{f.message}" for f in flags)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def unidentified_suggestions(session: Session, page_id: int, limit: int = 12) -> list[str]:
    """Serials this page may be: sheets not yet received of the providers and months of the
    sheets identified in the same file or batch (a batch is usually one provider's month)."""
    page = session.get(ScannedPage, page_id)
    if page is None:
        return []
    file_ids = {page.file_id}
    # The same batch: the watched folder's batch, or files received within ten minutes.
    batches = session.exec(
        select(IntakeFile.batch_id).where(IntakeFile.file_id == page.file_id)
    ).all()
    if batches:
        file_ids |= {
            f
            for f in session.exec(
                select(IntakeFile.file_id).where(col(IntakeFile.batch_id).in_(batches))
            ).all()
            if f is not None
        }
    this_file = session.get(ScannedFile, page.file_id)
    if this_file is not None:
        window = dt.timedelta(minutes=10)
        file_ids |= {
            f
            for f in session.exec(
                select(ScannedFile.id).where(
                    col(ScannedFile.received_at) >= this_file.received_at - window,
                    col(ScannedFile.received_at) <= this_file.received_at + window,
                )
            ).all()
            if f is not None
        }
    neighbours = session.exec(
        select(Sheet)
        .join(ScannedPage, col(ScannedPage.sheet_id) == col(Sheet.id))
        .where(col(ScannedPage.file_id).in_(file_ids))
    ).all()
    keys = set()
    for sheet in neighbours:
        certificate = session.get(Certificate, sheet.certificate_id)
        assert certificate is not None
        keys.add((certificate.provider_id, sheet.month))
    serials: list[str] = []
    for provider_id, month in sorted(keys):
        rows = session.exec(
            select(Sheet)
            .join(Certificate, col(Sheet.certificate_id) == col(Certificate.certificate_id))
            .where(
                Certificate.provider_id == provider_id,
                Sheet.month == month,
                Sheet.status == SheetStatus.ISSUED.value,
            )
            .order_by(col(Sheet.serial))
        ).all()
        serials.extend(s.serial for s in rows)
    return serials[:limit]


def claim_items(
    engine: Engine,
    *,
    reviewer: str,
    limit: int = 5,
    group: tuple[str, str | None] | None = None,
    now: dt.datetime | None = None,
    exclude: Collection[int] = (),
) -> list[int]:
    """Claim up to `limit` items for `reviewer`, soonest deadline then lowest confidence first.

    The reviewer's own live claims come back first. An item is held by one reviewer at a
    time; a claim runs out after the agency's `claim_minutes`. `group` (field kind, machine
    value) claims only the field items that share that reading, for grouped verification.
    `exclude` leaves out the given items (those the reviewer just skipped)."""
    with session_scope(engine) as session:
        config = load_config(session)
        now = now or utcnow()
        query = select(ReviewItem).where(_available(reviewer, now))
        if group is not None:
            kind, value = group
            query = query.where(
                col(ReviewItem.kind).in_((ItemKind.FIELD.value, ItemKind.QA_SAMPLE.value)),
                ReviewItem.field_kind == kind,
                col(ReviewItem.machine_value).is_(None)
                if value is None
                else ReviewItem.machine_value == value,
            )
        if exclude:
            query = query.where(col(ReviewItem.id).not_in(list(exclude)))
        # A CASE, not the comparison itself: NULL (unclaimed) sorts differently per database.
        mine_first = case((col(ReviewItem.claimed_by) == reviewer, 0), else_=1)
        items = session.exec(
            query.order_by(
                mine_first,
                col(ReviewItem.deadline),
                col(ReviewItem.priority),
                col(ReviewItem.id),
            )
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        expires = now + dt.timedelta(minutes=config.claim_minutes)
        for item in items:
            item.claimed_by = reviewer
            item.claim_expires_at = expires
            session.add(item)
        return [item.id for item in items if item.id is not None]


def _available(reviewer: str, now: dt.datetime) -> Any:
    return and_(
        col(ReviewItem.state) == ItemState.OPEN.value,
        or_(
            col(ReviewItem.claimed_by).is_(None),
            col(ReviewItem.claim_expires_at) < now,
            col(ReviewItem.claimed_by) == reviewer,
        ),
    )


@dataclass(frozen=True)
class SheetClaim:
    """A sheet a reviewer holds: every open item on it, in the order they stand on the page."""

    serial: str
    item_ids: tuple[int, ...]


def claim_sheet(
    engine: Engine,
    *,
    reviewer: str,
    serial: str | None = None,
    now: dt.datetime | None = None,
    exclude_sheets: Collection[int] = (),
) -> SheetClaim | None:
    """Claim the next sheet that needs a person (soonest deadline, then red problems and the
    least sure fields first), or the sheet `serial`: all its open items at once, for one
    screen per sheet. None when no sheet is waiting (or `serial` has nothing open)."""
    with session_scope(engine) as session:
        config = load_config(session)
        now = now or utcnow()
        query = select(ReviewItem.sheet_id).where(
            _available(reviewer, now), col(ReviewItem.sheet_id).is_not(None)
        )
        if serial is not None:
            query = query.join(Sheet, col(Sheet.id) == col(ReviewItem.sheet_id)).where(
                Sheet.serial == serial
            )
        if exclude_sheets:
            query = query.where(col(ReviewItem.sheet_id).not_in(list(exclude_sheets)))
        mine_first = case((col(ReviewItem.claimed_by) == reviewer, 0), else_=1)
        sheet_id = session.exec(
            query.order_by(
                mine_first,
                col(ReviewItem.deadline),
                col(ReviewItem.priority),
                col(ReviewItem.id),
            ).limit(1)
        ).first()
        if sheet_id is None:
            return None
        items = session.exec(
            select(ReviewItem)
            .where(_available(reviewer, now), ReviewItem.sheet_id == sheet_id)
            .with_for_update(skip_locked=True)
        ).all()
        if not items:
            return None
        expires = now + dt.timedelta(minutes=config.claim_minutes)
        for item in items:
            item.claimed_by = reviewer
            item.claim_expires_at = expires
            session.add(item)
        sheet = session.get(Sheet, sheet_id)
        assert sheet is not None
        session.flush()
        views = [describe_item(session, item.id) for item in items if item.id is not None]
        ordered = sorted(views, key=page_order)
        return SheetClaim(sheet.serial, tuple(view.id for view in ordered))


def page_order(view: ItemView) -> tuple[int, int, int, int]:
    """Where an item stands on its sheet, top to bottom: the whole page and sheet-wide
    problems first, then each day's row left to right (times, marks, the day's findings),
    then the signatures."""
    column = {"in": 0, "out": 1}
    if view.kind == ItemKind.UNREGISTERED_PAGE.value:
        return (0, 0, 0, view.id)
    if view.field_name is not None:
        parts = view.field_name.split(".")
        if parts[0] == "day":
            return (2, int(parts[1]), column.get(parts[2], 2), view.id)
        return (3, 0, 0, view.id)
    if view.days:
        return (2, view.days[0].day, 3, view.id)
    if view.flag_code is not None and "signature" in view.flag_code:
        return (3, 0, 1, view.id)
    return (1, 0, 0, view.id)


def queue_stats(session: Session) -> dict[str, Any]:
    """How much is left for people: sheets received and waiting, open items by kind, and the
    decisions (fields, findings and pages; a QA sample is a check, counted apart)."""
    by_kind: dict[str, int] = defaultdict(int)
    waiting: set[int] = set()
    for kind, sheet_id in session.exec(
        select(ReviewItem.kind, ReviewItem.sheet_id).where(ReviewItem.state == ItemState.OPEN.value)
    ).all():
        by_kind[kind] += 1
        if sheet_id is not None:
            waiting.add(sheet_id)
    received = session.exec(
        select(func.count())
        .select_from(Sheet)
        .where(col(Sheet.received_at).is_not(None), Sheet.status != SheetStatus.VOID.value)
    ).one()
    open_items = sum(by_kind.values())
    return {
        "sheets_received": int(received),
        "sheets_needing_review": len(waiting),
        "open_items": open_items,
        "decisions": open_items - by_kind.get(ItemKind.QA_SAMPLE.value, 0),
        "by_kind": dict(sorted(by_kind.items())),
    }


def release_sheet(engine: Engine, sheet_id: int, *, reviewer: str) -> list[int]:
    """Give back every open item of the sheet that `reviewer` holds (the sheet is skipped):
    they return to the queue for anyone. The items released, by id."""
    with session_scope(engine) as session:
        items = session.exec(
            select(ReviewItem)
            .where(
                ReviewItem.sheet_id == sheet_id,
                ReviewItem.state == ItemState.OPEN.value,
                ReviewItem.claimed_by == reviewer,
            )
            .with_for_update()
        ).all()
        for item in items:
            item.claimed_by = None
            item.claim_expires_at = None
            session.add(item)
        return sorted(item.id for item in items if item.id is not None)


def release_item(engine: Engine, item_id: int, *, reviewer: str) -> None:
    """Give a claimed item back (skip): it returns to the queue for anyone."""
    with session_scope(engine) as session:
        item = take_item(session, item_id, reviewer=reviewer, now=utcnow())
        item.claimed_by = None
        item.claim_expires_at = None
        session.add(item)


def take_item(session: Session, item_id: int, *, reviewer: str, now: dt.datetime) -> ReviewItem:
    item = session.exec(
        select(ReviewItem).where(ReviewItem.id == item_id).with_for_update()
    ).first()
    if item is None:
        raise ItemNotFound(f"no review item {item_id}")
    if item.state != ItemState.OPEN.value:
        raise AlreadyDone(f"item {item_id} is already done ({item.resolution})")
    expires = item.claim_expires_at
    if item.claimed_by not in (None, reviewer) and expires is not None and expires > now:
        raise ItemHeld(f"item {item_id} is held by another reviewer until {expires:%H:%M} UTC")
    return item


@dataclass(frozen=True)
class Group:
    field_kind: str
    machine_value: str | None
    count: int


def groups(session: Session, *, minimum: int = 2) -> list[Group]:
    """Machine readings shared by several open field items, largest first."""
    counts: dict[tuple[str, str | None], int] = defaultdict(int)
    for kind, value in session.exec(
        select(ReviewItem.field_kind, ReviewItem.machine_value).where(
            ReviewItem.state == ItemState.OPEN.value,
            col(ReviewItem.kind).in_((ItemKind.FIELD.value, ItemKind.QA_SAMPLE.value)),
        )
    ).all():
        if kind is not None:
            counts[(kind, value)] += 1
    found = [Group(k, v, n) for (k, v), n in counts.items() if n >= minimum]
    return sorted(found, key=lambda g: (-g.count, g.field_kind, g.machine_value or ""))
