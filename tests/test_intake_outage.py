"""What counts as a database outage, the backoff, and the bound (`intake.outage`), against
real refused connections and real database errors."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from attendance.db import make_engine
from attendance.errors import ExitCode, error_kind
from intake.outage import (
    FIRST_DELAY_S,
    MAX_DELAY_S,
    DatabaseUnreachable,
    Outage,
    is_outage,
    ping,
    wait_for_database,
)


def _refused_url() -> str:
    """A PostgreSQL URL on a port where nothing listens."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    return f"postgresql+psycopg://attend@127.0.0.1:{port}/x"


def _error(run: Callable[[], object]) -> SQLAlchemyError:
    try:
        run()
    except SQLAlchemyError as exc:
        return exc
    raise AssertionError("no error")


def test_refused_connections_and_locks_are_outages_bugs_are_not(tmp_path: Path) -> None:
    refused = _error(lambda: ping(make_engine(_refused_url())))
    assert is_outage(refused)
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))

    def duplicate() -> None:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))

    integrity = _error(duplicate)
    assert isinstance(integrity, IntegrityError) and not is_outage(integrity)
    assert not is_outage(ValueError("not a database error"))


def test_backoff_doubles_to_its_cap_and_the_return_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outage = Outage("worker t")
    error = _error(lambda: ping(make_engine(_refused_url())))
    with caplog.at_level(logging.WARNING, logger="intake.outage"):
        delays = [outage.failed(error) for _ in range(8)]
        assert outage.away
        away = outage.answered()
    assert delays[0] == FIRST_DELAY_S and delays == sorted(delays) and delays[-1] == MAX_DELAY_S
    assert away is not None and not outage.away and outage.answered() is None
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2  # the outage once, its end once: not a line per try
    assert lines[0].startswith("worker t: database unavailable (") and "refused" in lines[0]
    assert lines[1].startswith("worker t: database back after ")


def test_the_bound_ends_the_wait_with_exit_code_6() -> None:
    engine = make_engine(_refused_url())
    started = time.monotonic()
    with pytest.raises(DatabaseUnreachable) as caught:
        wait_for_database(engine, who="worker t", bound_s=0.6)
    elapsed = time.monotonic() - started
    assert 0.6 <= elapsed < 5
    message = str(caught.value)
    assert (
        message.startswith("the database has been unreachable for 1 s (") and "refused" in message
    )
    kind = error_kind(caught.value)
    assert kind is not None and kind.exit_code == ExitCode.DATABASE


def test_a_stop_ends_the_wait_without_an_error() -> None:
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    assert not wait_for_database(make_engine(_refused_url()), who="t", bound_s=60, stop=stop)
    assert time.monotonic() - started < 5
