"""Riding out database outages: what counts as one, how long to wait, what to log.

The watcher and the workers are services: a PostgreSQL restart, a stop and start for
maintenance, a backend terminated by an administrator or a dropped network connection must
not stop them. Each keeps an `Outage` record: the first failure is logged once, the process
waits with a bounded backoff (0.25 s doubling to 5 s: a fast restart is ridden out in about a
second, a long outage costs one connection attempt every 5 s), a reminder is logged every
minute, and the return of the database is logged with how long it was away.

A bound applies only where someone waits for an answer: at start (the database never
answered: a wrong address, a server that is not running), and in one-off runs (`--once`,
`--drain`). There, an outage longer than the bound (`--database-wait`, default 60 s) ends the
command with `DatabaseUnreachable`, exit code 6. A service that has started rides out any
outage until it is stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from attendance.errors import DomainError, ErrorKind

log = logging.getLogger(__name__)

DEFAULT_DATABASE_WAIT_S = 60.0
"""How long the database may be unreachable at start (or in a one-off run) before exit 6."""
FIRST_DELAY_S = 0.25
MAX_DELAY_S = 5.0
REMIND_EVERY_S = 60.0


class DatabaseUnreachable(DomainError):
    """The database did not answer for longer than the bound (exit code 6)."""

    kind = ErrorKind.DATABASE


def is_outage(exc: BaseException) -> bool:
    """True when `exc` says the database is away or busy (try again later), not a bug.

    Connection refused, a server starting up or shutting down, a terminated backend, a
    dropped connection, a full database disk, SQLite's "database is locked": all are
    operational errors, and a connection that broke under a statement is flagged as
    invalidated whatever the error's class.
    """
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover - SQLite-only installs
        return False
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


def reason(exc: BaseException) -> str:
    """The driver's message, first line only (it never carries a password or personal data)."""
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return lines[0] if lines else type(original).__name__


class Outage:
    """When the database went away, for one process: backoff, log lines, the bound."""

    def __init__(self, who: str, *, bound_s: float | None = None) -> None:
        self.who = who
        self.bound_s = bound_s  # None: wait for ever (a service that has started)
        self.since: float | None = None  # monotonic time of the first failure
        self.outages = 0
        self.away_s = 0.0  # total time away, for `--stats`
        self._delay = FIRST_DELAY_S
        self._reminded = 0.0

    @property
    def away(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException) -> float:
        """Note a failed call; the seconds to wait before the next try.

        Raises DatabaseUnreachable when the outage has lasted longer than the bound.
        """
        now = time.monotonic()
        if self.since is None:
            self.since = self._reminded = now
            self.outages += 1
            self._delay = FIRST_DELAY_S
            log.warning("%s: database unavailable (%s); waiting for it", self.who, reason(exc))
        elif now - self._reminded >= REMIND_EVERY_S:
            self._reminded = now
            log.warning(
                "%s: database still unavailable after %.0f s (%s)",
                self.who,
                now - self.since,
                reason(exc),
            )
        if self.bound_s is not None and now - self.since >= self.bound_s:
            raise DatabaseUnreachable(
                f"the database has been unreachable for {now - self.since:.0f} s ({reason(exc)})"
            )
        delay = self._delay
        self._delay = min(MAX_DELAY_S, self._delay * 2)
        if self.bound_s is not None:
            delay = max(0.0, min(delay, self.since + self.bound_s - now))
        return delay

    def answered(self) -> float | None:
        """Note a call that worked; the seconds the database was away if it just came back."""
        if self.since is None:
            return None
        away = time.monotonic() - self.since
        self.since = None
        self.away_s += away
        log.warning("%s: database back after %.1f s", self.who, away)
        return away


def ping(engine: Engine) -> None:
    """One round trip to the database (raises what the driver raises)."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def wait_for_database(
    engine: Engine,
    *,
    who: str,
    bound_s: float,
    check: Callable[[Engine], object] = ping,
    stop: threading.Event | None = None,
) -> bool:
    """Run `check` until the database answers (True), or `stop` is set (False).

    Connection errors (refused, unknown host, a refused password too) are waited on, at most
    `bound_s` seconds, then DatabaseUnreachable; any other error (an older schema, say)
    propagates at once.
    """
    stop = stop or threading.Event()
    outage = Outage(who, bound_s=bound_s)
    while not stop.is_set():
        try:
            check(engine)
        except Exception as exc:
            if not is_outage(exc):
                raise
            stop.wait(outage.failed(exc))
            continue
        outage.answered()
        return True
    return False
