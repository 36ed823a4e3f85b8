"""Import certificates from CSV: all rows valid, or nothing imported and every bad row reported."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sqlmodel import Session

from attendance.db import record_event
from attendance.errors import DomainError
from attendance.ids import id_problem
from attendance.models import Certificate, Provider, ProviderType, ScheduleType, utcnow
from attendance.schedule import ScheduleError, parse_schedule

COLUMNS = (
    "certificate_id",
    "child_first_name",
    "child_last_name",
    "child_birth_date",
    "parent_name",
    "provider_id",
    "provider_name",
    "provider_type",
    "start_date",
    "end_date",
    "schedule",
    "weekly_hours",
    "schedule_type",
    "specialist_name",
    "specialist_phone",
)
OPTIONAL = frozenset({"weekly_hours", "specialist_name", "specialist_phone"})
ID_COLUMNS = ("certificate_id", "provider_id")
# Values of these columns never appear in messages or in the event log.
SENSITIVE = frozenset({"child_first_name", "child_last_name", "child_birth_date", "parent_name"})


@dataclass(frozen=True)
class RowError:
    """One problem in the file: the line it is on, the column, and what is wrong."""

    line: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


class CertificateImportError(DomainError, ValueError):
    """The file was refused; nothing was imported. `errors` lists every bad row."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} problem(s) in the certificates file; nothing imported")


@dataclass(frozen=True)
class CertificateRow:
    """A validated CSV row."""

    line: int
    certificate_id: str
    child_first_name: str
    child_last_name: str
    child_birth_date: dt.date
    parent_name: str
    provider_id: str
    provider_name: str
    provider_type: str
    start_date: dt.date
    end_date: dt.date
    schedule_text: str
    schedule_json: str
    weekly_hours: float | None
    schedule_type: str
    specialist_name: str
    specialist_phone: str


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    providers_created: int = 0
    providers_updated: int = 0
    warnings: list[str] = field(default_factory=list)


def _parse_date(value: str) -> dt.date:
    return dt.date.fromisoformat(value.strip())


def _shown(column: str, value: str) -> str:
    return "the value" if column in SENSITIVE else repr(value)


def _parse_row(line: int, raw: dict[str, str], errors: list[RowError]) -> CertificateRow | None:
    values = {k: (raw.get(k) or "").strip() for k in COLUMNS}
    problems: list[RowError] = []

    def bad(column: str, reason: str) -> None:
        problems.append(RowError(line, column, reason))

    for column in COLUMNS:
        if column not in OPTIONAL and not values[column]:
            bad(column, "is empty")
    # Ids end up in URLs, file names, headers and spreadsheets: a small alphabet (ids.py).
    # The message never repeats the value: a shifted column may put a child's name here.
    for column in ID_COLUMNS:
        problem = id_problem(values[column]) if values[column] else None
        if problem:
            bad(column, problem)

    dates: dict[str, dt.date] = {}
    for column in ("child_birth_date", "start_date", "end_date"):
        if values[column]:
            try:
                dates[column] = _parse_date(values[column])
            except ValueError:
                bad(column, f"{_shown(column, values[column])} is not a date (YYYY-MM-DD)")
    if "start_date" in dates and "end_date" in dates and dates["end_date"] < dates["start_date"]:
        bad("end_date", f"ends ({dates['end_date']}) before it starts ({dates['start_date']})")

    schedule_json = ""
    if values["schedule"]:
        try:
            schedule_json = parse_schedule(values["schedule"]).to_json()
        except ScheduleError as exc:
            bad("schedule", f"unknown schedule syntax: {exc}")

    provider_types = [t.value for t in ProviderType]
    if values["provider_type"] and values["provider_type"] not in provider_types:
        bad(
            "provider_type",
            f"{values['provider_type']!r} is not one of {', '.join(provider_types)}",
        )
    schedule_types = [t.value for t in ScheduleType]
    if values["schedule_type"] and values["schedule_type"] not in schedule_types:
        bad(
            "schedule_type",
            f"{values['schedule_type']!r} is not one of {', '.join(schedule_types)}",
        )

    weekly_hours: float | None = None
    if values["weekly_hours"]:
        try:
            weekly_hours = float(values["weekly_hours"])
            if not 0 < weekly_hours <= 168:
                raise ValueError
        except ValueError:
            bad("weekly_hours", f"{values['weekly_hours']!r} is not a number of hours (0-168]")

    if problems:
        errors.extend(problems)
        return None
    return CertificateRow(
        line=line,
        certificate_id=values["certificate_id"],
        child_first_name=values["child_first_name"],
        child_last_name=values["child_last_name"],
        child_birth_date=dates["child_birth_date"],
        parent_name=values["parent_name"],
        provider_id=values["provider_id"],
        provider_name=values["provider_name"],
        provider_type=values["provider_type"],
        start_date=dates["start_date"],
        end_date=dates["end_date"],
        schedule_text=values["schedule"],
        schedule_json=schedule_json,
        weekly_hours=weekly_hours,
        schedule_type=values["schedule_type"],
        specialist_name=values["specialist_name"],
        specialist_phone=values["specialist_phone"],
    )


def parse_certificates_csv(text: str) -> tuple[list[CertificateRow], list[str]]:
    """Validate a whole file; return rows and warnings or raise CertificateImportError."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise CertificateImportError([RowError(1, None, "the file is empty (no header row)")])
    reader.fieldnames = header
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise CertificateImportError(
            [RowError(1, None, f"missing column(s): {', '.join(missing)}")]
        )
    warnings = []
    extra = [h for h in header if h not in COLUMNS]
    if extra:
        warnings.append(f"ignoring extra column(s): {', '.join(extra)}")

    rows: list[CertificateRow] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    providers: dict[str, tuple[str, str, int]] = {}
    for raw in reader:
        line = reader.line_num
        if not any((v or "").strip() for v in raw.values() if isinstance(v, str)):
            continue  # blank line
        if None in raw:
            errors.append(RowError(line, None, "more values than columns in the header"))
            continue
        row = _parse_row(line, raw, errors)
        if row is None:
            continue
        if row.certificate_id in seen:
            errors.append(
                RowError(
                    line,
                    "certificate_id",
                    f"{row.certificate_id!r} already appears on line {seen[row.certificate_id]}",
                )
            )
            continue
        seen[row.certificate_id] = line
        known = providers.get(row.provider_id)
        if known and known[:2] != (row.provider_name, row.provider_type):
            errors.append(
                RowError(
                    line,
                    "provider_id",
                    f"provider {row.provider_id!r} has a different name or type on line {known[2]}",
                )
            )
            continue
        providers.setdefault(row.provider_id, (row.provider_name, row.provider_type, line))
        rows.append(row)
    if errors:
        raise CertificateImportError(errors)
    if not rows:
        raise CertificateImportError([RowError(1, None, "the file has a header but no rows")])
    return rows, warnings


_CERTIFICATE_FIELDS = [
    f.name
    for f in fields(CertificateRow)
    if f.name not in {"line", "provider_name", "provider_type"}
]


def _redacted(values: dict[str, Any]) -> dict[str, Any]:
    return {k: ("(changed)" if k in SENSITIVE else v) for k, v in values.items()}


def import_certificates(session: Session, path: Path, *, actor: str) -> ImportResult:
    """Import or update certificates by certificate_id, all in the caller's transaction."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CertificateImportError(
            [RowError(1, None, f"the file is not UTF-8 text (byte {exc.start})")]
        ) from None
    rows, warnings = parse_certificates_csv(text)
    result = ImportResult(warnings=warnings)
    now = utcnow()

    for row in rows:
        provider = session.get(Provider, row.provider_id)
        if provider is None:
            session.add(
                Provider(
                    provider_id=row.provider_id,
                    name=row.provider_name,
                    provider_type=row.provider_type,
                )
            )
            record_event(
                session,
                actor=actor,
                entity="provider",
                entity_id=row.provider_id,
                action="created",
                after={"name": row.provider_name, "type": row.provider_type},
            )
            result.providers_created += 1
        elif (provider.name, provider.provider_type) != (row.provider_name, row.provider_type):
            before = {"name": provider.name, "type": provider.provider_type}
            provider.name, provider.provider_type = row.provider_name, row.provider_type
            provider.updated_at = now
            session.add(provider)
            record_event(
                session,
                actor=actor,
                entity="provider",
                entity_id=row.provider_id,
                action="updated",
                before=before,
                after={"name": row.provider_name, "type": row.provider_type},
            )
            result.providers_updated += 1
    session.flush()

    for row in rows:
        wanted = {name: getattr(row, name) for name in _CERTIFICATE_FIELDS}
        certificate = session.get(Certificate, row.certificate_id)
        if certificate is None:
            session.add(Certificate(**wanted))
            record_event(
                session,
                actor=actor,
                entity="certificate",
                entity_id=row.certificate_id,
                action="created",
                after=_redacted(wanted),
            )
            result.created += 1
            continue
        changed = {k: v for k, v in wanted.items() if getattr(certificate, k) != v}
        if not changed:
            result.unchanged += 1
            continue
        before = {k: getattr(certificate, k) for k in changed}
        for key, value in changed.items():
            setattr(certificate, key, value)
        certificate.updated_at = now
        session.add(certificate)
        record_event(
            session,
            actor=actor,
            entity="certificate",
            entity_id=row.certificate_id,
            action="updated",
            before=_redacted(before),
            after=_redacted(changed),
        )
        result.updated += 1
    return result
