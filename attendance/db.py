"""Engine, sessions and schema migrations (Alembic, run from code)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from attendance.errors import DomainError, ErrorKind
from attendance.models import Event

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class SchemaNotCurrent(DomainError, RuntimeError):
    """The database is missing or at an older schema than this code needs."""

    kind = ErrorKind.DATABASE


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver must not open transactions itself: `_begin_immediate` does, so that a
    # transaction that will write takes the write lock at its start. A deferred transaction
    # that upgrades from reading to writing fails at once with "database is locked" when
    # another worker wrote in between (the busy timeout cannot help it); an immediate one
    # waits its turn.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers (status look-ups) run while intake writes; FULL makes a commit
    # durable before we tell anyone a sheet was received.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(database_url: str) -> Engine:
    """Create an engine; SQLite gets its folder created and WAL/foreign keys switched on."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        sa_event.listen(engine, "connect", _set_sqlite_pragmas)
        sa_event.listen(engine, "begin", _begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    """The newest migration this code ships."""
    script = ScriptDirectory.from_config(_alembic_config(make_engine("sqlite://")))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, or None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_database(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    command.upgrade(_alembic_config(engine), "head")


def require_current_schema(engine: Engine) -> None:
    """Raise SchemaNotCurrent unless the database is at the newest migration."""
    current = current_revision(engine)
    head = head_revision()
    if current is None:
        raise SchemaNotCurrent("the database is not initialised: run `attend init`")
    if current != head:
        raise SchemaNotCurrent(
            f"the database schema is at {current}, this version needs {head}: run `attend init`"
        )


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def record_event(
    session: Session,
    *,
    actor: str,
    entity: str,
    entity_id: str,
    action: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> Event:
    """Append an event in the caller's transaction (who, what, before and after)."""
    row = Event(
        actor=actor,
        entity=entity,
        entity_id=entity_id,
        action=action,
        before_json=None if before is None else json.dumps(before, sort_keys=True, default=str),
        after_json=None if after is None else json.dumps(after, sort_keys=True, default=str),
    )
    session.add(row)
    return row
