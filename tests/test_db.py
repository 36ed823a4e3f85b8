from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError
from sqlmodel import SQLModel

from attendance.db import (
    SchemaNotCurrent,
    make_engine,
    record_event,
    require_current_schema,
    session_scope,
    upgrade_database,
)


def _schema_differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def _append_only(engine: Engine) -> None:
    with session_scope(engine) as session:
        record_event(session, actor="t", entity="sheet", entity_id="X", action="issued")
    for statement in ("UPDATE events SET actor = 'someone else'", "DELETE FROM events"):
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT actor FROM events")).scalar_one() == "t"


def test_sqlite_migrations_build_the_models_schema(sqlite_engine: Engine) -> None:
    assert _schema_differences(sqlite_engine) == []
    upgrade_database(sqlite_engine)  # idempotent
    require_current_schema(sqlite_engine)


def test_sqlite_is_in_wal_mode_with_foreign_keys(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar_one() == 1


def test_sqlite_event_log_is_append_only(sqlite_engine: Engine) -> None:
    _append_only(sqlite_engine)


def test_uninitialised_database_is_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    with pytest.raises(SchemaNotCurrent, match="attend init"):
        require_current_schema(engine)


@pytest.mark.postgres
def test_postgres_migrations_and_append_only_log(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    upgrade_database(engine)
    assert _schema_differences(engine) == []
    _append_only(engine)
    engine.dispose()


def test_upgrade_keeps_rows_written_by_the_first_schema(tmp_path: Path) -> None:
    """GIVEN a database at the first migration with a scanned page in it WHEN it is upgraded
    THEN the page is still there and reads as not in review."""
    from alembic import command

    from attendance.db import _alembic_config

    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    command.upgrade(_alembic_config(engine), "0001")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO scanned_files (sha256, original_name, size_bytes, status, received_at)"
                " VALUES ('ab', 'x.pdf', 1, 'processed', '2026-11-02 10:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO scanned_pages (file_id, page_number, status, created_at)"
                " VALUES (1, 1, 'unidentified', '2026-11-02 10:00:00')"
            )
        )
    upgrade_database(engine)
    require_current_schema(engine)
    with engine.connect() as connection:
        row = connection.execute(text("SELECT status, needs_review FROM scanned_pages")).one()
    assert tuple(row) == ("unidentified", 0)


def test_the_head_revision_constant_is_alembics_head() -> None:
    """Commands check the schema against HEAD_REVISION without loading Alembic; it must name
    the newest migration shipped (add a migration: update it)."""
    from attendance.db import HEAD_REVISION, head_revision

    assert head_revision() == HEAD_REVISION
