from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from attendance.certificates import CertificateImportError, import_certificates
from attendance.db import session_scope
from attendance.models import Certificate, Event, Provider
from tests.conftest import CERTIFICATES_CSV

HEADER = CERTIFICATES_CSV.read_text().splitlines()[0]
GOOD_ROW = (
    "C-9,Secretfirst,Secretlast,2020-01-02,Parent Secret,P-9,Nine Care,licensed_center,"
    "2026-01-01,2026-12-31,Mon-Fri 08:00-17:00,45,full_time,Spec Ialist,555-0100"
)


def _write(tmp_path: Path, *lines: str, name: str = "certs.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def test_import_fixture_file(sqlite_engine: Engine) -> None:
    with session_scope(sqlite_engine) as session:
        result = import_certificates(session, CERTIFICATES_CSV, actor="test")
    assert (result.created, result.updated, result.providers_created) == (8, 0, 3)
    with Session(sqlite_engine) as session:
        cert = session.get(Certificate, "C-1002")
        assert cert is not None
        assert cert.schedule_text == "Mon,Wed 08:00-12:00; Fri 13:00-18:00"
        assert json.loads(cert.schedule_json) == {
            "0": [[480, 720]],
            "2": [[480, 720]],
            "4": [[780, 1080]],
        }
        assert cert.weekly_hours == 13
        provider = session.get(Provider, "P-300")
        assert provider is not None and provider.provider_type == "exempt"


def test_reimport_updates_by_certificate_id(sqlite_engine: Engine, tmp_path: Path) -> None:
    """GIVEN an imported file WHEN a row changes and it is imported again
    THEN that certificate is updated in place, the rest unchanged, and the change is logged."""
    with session_scope(sqlite_engine) as session:
        import_certificates(session, _write(tmp_path, HEADER, GOOD_ROW), actor="test")
    changed = GOOD_ROW.replace("2026-12-31", "2027-03-31").replace(",45,", ",40,")
    second = _write(tmp_path, HEADER, changed, GOOD_ROW.replace("C-9,", "C-10,"), name="2.csv")
    with session_scope(sqlite_engine) as session:
        result = import_certificates(session, second, actor="test")
    assert (result.created, result.updated, result.unchanged) == (1, 1, 0)
    with Session(sqlite_engine) as session:
        cert = session.get(Certificate, "C-9")
        assert cert is not None and str(cert.end_date) == "2027-03-31" and cert.weekly_hours == 40
        update = session.exec(select(Event).where(Event.action == "updated")).one()
        assert json.loads(update.before_json or "{}") == {
            "end_date": "2026-12-31",
            "weekly_hours": 45.0,
        }
    assert _count(sqlite_engine, Certificate) == 2


def test_bad_file_imports_nothing_and_reports_every_bad_row(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    rows = [
        HEADER,
        GOOD_ROW,
        GOOD_ROW.replace("C-9,", "C-11,").replace("2020-01-02", "2020-02-30"),  # line 3: bad date
        GOOD_ROW.replace("C-9,", "C-12,").replace("Mon-Fri 08:00-17:00", "weekdays mornings"),
        GOOD_ROW.replace("C-9,", "C-13,").replace("2026-12-31", "2025-12-31"),  # end before start
        GOOD_ROW.replace("C-9,", "C-14,").replace("full_time", "sometimes"),
        GOOD_ROW,  # line 7: duplicate id
    ]
    path = _write(tmp_path, *rows)
    try:
        with session_scope(sqlite_engine) as session:
            import_certificates(session, path, actor="test")
    except CertificateImportError as exc:
        messages = [str(e) for e in exc.errors]
    else:
        raise AssertionError("a bad file was accepted")
    assert messages == [
        "line 3, child_birth_date: the value is not a date (YYYY-MM-DD)",
        "line 4, schedule: unknown schedule syntax: 'weekdays mornings' is not 'Days HH:MM-HH:MM'",
        "line 5, end_date: ends (2025-12-31) before it starts (2026-01-01)",
        "line 6, schedule_type: 'sometimes' is not one of full_time, part_time, variable",
        "line 7, certificate_id: 'C-9' already appears on line 2",
    ]
    assert not any("Secret" in m or "2020-02-30" in m for m in messages)  # no child data
    assert _count(sqlite_engine, Certificate) == 0
    assert _count(sqlite_engine, Provider) == 0


def test_missing_column_and_extra_column(sqlite_engine: Engine, tmp_path: Path) -> None:
    missing = _write(tmp_path, HEADER.replace(",weekly_hours", ""), name="m.csv")
    try:
        with session_scope(sqlite_engine) as session:
            import_certificates(session, missing, actor="test")
    except CertificateImportError as exc:
        assert [str(e) for e in exc.errors] == ["line 1: missing column(s): weekly_hours"]
    else:
        raise AssertionError("missing column accepted")
    extra = _write(tmp_path, HEADER + ",notes", GOOD_ROW + ",hello", name="x.csv")
    with session_scope(sqlite_engine) as session:
        result = import_certificates(session, extra, actor="test")
    assert result.warnings == ["ignoring extra column(s): notes"]
    assert result.created == 1
