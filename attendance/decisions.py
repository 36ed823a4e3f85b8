"""A reviewer's decisions: confirm, correct, key a page. Each runs in one transaction with its
audit event; the machine's value is never overwritten (the reviewer's goes to `final_value`),
and a verified time's digit cells are kept as training data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, and_, update
from sqlmodel import Session, col, select

from attendance.db import record_event, session_scope
from attendance.errors import InvalidValue, NotAllowed, VersionConflict
from attendance.evidence import digit_cells, layout_for, load_canon, png
from attendance.findings import evaluate
from attendance.flags import Severity
from attendance.lifecycle import settle_status
from attendance.models import (
    FieldReading,
    FlagState,
    ItemKind,
    ReviewItem,
    ScannedPage,
    Sheet,
    SheetFlag,
    TrainingCrop,
    utcnow,
)
from attendance.review_queue import close_item, finding_flags, finish_item, take_item
from attendance.review_queue import finding_version as current_finding_version
from attendance.sheets import page_readings
from attendance.values import KEYED, current_value, normalize_value
from forms.layout import MarkField, SignatureField, TimeField


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
    finding_version: str | None = None,
) -> Decision:
    """The reviewer confirms: a field's machine value is right, or a flag may stand.

    `finding_version` (`review_queue.finding_version`) is the finding as the reviewer saw
    it: when its days or severity changed since, nothing is written (VersionConflict)."""
    with session_scope(engine) as session:
        return _accept(
            session,
            item_id,
            reviewer=reviewer,
            version=version,
            reason=reason,
            finding_version=finding_version,
        )


def accept_items(
    engine: Engine, item_ids: Sequence[int], *, reviewer: str, reason: str | None = None
) -> list[Decision]:
    """Grouped verification: confirm many items in one transaction (all or none)."""
    with session_scope(engine) as session:
        return [
            _accept(session, i, reviewer=reviewer, version=None, reason=reason) for i in item_ids
        ]


def _accept(
    session: Session,
    item_id: int,
    *,
    reviewer: str,
    version: int | None,
    reason: str | None,
    finding_version: str | None = None,
) -> Decision:
    item = take_item(session, item_id, reviewer=reviewer, now=utcnow())
    if item.reading_id is not None:
        reading = session.get(FieldReading, item.reading_id)
        assert reading is not None
        return _set_field(
            session, item, reading, current_value(reading), reviewer, version, reason, "accepted"
        )
    if item.flag_id is not None or item.finding_code is not None:
        assert item.sheet_id is not None
        sheet = session.get(Sheet, item.sheet_id)
        assert sheet is not None
        if item.finding_code is not None:
            flags = finding_flags(session, item.sheet_id, item.finding_code)
        else:  # an item of one flag and day, from before findings
            flag = session.get(SheetFlag, item.flag_id)
            flags = [flag] if flag is not None and flag.state == FlagState.OPEN.value else []
        if finding_version is not None and finding_version != current_finding_version(flags):
            raise VersionConflict(
                f"item {item_id}: the finding changed since it was shown (its days or "
                "severity); look at it again"
            )
        red = [f for f in flags if f.severity == Severity.RED.value]
        if red and not (reason and reason.strip()):
            raise NotAllowed(
                f"flag {red[0].code} is red (the sheet cannot be paid as it is): accepting it "
                "needs a reason; or correct the field it concerns, or return the sheet"
            )
        now = utcnow()
        for flag in flags:
            flag.state = FlagState.ACCEPTED.value
            flag.resolved_by = reviewer
            flag.resolved_at = now
            flag.note = reason
            session.add(flag)
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
            close_item(session, key, resolution=action, actor=reviewer)
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
        layout = layout_for(sheet.serial, sheet.month, sheet.form_version)
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
    layout = layout_for(sheet.serial, sheet.month, sheet.form_version)
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
