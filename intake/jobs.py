"""`attend intake run --jobs N`: pages read by N processes, files recorded as before.

The run's own process stores each original (by hash), checks the whole file, and hands its
pages to a pool of N reading processes; files are recorded in the order given, each in ONE
transaction once all its pages are read (`intake.oneshot.process_file`), exactly as with
one job. So the guarantees are those of one job: a file is recorded whole or not at all, a
file's bytes once whatever happens; after a crash (even ``kill -9``) the same command takes
the files not recorded and skips the others as already processed.

Pages of later files are read while earlier ones are recorded, so the pool stays busy. The
reading processes are forked when the run starts, before any page is read: they share the
run's imports and digit model, and open their own database engine (the sheet look-up). Page
images reach the store from there; readings come back to the run.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.util
from collections.abc import Iterable
from dataclasses import dataclass
from multiprocessing.pool import AsyncResult, Pool
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from attendance.db import make_engine
from attendance.models import FileStatus, ScannedFile
from intake.oneshot import (
    FileOutcome,
    IntakeReport,
    ProgressCallback,
    Reading,
    ReadPage,
    Timings,
    collect_files,
    process_file,
    read_page,
    sheet_context,
    store_original,
)
from intake.stats import ProcessStats
from scanner.errors import Reason, ScanError
from scanner.load import check_file, load_page
from scanner.pipeline import add_stage, configure_process, stage_mark

log = logging.getLogger(__name__)

# Files whose pages are handed to the pool ahead of the one being recorded.
_AHEAD_FILES = 8


@dataclass(frozen=True)
class JobSetup:
    """What a reading process needs to set itself up (it is sent there, so plain data)."""

    database_url: str
    store_dir: Path
    dpi: int
    timeout_s: float = 120.0


@dataclass(frozen=True)
class _PageFailed:
    """A ScanError on its way back from a reading process (exceptions with extra arguments
    do not survive pickling)."""

    reason: str
    message: str


# One per reading process, set by `_start`.
_engine: Engine | None = None
_reading: Reading | None = None
_setup: JobSetup | None = None
_stats: ProcessStats | None = None


def _start(setup: JobSetup, reading: Reading | None) -> None:
    global _engine, _reading, _setup, _stats
    configure_process()
    # A new engine: the run's pooled connections are the run's alone.
    _setup, _engine, _reading = setup, make_engine(setup.database_url), reading
    _stats = ProcessStats("job")
    # Written as the process stops (multiprocessing ends its children without atexit).
    multiprocessing.util.Finalize(None, _stats.write, exitpriority=10)


def _read_one(stored: Path, sha: str, number: int) -> ReadPage | _PageFailed:
    assert _setup is not None and _engine is not None and _stats is not None
    engine = _engine
    timings: Timings = {}
    started = stage_mark()
    try:
        page = load_page(stored, number, dpi=_setup.dpi, timeout_s=_setup.timeout_s)
    except ScanError as exc:
        return _PageFailed(exc.reason.value, exc.message)
    add_stage(timings, "load", started)
    read = read_page(
        page,
        sha=sha,
        store_dir=_setup.store_dir,
        context_for=lambda serial: sheet_context(engine, serial),
        reading=_reading,
        timings=timings,
    )
    _stats.add(sha, number, timings)
    return read


@dataclass
class _Pending:
    path: Path
    label: str
    sha: str | None = None
    stored: Path | None = None
    pages: list[AsyncResult[ReadPage | _PageFailed]] | None = None  # [] when not to be read
    failure: ScanError | None = None  # the whole file failed its check


def run_intake_jobs(
    engine: Engine,
    paths: Iterable[Path],
    *,
    jobs: int,
    setup: JobSetup,
    reading: Reading | None,
    actor: str = "intake",
    progress: ProgressCallback | None = None,
) -> IntakeReport:
    """Process every file under `paths` once, its pages read by `jobs` forked processes.

    The report is the one-job report. A reading process that dies (killed, out of memory)
    stops the run with an error; the files recorded so far stay recorded, and running the
    same command again takes the rest.
    """
    configure_process()
    files = collect_files(paths)
    report = IntakeReport()
    stats = ProcessStats("run")
    # Forked before any page is read or any thread of ours started: the children share the
    # imports and the digit model instead of loading them again.
    pool = multiprocessing.get_context("fork").Pool(
        processes=jobs, initializer=_start, initargs=(setup, reading)
    )
    pending = [_Pending(path, f"file {i}") for i, path in enumerate(files, start=1)]
    try:
        for index, item in enumerate(pending):
            for ahead in pending[index : index + _AHEAD_FILES]:
                if ahead.pages is None and ahead.failure is None:
                    _submit(engine, pool, ahead, setup)
            report.files.append(_finish(engine, item, setup, reading, actor, progress, stats))
    except BaseException:
        pool.terminate()
        raise
    pool.close()
    pool.join()  # the reading processes write their figures as they stop
    stats.write()
    return report


def _submit(engine: Engine, pool: Pool, item: _Pending, setup: JobSetup) -> None:
    """Store the original, check the whole file, and hand its pages to the pool."""
    if not item.path.is_file():
        return  # process_file reports it (not found, not a regular file)
    try:
        item.sha, item.stored = store_original(item.path, setup.store_dir)
    except OSError:
        return  # process_file reports it (unreadable)
    with Session(engine) as session:
        existing = session.exec(select(ScannedFile).where(ScannedFile.sha256 == item.sha)).first()
    if existing is not None and existing.status != FileStatus.FAILED:
        item.pages = []  # already processed: process_file says so, nothing is read
        return
    try:
        count = check_file(item.stored, timeout_s=setup.timeout_s).pages
    except ScanError as exc:
        item.failure = exc
        return
    item.pages = [
        pool.apply_async(_read_one, (item.stored, item.sha, number))
        for number in range(1, count + 1)
    ]


def _finish(
    engine: Engine,
    item: _Pending,
    setup: JobSetup,
    reading: Reading | None,
    actor: str,
    progress: ProgressCallback | None,
    stats: ProcessStats,
) -> FileOutcome:
    """Wait for the file's pages, then record it exactly as one job would."""
    if item.pages is None and item.failure is None:
        # Never handed to the pool (missing, not a regular file, or it could not be stored
        # then): this process takes it exactly as one job would, reading it itself if need be.
        return process_file(
            engine,
            item.path,
            label=item.label,
            store_dir=setup.store_dir,
            actor=actor,
            dpi=setup.dpi,
            reading=reading,
            progress=progress,
            stats=stats,
        )
    futures = item.pages or []
    stored = None if item.sha is None or item.stored is None else (item.sha, item.stored)
    waited = (0.0, 0.0)

    def pages(_stored: Path, sha: str) -> list[ReadPage]:
        nonlocal waited
        started = stage_mark()
        try:
            return _gather(sha)
        finally:
            now = stage_mark()
            waited = (now[0] - started[0], now[1] - started[1])

    def _gather(sha: str) -> list[ReadPage]:
        if item.failure is not None:
            raise item.failure
        read: list[ReadPage] = []
        failed: _PageFailed | None = None
        for future in futures:  # all of them, even after a failure: none left running
            result = future.get()
            if isinstance(result, _PageFailed):
                failed = failed or result
            else:
                read.append(result)
            if progress:
                progress(sha)
        if failed is not None:
            raise ScanError(Reason(failed.reason), failed.message)
        return read

    recording = stage_mark()
    outcome = process_file(
        engine,
        item.path,
        label=item.label,
        store_dir=setup.store_dir,
        actor=actor,
        dpi=setup.dpi,
        reading=reading,
        stored_as=stored,
        read_pages=pages,
    )
    if outcome.status == FileStatus.PROCESSED.value and outcome.sha256 is not None:
        now = stage_mark()
        wall, cpu = (
            (now[i] - recording[i] - waited[i]) / max(1, len(outcome.pages)) for i in (0, 1)
        )
        for page in outcome.pages:
            stats.add(outcome.sha256, page.number, {"record": wall, "record:cpu": cpu})
    return outcome
