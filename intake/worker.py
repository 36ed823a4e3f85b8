"""`attend intake worker`: take page jobs one at a time and process each exactly once.

Several workers run side by side on one machine (SQLite or PostgreSQL) or on several machines
sharing PostgreSQL and the work and data folders. A worker holds its job under a lease that a
heartbeat thread renews; if the worker is killed, the lease runs out and another worker takes
the job. Passing trouble (a full disk, a busy database) gives the job back to retry later;
a page that cannot be read fails with its reason.
"""

from __future__ import annotations

import contextlib
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
from sqlalchemy.exc import OperationalError

from intake.folders import IntakeDirs
from intake.oneshot import Reading, ReadPage, read_page, sheet_context
from intake.queue import (
    DEFAULT_LEASE_S,
    JobTicket,
    LeaseLost,
    claim_job,
    complete_job,
    listening,
    pending_jobs,
    place,
    place_unplaced,
    release_job,
    renew_lease,
    wait_for_jobs,
)
from intake.stats import ProcessStats
from scanner.errors import ScanError
from scanner.load import load_page
from scanner.pipeline import add_stage, configure_process, stage_mark

log = logging.getLogger(__name__)

STAGES = ("load", "identify", "register", "warp", "read", "store", "record")


@dataclass(frozen=True)
class WorkerOptions:
    worker_id: str
    lease_s: float = DEFAULT_LEASE_S
    poll_s: float = 1.0
    drain: bool = False  # stop when no job is queued or running
    render_timeout_s: float = 120.0
    dpi: int = 200
    retry_delay_s: float = 5.0


@dataclass
class WorkerStats:
    """What one worker did: printed as JSON by `--stats`, read by tests and the benchmark."""

    worker: str
    pages_done: int = 0
    pages_failed: int = 0
    jobs: list[int] = field(default_factory=list)
    lease_lost: int = 0
    lock_errors: int = 0
    retried: int = 0
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


def _is_lock_error(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "deadlock" in text or "could not serialize" in text


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(exc, OperationalError) and "full" in str(exc.orig).lower()


class _Heartbeat:
    """Renews a job's lease every third of its length until stopped."""

    def __init__(self, engine: Engine, ticket: JobTicket, lease_s: float) -> None:
        self._engine, self._ticket, self._lease_s = engine, ticket, lease_s
        self._stop = threading.Event()
        self.lost = False
        self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._lease_s / 3):
            try:
                if not renew_lease(self._engine, self._ticket, lease_s=self._lease_s):
                    self.lost = True
                    return
            except OperationalError as exc:  # try again on the next beat
                log.warning("page job %d: lease not renewed: %s", self._ticket.job_id, exc.orig)

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

    def run(self, stop: threading.Event) -> WorkerStats:
        configure_process()
        started = time.perf_counter()
        log.info("worker %s: started (pid %d)", self.options.worker_id, os.getpid())
        try:
            with listening(self.engine) as listener:
                while not stop.is_set():
                    ticket = self._claim()
                    if ticket is not None:
                        self._process(ticket, stop)
                        continue
                    place_unplaced(self.engine, self.dirs)
                    if self.options.drain and pending_jobs(self.engine) == 0:
                        break
                    wait_for_jobs(listener, self.options.poll_s)
        finally:
            self.stats.wall_s = time.perf_counter() - started
            self.stats.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            self.process_stats.write()
            log.info(
                "worker %s: stopped after %d page(s)",
                self.options.worker_id,
                self.stats.pages_done + self.stats.pages_failed,
            )
        return self.stats

    def _claim(self) -> JobTicket | None:
        try:
            return claim_job(self.engine, self.options.worker_id, lease_s=self.options.lease_s)
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
        try:
            with _Heartbeat(self.engine, ticket, self.options.lease_s):
                result = self._read(ticket, timings)
                recorded = stage_mark()
                finished = complete_job(
                    self.engine,
                    ticket,
                    result,
                    actor=self.actor,
                    model_version=self.reading.reader.version if self.reading else None,
                )
                add_stage(timings, "record", recorded)
        except LeaseLost:
            self.stats.lease_lost += 1
            log.warning("page job %d: lease lost; another worker has it", ticket.job_id)
            return
        except (OSError, OperationalError) as exc:
            if not (_is_disk_full(exc) or isinstance(exc, OperationalError)):
                raise
            if isinstance(exc, OperationalError) and _is_lock_error(exc):
                self.stats.lock_errors += 1
            self.stats.retried += 1
            what = "disk full" if _is_disk_full(exc) else "database unavailable"
            log.warning(
                "page job %d: %s; given back, retrying in %g s",
                ticket.job_id,
                what,
                self.options.retry_delay_s,
            )
            with contextlib.suppress(OperationalError):  # else the lease runs out instead
                release_job(self.engine, ticket)
            stop.wait(self.options.retry_delay_s)
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
            place(self.engine, self.dirs, finished)
