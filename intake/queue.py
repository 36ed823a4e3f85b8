"""The intake queue: files claimed out of the inbox, their pages processed exactly once.

A file's life, and what makes each step safe to crash in:

1. **Claim** (`claim_path`): an `intake_files` row is committed in state `claiming`, then the
   file is renamed from the inbox into WORK/processing under its claim id. A crash before the
   rename leaves the file in the inbox and a row that recovery deletes; after it, recovery
   finds the file in processing and admits it.
2. **Admit** (`admit`): the file is hashed and checked (format, encryption, every page's size)
   without rendering anything; one transaction records it, and either queues one job per page,
   marks it a duplicate (the same bytes arrived before), or fails it with a reason.
3. **Work** (`claim_job` / `complete_job`): a worker takes one page job under a lease
   (`FOR UPDATE SKIP LOCKED` on PostgreSQL; `BEGIN IMMEDIATE` on SQLite), renews the lease while
   it works, and commits the page's record, its readings, the sheet received and the job done
   in ONE transaction, only if it still holds the lease. The page row is unique per file and
   page, so a page can never be recorded twice. A killed worker's lease runs out and another
   worker takes the job again. `attempts` counts the workers that died holding the job: a
   claim counts one, and a claim that ends without a death gives it back (`release_job` for
   a passing failure, `forgive_attempt` for a worker whose lease ran out while the database
   was away from it).
4. **Finish**: the transaction that completes a file's last job also finishes the file (done,
   or failed when a page failed); after the commit the file is moved to the archive or the
   quarantine (`place`). A crash between the two is mended by `place_unplaced`.

Files in = done + failed + duplicate, always: every arrival has a row and ends in one of the
three states.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import secrets
import stat
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import and_, delete, func, or_, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlmodel import Session, col, select

from attendance.db import record_event, session_scope
from attendance.files import write_atomically
from attendance.models import (
    ArrivalState,
    FileStatus,
    IntakeFile,
    JobState,
    PageJob,
    PageStatus,
    ScannedFile,
    ScannedPage,
    utcnow,
)
from attendance.receipt import record_pages
from intake.folders import IntakeDirs
from intake.oneshot import ReadPage, page_record
from scanner.errors import Reason, ScanError
from scanner.load import check_file, open_regular

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "attend_page_jobs"
DEFAULT_LEASE_S = 15.0
"""A job held this long without a heartbeat (every third of it) goes to another worker."""
MAX_ATTEMPTS = 4
"""A page whose worker died this many times is failed (`worker_crashed`) instead of retried."""
_CHUNK = 1 << 20
_TERMINAL = (ArrivalState.DONE.value, ArrivalState.FAILED.value, ArrivalState.DUPLICATE.value)


def new_claim_id() -> str:
    """Sortable by arrival, unique without coordination: 20261123T101502-3f9a0c1b2d4e."""
    return f"{utcnow():%Y%m%dT%H%M%S}-{secrets.token_hex(6)}"


def new_batch_id() -> str:
    return f"{utcnow():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def display_name(raw: str | bytes) -> str:
    """A file's name as stored for the mailroom: never used as a path.

    Undecodable bytes become U+FFFD, control characters (NUL included) become "?", and the
    result is at most 255 characters. "../" stays as text: nothing builds a path from it.
    """
    name = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    name = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    cleaned = "".join("?" if unicodedata.category(c) == "Cc" else c for c in name)
    return cleaned[:255] or "(no name)"


@dataclass(frozen=True)
class Arrival:
    """What happened to one arrived file (a plain record for callers and reports)."""

    id: int
    claim_id: str
    state: str
    sha256: str | None
    reason: str | None
    page_count: int | None


def _arrival(row: IntakeFile) -> Arrival:
    assert row.id is not None
    return Arrival(row.id, row.claim_id, row.state, row.sha256, row.reason, row.page_count)


# --- claiming and admitting files ------------------------------------------------------------


def claim_path(
    engine: Engine,
    dirs: IntakeDirs,
    path: Path,
    *,
    name: str | bytes,
    batch_id: str,
    source: str = "watch",
    check_timeout_s: float = 60,
    claim_id: str | None = None,
) -> Arrival | None:
    """Take `path` out of the inbox and admit it; None when it vanished before the claim.

    `name` is what the mailroom will see (the path relative to the inbox); it is stored,
    never logged and never used to build a path. A caller that passes its own `claim_id`
    (from `new_claim_id`) can mend the claim with `mend_claim` if the database goes away
    half-way.
    """
    claim_id = claim_id or new_claim_id()
    with session_scope(engine) as session:
        row = IntakeFile(
            claim_id=claim_id,
            batch_id=batch_id,
            source=source,
            original_name=display_name(name),
            state=ArrivalState.CLAIMING.value,
        )
        session.add(row)
    try:
        os.rename(path, dirs.processing / claim_id)
    except FileNotFoundError:
        # Gone before we took it (deleted, or claimed by another watcher): not an arrival.
        _forget(engine, claim_id)
        return None
    except OSError as exc:
        # Permissions, a bind mount, a read-only share: the file stays where it is, untouched.
        _forget(engine, claim_id)
        raise CannotClaim(exc.strerror or type(exc).__name__) from None
    except BaseException:
        _forget(engine, claim_id)
        raise
    return admit(engine, dirs, claim_id, check_timeout_s=check_timeout_s)


class CannotClaim(OSError):
    """The file could not be moved out of the inbox; it is left there, untouched."""


def accept_upload(
    engine: Engine,
    dirs: IntakeDirs,
    stream: BinaryIO,
    *,
    name: str | bytes,
    batch_id: str,
    check_timeout_s: float = 60,
    source: str = "upload",
    provider_id: str | None = None,
) -> Arrival:
    """Take a file uploaded from a browser into the same queue, with the same guarantees.

    The bytes are written straight into the processing folder under a new claim id (the
    client's name is only stored, as `display_name`), synced, then admitted. `source` is
    `upload` (the mailroom) or `phone` (photos a provider sent, with its `provider_id`: the
    receipt takes only that provider's sheets from them).
    """
    claim_id = new_claim_id()
    with session_scope(engine) as session:
        session.add(
            IntakeFile(
                claim_id=claim_id,
                batch_id=batch_id,
                source=source,
                provider_id=provider_id,
                original_name=display_name(name),
                state=ArrivalState.CLAIMING.value,
            )
        )
    target = dirs.processing / claim_id
    partial = dirs.processing / f".{claim_id}.part"
    try:
        with partial.open("wb") as out:
            while chunk := stream.read(_CHUNK):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.rename(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        _forget(engine, claim_id)
        raise
    return admit(engine, dirs, claim_id, check_timeout_s=check_timeout_s)


def mend_claim(engine: Engine, dirs: IntakeDirs, claim_id: str) -> None:
    """Finish or undo one claim cut short by a database outage (idempotent).

    The claim's row may be missing (never committed), `claiming` with the file still in the
    inbox (the rename never happened: the row goes, the file is claimed again later),
    `claiming` with the file in processing (it is admitted now), or past that (nothing to do).
    """
    with Session(engine) as session:
        state = session.exec(
            select(IntakeFile.state).where(IntakeFile.claim_id == claim_id)
        ).first()
    if state != ArrivalState.CLAIMING.value:
        return
    if os.path.lexists(dirs.processing / claim_id):
        admit(engine, dirs, claim_id)
    else:
        _forget(engine, claim_id)


def _forget(engine: Engine, claim_id: str) -> None:
    with session_scope(engine) as session:
        session.execute(
            delete(IntakeFile).where(
                col(IntakeFile.claim_id) == claim_id,
                col(IntakeFile.state) == ArrivalState.CLAIMING.value,
            )
        )


def _hash(path: Path) -> tuple[str, int]:
    """SHA-256 and size, read through the scanner's guarded open (no symlinks, no FIFOs; an
    unreadable file is a ScanError, so it is quarantined rather than stopping the watcher)."""
    with open_regular(path) as handle:
        digest = hashlib.sha256()
        size = 0
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link (never followed)"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device or other special file"


def admit(
    engine: Engine, dirs: IntakeDirs, claim_id: str, *, check_timeout_s: float = 60
) -> Arrival:
    """Hash and check a claimed file, then queue its pages, or fail it, or call it a duplicate."""
    target = dirs.processing / claim_id
    sha: str | None = None
    size: int | None = None
    failure: ScanError | None = None
    fmt: str | None = None
    pages = 0
    mode = os.lstat(target).st_mode
    if not stat.S_ISREG(mode):
        failure = ScanError(Reason.NOT_A_REGULAR_FILE, f"the input is {_kind(mode)}")
    else:
        try:
            sha, size = _hash(target)
            checked = check_file(target, timeout_s=check_timeout_s)
            fmt, pages = checked.format, checked.pages
        except ScanError as exc:
            failure = exc
    for _attempt in range(3):
        try:
            arrival = _admit_in_db(engine, claim_id, sha, size, fmt, pages, failure)
            break
        except IntegrityError:
            # Another claimer recorded the same bytes a moment ago: now they are a duplicate.
            continue
    else:  # pragma: no cover - three races in a row on one hash
        raise RuntimeError("could not record the file: repeated conflicts on its hash")
    log.info(
        "claim %s: %s%s%s",
        claim_id,
        arrival.state,
        f" sha256 {sha[:12]}" if sha else "",
        f" ({arrival.reason})" if arrival.reason else f" {pages} page(s)",
    )
    if arrival.state in _TERMINAL:
        place(engine, dirs, arrival.id)
    else:
        _notify(engine)
    return arrival


def _admit_in_db(
    engine: Engine,
    claim_id: str,
    sha: str | None,
    size: int | None,
    fmt: str | None,
    pages: int,
    failure: ScanError | None,
) -> Arrival:
    with session_scope(engine) as session:
        row = session.exec(select(IntakeFile).where(IntakeFile.claim_id == claim_id)).one()
        if row.state != ArrivalState.CLAIMING:
            return _arrival(row)  # admitted already (recovery after a crash)
        row.sha256, row.size_bytes = sha, size
        now = utcnow()
        existing = None
        if sha is not None:
            existing = session.exec(select(ScannedFile).where(ScannedFile.sha256 == sha)).first()
        if existing is not None and existing.status != FileStatus.FAILED:
            row.state = ArrivalState.DUPLICATE.value
            row.file_id = existing.id
            row.finished_at = now
            record_event(
                session,
                actor="intake",
                entity="file",
                entity_id=sha or claim_id,
                action="duplicate_file",
                after={"claim_id": claim_id},
            )
            session.add(row)
            return _arrival(row)
        if sha is None:
            # Not a regular file: nothing to hash, nothing to keep but the arrival itself.
            assert failure is not None
            _fail_arrival(session, row, failure.reason.value, failure.message, now)
            return _arrival(row)
        # New bytes, or bytes that failed before and are tried again.
        file_row = existing or ScannedFile(
            sha256=sha,
            original_name=row.original_name,
            size_bytes=size or 0,
            status=FileStatus.PROCESSING.value,
            received_at=row.arrived_at,
        )
        file_row.file_format = fmt
        file_row.received_at = row.arrived_at
        file_row.stored_path = None
        if failure is not None:
            file_row.status = FileStatus.FAILED.value
            file_row.reason, file_row.message = failure.reason.value, failure.message
            file_row.processed_at = now
        else:
            file_row.status = FileStatus.PROCESSING.value
            file_row.reason = file_row.message = None
            file_row.page_count = pages
        session.add(file_row)
        session.flush()
        assert file_row.id is not None and row.id is not None
        if existing is not None:
            # Tried again: pages that failed last time are read anew; pages recorded then
            # (sheets received) stand and are not recorded twice.
            session.execute(
                delete(ScannedPage).where(
                    col(ScannedPage.file_id) == file_row.id,
                    col(ScannedPage.status) == PageStatus.FAILED.value,
                )
            )
        row.file_id = file_row.id
        if failure is not None:
            _fail_arrival(session, row, failure.reason.value, failure.message, now)
            return _arrival(row)
        row.state = ArrivalState.QUEUED.value
        row.page_count = pages
        session.add(row)
        for number in range(1, pages + 1):
            session.add(
                PageJob(
                    intake_file_id=row.id,
                    file_id=file_row.id,
                    page_number=number,
                    state=JobState.QUEUED.value,
                )
            )
        record_event(
            session,
            actor="intake",
            entity="file",
            entity_id=sha,
            action="queued",
            after={"claim_id": claim_id, "pages": pages},
        )
        return _arrival(row)


def _fail_arrival(
    session: Session, row: IntakeFile, reason: str, message: str | None, now: dt.datetime
) -> None:
    row.state = ArrivalState.FAILED.value
    row.reason, row.message = reason, message
    row.finished_at = now
    session.add(row)
    record_event(
        session,
        actor="intake",
        entity="file",
        entity_id=row.sha256 or row.claim_id,
        action="quarantined",
        after={"claim_id": row.claim_id, "reason": reason},
    )


def _notify(engine: Engine) -> None:
    """Wake idle PostgreSQL workers; only a hint, they poll anyway (so an outage is no error)."""
    if engine.dialect.name != "postgresql":
        return
    try:
        with engine.begin() as connection:
            connection.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
    except (OperationalError, InterfaceError) as exc:
        log.info("workers not notified (%s); they will find the job when they poll", exc.orig)


# --- placing finished files ------------------------------------------------------------------


def place(engine: Engine, dirs: IntakeDirs, arrival_id: int) -> None:
    """Move a finished file out of processing: archive, quarantine (+ reason) or duplicates.

    Idempotent: safe to call again after a crash, or by two processes.
    """
    with Session(engine) as session:
        row = session.get(IntakeFile, arrival_id)
        assert row is not None
        if row.state not in _TERMINAL or row.placed_at is not None:
            return
        failed_pages = []
        if row.state == ArrivalState.FAILED:
            failed_pages = [
                {"page": job.page_number, "reason": job.reason, "message": job.message}
                for job in session.exec(
                    select(PageJob)
                    .where(PageJob.intake_file_id == arrival_id)
                    .where(PageJob.state == JobState.FAILED.value)
                    .order_by(col(PageJob.page_number))
                )
            ]
        source = dirs.processing / row.claim_id
        folder = {
            ArrivalState.DONE.value: "archive",
            ArrivalState.FAILED.value: "quarantine",
            ArrivalState.DUPLICATE.value: "duplicates",
        }[row.state]
        if row.state == ArrivalState.DONE:
            assert row.sha256 is not None
            target = dirs.archived(row.sha256)
        else:
            target = getattr(dirs, folder) / row.claim_id
            # The reason first: the quarantine never holds a file without its reason.
            reason = {
                "claim_id": row.claim_id,
                "batch_id": row.batch_id,
                "state": row.state,
                "reason": row.reason if row.state == ArrivalState.FAILED else "duplicate",
                "message": row.message,
                "sha256": row.sha256,
                "arrived_at": row.arrived_at.isoformat(),
                "failed_pages": failed_pages,
            }
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(
                target.parent / f"{row.claim_id}.reason.json",
                (json.dumps(reason, indent=2) + "\n").encode(),
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        if _move(source, target, archive=row.state == ArrivalState.DONE):
            _sync_folder(target.parent)
    with session_scope(engine) as session:
        row = session.get(IntakeFile, arrival_id)
        assert row is not None
        if row.placed_at is None:
            row.placed_in, row.placed_at = folder, utcnow()
            session.add(row)
            if row.state == ArrivalState.DONE and row.file_id is not None:
                file_row = session.get(ScannedFile, row.file_id)
                assert file_row is not None
                file_row.stored_path = str(target)
                session.add(file_row)
    log.info("claim %s: moved to %s", row.claim_id, folder)


def _move(source: Path, target: Path, *, archive: bool) -> bool:
    """Move a finished file to its place; False if it was not in processing.

    Two workers may place one file at once (one has just finished its last page, the other
    is idle and places what is unplaced): the first rename wins, and the other finds the
    file gone, which is not an error.
    """
    try:
        if archive and target.exists():
            source.unlink()  # the archive already holds these exact bytes
        else:
            os.rename(source, target)
    except FileNotFoundError:
        if os.path.lexists(source):
            raise  # the file is there: the target's folder is missing
        return False
    return True


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def place_unplaced(engine: Engine, dirs: IntakeDirs) -> int:
    """Move every finished file still in processing (a crash between commit and move)."""
    with Session(engine) as session:
        ids = session.exec(
            select(IntakeFile.id)
            .where(col(IntakeFile.state).in_(_TERMINAL))
            .where(col(IntakeFile.placed_at).is_(None))
        ).all()
    for arrival_id in ids:
        assert arrival_id is not None
        place(engine, dirs, arrival_id)
    return len(ids)


def recover(engine: Engine, dirs: IntakeDirs) -> int:
    """Mend what a crashed watcher left: half-made claims and unplaced files.

    Run by the watcher at start (one watcher per intake folder). Returns how many claims
    were mended.
    """
    mended = 0
    with Session(engine) as session:
        claiming = session.exec(
            select(IntakeFile.claim_id).where(IntakeFile.state == ArrivalState.CLAIMING.value)
        ).all()
    for claim_id in claiming:
        if os.path.lexists(dirs.processing / claim_id):
            admit(engine, dirs, claim_id)
        else:
            _forget(engine, claim_id)  # the file never left the inbox; it will be claimed again
        mended += 1
    with Session(engine) as session:
        known = set(session.exec(select(IntakeFile.claim_id)).all())
    for entry in sorted(os.listdir(dirs.processing)):
        if entry.startswith(".") and entry.endswith(".part"):
            (dirs.processing / entry).unlink(missing_ok=True)  # an upload cut short
        elif entry not in known and not entry.startswith("."):
            # Cannot happen by our own steps (the row is committed before the rename); a file
            # put here by hand is taken in rather than left forever.
            with session_scope(engine) as session:
                session.add(
                    IntakeFile(
                        claim_id=entry,
                        batch_id=new_batch_id(),
                        source="recovered",
                        original_name="(found in the processing folder)",
                        state=ArrivalState.CLAIMING.value,
                    )
                )
            admit(engine, dirs, entry)
            mended += 1
    place_unplaced(engine, dirs)
    return mended


# --- page jobs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobTicket:
    """A page job held by one worker."""

    job_id: int
    worker: str
    intake_file_id: int
    file_id: int
    claim_id: str
    sha256: str
    page_number: int
    attempts: int


class LeaseLost(RuntimeError):
    """The job's lease ran out and another worker took it: this worker's result is dropped."""


def claim_job(
    engine: Engine,
    worker: str,
    *,
    lease_s: float = DEFAULT_LEASE_S,
    max_attempts: int = MAX_ATTEMPTS,
    take_expired: bool = True,
) -> JobTicket | None:
    """Take the oldest queued page job, or one whose lease ran out; None when there is none.

    `take_expired=False` leaves expired leases alone: a worker just back from a database
    outage gives the workers that held jobs through it time to renew their leases.
    """
    with session_scope(engine) as session:
        while True:
            now = utcnow()
            takeable = col(PageJob.state) == JobState.QUEUED.value
            if take_expired:
                takeable = or_(
                    takeable,
                    and_(
                        col(PageJob.state) == JobState.RUNNING.value,
                        col(PageJob.lease_expires_at) < now,
                    ),
                )
            job = session.exec(
                select(PageJob)
                .where(takeable)
                .order_by(col(PageJob.id))
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if job is None:
                return None
            assert job.id is not None
            if job.attempts >= max_attempts:
                # Every worker that took this page died with it: stop feeding it to them.
                _finish_job(
                    session,
                    job,
                    JobState.FAILED,
                    Reason.WORKER_CRASHED.value,
                    f"page {job.page_number}: the worker stopped {job.attempts} times "
                    "while processing it",
                    now,
                )
                session.add(
                    ScannedPage(
                        file_id=job.file_id,
                        page_number=job.page_number,
                        status=PageStatus.FAILED.value,
                        reason=Reason.WORKER_CRASHED.value,
                    )
                )
                # A file this finishes is placed by the worker's next `place_unplaced`.
                _finish_file_if_complete(session, job.intake_file_id)
                continue
            job.state = JobState.RUNNING.value
            job.attempts += 1
            job.lease_owner = worker
            job.lease_expires_at = now + dt.timedelta(seconds=lease_s)
            session.add(job)
            arrival = session.get(IntakeFile, job.intake_file_id)
            assert arrival is not None and arrival.sha256 is not None
            return JobTicket(
                job_id=job.id,
                worker=worker,
                intake_file_id=job.intake_file_id,
                file_id=job.file_id,
                claim_id=arrival.claim_id,
                sha256=arrival.sha256,
                page_number=job.page_number,
                attempts=job.attempts,
            )


def renew_lease(engine: Engine, ticket: JobTicket, *, lease_s: float = DEFAULT_LEASE_S) -> bool:
    """Extend the lease; False when it was lost (the job is someone else's now)."""
    with session_scope(engine) as session:
        result = session.execute(
            update(PageJob)
            .where(
                col(PageJob.id) == ticket.job_id,
                col(PageJob.lease_owner) == ticket.worker,
                col(PageJob.state) == JobState.RUNNING.value,
            )
            .values(lease_expires_at=utcnow() + dt.timedelta(seconds=lease_s))
        )
        return bool(getattr(result, "rowcount", 0) == 1)


def release_job(engine: Engine, ticket: JobTicket) -> bool:
    """Give a job back untouched (a passing failure such as a full disk): not an attempt.

    False when the job was no longer this worker's (its lease ran out and another took it).
    """
    with session_scope(engine) as session:
        result = session.execute(
            update(PageJob)
            .where(
                col(PageJob.id) == ticket.job_id,
                col(PageJob.lease_owner) == ticket.worker,
                col(PageJob.state) == JobState.RUNNING.value,
            )
            .values(
                state=JobState.QUEUED.value,
                lease_owner=None,
                lease_expires_at=None,
                attempts=PageJob.attempts - 1,
            )
        )
        return bool(getattr(result, "rowcount", 0) == 1)


def forgive_attempt(engine: Engine, ticket: JobTicket) -> None:
    """This worker lost the job without dying (its lease ran out while the database was away
    from it, or it stalled): its claim is not counted as an attempt.

    A lost lease means another claim came after this one (and counted itself) or the job was
    failed; either way this worker's own count is the one to take back.
    """
    with session_scope(engine) as session:
        session.execute(
            update(PageJob)
            .where(col(PageJob.id) == ticket.job_id, col(PageJob.attempts) > 0)
            .values(attempts=PageJob.attempts - 1)
        )


def _take_over(session: Session, ticket: JobTicket, state: JobState) -> PageJob:
    """Mark the job finished only if this worker still holds it; else raise LeaseLost."""
    now = utcnow()
    result = session.execute(
        update(PageJob)
        .where(
            col(PageJob.id) == ticket.job_id,
            col(PageJob.lease_owner) == ticket.worker,
            col(PageJob.state) == JobState.RUNNING.value,
        )
        .values(state=state.value, finished_at=now, lease_expires_at=None)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise LeaseLost(f"page job {ticket.job_id}: the lease was lost")
    job = session.get(PageJob, ticket.job_id)
    assert job is not None
    return job


def _finish_job(
    session: Session,
    job: PageJob,
    state: JobState,
    reason: str | None,
    message: str | None,
    now: dt.datetime,
) -> None:
    job.state = state.value
    job.reason, job.message = reason, message
    job.finished_at = now
    job.lease_expires_at = None
    session.add(job)


def _lock_file(session: Session, file_id: int) -> ScannedFile:
    """Lock the file's row: completions of one file's pages take turns, so exactly one of
    them sees the file complete and finishes it."""
    return session.exec(
        select(ScannedFile).where(ScannedFile.id == file_id).with_for_update()
    ).one()


def complete_job(
    engine: Engine,
    ticket: JobTicket,
    page: ReadPage | ScanError,
    *,
    actor: str,
    model_version: str | None,
) -> int | None:
    """Commit one page's result and its job done in one transaction; finish the file if it
    was the last page. Returns the arrival's id when the file finished (the caller places it).

    Raises LeaseLost when another worker took the job meanwhile (nothing is written).
    """
    finished: int | None = None
    with session_scope(engine) as session:
        failed = isinstance(page, ScanError)
        job = _take_over(session, ticket, JobState.FAILED if failed else JobState.DONE)
        file_row = _lock_file(session, ticket.file_id)
        recorded = session.exec(
            select(ScannedPage.id)
            .where(ScannedPage.file_id == ticket.file_id)
            .where(ScannedPage.page_number == ticket.page_number)
        ).first()
        if isinstance(page, ScanError):
            job.reason, job.message = page.reason.value, page.message
            session.add(job)
            if recorded is None:
                session.add(
                    ScannedPage(
                        file_id=ticket.file_id,
                        page_number=ticket.page_number,
                        status=PageStatus.FAILED.value,
                        reason=page.reason.value,
                    )
                )
        elif recorded is None:
            # (A page recorded by an earlier try of the same bytes is kept as it was.)
            record_pages(
                session,
                file_row,
                [page_record(page)],
                actor=actor,
                received_at=file_row.received_at,
                model_version=model_version,
            )
        finished = _finish_file_if_complete(session, ticket.intake_file_id)
    return finished


def _finish_file_if_complete(session: Session, intake_file_id: int) -> int | None:
    """Close the arrival and its file when no page job is left; returns its id if so."""
    states = Counter(
        session.exec(select(PageJob.state).where(PageJob.intake_file_id == intake_file_id)).all()
    )
    if states[JobState.QUEUED.value] or states[JobState.RUNNING.value]:
        return None
    row = session.get(IntakeFile, intake_file_id)
    assert row is not None and row.file_id is not None
    if row.state in _TERMINAL:
        return None
    file_row = session.get(ScannedFile, row.file_id)
    assert file_row is not None
    now = utcnow()
    failed = session.exec(
        select(PageJob)
        .where(PageJob.intake_file_id == intake_file_id)
        .where(PageJob.state == JobState.FAILED.value)
        .order_by(col(PageJob.page_number))
    ).all()
    file_row.processed_at = now
    if failed:
        reason = Counter(job.reason for job in failed).most_common(1)[0][0] or "page_failed"
        pages = ", ".join(str(job.page_number) for job in failed)
        message = f"page(s) {pages} failed: {failed[0].message}"
        file_row.status = FileStatus.FAILED.value
        file_row.reason, file_row.message = reason, message
        _fail_arrival(session, row, reason, message, now)
    else:
        assert row.sha256 is not None
        file_row.status = FileStatus.PROCESSED.value
        row.state = ArrivalState.DONE.value
        row.finished_at = now
        session.add(row)
        record_event(
            session,
            actor="intake",
            entity="file",
            entity_id=row.sha256,
            action="processed",
            after={"claim_id": row.claim_id, "pages": row.page_count},
        )
    session.add(file_row)
    return intake_file_id


def pending_jobs(engine: Engine) -> int:
    """Jobs queued or running (a drained queue has none)."""
    with Session(engine) as session:
        return session.exec(
            select(func.count())
            .select_from(PageJob)
            .where(col(PageJob.state).in_([JobState.QUEUED.value, JobState.RUNNING.value]))
        ).one()


class JobListener:
    """Idle waiting between polls, woken early by a NOTIFY on PostgreSQL.

    The LISTEN connection is a connection of its own (psycopg, autocommit). When it drops (a
    restart, a terminated backend, the network) it is made again at the next wait, and made
    again at each wait after that until the server answers; meanwhile the wait is a plain
    sleep. Notifications sent while it was down are lost, which costs nothing: the worker
    polls after every wait anyway. On SQLite every wait is a sleep.
    """

    def __init__(self, engine: Engine, *, who: str = "worker") -> None:
        self.who = who
        self.url: str | None = None
        if engine.dialect.name == "postgresql":
            self.url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.connection: Any = None
        self.connects = 0  # LISTEN connections made (1 + reconnections), for `--stats`
        self._lost = False

    def _connect(self) -> None:
        import psycopg

        connection = psycopg.connect(self.url or "", autocommit=True, connect_timeout=5)
        try:
            connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
        except BaseException:
            connection.close()
            raise
        self.connection = connection
        self.connects += 1
        if self._lost:
            self._lost = False
            log.warning("%s: LISTEN connection made again", self.who)

    def _drop(self, exc: BaseException) -> None:
        if not self._lost:
            self._lost = True
            first = str(exc).strip().splitlines()
            log.warning(
                "%s: LISTEN connection lost (%s); making it again",
                self.who,
                first[0] if first else type(exc).__name__,
            )
        self.close()

    def wait(self, timeout_s: float) -> None:
        """Sleep up to `timeout_s`, waking early on a NOTIFY (a hint; the caller polls anyway)."""
        if self.url is None:
            time.sleep(timeout_s)
            return
        import psycopg

        deadline = time.monotonic() + timeout_s
        try:
            if self.connection is None:
                self._connect()
            remaining = max(0.0, deadline - time.monotonic())
            for _ in self.connection.notifies(timeout=remaining, stop_after=1):
                pass
        except psycopg.Error as exc:
            self._drop(exc)
            time.sleep(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    def __enter__(self) -> JobListener:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
