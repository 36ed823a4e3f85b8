"""Engine, sessions and schema migrations (Alembic, run from code)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event as sa_event
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from attendance.errors import DomainError, ErrorKind
from attendance.models import Event

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The newest migration this code ships (a test checks it is Alembic's head). Every command
# checks the database against it; reading it from here rather than from Alembic's script
# folder keeps Alembic (a tenth of a second to import) out of commands that do not migrate.
HEAD_REVISION = "0008"


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
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    """The newest migration in the migrations folder (Alembic's head)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config(make_engine("sqlite://")))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, or None for an empty database."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])


def upgrade_database(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    from alembic import command

    command.upgrade(_alembic_config(engine), "head")


def require_current_schema(engine: Engine) -> None:
    """Raise SchemaNotCurrent unless the database is at the newest migration."""
    current = current_revision(engine)
    head = HEAD_REVISION
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
