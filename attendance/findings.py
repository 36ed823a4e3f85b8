"""The rules applied to a stored sheet: its facts gathered, its flags stored, their review
items opened or closed, its status settled.

`attendance.rules` is the pure rule engine (facts in, flags out); this module feeds it from the
database and keeps what it finds.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping

from sqlmodel import Session, col, select

from attendance.agency import ABSENCE_CATEGORIES, AgencyConfig, absence_category
from attendance.agency_settings import load_config, store_config
from attendance.db import record_event
from attendance.flags import NOTE, REVIEW, Flag, Severity
from attendance.lifecycle import IN_PLAY, settle_status
from attendance.models import (
    Certificate,
    FlagState,
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
    utcnow,
)
from attendance.months import month_days, parse_month
from attendance.review_queue import finish_item, open_item, sheet_deadline
from attendance.rules import (
    CertificateTerms,
    DayEntry,
    DuplicateScan,
    SheetFacts,
    evaluate_sheet,
    fiscal_year_start,
)
from attendance.schedule import Schedule
from attendance.sheets import FieldValue, page_values, source_page
from attendance.values import MARKED, SIGNED, current_value, minutes
from forms.layout import ABSENCE_CODES


def _day_entries(month: dt.date, readings: Mapping[str, FieldValue]) -> tuple[DayEntry, ...]:
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


def _signed(reading: FieldValue | None) -> bool | None:
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
    readings = page_values(session, page.id)
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
    session: Session, sheet: Sheet, record: Mapping[str, FieldValue]
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
                differs=content_differs(record, page_values(session, page.id)),
            )
        )
    return tuple(scans)


def content_differs(record: Mapping[str, FieldValue], other: Mapping[str, FieldValue]) -> bool:
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
    readings = page_values(session, page.id) if page is not None and page.id else {}
    received = sheet.received_at
    return SheetFacts(
        serial=sheet.serial,
        month=month,
        terms=CertificateTerms(
            start_date=certificate.start_date,
            end_date=certificate.end_date,
            schedule=Schedule.from_json(certificate.schedule_json),
            weekly_hours=certificate.weekly_hours,
            provider_type=provider.provider_type,
            schedule_type=certificate.schedule_type,
        ),
        days=_day_entries(month, readings),
        parent_signed=_signed(readings.get("signature.parent")),
        provider_signed=_signed(readings.get("signature.provider")),
        received_at=received,
        read=bool(readings),
        prior_absences=_prior_absences(session, sheet, certificate),
        duplicates=_duplicates(session, sheet, readings),
    )


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
    _sync_findings(session, sheet, actor=actor, config=config)
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


def _sync_findings(session: Session, sheet: Sheet, *, actor: str, config: AgencyConfig) -> None:
    """One review item per problem: the open flags of a code whose disposition is `review`
    are one finding (its days listed inside it), opened or reopened while any is open and
    closed when none is left."""
    assert sheet.id is not None
    open_by_code: dict[str, list[SheetFlag]] = defaultdict(list)
    for row in session.exec(
        select(SheetFlag).where(
            SheetFlag.sheet_id == sheet.id, SheetFlag.state == FlagState.OPEN.value
        )
    ).all():
        if config.disposition(row.code) == REVIEW:
            open_by_code[row.code].append(row)
    deadline = sheet_deadline(sheet, config)
    for code, rows in open_by_code.items():
        red = any(row.severity == Severity.RED.value for row in rows)
        open_item(
            session,
            key=finding_key(sheet.id, code),
            kind=ItemKind.FINDING,
            sheet_id=sheet.id,
            finding_code=code,
            deadline=deadline,
            priority=0.0 if red else 0.5,
        )
    for item in session.exec(
        select(ReviewItem).where(
            ReviewItem.sheet_id == sheet.id,
            ReviewItem.state == ItemState.OPEN.value,
            col(ReviewItem.kind).in_((ItemKind.FINDING.value, ItemKind.FLAG.value)),
        )
    ).all():
        if item.kind == ItemKind.FLAG.value:
            # A review item per flag and day, from before findings: its flag's finding now
            # stands for it.
            finish_item(session, item, resolution="regrouped", actor=actor)
        elif item.finding_code not in open_by_code:
            finish_item(session, item, resolution="cleared", actor=actor)


def finding_key(sheet_id: int, code: str) -> str:
    return f"finding:{sheet_id}:{code}"


def return_problems(session: Session, sheet: Sheet) -> list[SheetFlag]:
    """The flags a returned-sheet notice lists as problems: open ones a person must decide
    (and any red one), red first. (Notes are for `sheet_notes`.)"""
    config = load_config(session)
    rows = session.exec(
        select(SheetFlag).where(
            SheetFlag.sheet_id == sheet.id, SheetFlag.state == FlagState.OPEN.value
        )
    ).all()
    chosen = [r for r in rows if config.disposition(r.code) == REVIEW or r.severity == "red"]
    return sorted(chosen, key=lambda r: (r.severity != "red", r.day, r.code))


def sheet_notes(session: Session, sheet: Sheet) -> list[SheetFlag]:
    """What the rules settled on the sheet and recorded as notes (not blocking payment)."""
    config = load_config(session)
    rows = session.exec(
        select(SheetFlag).where(
            SheetFlag.sheet_id == sheet.id, SheetFlag.state == FlagState.OPEN.value
        )
    ).all()
    chosen = [r for r in rows if config.disposition(r.code) == NOTE and r.severity != "red"]
    return sorted(chosen, key=lambda r: (r.day, r.code))


def reapply_rules(session: Session, *, actor: str, config: AgencyConfig | None = None) -> int:
    """Apply the rules again to every sheet in play (after new settings, or an upgrade that
    changes what the rules find or how it is queued); returns how many sheets."""
    config = config or load_config(session)
    sheets = session.exec(
        select(Sheet).where(col(Sheet.status).in_(IN_PLAY)).order_by(col(Sheet.id))
    ).all()
    for sheet in sheets:
        evaluate(session, sheet, actor=actor, config=config, cascade=False)
    return len(sheets)


def change_settings(session: Session, config: AgencyConfig, *, actor: str) -> None:
    """Store new agency settings (audited) and re-apply the rules to every sheet in play."""
    store_config(session, config, actor=actor)
    reapply_rules(session, actor=actor, config=config)
