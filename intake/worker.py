"""`attend intake worker`: take page jobs one at a time and process each exactly once.

Several workers run side by side on one machine (SQLite or PostgreSQL) or on several machines
sharing PostgreSQL and the work and data folders. A worker holds its job under a lease that a
heartbeat thread renews; if the worker is killed, the lease runs out and another worker takes
the job. A page that cannot be read fails with its reason.

Passing trouble is waited out, never counted against the page: a full disk gives the job back
(once the database has recorded that); a database outage (a restart, a stop and start, a
terminated connection) is ridden out with a bounded backoff, the page in hand recorded when
the database answers again. If the job was taken from this worker meanwhile (its lease ran out
during the outage), its claim is not counted as an attempt (`forgive_attempt`). After an
outage a worker leaves expired leases alone for one lease, so the workers that held jobs
through it renew them rather than have their pages done twice.
"""

from __future__ import annotations

import errno
import logging
import os
import resource
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from intake.folders import IntakeDirs
from intake.oneshot import Reading, ReadPage, read_page, sheet_context
from intake.outage import Outage, is_outage, reason
from intake.queue import (
    DEFAULT_LEASE_S,
    JobListener,
    JobTicket,
    LeaseLost,
    claim_job,
    complete_job,
    forgive_attempt,
    pending_jobs,
    place,
    place_unplaced,
    release_job,
    renew_lease,
)
from intake.stats import ProcessStats
from scanner.errors import ScanError
from scanner.load import load_page
from scanner.pipeline import add_stage, configure_process, stage_mark

log = logging.getLogger(__name__)

STAGES = ("load", "identify", "register", "warp", "read", "store", "record")
STOP_WAIT_S = 10.0
"""Stopped while the database is away: how long to keep trying to record the page in hand."""


@dataclass(frozen=True)
class WorkerOptions:
    worker_id: str
    lease_s: float = DEFAULT_LEASE_S
    poll_s: float = 1.0
    drain: bool = False  # stop when no job is queued or running
    render_timeout_s: float = 120.0
    dpi: int = 200
    retry_delay_s: float = 5.0
    # A bound on an outage (`--database-wait` in a `--drain` run): exit 6 past it. None: a
    # service, which waits for the database as long as it takes.
    database_wait_s: float | None = None


@dataclass
class WorkerStats:
    """What one worker did: printed as JSON by `--stats`, read by tests and the benchmark."""

    worker: str
    pages_done: int = 0
    pages_failed: int = 0
    jobs: list[int] = field(default_factory=list)
    lease_lost: int = 0
    lock_errors: int = 0
    retried: int = 0  # jobs given back (a full disk, the database away while reading)
    attempts_forgiven: int = 0  # jobs lost during an outage, their claim not counted
    outages: int = 0
    outage_s: float = 0.0
    listen_connects: int = 0
    stage_ms: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    page_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    peak_rss_mb: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["median_ms"] = {
            stage: round(statistics.median(values), 2) if values else None
            for stage, values in [*self.stage_ms.items(), ("page", self.page_ms)]
        }
        return data


def _is_lock_error(exc: SQLAlchemyError) -> bool:
    if not isinstance(exc, OperationalError):
        return False
    text = str(exc.orig).lower()
    return "locked" in text or "deadlock" in text or "could not serialize" in text


def _is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


@dataclass(frozen=True)
class _GiveBack:
    """The page was not read to the end for a passing cause: the job goes back to the queue."""

    why: str
    delay_s: float  # before this worker claims again


class _Heartbeat:
    """Renews a job's lease every third of its length until stopped; an outage is logged once
    and the renewal tried again at the next beat."""

    def __init__(self, engine: Engine, ticket: JobTicket, lease_s: float) -> None:
        self._engine, self._ticket, self._lease_s = engine, ticket, lease_s
        self._stop = threading.Event()
        self.lost = False
        self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self._lease_s / 3):
            try:
                if not renew_lease(self._engine, self._ticket, lease_s=self._lease_s):
                    self.lost = True
                    return
            except SQLAlchemyError as exc:
                if not is_outage(exc):
                    raise
                if not failing:
                    log.warning(
                        "page job %d: lease not renewed (%s); trying again at the next beat",
                        self._ticket.job_id,
                        reason(exc),
                    )
                failing = True
                continue
            if failing:
                log.info("page job %d: lease renewed again", self._ticket.job_id)
            failing = False

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()


class Worker:
    def __init__(
        self,
        engine: Engine,
        dirs: IntakeDirs,
        *,
        store_dir: Path,
        reading: Reading | None,
        options: WorkerOptions,
    ) -> None:
        self.engine, self.dirs, self.store_dir = engine, dirs, store_dir
        self.reading, self.options = reading, options
        if len(options.worker_id) > 64:  # the lease column's width
            raise ValueError("a worker id is at most 64 characters")
        self.stats = WorkerStats(worker=options.worker_id)
        self.process_stats = ProcessStats("worker")
        self.actor = f"worker:{options.worker_id}"[:64]
        self.outage = Outage(f"worker {options.worker_id}", bound_s=options.database_wait_s)
        self._leave_expired_until = 0.0  # monotonic; see `_answered`

    def run(self, stop: threading.Event) -> WorkerStats:
        """Take and process jobs until `stop` is set (or the queue is empty with `drain`).

        Raises DatabaseUnreachable only with a bound (`database_wait_s`) that an outage
        outlasted.
        """
        configure_process()
        started = time.perf_counter()
        log.info("worker %s: started (pid %d)", self.options.worker_id, os.getpid())
        listener = JobListener(self.engine, who=f"worker {self.options.worker_id}")
        try:
            while not stop.is_set():
                try:
                    ticket = self._claim()
                    self._answered()
                    if ticket is not None:
                        self._process(ticket, stop)
                        continue
                    place_unplaced(self.engine, self.dirs)
                    if self.options.drain and pending_jobs(self.engine) == 0:
                        break
                except SQLAlchemyError as exc:
                    if not is_outage(exc):
                        raise
                    stop.wait(self.outage.failed(exc))
                    continue
                listener.wait(self.options.poll_s)
        finally:
            listener.close()
            self.stats.listen_connects = listener.connects
            self.stats.outages, self.stats.outage_s = self.outage.outages, self.outage.away_s
            self.stats.wall_s = time.perf_counter() - started
            self.stats.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            self.process_stats.write()
            log.info(
                "worker %s: stopped after %d page(s)",
                self.options.worker_id,
                self.stats.pages_done + self.stats.pages_failed,
            )
        return self.stats

    def _answered(self) -> None:
        """The database answered: if it was away, leave expired leases alone for one lease,
        so workers that held pages through the outage renew them before anyone takes them."""
        if self.outage.answered() is not None:
            self._leave_expired_until = time.monotonic() + self.options.lease_s

    def _claim(self) -> JobTicket | None:
        try:
            return claim_job(
                self.engine,
                self.options.worker_id,
                lease_s=self.options.lease_s,
                take_expired=time.monotonic() >= self._leave_expired_until,
            )
        except OperationalError as exc:
            if not _is_lock_error(exc):
                raise
            self.stats.lock_errors += 1
            log.warning("worker %s: database busy: %s", self.options.worker_id, exc.orig)
            time.sleep(0.2)
            return None

    def _read(self, ticket: JobTicket, timings: dict[str, float]) -> ReadPage | ScanError:
        started = stage_mark()
        try:
            page = load_page(
                self.dirs.processing / ticket.claim_id,
                ticket.page_number,
                dpi=self.options.dpi,
                timeout_s=self.options.render_timeout_s,
                prefer_embedded=True,
            )
        except ScanError as exc:
            return exc
        add_stage(timings, "load", started)
        return read_page(
            page,
            sha=ticket.sha256,
            store_dir=self.store_dir,
            context_for=lambda serial: sheet_context(self.engine, serial),
            reading=self.reading,
            timings=timings,
        )

    def _process(self, ticket: JobTicket, stop: threading.Event) -> None:
        started = time.perf_counter()
        timings: dict[str, float] = {}
        self.stats.jobs.append(ticket.job_id)
        result: ReadPage | ScanError | _GiveBack
        with _Heartbeat(self.engine, ticket, self.options.lease_s):
            try:
                result = self._read(ticket, timings)
            except OSError as exc:
                if not _is_disk_full(exc):
                    raise
                result = _GiveBack("disk full", self.options.retry_delay_s)
            except SQLAlchemyError as exc:
                if not is_outage(exc):
                    raise
                self.outage.failed(exc)  # (the sheet's context could not be looked up)
                result = _GiveBack("the database was unavailable while it was read", 0.0)
            recording = stage_mark()
            recorded, finished = self._settle(ticket, result, stop)
            add_stage(timings, "record", recording)
        if isinstance(result, _GiveBack):
            stop.wait(result.delay_s)
            return
        if not recorded:
            return
        if isinstance(result, ScanError):
            self.stats.pages_failed += 1
            log.warning(
                "page job %d (file %s page %d): failed: %s",
                ticket.job_id,
                ticket.sha256[:12],
                ticket.page_number,
                result.reason.value,
            )
        else:
            self.stats.pages_done += 1
        for stage, seconds in timings.items():
            self.stats.stage_ms.setdefault(stage, []).append(seconds * 1000)
        self.process_stats.add(ticket.sha256, ticket.page_number, timings)
        self.stats.page_ms.append((time.perf_counter() - started) * 1000)
        if finished is not None:
            try:
                place(self.engine, self.dirs, finished)
            except SQLAlchemyError as exc:
                if not is_outage(exc):
                    raise
                # Recorded and finished: the move is made by the next `place_unplaced`.
                log.warning("page job %d: file not moved yet (%s)", ticket.job_id, reason(exc))

    def _settle(
        self, ticket: JobTicket, result: ReadPage | ScanError | _GiveBack, stop: threading.Event
    ) -> tuple[bool, int | None]:
        """Record the page, or give the job back, waiting out a database outage.

        Returns (recorded, the arrival's id when this page finished its file). Nothing is
        said to be recorded or given back before the transaction that does it has committed.
        """
        stopping_since: float | None = None
        lost = False
        while True:
            try:
                if lost:
                    # Another worker took the job while this one could not renew its lease
                    # (the database was away from it, or it stalled): this worker did not
                    # die, so its claim is not an attempt. The other records the page.
                    forgive_attempt(self.engine, ticket)
                    self._answered()
                    self.stats.lease_lost += 1
                    self.stats.attempts_forgiven += 1
                    log.warning(
                        "page job %d: lease lost; another worker has it (this claim is not "
                        "counted as an attempt)",
                        ticket.job_id,
                    )
                    return False, None
                if isinstance(result, _GiveBack):
                    if release_job(self.engine, ticket):
                        self.stats.retried += 1
                        log.warning(
                            "page job %d: %s; given back (not counted as an attempt)",
                            ticket.job_id,
                            result.why,
                        )
                        self._answered()
                        return False, None
                    lost = True
                    continue
                finished = complete_job(
                    self.engine,
                    ticket,
                    result,
                    actor=self.actor,
                    model_version=self.reading.reader.version if self.reading else None,
                )
                self._answered()
                return True, finished
            except LeaseLost:
                lost = True
            except SQLAlchemyError as exc:
                if not is_outage(exc):
                    raise
                if _is_lock_error(exc):
                    self.stats.lock_errors += 1
                delay = self.outage.failed(exc)
                if stop.is_set():
                    stopping_since = stopping_since or time.monotonic()
                    if time.monotonic() - stopping_since >= STOP_WAIT_S:
                        log.warning(
                            "page job %d: stopped while the database is unavailable; the page "
                            "was not %s and goes to another worker when its lease runs out",
                            ticket.job_id,
                            "given back" if isinstance(result, _GiveBack) else "recorded",
                        )
                        return False, None
                    time.sleep(delay)
                else:
                    stop.wait(delay)
