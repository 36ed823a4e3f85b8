"""`attend intake run | watch | worker | report`: the mailroom's scans in."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attendance.errors import ExitCode
from attendance.settings import Settings
from cli.common import (
    CommandError,
    Commands,
    cli_actor,
    load_reading,
    open_engine,
    print_json,
    render_timeout_option,
    work_option,
)
from forms.serial import format_serial

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


@contextlib.contextmanager
def _page_progress(files: list[Path]) -> Iterator[Callable[[str], None]]:
    """A terminal progress bar over the pages of `files`; yields the per-page callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from scanner.load import count_pages

    total = 0
    for path in files:
        try:
            total += count_pages(path)
        except Exception:  # the file will fail properly when processed
            total += 1
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("pages", total=total)
        yield lambda _sha: bar.advance(task)


def cmd_intake_run(args: argparse.Namespace, settings: Settings) -> ExitCode:
    from intake.oneshot import collect_files, default_jobs, missing_paths, run_intake

    paths = [Path(p) for p in args.paths]
    missing = missing_paths(paths)
    if missing:
        # These are the operator's own arguments, so naming them back is safe and useful.
        raise CommandError(
            ExitCode.NOT_FOUND, "no such file or folder: " + ", ".join(map(str, missing))
        )
    engine = open_engine(settings)
    files = collect_files(paths)
    reading = load_reading(settings)
    with contextlib.ExitStack() as stack:
        progress = None
        if sys.stderr.isatty() and not args.json:
            progress = stack.enter_context(_page_progress(files))
        report = run_intake(
            engine,
            files,
            store_dir=settings.store_dir,
            actor=cli_actor(),
            dpi=settings.scan_dpi,
            reading=reading,
            progress=progress,
            jobs=args.jobs or default_jobs(),
            database_url=settings.database_url,
        )
    counts = report.counts()
    if args.json:
        print_json(
            {
                "counts": counts,
                "files": [
                    {
                        "file": f.label,
                        "sha256": f.sha256,
                        "status": f.status,
                        "reason": f.reason,
                        "message": f.message,
                        "pages": [p.__dict__ for p in f.pages],
                    }
                    for f in report.files
                ],
            }
        )
    else:
        for f in report.files:
            sha = f.sha256[:12] if f.sha256 else "-"
            if f.status == "failed":
                print(f"{f.label} ({sha}): FAILED {f.reason}: {f.message}")
            elif f.status == "already_processed":
                print(f"{f.label} ({sha}): already processed, skipped")
            else:
                for p in f.pages:
                    what = format_serial(p.serial) if p.serial else p.reason
                    note = f" ({p.reason})" if p.serial and p.reason else ""
                    print(f"{f.label} ({sha}) page {p.number}: {p.status} {what}{note}")
        print(
            f"files: {counts['files']} ({counts['files_processed']} processed, "
            f"{counts['files_already_processed']} already processed, "
            f"{counts['files_failed']} failed); pages: {counts['pages']} "
            f"({counts['pages_identified']} identified, {counts['pages_unidentified']} "
            f"unidentified, {counts['pages_duplicate']} duplicate)"
        )
    return ExitCode.FILES_FAILED if counts["files_failed"] else ExitCode.OK


def _intake_dirs(args: argparse.Namespace, settings: Settings, inbox: Path | None) -> Any:
    """The work folders, after refusing unsafe folder and database settings."""
    from sqlalchemy.engine import make_url

    from intake.folders import (
        IntakeDirs,
        UnsafeConfiguration,
        check_folders,
        check_sqlite_location,
    )

    work = Path(args.work).absolute() if args.work else settings.intake_work_dir
    dirs = IntakeDirs(work)
    try:
        check_folders(inbox, dirs, home=settings.home)
        url = make_url(settings.database_url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            check_sqlite_location(Path(str(url.database)))
    except UnsafeConfiguration as exc:
        raise CommandError(ExitCode.UNSAFE_CONFIGURATION, str(exc)) from None
    dirs.ensure()
    return dirs


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT: finish the page in hand, then stop."""
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, lambda _signum, _frame: stop.set())
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _service_logging() -> None:
    # Services log progress (claim ids, hashes, serials; never names) at INFO.
    logging.getLogger().setLevel(min(logging.getLogger().level, logging.INFO))


def _engine_when_reachable(
    settings: Settings, args: argparse.Namespace, who: str, stop: threading.Event
) -> Engine | None:
    """As `open_engine`, waiting up to `--database-wait` seconds for a database that does not
    answer yet (then DatabaseUnreachable, exit 6); None when stopped meanwhile."""
    from attendance.db import SchemaNotCurrent, make_engine, require_current_schema
    from intake.outage import wait_for_database

    engine = make_engine(settings.database_url)
    try:
        answered = wait_for_database(
            engine, who=who, bound_s=args.database_wait, check=require_current_schema, stop=stop
        )
    except SchemaNotCurrent as exc:
        raise CommandError(ExitCode.DATABASE, str(exc)) from None
    return engine if answered else None


def cmd_intake_watch(args: argparse.Namespace, settings: Settings) -> ExitCode:
    from intake.pool import WorkerPool
    from intake.report import batch_report, render_report
    from intake.watch import Watcher, WatchOptions

    inbox = Path(args.dir)
    if not inbox.exists():
        raise CommandError(ExitCode.NOT_FOUND, f"no such folder: {args.dir}")
    dirs = _intake_dirs(args, settings, inbox)
    _service_logging()
    failed: list[int] = []

    def batch_done(batch_id: str) -> None:
        assert engine is not None
        report = batch_report(engine, batch_id)
        failed.append(report["files"]["failed"])
        (dirs.reports / f"{batch_id}.json").write_text(json.dumps(report, indent=2) + "\n")
        if args.json:
            print_json(report)
        else:
            print(render_report(report), flush=True)

    options = WatchOptions(
        settle_s=args.settle,
        interval_s=args.interval,
        reconcile_s=args.reconcile,
        polling=args.polling,
        once=args.once,
        wait=args.workers > 0,
        database_wait_s=args.database_wait if args.once else None,
    )
    worker_args = ["--work", str(dirs.work), "--render-timeout", str(args.render_timeout)]
    worker_args += ["--database-wait", str(args.database_wait)]
    with _stop_on_signals() as stop:
        engine = _engine_when_reachable(settings, args, "watcher", stop)
        if engine is None:
            return ExitCode.OK  # stopped while waiting for the database
        with WorkerPool(args.workers, worker_args, stop=stop):
            Watcher(engine, dirs, inbox.absolute(), options, on_batch_done=batch_done).run(stop)
    # A service stopped by SIGTERM has done its job; only a one-off run reports failed files.
    return ExitCode.FILES_FAILED if args.once and any(failed) else ExitCode.OK


def cmd_intake_worker(args: argparse.Namespace, settings: Settings) -> ExitCode:
    import os
    import socket

    from intake.worker import Worker, WorkerOptions

    dirs = _intake_dirs(args, settings, None)
    _service_logging()
    options = WorkerOptions(
        worker_id=(args.id or f"{socket.gethostname()}:{os.getpid()}")[-64:],
        lease_s=args.lease,
        poll_s=args.poll,
        drain=args.drain,
        render_timeout_s=args.render_timeout,
        dpi=settings.scan_dpi,
        database_wait_s=args.database_wait if args.drain else None,
    )
    with _stop_on_signals() as stop:
        engine = _engine_when_reachable(settings, args, f"worker {options.worker_id}", stop)
        if engine is None:
            return ExitCode.OK  # stopped while waiting for the database
        worker = Worker(
            engine,
            dirs,
            store_dir=settings.store_dir,
            reading=load_reading(settings),
            options=options,
        )
        stats = worker.run(stop)
    if args.stats:
        Path(args.stats).write_text(json.dumps(stats.to_json(), indent=2) + "\n")
    return ExitCode.OK


def cmd_intake_report(args: argparse.Namespace, settings: Settings) -> ExitCode:
    from intake.report import batch_report, latest_batch, render_report

    engine = open_engine(settings)
    batch_id = args.batch or latest_batch(engine)
    if batch_id is None:
        raise CommandError(ExitCode.NOT_FOUND, "no batch has arrived yet")
    try:
        report = batch_report(engine, batch_id)
    except LookupError as exc:
        raise CommandError(ExitCode.NOT_FOUND, str(exc)) from None
    if args.json:
        print_json(report)
    else:
        print(render_report(report), end="")
    return ExitCode.OK


def _database_wait_option(parser: argparse.ArgumentParser, one_off: str) -> None:
    parser.add_argument(
        "--database-wait",
        type=float,
        default=60.0,
        metavar="S",
        help="exit 6 when the database does not answer for S seconds at start (or, with "
        f"{one_off}, at any time); once started, a service waits out any outage (default 60)",
    )


def register(commands: Commands) -> None:
    """Add these commands to the parser."""
    intake_commands = commands.group("intake", "take scanned sheets in")
    p = commands.add(intake_commands, "run", cmd_intake_run, "process scan files and folders once")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--json", action="store_true", help="the batch report as JSON")
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="processes reading pages (default: the machine's cores)",
    )
    p = commands.add(
        intake_commands,
        "watch",
        cmd_intake_watch,
        "watch an intake folder: claim stable files, queue their pages, report each batch",
    )
    p.add_argument("dir", metavar="DIR")
    work_option(p)
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes to run alongside (default 1; 0 when workers run as services)",
    )
    p.add_argument("--polling", action="store_true", help="poll instead of inotify (SMB/NFS)")
    p.add_argument(
        "--settle",
        type=float,
        default=5.0,
        metavar="S",
        help="a file is claimed after S seconds unchanged and quiet (default 5)",
    )
    p.add_argument("--interval", type=float, default=1.0, metavar="S", help=argparse.SUPPRESS)
    p.add_argument(
        "--reconcile",
        type=float,
        default=30.0,
        metavar="S",
        help="full rescan of the folder every S seconds (default 30)",
    )
    p.add_argument(
        "--once",
        action="store_true",
        help="take what is in the folder now, wait for it to be processed, report, stop",
    )
    p.add_argument("--json", action="store_true", help="batch reports as JSON")
    render_timeout_option(p)
    _database_wait_option(p, "--once")
    p = commands.add(
        intake_commands, "worker", cmd_intake_worker, "process queued pages (run N of these)"
    )
    work_option(p)
    p.add_argument("--id", metavar="NAME", help="worker name in logs (default host:pid)")
    p.add_argument(
        "--lease",
        type=float,
        default=15.0,
        metavar="S",
        help="a job held S seconds without a heartbeat goes to another worker (default 15; "
        "the heartbeat renews it every S/3)",
    )
    p.add_argument("--poll", type=float, default=1.0, metavar="S", help="idle poll (default 1)")
    p.add_argument("--drain", action="store_true", help="stop when no page is left to process")
    p.add_argument("--stats", metavar="FILE.json", help="write what this worker did here")
    render_timeout_option(p)
    _database_wait_option(p, "--drain")
    p = commands.add(
        intake_commands, "report", cmd_intake_report, "a batch's report (default the latest)"
    )
    p.add_argument("--batch", metavar="ID")
    p.add_argument("--json", action="store_true")
