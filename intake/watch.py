"""`attend intake watch DIR`: take stable files out of the intake folder into the queue.

Events (watchdog: inotify, or polling for SMB/NFS shares where inotify sees nothing) only say
*where to look*. What is claimed is decided by looking: a file is claimed once it is stable,
i.e. its size, modification time and inode were the same at two or more checks spanning at
least the settle time (or it was last modified longer ago than that), and no event touched it
for the settle time. A periodic full scan (the reconcile) catches whatever events were missed
(inotify overflow, network shares, files already there at start).

Hidden files (".name") and names ending in .part, .tmp, .crdownload or .partial are scanners'
and copy tools' work in progress: never claimed. Anything else that is not a regular file (a
FIFO, a symlink, a socket) is claimed without being opened and quarantined with its reason.

A database outage is ridden out (`intake.outage`): while the database is away nothing is
claimed and the inbox is not touched; when it answers again, the one claim the outage may have
cut short is mended (`mend_claim`) and finished files are moved, then watching goes on.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, func, select
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from attendance.models import ArrivalState, IntakeFile
from intake.folders import IntakeDirs, is_inside
from intake.outage import Outage, is_outage, ping
from intake.queue import (
    CannotClaim,
    claim_path,
    mend_claim,
    new_batch_id,
    new_claim_id,
    place_unplaced,
    recover,
)
from intake.stats import ProcessStats

log = logging.getLogger(__name__)

IN_PROGRESS_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial")


@dataclass(frozen=True)
class WatchOptions:
    settle_s: float = 5.0
    interval_s: float = 1.0
    reconcile_s: float = 30.0
    polling: bool = False
    once: bool = False  # claim what is there, then stop (after the batch finishes if `wait`)
    wait: bool = True
    check_timeout_s: float = 60.0
    # A bound on an outage in a `--once` run (exit 6 past it); None: wait as long as it takes.
    database_wait_s: float | None = None


@dataclass
class _Candidate:
    signature: tuple[int, int, int, int]
    since: float  # monotonic time this signature was first seen
    checks: int = 1


def _ignored(name: str) -> bool:
    return name.startswith(".") or name.lower().endswith(IN_PROGRESS_SUFFIXES)


class _Events(FileSystemEventHandler):
    """Remembers when each path last had an event; nothing else happens on the event thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last: dict[str, float] = {}

    def on_any_event(self, event: FileSystemEvent) -> None:
        now = time.monotonic()
        with self.lock:
            for path in (event.src_path, getattr(event, "dest_path", "")):
                if path:
                    self.last[os.fsdecode(path)] = now

    def take(self) -> dict[str, float]:
        with self.lock:
            taken, self.last = self.last, {}
        return taken


@dataclass
class BatchTracker:
    """Groups arrivals into batches: a batch closes when it is finished and the folder quiet."""

    batch_id: str | None = None
    last_claim: float = 0.0
    closed: list[str] = field(default_factory=list)


class Watcher:
    def __init__(
        self,
        engine: Engine,
        dirs: IntakeDirs,
        inbox: Path,
        options: WatchOptions,
        *,
        on_batch_done: Callable[[str], None] | None = None,
    ) -> None:
        self.engine, self.dirs, self.inbox, self.options = engine, dirs, inbox, options
        self.on_batch_done = on_batch_done
        self.candidates: dict[Path, _Candidate] = {}
        self.events = _Events()
        self.recent_events: dict[Path, float] = {}
        self.batch = BatchTracker()
        self.claimed = 0
        self.unreported: list[str] = []
        # Files that could not be moved: tried again when they change, or every reconcile.
        self.stuck: dict[Path, tuple[tuple[int, int, int, int], float]] = {}
        self.outage = Outage("watcher", bound_s=options.database_wait_s)
        self.interrupted_claim: str | None = None  # cut short by an outage: mend it

    # --- looking at the folder ----------------------------------------------------------

    def _scan(self) -> set[Path]:
        """Every claimable entry under the inbox (files, and symlinks or FIFOs to refuse)."""
        found: set[Path] = set()
        for root, dirs, files in os.walk(self.inbox, followlinks=False):
            base = Path(root)
            keep = []
            for name in dirs:
                if _ignored(name):
                    continue
                if (base / name).is_symlink():
                    found.add(base / name)  # a symlinked folder is refused, never entered
                else:
                    keep.append(name)
            dirs[:] = keep
            found.update(base / name for name in files if not _ignored(name))
        return found

    def _observe(self, paths: set[Path]) -> list[Path]:
        """Update each path's signature; return those that are stable now."""
        now = time.monotonic()
        wall = time.time()
        stable: list[Path] = []
        for path in paths:
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                self.candidates.pop(path, None)
                continue
            if stat.S_ISDIR(info.st_mode):
                continue
            signature = (info.st_size, info.st_mtime_ns, info.st_ino, info.st_mode)
            seen = self.candidates.get(path)
            if seen is None or seen.signature != signature:
                self.candidates[path] = _Candidate(signature, now)
                continue
            seen.checks += 1
            quiet = now - self.recent_events.get(path, -1e18) >= self.options.settle_s
            settled = (
                now - seen.since >= self.options.settle_s
                or wall - info.st_mtime_ns / 1e9 >= self.options.settle_s
            )
            stuck = self.stuck.get(path)
            if stuck and stuck[0] == signature and now - stuck[1] < self.options.reconcile_s:
                continue  # could not be moved, and nothing has changed since
            if seen.checks >= 2 and quiet and settled:
                stable.append(path)
        return sorted(stable)

    def _absorb_events(self) -> bool:
        """Note event times; True when an event named something new (or a folder)."""
        fresh = False
        for raw, at in self.events.take().items():
            path = Path(raw)
            if path == self.inbox or not is_inside(path, self.inbox):
                continue
            relative = path.relative_to(self.inbox)
            if any(_ignored(part) for part in relative.parts):
                continue
            self.recent_events[path] = at
            if path not in self.candidates:
                fresh = True
        return fresh

    # --- claiming -----------------------------------------------------------------------

    def _claim(self, path: Path) -> None:
        if self.batch.batch_id is None:
            self.batch.batch_id = new_batch_id()
            log.info("batch %s: started", self.batch.batch_id)
        relative = path.relative_to(self.inbox)
        claim_id = new_claim_id()
        try:
            arrival = claim_path(
                self.engine,
                self.dirs,
                path,
                name=os.fsencode(relative),
                batch_id=self.batch.batch_id,
                check_timeout_s=self.options.check_timeout_s,
                claim_id=claim_id,
            )
        except SQLAlchemyError as exc:
            if is_outage(exc):
                self.interrupted_claim = claim_id
            raise
        except CannotClaim as exc:
            # Left alone until it changes (a fixed permission shows as a new signature).
            seen = self.candidates.get(path)
            if seen is None:
                return
            first = path not in self.stuck
            self.stuck[path] = (seen.signature, time.monotonic())
            if first:
                log.error(
                    "a file in the intake folder cannot be moved (%s); it is left there "
                    "(inode %d). Fix its permissions or the folder's",
                    exc,
                    seen.signature[2],
                )
            return
        self.stuck.pop(path, None)
        self.candidates.pop(path, None)
        self.recent_events.pop(path, None)
        if arrival is not None:
            self.claimed += 1
            self.batch.last_claim = time.monotonic()

    def _batch_finished(self, batch_id: str) -> bool:
        with Session(self.engine) as session:
            open_count = session.exec(
                select(func.count())
                .select_from(IntakeFile)
                .where(IntakeFile.batch_id == batch_id)
                .where(
                    col(IntakeFile.state).in_(
                        [ArrivalState.CLAIMING.value, ArrivalState.QUEUED.value]
                    )
                )
            ).one()
        return open_count == 0

    def _maybe_close_batch(self) -> None:
        batch_id = self.batch.batch_id
        if batch_id is None or self.candidates:
            return
        if time.monotonic() - self.batch.last_claim < self.options.settle_s:
            return
        if not self._batch_finished(batch_id):
            return
        place_unplaced(self.engine, self.dirs)
        log.info("batch %s: finished", batch_id)
        if self.on_batch_done is not None:
            self.on_batch_done(batch_id)  # (an outage here: closed again when it is over)
        self.batch.batch_id = None
        self.batch.closed.append(batch_id)

    def _report_earlier_batches(self) -> None:
        for batch_id in list(self.unreported):
            if batch_id == self.batch.batch_id or not self._batch_finished(batch_id):
                continue
            place_unplaced(self.engine, self.dirs)
            log.info("batch %s: finished (from an earlier run)", batch_id)
            if self.on_batch_done is not None:
                self.on_batch_done(batch_id)
            self.unreported.remove(batch_id)

    # --- the loop -----------------------------------------------------------------------

    def _start(self) -> None:
        """Mend what an earlier run left, and note the batches it left unreported."""
        mended = recover(self.engine, self.dirs)
        if mended:
            log.info("recovered %d claim(s) left by an earlier run", mended)
        # Batches an earlier run left open (stopped, or `--workers 0 --once`) are reported
        # once they finish.
        with Session(self.engine) as session:
            batch_ids = set(session.exec(select(IntakeFile.batch_id).distinct()).all())
        self.unreported = sorted(
            b for b in batch_ids if not (self.dirs.reports / f"{b}.json").exists()
        )

    def _after_outage(self) -> None:
        """The database answers again: finish or undo the claim it cut short, move what
        finished meanwhile."""
        ping(self.engine)
        if self.interrupted_claim is not None:
            mend_claim(self.engine, self.dirs, self.interrupted_claim)
            self.interrupted_claim = None
        place_unplaced(self.engine, self.dirs)
        self.outage.answered()

    def _pass(self, stop: threading.Event, next_reconcile: float) -> tuple[bool, float]:
        """One look at the folder: claim what is stable, close batches. (done, next rescan)"""
        now = time.monotonic()
        fresh = self._absorb_events()
        paths = set(self.candidates) | {p for p in self.recent_events if p not in self.candidates}
        if fresh or now >= next_reconcile:
            paths |= self._scan()
            next_reconcile = now + self.options.reconcile_s
        for path in self._observe(paths):
            if stop.is_set():
                break
            self._claim(path)
        # Events older than the settle time no longer matter.
        cutoff = time.monotonic() - self.options.settle_s
        self.recent_events = {p: t for p, t in self.recent_events.items() if t >= cutoff}
        self._maybe_close_batch()
        self._report_earlier_batches()
        done = (
            self.options.once
            and (self.batch.batch_id is None or not self.options.wait)
            and not self.candidates
            and not self._scan()  # (walked only in --once mode)
        )
        return done, next_reconcile

    def run(self, stop: threading.Event) -> None:
        """Watch until `stop` is set (or, with `once`, until the folder's batch is done).

        Raises DatabaseUnreachable only with a bound (`database_wait_s`) that an outage
        outlasted.
        """
        observer = (
            PollingObserver(timeout=self.options.interval_s) if self.options.polling else Observer()
        )
        observer.schedule(self.events, str(self.inbox), recursive=True)
        observer.start()
        log.info("watching the intake folder (%s)", "polling" if self.options.polling else "events")
        next_reconcile = 0.0
        started = False
        try:
            while not stop.is_set():
                try:
                    if self.outage.away:
                        self._after_outage()
                    if not started:
                        self._start()
                        started = True
                    done, next_reconcile = self._pass(stop, next_reconcile)
                except SQLAlchemyError as exc:
                    if not is_outage(exc):
                        raise
                    # Nothing is claimed until the database answers again.
                    stop.wait(self.outage.failed(exc))
                    continue
                if done:
                    break
                stop.wait(self.options.interval_s)
        finally:
            observer.stop()
            observer.join(timeout=5)
            ProcessStats("watch").write()
