"""The month's attendance in the export contract (JSON) and flattened to CSV.

The JSON shape is a public contract (see README, "Export JSON"): extend it, never break it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from typing import Any

from sqlmodel import Session, col, select

from attendance.agency import ABSENCE_CATEGORIES, absence_category
from attendance.agency_settings import load_config
from attendance.findings import sheet_facts
from attendance.models import (
    FieldReading,
    FlagState,
    PageStatus,
    ScannedFile,
    ScannedPage,
    SheetFlag,
    SheetStatus,
)
from attendance.months import month_days, parse_month
from attendance.rules import certified_hours, day_hours, payable_hours
from attendance.safetext import spreadsheet_cell
from attendance.sheets import list_sheets
from attendance.values import MARKED, SIGNED, current_value
from forms.layout import ABSENCE_CODES


def iso_utc(moment: dt.datetime | None) -> str | None:
    """``2026-12-02T14:05:09Z`` or None."""
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# Never a silent blank: a field of a received sheet that was never read is exported as
# needing review with this reason, never as a verified blank.
NOT_READ = "not_read"


def _unsure(reading: FieldReading) -> bool:
    """The machine was not sure, and no reviewer has decided yet."""
    return reading.needs_review and not reading.reviewed


def _time_field(reading: FieldReading | None, *, read: bool) -> dict[str, Any]:
    if reading is None:
        return {
            "value": None,
            "machine_value": None,
            "confidence": None,
            "needs_review": not read,
            "reviewed": False,
            "reason": None if read else NOT_READ,
        }
    return {
        "value": current_value(reading),
        "machine_value": reading.machine_value,
        "confidence": reading.confidence,
        "needs_review": reading.needs_review,
        "reviewed": reading.reviewed,
        "reason": reading.reason,
    }


def _absence(readings: dict[str, FieldReading], day: dt.date, *, read: bool) -> dict[str, Any]:
    boxes = [
        (code.code, readings[name])
        for code in ABSENCE_CODES
        if (name := f"day.{day.day:02d}.absence.{code.code}") in readings
    ]
    marked = [(code, reading) for code, reading in boxes if current_value(reading) == MARKED]
    # A box the machine was unsure of leaves the day's absence in doubt, marked or not.
    unsure = [reading for _, reading in boxes if _unsure(reading)]
    if not marked:
        return {
            "code": None,
            "confidence": None,
            "needs_review": bool(unsure) or not read,
            "reason": (unsure[0].reason if unsure else None) if read else NOT_READ,
        }
    code, reading = marked[0]
    return {
        "code": code,
        "confidence": reading.confidence,
        "needs_review": reading.needs_review or len(marked) > 1 or bool(unsure),
        "reason": "several_marked" if len(marked) > 1 else reading.reason,
    }


def _signature(reading: FieldReading | None, *, read: bool) -> dict[str, Any]:
    if reading is None:
        return {
            "signed": None,
            "confidence": None,
            "needs_review": not read,
            "reason": None if read else NOT_READ,
        }
    # A reading exists: the box was looked at, so no ink means "not signed", not "unknown".
    return {
        "signed": current_value(reading) == SIGNED,
        "confidence": reading.confidence,
        "needs_review": reading.needs_review,
        "reason": reading.reason,
    }


def build_export(session: Session, month: str) -> dict[str, Any]:
    """Every sheet issued for `month`, in the export contract."""
    first = parse_month(month)
    rows = list_sheets(session, month=month)
    sheet_ids = [sheet.id for sheet, _ in rows]
    config = load_config(session)

    readings: dict[int, dict[str, FieldReading]] = defaultdict(dict)
    flags: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if sheet_ids:
        # A sheet's values come from its source page only; a duplicate scan's readings are
        # kept as evidence but never mixed in.
        sources = {sheet.id: (sheet.source_file_sha256, sheet.source_page) for sheet, _ in rows}
        for reading, page, file in session.exec(
            select(FieldReading, ScannedPage, ScannedFile)
            .join(ScannedPage, col(FieldReading.page_id) == col(ScannedPage.id))
            .join(ScannedFile, col(ScannedPage.file_id) == col(ScannedFile.id))
            .where(col(FieldReading.sheet_id).in_(sheet_ids))
        ).all():
            if sources.get(reading.sheet_id) == (file.sha256, page.page_number):
                readings[reading.sheet_id][reading.field_name] = reading
        for flag in session.exec(
            select(SheetFlag)
            .where(
                col(SheetFlag.sheet_id).in_(sheet_ids),
                SheetFlag.state != FlagState.CLEARED.value,
            )
            .order_by(col(SheetFlag.day), col(SheetFlag.code))
        ).all():
            flags[flag.sheet_id].append(
                {
                    "code": flag.code,
                    "date": flag.day or None,
                    "message": flag.message,
                    "severity": flag.severity,
                    "state": flag.state,
                    "disposition": config.disposition(flag.code).value,
                }
            )

    sheets = []
    for sheet, certificate in rows:
        assert sheet.id is not None
        fields = readings.get(sheet.id, {})
        # A received sheet without readings was not read (its page could not be registered):
        # every field of it needs a person, with the reason, until the page is keyed.
        read = bool(fields) or sheet.received_at is None
        facts = sheet_facts(session, sheet)
        hours = {entry.date: day_hours(entry) for entry in facts.days}
        days = [
            {
                "date": day.isoformat(),
                "time_in": _time_field(fields.get(f"day.{day.day:02d}.in"), read=read),
                "time_out": _time_field(fields.get(f"day.{day.day:02d}.out"), read=read),
                "absence": _absence(fields, day, read=read),
                "hours": None if hours.get(day) is None else round(hours[day] or 0.0, 2),
            }
            for day in month_days(first)
        ]
        absences = dict.fromkeys(ABSENCE_CATEGORIES, 0)
        for entry in facts.days:
            for category in {absence_category(code) for code in entry.absences}:
                absences[category] += 1
        pay = payable_hours(facts, config)
        totals = {
            "certified_hours": round(certified_hours(facts), 2),
            "payable_hours": pay.hours,
            "payable_rule": pay.rule,
            "attended_hours": round(sum(h for h in hours.values() if h), 2),
            "days_attended": sum(1 for h in hours.values() if h),
            "absences": absences,
        }
        sheets.append(
            {
                "serial": sheet.serial,
                "certificate_id": sheet.certificate_id,
                "provider_id": certificate.provider_id,
                "status": sheet.status,
                "received_at": iso_utc(sheet.received_at),
                "source": {"file_sha256": sheet.source_file_sha256, "page": sheet.source_page},
                "days": days,
                "signatures": {
                    "parent": _signature(fields.get("signature.parent"), read=read),
                    "provider": _signature(fields.get("signature.provider"), read=read),
                },
                "flags": flags.get(sheet.id, []),
                "totals": totals,
            }
        )

    unidentified = [
        {"file_sha256": file.sha256, "page": page.page_number, "reason": page.reason}
        for page, file in session.exec(
            select(ScannedPage, ScannedFile)
            .join(ScannedFile, col(ScannedPage.file_id) == col(ScannedFile.id))
            .where(ScannedPage.status == PageStatus.UNIDENTIFIED.value)
            .order_by(col(ScannedFile.id), col(ScannedPage.page_number))
        ).all()
    ]
    return {"month": month, "sheets": sheets, "unidentified": unidentified}


CSV_COLUMNS = [
    "month",
    "serial",
    "certificate_id",
    "provider_id",
    "status",
    "received_at",
    "file_sha256",
    "page",
    "date",
    *[
        f"{which}_{part}"
        for which in ("time_in", "time_out")
        for part in ("value", "machine_value", "confidence", "needs_review", "reviewed")
    ],
    "absence_code",
    "absence_confidence",
    "absence_needs_review",
    "parent_signed",
    "provider_signed",
    "flags",
]


# Every cell goes through `spreadsheet_cell`: a text cell that starts like a formula (`=`,
# `+`, `-`, `@`, tab, carriage return) gets a leading `'`; numbers stay numbers.
_cell = spreadsheet_cell


def export_csv(data: dict[str, Any]) -> str:
    """One row per sheet and day, the JSON export flattened (see README)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for sheet in data["sheets"]:
        flags = ";".join(flag["code"] for flag in sheet["flags"])
        for day in sheet["days"]:
            times = [
                day[which][part]
                for which in ("time_in", "time_out")
                for part in ("value", "machine_value", "confidence", "needs_review", "reviewed")
            ]
            row = [
                data["month"],
                sheet["serial"],
                sheet["certificate_id"],
                sheet["provider_id"],
                sheet["status"],
                sheet["received_at"],
                sheet["source"]["file_sha256"],
                sheet["source"]["page"],
                day["date"],
                *times,
                day["absence"]["code"],
                day["absence"]["confidence"],
                day["absence"]["needs_review"],
                sheet["signatures"]["parent"]["signed"],
                sheet["signatures"]["provider"]["signed"],
                flags,
            ]
            writer.writerow([_cell(v) for v in row])
    return out.getvalue()


PAYMENT_COLUMNS = [
    "month",
    "serial",
    "certificate_id",
    "provider_id",
    "status",
    "received_at",
    "certified_hours",
    "attended_hours",
    "days_attended",
    *[f"absences_{category}" for category in ABSENCE_CATEGORIES],
    "red_flags",
    "yellow_flags",
    "payable",
    # Added with dispositions (0.4): the hours the program pays and the rule that gave them.
    "payable_hours",
    "payable_rule",
]


def payable(sheet: dict[str, Any]) -> bool:
    """Verified (or already exported) with no red problem left open for a person: the payment
    unit may pay. (A red note, such as an unread page, keeps the sheet in review until its
    page is keyed, so it is never verified meanwhile.)"""
    open_red = any(
        f["severity"] == "red" and f["state"] == "open" and f["disposition"] == "review"
        for f in sheet["flags"]
    )
    done = sheet["status"] in (SheetStatus.VERIFIED.value, SheetStatus.EXPORTED.value)
    return done and not open_red


def payment_csv(data: dict[str, Any]) -> str:
    """One row per sheet for the payment unit: certified against attended hours, days,
    absences by category, flags (codes by severity, `;`-joined) and whether it is payable."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PAYMENT_COLUMNS)
    for sheet in data["sheets"]:
        totals = sheet["totals"]
        codes = {
            severity: ";".join(
                sorted({f["code"] for f in sheet["flags"] if f["severity"] == severity})
            )
            for severity in ("red", "yellow")
        }
        row = [
            data["month"],
            sheet["serial"],
            sheet["certificate_id"],
            sheet["provider_id"],
            sheet["status"],
            sheet["received_at"],
            totals["certified_hours"],
            totals["attended_hours"],
            totals["days_attended"],
            *[totals["absences"][category] for category in ABSENCE_CATEGORIES],
            codes["red"],
            codes["yellow"],
            payable(sheet),
            totals["payable_hours"],
            totals["payable_rule"],
        ]
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()
