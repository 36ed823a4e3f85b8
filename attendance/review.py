"""Rules applied to stored sheets, the review queue, and every decision's audit row.

One function per thing a person or the intake does; each runs in the caller's transaction
(`Session`) or opens its own (`Engine`). The machine's values are never overwritten: a
reviewer's value goes to `final_value`, with the event in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, case, or_, update
from sqlmodel import Session, col, select

from attendance.agency import ABSENCE_CATEGORIES, AgencyConfig, absence_category
from attendance.db import record_event, session_scope
from attendance.evidence import (
    EVIDENCE_MARGIN_PT,
    EvidenceMissing,
    cut,
    digit_cells,
    field_crop_png,
    layout_for,
    load_canon,
    png,
)
from attendance.flags import FLAG_CODES, Flag, Severity
from attendance.models import (
    AgencySettings,
    Certificate,
    Event,
    FieldReading,
    FlagState,
    IntakeFile,
    ItemKind,
    ItemState,
    PageStatus,
    Provider,
    ReviewItem,
    ScannedFile,
    ScannedPage,
    Sheet,
    SheetFlag,
    SheetStatus,
    TrainingCrop,
    utcnow,
)
from attendance.months import month_days, parse_month
from attendance.notices import Problem, ReturnedNotice
from attendance.rules import (
    CertificateTerms,
    DayEntry,
    DuplicateScan,
    SheetFacts,
    due_date,
    evaluate_sheet,
    fiscal_year_start,
)
from attendance.schedule import Schedule
from forms.layout import ABSENCE_CODES, MarkField, SignatureField, TimeField, row_rect

log = logging.getLogger(__name__)

MARKED = "marked"
SIGNED = "signed"
# A field the reviewer keyed from the whole page (its page could not be registered).
KEYED = "keyed"


# --- errors ---------------------------------------------------------------------------------


class ReviewError(Exception):
    """A review action that cannot be done; the message says why, without personal data."""


class ItemNotFound(ReviewError, LookupError):
    pass


class ItemHeld(ReviewError):
    """Another reviewer holds a live claim on the item."""


class VersionConflict(ReviewError):
    """The value changed since the reviewer saw it (someone else saved first)."""


class InvalidValue(ReviewError, ValueError):
    pass


class NotAllowed(ReviewError):
    """The action does not apply to this item or sheet (e.g. correcting a flag)."""


class AlreadyDone(NotAllowed):
    """The item was decided already (by someone else, or in another window)."""


# --- agency settings ------------------------------------------------------------------------


def load_config(session: Session) -> AgencyConfig:
    """The agency's settings (defaults until someone sets one)."""
    row = session.exec(select(AgencySettings).order_by(col(AgencySettings.id))).first()
    return AgencyConfig() if row is None else AgencyConfig.from_json(json.loads(row.config_json))


def agency_name(session: Session, default: str) -> str:
    """The agency's name as set in its settings, else `default` (ATTEND_AGENCY_NAME)."""
    return load_config(session).agency_name.strip() or default


def save_config(session: Session, config: AgencyConfig, *, actor: str) -> None:
    """Store new settings (audited) and re-apply the rules to every sheet still in play."""
    row = session.exec(select(AgencySettings).order_by(col(AgencySettings.id))).first()
    before = load_config(session).to_json()
    after = config.to_json()
    if row is None:
        row = AgencySettings(config_json=json.dumps(after, sort_keys=True), updated_by=actor)
    else:
        row.config_json = json.dumps(after, sort_keys=True)
        row.version += 1
        row.updated_at = utcnow()
        row.updated_by = actor
    session.add(row)
    changed = {k: after[k] for k in after if before.get(k) != after[k]}
    record_event(
        session,
        actor=actor,
        entity="agency",
        entity_id="settings",
        action="settings_changed",
        before={k: before.get(k) for k in changed},
        after=changed,
    )
    session.flush()
    for sheet in session.exec(
        select(Sheet).where(col(Sheet.status).in_(IN_PLAY)).order_by(col(Sheet.id))
    ).all():
        evaluate(session, sheet, actor=actor, config=config, cascade=False)


# --- values -------------------------------------------------------------------------------

IN_PLAY = (SheetStatus.RECEIVED.value, SheetStatus.IN_REVIEW.value, SheetStatus.VERIFIED.value)


def current_value(reading: FieldReading) -> str | None:
    """The value that counts: the reviewer's where there is one, else the machine's."""
    return reading.final_value if reading.reviewed else reading.machine_value


def minutes(value: str | None) -> int | None:
    if not value:
        return None
    hours, mins = value.split(":")
    return int(hours) * 60 + int(mins)


def normalize_value(kind: str, text: str) -> str | None:
    """A reviewer's typed value in the stored form, or InvalidValue saying what is expected.

    time: ``7:30``, ``07:30``, ``0730``, ``7:30 pm``, ``19:30``; ``blank`` or empty for none.
    mark: ``marked`` / ``x`` or ``blank``; signature: ``signed`` or ``blank`` / ``unsigned``.
    """
    raw = text.strip().lower()
    if raw in ("", "blank", "-", "none", "empty"):
        return None
    if kind == "time":
        suffix = None
        for marker in ("am", "pm", "a", "p"):
            if raw.endswith(marker):
                suffix, raw = marker[0], raw[: -len(marker)].strip()
                break
        raw = raw.replace(".", ":")
        if ":" in raw:
            hours_text, _, minutes_text = raw.partition(":")
            well_formed = 1 <= len(hours_text) <= 2 and len(minutes_text) == 2
        else:
            hours_text, minutes_text = raw[:-2], raw[-2:]
            well_formed = len(raw) in (3, 4)
        if not (well_formed and hours_text.isdigit() and minutes_text.isdigit()):
            raise InvalidValue(f"{text!r} is not a time: type HH:MM (24-hour, or with am/pm)")
        hour, minute = int(hours_text), int(minutes_text)
        if suffix is not None:
            if not 1 <= hour <= 12:
                raise InvalidValue(f"{text!r}: with am/pm the hour is 1 to 12")
            hour = hour % 12 + (12 if suffix == "p" else 0)
        if hour > 23 or minute > 59:
            raise InvalidValue(f"{text!r} is not a time of day")
        return f"{hour:02d}:{minute:02d}"
    if kind == "mark":
        if raw in ("marked", "x", "yes", "1", "true"):
            return MARKED
        raise InvalidValue(f"{text!r}: a mark is 'marked' or 'blank'")
    if kind == "signature":
        if raw in ("signed", "yes", "1", "true"):
            return SIGNED
        if raw in ("unsigned", "no", "0", "false"):
            return None
        raise InvalidValue(f"{text!r}: a signature is 'signed' or 'blank'")
    raise InvalidValue(f"fields of kind {kind!r} are not reviewed")


# --- a sheet's facts -------------------------------------------------------------------------


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


def page_readings(session: Session, page_id: int) -> dict[str, FieldReading]:
    return {
        r.field_name: r
        for r in session.exec(select(FieldReading).where(FieldReading.page_id == page_id)).all()
    }


def _day_entries(month: dt.date, readings: dict[str, FieldReading]) -> tuple[DayEntry, ...]:
    entries = []
    for day in month_days(month):
        prefix = f"day.{day.day:02d}"
        time_in = readings.get(f"{prefix}.in")
        time_out = readings.get(f"{prefix}.out")
        absences = tuple(
            code.code
            for code in ABSENCE_CODES
            if (r := readings.get(f"{prefix}.absence.{code.code}")) is not None
            and current_value(r) == MARKED
        )
        entries.append(
            DayEntry(
                date=day,
                time_in=minutes(current_value(time_in)) if time_in else None,
                time_out=minutes(current_value(time_out)) if time_out else None,
                absences=absences,
            )
        )
    return tuple(entries)


def _signed(reading: FieldReading | None) -> bool | None:
    return None if reading is None else current_value(reading) == SIGNED


def _child_sheets(session: Session, certificate: Certificate) -> list[Sheet]:
    """Every sheet of the child (the same name and birth date on any certificate)."""
    return list(
        session.exec(
            select(Sheet)
            .join(Certificate, col(Sheet.certificate_id) == col(Certificate.certificate_id))
            .where(
                Certificate.child_first_name == certificate.child_first_name,
                Certificate.child_last_name == certificate.child_last_name,
                Certificate.child_birth_date == certificate.child_birth_date,
            )
            .order_by(col(Sheet.month), col(Sheet.id))
        ).all()
    )


def _absence_days(session: Session, sheet: Sheet) -> dict[str, int]:
    """Days per absence category recorded on the sheet (a day counts once per category)."""
    page = source_page(session, sheet)
    if page is None or page.id is None:
        return {}
    readings = page_readings(session, page.id)
    counts: dict[str, int] = defaultdict(int)
    for entry in _day_entries(parse_month(sheet.month), readings):
        for category in {absence_category(code) for code in entry.absences}:
            counts[category] += 1
    return dict(counts)


def _prior_absences(session: Session, sheet: Sheet, certificate: Certificate) -> dict[str, int]:
    month = parse_month(sheet.month)
    start = fiscal_year_start(month)
    counts: dict[str, int] = defaultdict(int)
    for other in _child_sheets(session, certificate):
        other_month = parse_month(other.month)
        if other.id == sheet.id or not start <= other_month < month:
            continue
        if other.status in (SheetStatus.ISSUED.value, SheetStatus.VOID.value):
            continue
        for category, days in _absence_days(session, other).items():
            counts[category] += days
    return {c: counts[c] for c in ABSENCE_CATEGORIES if counts[c]}


def _duplicates(
    session: Session, sheet: Sheet, record: dict[str, FieldReading]
) -> tuple[DuplicateScan, ...]:
    scans = []
    for page, file in session.exec(
        select(ScannedPage, ScannedFile)
        .join(ScannedFile, col(ScannedPage.file_id) == col(ScannedFile.id))
        .where(
            ScannedPage.sheet_id == sheet.id,
            ScannedPage.status == PageStatus.DUPLICATE.value,
        )
        .order_by(col(ScannedPage.id))
    ).all():
        assert page.id is not None
        scans.append(
            DuplicateScan(
                file_sha256=file.sha256,
                page=page.page_number,
                differs=content_differs(record, page_readings(session, page.id)),
            )
        )
    return tuple(scans)


def content_differs(record: dict[str, FieldReading], other: dict[str, FieldReading]) -> bool:
    """True when a second scan says something else than the record on a field both read
    with confidence (a field the machine was unsure of on either scan is not evidence)."""
    if not record or not other:
        return False
    for name, theirs in other.items():
        ours = record.get(name)
        if ours is None or theirs.needs_review or (ours.needs_review and not ours.reviewed):
            continue
        if current_value(ours) != theirs.machine_value:
            return True
    return False


def sheet_facts(session: Session, sheet: Sheet) -> SheetFacts:
    """What the rules need to know about the sheet, from its record page's final values."""
    certificate = session.get(Certificate, sheet.certificate_id)
    assert certificate is not None
    provider = session.get(Provider, certificate.provider_id)
    assert provider is not None
    month = parse_month(sheet.month)
    page = source_page(session, sheet)
    readings = page_readings(session, page.id) if page is not None and page.id else {}
    received = sheet.received_at
    if received is not None and received.tzinfo is None:
        received = received.replace(tzinfo=dt.UTC)
    return SheetFacts(
        serial=sheet.serial,
        month=month,
        terms=CertificateTerms(
            start_date=certificate.start_date,
            end_date=certificate.end_date,
            schedule=Schedule.from_json(certificate.schedule_json),
            weekly_hours=certificate.weekly_hours,
            provider_type=provider.provider_type,
        ),
        days=_day_entries(month, readings),
        parent_signed=_signed(readings.get("signature.parent")),
        provider_signed=_signed(readings.get("signature.provider")),
        received_at=received,
        read=bool(readings),
        prior_absences=_prior_absences(session, sheet, certificate),
        duplicates=_duplicates(session, sheet, readings),
    )


# --- evaluating a sheet ---------------------------------------------------------------------


def sheet_deadline(sheet: Sheet, config: AgencyConfig) -> dt.date:
    """The sheet's payment deadline: the queue works the soonest first."""
    return due_date(parse_month(sheet.month), config)


def evaluate(
    session: Session,
    sheet: Sheet,
    *,
    actor: str,
    config: AgencyConfig | None = None,
    cascade: bool = True,
) -> list[Flag]:
    """Apply the rules to the sheet's current values, store the flags, open or close their
    review items, and move the sheet's status. With `cascade`, the child's later sheets of
    the same fiscal year are evaluated again too (their absence counts depend on this one)."""
    config = config or load_config(session)
    assert sheet.id is not None
    if sheet.status not in (*IN_PLAY, SheetStatus.EXPORTED.value):
        return []
    flags = evaluate_sheet(sheet_facts(session, sheet), config)
    _sync_flags(session, sheet, flags, actor=actor, config=config)
    settle_status(session, sheet, actor=actor)
    if cascade:
        evaluate_later_months(session, sheet, actor=actor, config=config)
    return flags


def evaluate_later_months(
    session: Session, sheet: Sheet, *, actor: str, config: AgencyConfig | None = None
) -> None:
    """Apply the rules again to the child's later sheets of the same fiscal year, whose
    absence counts include this sheet's."""
    config = config or load_config(session)
    session.flush()
    certificate = session.get(Certificate, sheet.certificate_id)
    assert certificate is not None
    month = parse_month(sheet.month)
    year_end = fiscal_year_start(month).replace(year=fiscal_year_start(month).year + 1)
    for later in _child_sheets(session, certificate):
        if later.id != sheet.id and month < parse_month(later.month) < year_end:
            evaluate(session, later, actor=actor, config=config, cascade=False)


def _sync_flags(
    session: Session, sheet: Sheet, flags: list[Flag], *, actor: str, config: AgencyConfig
) -> None:
    assert sheet.id is not None
    existing = {
        (f.code, f.day): f
        for f in session.exec(select(SheetFlag).where(SheetFlag.sheet_id == sheet.id)).all()
    }
    now = utcnow()
    raised, cleared = [], []
    wanted: set[tuple[str, str]] = set()
    for flag in flags:
        key = (flag.code, flag.date.isoformat() if flag.date else "")
        if key in wanted:
            continue
        wanted.add(key)
        row = existing.get(key)
        if row is None:
            row = SheetFlag(
                sheet_id=sheet.id,
                code=flag.code,
                severity=flag.severity.value,
                day=key[1],
                message=flag.message,
                raised_at=now,
            )
            raised.append(key)
        elif row.state == FlagState.CLEARED.value or (
            # An accepted flag whose facts changed (new hours, another duplicate) is looked
            # at again: the reviewer accepted what it said then, not what it says now.
            row.state == FlagState.ACCEPTED.value and row.message != flag.message
        ):
            row.state = FlagState.OPEN.value
            row.message = flag.message
            row.raised_at = now
            row.resolved_by = row.resolved_at = row.note = None
            raised.append(key)
        else:
            row.message = flag.message
        session.add(row)
    for key, row in existing.items():
        if key not in wanted and row.state != FlagState.CLEARED.value:
            row.state = FlagState.CLEARED.value
            row.resolved_at = now
            row.resolved_by = actor
            session.add(row)
            cleared.append(key)
    session.flush()
    deadline = sheet_deadline(sheet, config)
    for row in session.exec(select(SheetFlag).where(SheetFlag.sheet_id == sheet.id)).all():
        assert row.id is not None
        needs_person = FLAG_CODES[row.code].needs_review and row.state == FlagState.OPEN.value
        if needs_person:
            _open_item(
                session,
                key=f"flag:{row.id}",
                kind=ItemKind.FLAG,
                sheet_id=sheet.id,
                flag_id=row.id,
                deadline=deadline,
                priority=0.0 if row.severity == Severity.RED.value else 0.5,
            )
        else:
            _close_item(session, f"flag:{row.id}", resolution="cleared", actor=actor)
    if raised or cleared:
        record_event(
            session,
            actor=actor,
            entity="sheet",
            entity_id=sheet.serial,
            action="flags",
            after={
                "raised": [f"{code}@{day}" if day else code for code, day in raised],
                "cleared": [f"{code}@{day}" if day else code for code, day in cleared],
            },
        )


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


def move_status(
    session: Session, sheet: Sheet, status: SheetStatus, *, actor: str, reason: str | None = None
) -> None:
    """Move the sheet to `status` (NotAllowed if the move is not one the flow has)."""
    if sheet.status == status.value:
        return
    if status.value not in TRANSITIONS[sheet.status]:
        raise NotAllowed(f"sheet {sheet.serial} is {sheet.status}: it cannot become {status}")
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


def open_item_count(session: Session, sheet_id: int) -> int:
    return len(
        session.exec(
            select(ReviewItem.id).where(
                ReviewItem.sheet_id == sheet_id, ReviewItem.state == ItemState.OPEN.value
            )
        ).all()
    )


def settle_status(session: Session, sheet: Sheet, *, actor: str) -> None:
    """received / in review / verified, from whether anything is left for a person."""
    assert sheet.id is not None
    if sheet.status not in IN_PLAY:
        return
    pending = open_item_count(session, sheet.id) > 0
    target = SheetStatus.IN_REVIEW if pending else SheetStatus.VERIFIED
    move_status(session, sheet, target, actor=actor)


# --- review items ---------------------------------------------------------------------------


def _open_item(
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
    field_kind: str | None = None,
    machine_value: str | None = None,
) -> None:
    item = session.exec(select(ReviewItem).where(ReviewItem.key == key)).first()
    if item is not None:
        if item.state == ItemState.OPEN.value:
            return
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
            field_kind=field_kind,
            machine_value=machine_value,
        )
    )


def _close_item(session: Session, key: str, *, resolution: str, actor: str) -> None:
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


def qa_sampled(file_sha256: str, page_number: int, field_name: str, rate: float) -> bool:
    """Whether an auto-accepted field is drawn for the QA sample: a hash, not a random draw,
    so the same scan always gives the same sample (reproducible, and not gameable by retry)."""
    digest = hashlib.sha256(f"{file_sha256}:{page_number}:{field_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def open_page_items(
    session: Session,
    *,
    sheet: Sheet,
    page: ScannedPage,
    file_sha256: str,
    config: AgencyConfig,
) -> None:
    """Queue what a person must look at on the sheet's record page: fields read with low
    confidence, the QA sample of the others, or the whole page when it did not register."""
    assert sheet.id is not None and page.id is not None
    deadline = sheet_deadline(sheet, config)
    readings = page_readings(session, page.id)
    if page.needs_review and not readings:
        _open_item(
            session,
            key=f"page:{page.id}",
            kind=ItemKind.UNREGISTERED_PAGE,
            deadline=deadline,
            priority=0.0,
            sheet_id=sheet.id,
            page_id=page.id,
        )
        return
    for reading in readings.values():
        assert reading.id is not None
        if reading.kind not in ("time", "mark", "signature") or reading.reviewed:
            continue
        if reading.needs_review:
            key, kind = f"field:{reading.id}", ItemKind.FIELD
        elif qa_sampled(file_sha256, page.page_number, reading.field_name, config.qa_sample_rate):
            key, kind = f"qa:{reading.id}", ItemKind.QA_SAMPLE
        else:
            continue
        _open_item(
            session,
            key=key,
            kind=kind,
            deadline=deadline,
            priority=reading.confidence if reading.confidence is not None else 0.0,
            sheet_id=sheet.id,
            page_id=page.id,
            reading_id=reading.id,
            field_kind=reading.kind,
            machine_value=reading.machine_value,
        )


def open_unidentified_item(
    session: Session, *, page: ScannedPage, received_at: dt.datetime, config: AgencyConfig
) -> None:
    """Queue a page whose sheet is unknown. Its deadline is the day it arrived: nothing on it
    can be paid until someone says which sheet it is."""
    assert page.id is not None
    _open_item(
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


# --- the queue --------------------------------------------------------------------------------


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

    def to_json(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for key in ("deadline", "date", "claim_expires_at"):
            if data[key] is not None:
                data[key] = data[key].isoformat()
        data["day_flags"] = list(self.day_flags)
        data["suggestions"] = list(self.suggestions)
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


def _day_context(session: Session, sheet: Sheet, reading: FieldReading) -> dict[str, Any]:
    parts = reading.field_name.split(".")
    if parts[0] != "day":
        return {}
    day = parse_month(sheet.month).replace(day=int(parts[1]))
    certificate = session.get(Certificate, sheet.certificate_id)
    assert certificate is not None
    windows = Schedule.from_json(certificate.schedule_json).days[day.weekday()]
    authorized = ", ".join(f"{_hhmm(w.start)}-{_hhmm(w.end)}" for w in windows) or "none"
    if not certificate.start_date <= day <= certificate.end_date:
        authorized = "none (outside the certificate)"
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
        query = select(ReviewItem).where(
            ReviewItem.state == ItemState.OPEN.value,
            or_(
                col(ReviewItem.claimed_by).is_(None),
                col(ReviewItem.claim_expires_at) < now,
                col(ReviewItem.claimed_by) == reviewer,
            ),
        )
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
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=dt.UTC)
    if item.claimed_by not in (None, reviewer) and expires is not None and expires > now:
        raise ItemHeld(f"item {item_id} is held by another reviewer until {expires:%H:%M} UTC")
    return item


@dataclass(frozen=True)
class Decision:
    """What became of an item."""

    item_id: int
    resolution: str
    sheet_status: str | None
    value: str | None = None


def accept_item(
    engine: Engine,
    item_id: int,
    *,
    reviewer: str,
    version: int | None = None,
    reason: str | None = None,
) -> Decision:
    """The reviewer confirms: a field's machine value is right, or a flag may stand."""
    with session_scope(engine) as session:
        return _accept(session, item_id, reviewer=reviewer, version=version, reason=reason)


def accept_items(
    engine: Engine, item_ids: Sequence[int], *, reviewer: str, reason: str | None = None
) -> list[Decision]:
    """Grouped verification: confirm many items in one transaction (all or none)."""
    with session_scope(engine) as session:
        return [
            _accept(session, i, reviewer=reviewer, version=None, reason=reason) for i in item_ids
        ]


def _accept(
    session: Session, item_id: int, *, reviewer: str, version: int | None, reason: str | None
) -> Decision:
    item = take_item(session, item_id, reviewer=reviewer, now=utcnow())
    if item.reading_id is not None:
        reading = session.get(FieldReading, item.reading_id)
        assert reading is not None
        return _set_field(
            session, item, reading, current_value(reading), reviewer, version, reason, "accepted"
        )
    if item.flag_id is not None:
        flag = session.get(SheetFlag, item.flag_id)
        assert flag is not None
        if flag.severity == Severity.RED.value and not (reason and reason.strip()):
            raise NotAllowed(
                f"flag {flag.code} is red (the sheet cannot be paid as it is): accepting it "
                "needs a reason; or correct the field it concerns, or return the sheet"
            )
        flag.state = FlagState.ACCEPTED.value
        flag.resolved_by = reviewer
        flag.resolved_at = utcnow()
        flag.note = reason
        session.add(flag)
        sheet = session.get(Sheet, flag.sheet_id)
        assert sheet is not None
        record_event(
            session,
            actor=reviewer,
            entity="flag",
            entity_id=f"{sheet.serial}/{flag.code}" + (f"@{flag.day}" if flag.day else ""),
            action="accepted",
            before={"state": FlagState.OPEN.value},
            after={"state": FlagState.ACCEPTED.value, "reason": reason, "item": item_id},
        )
        finish_item(session, item, resolution="accepted", actor=reviewer)
        settle_status(session, sheet, actor=reviewer)
        return Decision(item_id, "accepted", sheet.status)
    if item.kind == ItemKind.UNIDENTIFIED_PAGE.value:
        # Accepting a page no sheet is known for says it is not a sheet (a blank separator,
        # a cover letter): it leaves the queue, with the reviewer's reason in the log.
        if not (reason and reason.strip()):
            raise NotAllowed(
                f"item {item_id} is a page without a known sheet: identify it, or accept it "
                "with a reason to say it is not an attendance sheet"
            )
        record_event(
            session,
            actor=reviewer,
            entity="page",
            entity_id=str(item.page_id),
            action="not_a_sheet",
            after={"reason": reason, "item": item_id},
        )
        finish_item(session, item, resolution="not_a_sheet", actor=reviewer)
        return Decision(item_id, "not_a_sheet", None)
    raise NotAllowed(
        f"item {item_id} is a page that could not be registered: key its fields (correct) "
        "or return the sheet"
    )


def correct_item(
    engine: Engine,
    item_id: int,
    value: str,
    *,
    reviewer: str,
    version: int | None = None,
    reason: str | None = None,
) -> Decision:
    """The reviewer's value for a field (the machine's value is kept beside it)."""
    with session_scope(engine) as session:
        item = take_item(session, item_id, reviewer=reviewer, now=utcnow())
        if item.reading_id is None:
            raise NotAllowed(
                f"item {item_id} is not a field: accept the flag, identify the page, "
                "key a page's fields with `correct-page`, or return the sheet"
            )
        reading = session.get(FieldReading, item.reading_id)
        assert reading is not None
        normal = normalize_value(reading.kind, value)
        return _set_field(session, item, reading, normal, reviewer, version, reason, "corrected")


def _set_field(
    session: Session,
    item: ReviewItem,
    reading: FieldReading,
    value: str | None,
    reviewer: str,
    version: int | None,
    reason: str | None,
    action: str,
) -> Decision:
    assert reading.id is not None and item.id is not None
    expected = reading.version if version is None else version
    before = current_value(reading)
    now = utcnow()
    # Compare-and-set on the version: of two reviewers saving the same field, the second
    # gets a conflict instead of silently overwriting the first.
    result = session.execute(
        update(FieldReading)
        .where(and_(col(FieldReading.id) == reading.id, col(FieldReading.version) == expected))
        .values(
            final_value=value,
            reviewed=True,
            reviewed_by=reviewer,
            reviewed_at=now,
            version=expected + 1,
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise VersionConflict(
            f"item {item.id}: the field changed since version {expected} "
            f"(now {reading.version}); look at it again"
        )
    session.refresh(reading)
    sheet = session.get(Sheet, reading.sheet_id)
    assert sheet is not None
    if action == "corrected" and value == reading.machine_value:
        action = "accepted"
    record_event(
        session,
        actor=reviewer,
        entity="field",
        entity_id=f"{sheet.serial}/{reading.field_name}",
        action=action,
        before={"value": before, "version": expected},
        after={
            "value": value,
            "version": expected + 1,
            "machine_value": reading.machine_value,
            "confidence": reading.confidence,
            "reason": reason,
            "item": item.id,
        },
    )
    if item.kind == ItemKind.QA_SAMPLE.value:
        item.machine_was_wrong = value != reading.machine_value
    finish_item(session, item, resolution=action, actor=reviewer)
    # Another open item on the same reading (a QA draw and a low-confidence item) is settled
    # by the same decision.
    for key in (f"field:{reading.id}", f"qa:{reading.id}"):
        if key != item.key:
            _close_item(session, key, resolution=action, actor=reviewer)
    _keep_training_crops(session, sheet, reading, reviewer)
    evaluate(session, sheet, actor=reviewer)
    return Decision(item.id, action, sheet.status, value)


def correct_page(
    engine: Engine,
    item_id: int,
    values: dict[str, str],
    *,
    reviewer: str,
    reason: str | None = None,
) -> Decision:
    """Key a page that could not be registered: `values` by field name (time, mark and
    signature fields); every field not named is blank. The machine read nothing, so each
    field is stored with no machine value and the reviewer's value."""
    with session_scope(engine) as session:
        item = take_item(session, item_id, reviewer=reviewer, now=utcnow())
        if item.kind != ItemKind.UNREGISTERED_PAGE.value:
            raise NotAllowed(f"item {item_id} is not a page that could not be registered")
        assert item.page_id is not None and item.sheet_id is not None
        sheet = session.get(Sheet, item.sheet_id)
        assert sheet is not None
        layout = layout_for(sheet.serial, sheet.month)
        kinds = {
            f.name: ("time" if isinstance(f, TimeField) else "signature")
            if isinstance(f, TimeField | SignatureField)
            else "mark"
            for f in layout.fields
            if isinstance(f, TimeField | SignatureField | MarkField)
        }
        unknown = sorted(set(values) - set(kinds))
        if unknown:
            raise InvalidValue(f"no field {unknown[0]!r} on this sheet")
        normal = {name: normalize_value(kinds[name], text) for name, text in values.items()}
        if page_readings(session, item.page_id):
            raise NotAllowed(f"item {item_id}: the page's fields are already stored")
        now = utcnow()
        assert sheet.id is not None
        for name, kind in kinds.items():
            session.add(
                FieldReading(
                    sheet_id=sheet.id,
                    page_id=item.page_id,
                    field_name=name,
                    kind=kind,
                    machine_value=None,
                    confidence=None,
                    needs_review=False,
                    reason=KEYED,
                    final_value=normal.get(name),
                    reviewed=True,
                    reviewed_by=reviewer,
                    reviewed_at=now,
                )
            )
        record_event(
            session,
            actor=reviewer,
            entity="page",
            entity_id=f"{sheet.serial}/page",
            action="keyed",
            after={"fields": {k: v for k, v in normal.items()}, "reason": reason, "item": item_id},
        )
        finish_item(session, item, resolution="keyed", actor=reviewer)
        session.flush()
        evaluate(session, sheet, actor=reviewer)
        return Decision(item_id, "keyed", sheet.status)


# --- training data ----------------------------------------------------------------------------


def _keep_training_crops(
    session: Session, sheet: Sheet, reading: FieldReading, reviewer: str
) -> None:
    """Verified digit cells with their labels, for the next digit model. Only a verified time
    gives labels, and only cells whose digit the value fixes: a written 7:30 may have its
    first cell blank or a 0, so the first cell is kept only for hours 10 to 12."""
    value = reading.final_value
    if reading.kind != "time" or value is None or reading.machine_value is None:
        return
    page = session.get(ScannedPage, reading.page_id)
    if page is None or not page.canon_path:
        return
    hour, minute = (int(part) for part in value.split(":"))
    hour12 = hour % 12 or 12
    digits = f"{hour12:02d}{minute:02d}"
    layout = layout_for(sheet.serial, sheet.month)
    field_def = layout.field(reading.field_name)
    assert isinstance(field_def, TimeField)
    try:
        cells = digit_cells(load_canon(page.canon_path), field_def)
    except LookupError:
        return
    assert reading.id is not None
    for old in session.exec(
        select(TrainingCrop).where(TrainingCrop.reading_id == reading.id)
    ).all():
        session.delete(old)
    session.flush()
    for index, cell in enumerate(cells):
        if index == 0 and hour12 < 10:
            continue
        session.add(
            TrainingCrop(
                reading_id=reading.id,
                cell=index,
                label=digits[index],
                model_version=reading.model_version,
                png=png(cell),
                verified_by=reviewer,
            )
        )


# --- groups and the QA report -------------------------------------------------------------------


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


def _wilson(errors: int, total: int, z: float = 1.96) -> tuple[float, float]:
    if total == 0:
        return (0.0, 1.0)
    p = errors / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (max(0.0, centre - half), min(1.0, centre + half))


def qa_report(session: Session) -> dict[str, Any]:
    """The measured error of auto-accepted fields, from the reviewed QA sample, per kind."""
    rows = session.exec(select(ReviewItem).where(ReviewItem.kind == ItemKind.QA_SAMPLE.value)).all()
    by_kind: dict[str, list[ReviewItem]] = defaultdict(list)
    for item in rows:
        by_kind[item.field_kind or "?"].append(item)
    config = load_config(session)
    kinds: dict[str, dict[str, Any]] = {}
    for kind, items in sorted(by_kind.items()):
        done = [
            i for i in items if i.state == ItemState.DONE.value and i.machine_was_wrong is not None
        ]
        wrong = sum(1 for i in done if i.machine_was_wrong)
        low, high = _wilson(wrong, len(done))
        kinds[kind] = {
            "sampled": len(items),
            "reviewed": len(done),
            "wrong": wrong,
            "error_rate": wrong / len(done) if done else None,
            "error_95": [round(low, 4), round(high, 4)],
        }
    reviewed = sum(int(k["reviewed"]) for k in kinds.values())
    wrong = sum(int(k["wrong"]) for k in kinds.values())
    low, high = _wilson(wrong, reviewed)
    return {
        "sample_rate": config.qa_sample_rate,
        "sampled": len(rows),
        "reviewed": reviewed,
        "wrong": wrong,
        "error_rate": wrong / reviewed if reviewed else None,
        "error_95": [round(low, 4), round(high, 4)],
        "by_kind": kinds,
    }


# --- returning and voiding --------------------------------------------------------------------


def return_problems(session: Session, sheet: Sheet) -> list[SheetFlag]:
    """The flags a returned-sheet notice lists: open ones that need a person, red first."""
    rows = session.exec(
        select(SheetFlag).where(
            SheetFlag.sheet_id == sheet.id, SheetFlag.state == FlagState.OPEN.value
        )
    ).all()
    chosen = [r for r in rows if FLAG_CODES[r.code].needs_review or r.severity == "red"]
    return sorted(chosen, key=lambda r: (r.severity != "red", r.day, r.code))


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
    )


def item_evidence_png(session: Session, item_id: int) -> bytes:
    """The image a reviewer judges the item by: a field's crop, a flagged day's row, or the
    whole page (unidentified or unregistered pages, and flags on the whole sheet)."""
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise ItemNotFound(f"no review item {item_id}")
    page = session.get(ScannedPage, item.page_id) if item.page_id else None
    sheet = session.get(Sheet, item.sheet_id) if item.sheet_id else None
    if sheet is not None and page is None:
        page = source_page(session, sheet)
    if page is None:
        raise EvidenceMissing(f"item {item_id} has no page image")
    if item.reading_id is not None and sheet is not None:
        reading = session.get(FieldReading, item.reading_id)
        assert reading is not None
        return field_crop_png(page.canon_path, sheet.serial, sheet.month, reading.field_name)
    if item.flag_id is not None and sheet is not None and page.canon_path:
        flag = session.get(SheetFlag, item.flag_id)
        assert flag is not None
        canon = load_canon(page.canon_path)
        if flag.day and FLAG_CODES[flag.code].code not in WEEKLY_CODES:
            row = row_rect(dt.date.fromisoformat(flag.day).day)
            return png(cut(canon, row, margin_pt=EVIDENCE_MARGIN_PT))
        return png(canon)
    path = page.canon_path or page.image_path
    if not path or not Path(path).is_file():
        raise EvidenceMissing(f"item {item_id}: the page image is not stored")
    return Path(path).read_bytes()


WEEKLY_CODES = frozenset({"weekly_hours_over", "weekly_hours_inconsistent"})
