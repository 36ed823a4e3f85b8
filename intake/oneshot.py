"""One-shot intake: take files and folders once, identify every page, mark sheets received.

Each file is handled on its own: it is copied into the store under its SHA-256 (the copy is
what gets read, so the hash names exactly the bytes processed), its pages are identified,
and then ONE database transaction records the file, its pages and the sheets received. A
failure anywhere in a file leaves no partial record; other files go on.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from attendance.db import record_event, session_scope
from attendance.files import write_atomically
from attendance.models import (
    Certificate,
    FileStatus,
    ScannedFile,
    Sheet,
    utcnow,
)
from attendance.months import month_days, parse_month
from attendance.receipt import PageOutcome, PageRecord, record_pages
from attendance.schedule import Schedule
from intake.png import encode_grey_png
from intake.stats import ProcessStats
from scanner.errors import Reason, ScanError
from scanner.load import PageImage, count_pages, load_pages, sniff_format
from scanner.pipeline import (
    PageIdentity,
    PageReading,
    Reading,
    SheetContext,
    add_stage,
    configure_process,
    stage_mark,
)
from scanner.pipeline import read_page as read_scanned_page
from scanner.readings import FieldReading as MachineReading

log = logging.getLogger(__name__)

PREVIEW_DPI = 150  # unidentified pages are kept at this resolution for the reviewer
_CHUNK = 1 << 20


@dataclass
class FileOutcome:
    """What became of one input file. `label` is what the operator may see (no file names)."""

    label: str
    sha256: str | None
    status: str  # processed | already_processed | failed
    reason: str | None = None
    message: str | None = None
    pages: list[PageOutcome] = field(default_factory=list)


@dataclass
class IntakeReport:
    files: list[FileOutcome] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Files and pages by outcome: the batch summary."""
        file_status = Counter(f.status for f in self.files)
        page_status = Counter(p.status for f in self.files for p in f.pages)
        return {
            "files": len(self.files),
            "files_processed": file_status["processed"],
            "files_already_processed": file_status["already_processed"],
            "files_failed": file_status["failed"],
            "pages": sum(page_status.values()),
            "pages_identified": page_status["identified"],
            "pages_unidentified": page_status["unidentified"],
            "pages_duplicate": page_status["duplicate"],
        }


ProgressCallback = Callable[[str], None]


def collect_files(paths: Iterable[Path]) -> list[Path]:
    """Expand folders (recursively, sorted, hidden files skipped); keep files as given.

    A missing path is returned as is: processing reports it as `not_found`.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(
                    Path(root) / name for name in sorted(files) if not name.startswith(".")
                )
        else:
            found.append(path)
    return found


def store_original(path: Path, store_dir: Path) -> tuple[str, Path]:
    """Copy `path` into the store named by its SHA-256; return the hash and the copy."""
    originals = store_dir / "originals"
    originals.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, temp_name = tempfile.mkstemp(dir=originals, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out, path.open("rb") as source:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        sha = digest.hexdigest()
        target = originals / sha[:2] / sha
        target.parent.mkdir(exist_ok=True)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return sha, target


def _save_preview(page: PageImage, store_dir: Path, sha: str) -> Path:
    """Keep an unidentified page for the reviewer; a full disk raises OSError (ENOSPC)."""
    pages_dir = store_dir / "pages"
    pages_dir.mkdir(parents=True, exist_ok=True)
    image = page.image
    if page.dpi > PREVIEW_DPI:
        factor = PREVIEW_DPI / page.dpi
        image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    target = pages_dir / f"{sha}-p{page.number:04d}.png"
    write_atomically(target, encode_grey_png(image))
    return target


def save_canon(canon: np.ndarray, store_dir: Path, sha: str, number: int) -> Path:
    """Keep the registered page for reviewers' crops and training data (full disk: OSError).

    PNG, lossless for training crops, written by `intake.png` (ISA-L deflate). Measured on
    scanned canonical pages (1700 x 2200, grain and all, about 1.6 MB), CPU per page: OpenCV
    with ``IMWRITE_PNG_COMPRESSION`` 1 (zlib's default strategy) 76 ms in the intake
    benchmark, OpenCV's own defaults (level 1, run-length) 33-37 ms, zlib level 1 41 ms,
    zlib-ng 18 ms (30 % bigger), ISA-L level 1 with the Up filter 9 ms (the same size within
    2 %); WebP lossless is 40x slower, JPEG lossy, an uncompressed PGM 2.3x bigger."""
    pages_dir = store_dir / "pages"
    pages_dir.mkdir(parents=True, exist_ok=True)
    target = pages_dir / f"{sha}-p{number:04d}-canon.png"
    write_atomically(target, encode_grey_png(canon))
    return target


def sheet_context(engine: Engine, serial: str) -> SheetContext | None:
    """Month and schedule of the sheet with `serial`, or None for an unknown serial."""
    with Session(engine) as session:
        sheet = session.exec(select(Sheet).where(Sheet.serial == serial)).first()
        if sheet is None:
            return None
        certificate = session.get(Certificate, sheet.certificate_id)
    assert certificate is not None
    schedule = Schedule.from_json(certificate.schedule_json)
    month = parse_month(sheet.month)
    windows = {
        day: tuple((w.start, w.end) for w in schedule.days[day.weekday()])
        for day in month_days(month)
        if certificate.start_date <= day <= certificate.end_date
    }
    return SheetContext(serial=serial, month=month, windows=windows, form=sheet.form_version)


@dataclass(frozen=True)
class ReadPage:
    """One page identified (and, for a known sheet, registered and read): a plain record."""

    number: int
    identity: PageIdentity
    preview: Path | None
    readings: tuple[MachineReading, ...] = ()
    residual_pt: float | None = None
    review_reason: str | None = None
    canon: Path | None = None  # the registered page, upright on its layout (for reviewers)


Timings = dict[str, float]
"""Seconds spent per stage (load, identify, register, warp, read, store, record), each also
as ``STAGE:cpu`` (CPU seconds): see `scanner.pipeline.add_stage`."""


def stored_page(
    page: PageImage, result: PageReading, *, sha: str, store_dir: Path, timings: Timings
) -> ReadPage:
    """Keep what a reviewer needs of a page the scanner has read, and say where it is.

    An unidentified page, and a page of a known sheet that could not be registered (keyed
    from the whole image), are kept as a preview image; a registered page as its canonical
    image. A full disk raises OSError.
    """
    for stage, seconds in result.timings.items():
        timings[stage] = timings.get(stage, 0.0) + seconds
    started = stage_mark()
    preview = None
    canon_path = None
    if result.canon is not None:
        canon_path = save_canon(result.canon, store_dir, sha, page.number)
    elif not result.identity.identified or result.attempted:
        preview = _save_preview(page, store_dir, sha)
    add_stage(timings, "store", started)
    return ReadPage(
        page.number,
        result.identity,
        preview,
        result.readings,
        result.residual_pt,
        result.review_reason,
        canon_path,
    )


def read_page(
    page: PageImage,
    *,
    sha: str,
    store_dir: Path,
    context_for: Callable[[str], SheetContext | None],
    reading: Reading | None,
    timings: Timings | None = None,
) -> ReadPage:
    """Read one page with the scanner's composer (`scanner.pipeline.read_page`) and keep its
    images for reviewers (`stored_page`). Nothing here touches the database except
    `context_for`."""
    result = read_scanned_page(page, context_for=context_for, reading=reading)
    return stored_page(
        page, result, sha=sha, store_dir=store_dir, timings={} if timings is None else timings
    )


def _read_pages(
    stored: Path,
    *,
    sha: str,
    store_dir: Path,
    dpi: int,
    context_for: Callable[[str], SheetContext | None],
    reading: Reading | None,
    progress: ProgressCallback | None,
    timings: list[Timings] | None = None,
) -> list[ReadPage]:
    """Read every page of a stored file; each page's stage times are added to `timings`."""
    read: list[ReadPage] = []
    pages = iter(load_pages(stored, dpi=dpi))
    while True:
        started = stage_mark()
        page = next(pages, None)
        if page is None:
            break
        page_timings: Timings = {}
        add_stage(page_timings, "load", started)
        read.append(
            read_page(
                page,
                sha=sha,
                store_dir=store_dir,
                context_for=context_for,
                reading=reading,
                timings=page_timings,
            )
        )
        if timings is not None:
            timings.append(page_timings)
        if progress:
            progress(sha)
    return read


def page_record(read: ReadPage) -> PageRecord:
    """What the domain's receipt needs of a read page (`attendance.receipt`)."""
    identity = read.identity
    return PageRecord(
        number=read.number,
        serial=identity.payload.serial if identity.payload else None,
        form=identity.payload.form if identity.payload else None,
        rotation=identity.rotation,
        barcode_method=identity.barcode.method if identity.barcode else None,
        reason=identity.reason,
        preview=read.preview,
        readings=read.readings,
        residual_pt=read.residual_pt,
        review_reason=read.review_reason,
        canon=read.canon,
    )


def process_file(
    engine: Engine,
    path: Path,
    *,
    label: str,
    store_dir: Path,
    actor: str,
    dpi: int = 200,
    reading: Reading | None = None,
    progress: ProgressCallback | None = None,
    stats: ProcessStats | None = None,
    stored_as: tuple[str, Path] | None = None,
    read_pages: Callable[[Path, str], list[ReadPage]] | None = None,
) -> FileOutcome:
    """Identify and read every page of one file and record it in one transaction.

    With `stats`, each page's stage times are added to it (the file's recording shared out
    evenly over its pages). `stored_as` is the file's hash and stored copy when the caller has
    already stored it; `read_pages(stored, sha)` reads the pages instead of this process
    (`intake run --jobs`), raising ScanError when the file cannot be read."""
    if not path.exists():
        return FileOutcome(
            label, None, FileStatus.FAILED.value, Reason.NOT_FOUND.value, "no such file"
        )
    if not path.is_file():
        return FileOutcome(
            label,
            None,
            FileStatus.FAILED.value,
            Reason.NOT_A_REGULAR_FILE.value,
            "not a regular file",
        )
    try:
        # Even a file we cannot read as a scan is kept (by hash) and recorded as failed.
        sha, stored = stored_as or store_original(path, store_dir)
    except OSError as exc:
        return FileOutcome(
            label, None, FileStatus.FAILED.value, "unreadable", exc.strerror or "cannot read"
        )

    with Session(engine) as session:
        existing = session.exec(select(ScannedFile).where(ScannedFile.sha256 == sha)).first()
    # A file the watched-folder intake holds (processing) is as good as processed here.
    if existing is not None and existing.status != FileStatus.FAILED:
        log.info("file %s: already processed, skipped", sha[:12])
        return FileOutcome(label, sha, "already_processed")

    received_at = utcnow()
    failure: ScanError | None = None
    pages: list[ReadPage] = []
    page_timings: list[Timings] = []
    file_format: str | None = None
    try:
        file_format = sniff_format(stored)
        if read_pages is not None:
            pages = read_pages(stored, sha)
        else:
            pages = _read_pages(
                stored,
                sha=sha,
                store_dir=store_dir,
                dpi=dpi,
                context_for=lambda serial: sheet_context(engine, serial),
                reading=reading,
                progress=progress,
                timings=page_timings,
            )
    except ScanError as exc:
        failure = exc
        pages = []

    recording = stage_mark()
    try:
        with session_scope(engine) as session:
            row = session.exec(select(ScannedFile).where(ScannedFile.sha256 == sha)).first()
            if row is None:
                row = ScannedFile(
                    sha256=sha,
                    original_name=path.name,
                    size_bytes=stored.stat().st_size,
                    status=FileStatus.FAILED.value,
                    received_at=received_at,
                )
            row.file_format = file_format
            row.stored_path = str(stored)
            row.processed_at = utcnow()
            row.page_count = len(pages) if failure is None else None
            row.status = (FileStatus.FAILED if failure else FileStatus.PROCESSED).value
            row.reason = failure.reason.value if failure else None
            row.message = failure.message if failure else None
            session.add(row)
            session.flush()
            outcomes = record_pages(
                session,
                row,
                [page_record(page) for page in pages],
                actor=actor,
                received_at=row.received_at,
                model_version=reading.reader.version if reading else None,
            )
            record_event(
                session,
                actor=actor,
                entity="file",
                entity_id=sha,
                action=row.status,
                after={"pages": len(pages), "reason": row.reason},
            )
    except IntegrityError:
        # Another intake committed the same bytes between our check and our insert.
        return FileOutcome(label, sha, "already_processed")
    if stats is not None and failure is None and read_pages is None:
        spent = add_stage({}, "record", recording)  # the end of the transaction
        share = [(spent[i] - recording[i]) / max(1, len(pages)) for i in (0, 1)]
        for read, timings in zip(pages, page_timings, strict=True):
            stats.add(sha, read.number, {**timings, "record": share[0], "record:cpu": share[1]})

    if failure is not None:
        log.warning("file %s: failed: %s: %s", sha[:12], failure.reason.value, failure.message)
        return FileOutcome(
            label, sha, FileStatus.FAILED.value, failure.reason.value, failure.message
        )
    return FileOutcome(label, sha, FileStatus.PROCESSED.value, pages=outcomes)


def run_intake(
    engine: Engine,
    paths: Iterable[Path],
    *,
    store_dir: Path,
    actor: str = "intake",
    dpi: int = 200,
    reading: Reading | None = None,
    progress: ProgressCallback | None = None,
    jobs: int = 1,
    database_url: str | None = None,
) -> IntakeReport:
    """Process every file under `paths` once; a bad file is reported and the rest go on.

    Without `reading`, pages are identified and sheets received but fields are not read.
    With `jobs` above 1 (and the `database_url` the engine was made from), pages are read by
    that many processes (`intake.jobs`): same records, same report.
    """
    files = collect_files(paths)
    if jobs > 1 and database_url is not None and _pages_at_least(files, 2):
        from intake.jobs import JobSetup, run_intake_jobs

        return run_intake_jobs(
            engine,
            files,
            jobs=jobs,
            setup=JobSetup(database_url=database_url, store_dir=store_dir, dpi=dpi),
            reading=reading,
            actor=actor,
            progress=progress,
        )
    configure_process()
    report = IntakeReport()
    stats = ProcessStats("run")
    for index, path in enumerate(files, start=1):
        outcome = process_file(
            engine,
            path,
            label=f"file {index}",
            store_dir=store_dir,
            actor=actor,
            dpi=dpi,
            reading=reading,
            progress=progress,
            stats=stats,
        )
        report.files.append(outcome)
    stats.write()
    return report


def default_jobs() -> int:
    """`intake run --jobs` when not given: the cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _pages_at_least(files: list[Path], wanted: int) -> bool:
    """True when the files hold at least `wanted` pages (a bad file counts as one)."""
    found = 0
    for path in files:
        try:
            found += count_pages(path)
        except ScanError:
            found += 1
        if found >= wanted:
            return True
    return False


def missing_paths(paths: Iterable[Path]) -> list[Path]:
    """Arguments that name nothing on disk (reported before any work starts)."""
    return [p for p in paths if not p.exists() and not p.is_symlink()]


__all__ = [
    "FileOutcome",
    "IntakeReport",
    "PageOutcome",
    "ReadPage",
    "Reading",
    "Reason",
    "SheetContext",
    "collect_files",
    "default_jobs",
    "missing_paths",
    "page_record",
    "process_file",
    "read_page",
    "run_intake",
    "sheet_context",
    "stored_page",
]
