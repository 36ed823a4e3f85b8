"""The `attend` command line. Its commands, options and outputs are a public contract."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import logging
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from enum import IntEnum
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from attendance import __version__
from attendance.certificates import CertificateImportError, import_certificates
from attendance.db import (
    SchemaNotCurrent,
    make_engine,
    require_current_schema,
    session_scope,
    upgrade_database,
)
from attendance.export import build_export, export_csv, iso_utc
from attendance.months import InvalidMonth, month_key, parse_month
from attendance.settings import Settings
from attendance.sheets import SheetNotFound, find_sheet, issue_sheets, list_sheets, sheet_print
from forms.serial import InvalidSerial, format_serial

log = logging.getLogger("attend")


class ExitCode(IntEnum):
    """Stable exit codes (documented in the README)."""

    OK = 0
    INTERNAL_ERROR = 1
    USAGE = 2
    INVALID_INPUT = 3
    NOT_FOUND = 4
    FILES_FAILED = 5
    DATABASE = 6
    UNSAFE_CONFIGURATION = 7


class CommandError(Exception):
    """A failure the user can act on: one readable line and an exit code."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in some containers
        return "cli"


def _engine(settings: Settings, *, check_schema: bool = True) -> Engine:
    engine = make_engine(settings.database_url)
    if check_schema:
        try:
            require_current_schema(engine)
        except SchemaNotCurrent as exc:
            raise CommandError(ExitCode.DATABASE, str(exc)) from None
    return engine


def _month(text: str) -> str:
    try:
        return month_key(parse_month(text))
    except InvalidMonth as exc:
        raise CommandError(ExitCode.INVALID_INPUT, str(exc)) from None


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


# --- commands ---------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace, settings: Settings) -> ExitCode:
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = _engine(settings, check_schema=False)
    upgrade_database(engine)
    print(f"database ready: {engine.url.render_as_string(hide_password=True)}")
    print(f"data folder: {settings.home}")
    return ExitCode.OK


def cmd_certificates_import(args: argparse.Namespace, settings: Settings) -> ExitCode:
    path = Path(args.file)
    if not path.is_file():
        raise CommandError(ExitCode.NOT_FOUND, f"no such file: {args.file}")
    engine = _engine(settings)
    try:
        with session_scope(engine) as session:
            result = import_certificates(session, path, actor=_actor())
    except CertificateImportError as exc:
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        raise CommandError(ExitCode.INVALID_INPUT, str(exc)) from None
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"certificates: {result.created} created, {result.updated} updated, "
        f"{result.unchanged} unchanged; providers: {result.providers_created} created, "
        f"{result.providers_updated} updated"
    )
    return ExitCode.OK


def cmd_sheets_issue(args: argparse.Namespace, settings: Settings) -> ExitCode:
    month = _month(args.month)
    engine = _engine(settings)
    with session_scope(engine) as session:
        result = issue_sheets(session, parse_month(month), actor=_actor())
    print(f"{month}: {len(result.issued)} sheets issued, {result.already_issued} already issued")
    return ExitCode.OK


def _sheet_summary(sheet: Any, certificate: Any) -> dict[str, Any]:
    return {
        "serial": sheet.serial,
        "certificate_id": sheet.certificate_id,
        "provider_id": certificate.provider_id,
        "month": sheet.month,
        "status": sheet.status,
        "form_version": sheet.form_version,
        "issued_at": iso_utc(sheet.issued_at),
        "received_at": iso_utc(sheet.received_at),
    }


def cmd_sheets_list(args: argparse.Namespace, settings: Settings) -> ExitCode:
    month = _month(args.month)
    engine = _engine(settings)
    with session_scope(engine) as session:
        rows = [
            _sheet_summary(sheet, cert)
            for sheet, cert in list_sheets(session, month=month, provider_id=args.provider)
        ]
    if args.json:
        _print_json(rows)
        return ExitCode.OK
    if not rows:
        print(f"{month}: no sheets issued")
        return ExitCode.OK
    print(f"{'serial':<13}  {'certificate':<12}  {'provider':<10}  {'status':<9}  received")
    for row in rows:
        print(
            f"{format_serial(row['serial']):<13}  {row['certificate_id']:<12}  "
            f"{row['provider_id']:<10}  {row['status']:<9}  {row['received_at'] or '-'}"
        )
    return ExitCode.OK


def cmd_sheets_print(args: argparse.Namespace, settings: Settings) -> ExitCode:
    from forms.render import render_sheets

    engine = _engine(settings)
    out = Path(args.output)
    with session_scope(engine) as session:
        if args.serial:
            sheet = _find(session, args.serial)
            rows = [
                (s, c)
                for s, c in list_sheets(session, certificate_id=sheet.certificate_id)
                if s.id == sheet.id
            ]
        else:
            month = _month(args.month)
            rows = list_sheets(session, month=month, provider_id=args.provider)
        if not rows:
            raise CommandError(
                ExitCode.NOT_FOUND, "no sheets to print: issue them first (attend sheets issue)"
            )
        prints = [sheet_print(session, s, c, agency_name=settings.agency_name) for s, c in rows]

    # A folder (existing, or named with a trailing slash) gets one PDF per provider and month,
    # named by provider id and month only: no child names in file names.
    if out.is_dir() or args.output.endswith(("/", "\\")):
        out.mkdir(parents=True, exist_ok=True)
        groups: dict[tuple[str, str], list[Any]] = {}
        for item in prints:
            groups.setdefault((item.provider_id, month_key(item.month)), []).append(item)
        for (provider_id, month_text), items in sorted(groups.items()):
            target = out / f"sheets-{month_text}-{provider_id}.pdf"
            render_sheets(items, target)
            print(f"{target}: {len(items)} sheets")
        return ExitCode.OK
    out.parent.mkdir(parents=True, exist_ok=True)
    render_sheets(prints, out)
    print(f"{out}: {len(prints)} sheets")
    return ExitCode.OK


def _find(session: Any, serial_text: str) -> Any:
    try:
        return find_sheet(session, serial_text)
    except InvalidSerial as exc:
        raise CommandError(
            ExitCode.INVALID_INPUT, f"invalid serial {serial_text!r}: {exc}"
        ) from None
    except SheetNotFound as exc:
        raise CommandError(ExitCode.NOT_FOUND, str(exc)) from None


def cmd_sheets_layout(args: argparse.Namespace, settings: Settings) -> ExitCode:
    from forms.layout import build_layout

    engine = _engine(settings)
    with session_scope(engine) as session:
        sheet = _find(session, args.serial)
    _print_json(build_layout(sheet.serial, parse_month(sheet.month)).to_json())
    return ExitCode.OK


def _status_line(row: dict[str, Any]) -> str:
    when = (
        f"received {row['received_at']}"
        if row["received_at"]
        else f"not received yet (issued {row['issued_at']})"
    )
    return (
        f"{format_serial(row['serial'])}  {row['status']:<9}  {when}  "
        f"(certificate {row['certificate_id']}, {row['month']})"
    )


def cmd_status(args: argparse.Namespace, settings: Settings) -> ExitCode:
    if bool(args.serial) == bool(args.certificate):
        raise CommandError(ExitCode.USAGE, "give a SERIAL, or --certificate ID [--month YYYY-MM]")
    engine = _engine(settings)
    with session_scope(engine) as session:
        if args.serial:
            sheet = _find(session, args.serial)
            rows = list_sheets(session, certificate_id=sheet.certificate_id, month=sheet.month)
        else:
            month = _month(args.month) if args.month else None
            rows = list_sheets(session, certificate_id=args.certificate, month=month)
            if not rows:
                raise CommandError(
                    ExitCode.NOT_FOUND,
                    f"no sheet issued for certificate {args.certificate}"
                    + (f" in {month}" if month else ""),
                )
        summaries = [_sheet_summary(s, c) for s, c in rows]
    if args.json:
        _print_json(summaries[0] if args.serial else summaries)
    else:
        for row in summaries:
            print(_status_line(row))
    return ExitCode.OK


def _reading(settings: Settings) -> Any:
    from intake.oneshot import Reading
    from scanner.digits import DigitReader
    from scanner.fields import ReadingSettings

    # The threshold is for time fields, where the digit model's doubt lives; marks and
    # signatures keep their own (measured) defaults.
    return Reading(
        reader=DigitReader.load(),
        settings=ReadingSettings(time_review_below=settings.review_threshold),
    )


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
    from intake.oneshot import collect_files, missing_paths, run_intake

    paths = [Path(p) for p in args.paths]
    missing = missing_paths(paths)
    if missing:
        # These are the operator's own arguments, so naming them back is safe and useful.
        raise CommandError(
            ExitCode.NOT_FOUND, "no such file or folder: " + ", ".join(map(str, missing))
        )
    engine = _engine(settings)
    files = collect_files(paths)
    reading = _reading(settings)
    with contextlib.ExitStack() as stack:
        progress = None
        if sys.stderr.isatty() and not args.json:
            progress = stack.enter_context(_page_progress(files))
        report = run_intake(
            engine,
            files,
            store_dir=settings.store_dir,
            actor=_actor(),
            dpi=settings.scan_dpi,
            reading=reading,
            progress=progress,
        )
    counts = report.counts()
    if args.json:
        _print_json(
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


def cmd_intake_watch(args: argparse.Namespace, settings: Settings) -> ExitCode:
    from intake.pool import WorkerPool
    from intake.report import batch_report, render_report
    from intake.watch import Watcher, WatchOptions

    inbox = Path(args.dir)
    if not inbox.exists():
        raise CommandError(ExitCode.NOT_FOUND, f"no such folder: {args.dir}")
    dirs = _intake_dirs(args, settings, inbox)
    engine = _engine(settings)
    _service_logging()
    failed: list[int] = []

    def batch_done(batch_id: str) -> None:
        report = batch_report(engine, batch_id)
        failed.append(report["files"]["failed"])
        (dirs.reports / f"{batch_id}.json").write_text(json.dumps(report, indent=2) + "\n")
        if args.json:
            _print_json(report)
        else:
            print(render_report(report), flush=True)

    options = WatchOptions(
        settle_s=args.settle,
        interval_s=args.interval,
        reconcile_s=args.reconcile,
        polling=args.polling,
        once=args.once,
        wait=args.workers > 0,
    )
    worker_args = ["--work", str(dirs.work), "--render-timeout", str(args.render_timeout)]
    with _stop_on_signals() as stop, WorkerPool(args.workers, worker_args, stop=stop):
        Watcher(engine, dirs, inbox.absolute(), options, on_batch_done=batch_done).run(stop)
    # A service stopped by SIGTERM has done its job; only a one-off run reports failed files.
    return ExitCode.FILES_FAILED if args.once and any(failed) else ExitCode.OK


def cmd_intake_worker(args: argparse.Namespace, settings: Settings) -> ExitCode:
    import os
    import socket

    from intake.worker import Worker, WorkerOptions

    dirs = _intake_dirs(args, settings, None)
    engine = _engine(settings)
    _service_logging()
    options = WorkerOptions(
        worker_id=(args.id or f"{socket.gethostname()}:{os.getpid()}")[-64:],
        lease_s=args.lease,
        poll_s=args.poll,
        drain=args.drain,
        render_timeout_s=args.render_timeout,
        dpi=settings.scan_dpi,
    )
    worker = Worker(
        engine,
        dirs,
        store_dir=settings.store_dir,
        reading=_reading(settings),
        options=options,
    )
    with _stop_on_signals() as stop:
        stats = worker.run(stop)
    if args.stats:
        Path(args.stats).write_text(json.dumps(stats.to_json(), indent=2) + "\n")
    return ExitCode.OK


def cmd_intake_report(args: argparse.Namespace, settings: Settings) -> ExitCode:
    from intake.report import batch_report, latest_batch, render_report

    engine = _engine(settings)
    batch_id = args.batch or latest_batch(engine)
    if batch_id is None:
        raise CommandError(ExitCode.NOT_FOUND, "no batch has arrived yet")
    try:
        report = batch_report(engine, batch_id)
    except LookupError as exc:
        raise CommandError(ExitCode.NOT_FOUND, str(exc)) from None
    if args.json:
        _print_json(report)
    else:
        print(render_report(report), end="")
    return ExitCode.OK


def cmd_export(args: argparse.Namespace, settings: Settings) -> ExitCode:
    month = _month(args.month)
    engine = _engine(settings)
    with session_scope(engine) as session:
        data = build_export(session, month)
    text = (
        json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        if args.format == "json"
        else export_csv(data)
    )
    if args.output and args.output != "-":
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"{args.output}: {len(data['sheets'])} sheets", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return ExitCode.OK


# --- parser -----------------------------------------------------------------------------

Handler = Callable[[argparse.Namespace, Settings], ExitCode]


def _work_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--work",
        metavar="DIR",
        help="processing, archive and quarantine folders (default ATTEND_WORK_DIR, else "
        "ATTEND_HOME/intake); on the intake folder's filesystem, outside it",
    )


def _render_timeout_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--render-timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="give up on a page poppler has not rendered in S seconds (default 120)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attend",
        description="Attendance Intake: issue barcoded attendance sheets, take scans, "
        "mark sheets received, export attendance.",
        epilog="Environment: ATTEND_HOME (data folder, default ./attend-data), "
        "ATTEND_DATABASE_URL (any SQLAlchemy URL; default SQLite in ATTEND_HOME), "
        "ATTEND_AGENCY_NAME (printed on sheets), ATTEND_REVIEW_THRESHOLD (0..1, default 0.95), "
        "ATTEND_WORK_DIR (intake work folders, default ATTEND_HOME/intake).",
    )
    parser.add_argument("--version", action="version", version=f"attend {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log detail; tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(group: Any, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = group.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    add(
        commands,
        "init",
        cmd_init,
        "create the data folder and bring the database schema up to date",
    )

    certificates = commands.add_parser("certificates", help="certificates from the agency's system")
    cert_commands = certificates.add_subparsers(dest="subcommand", required=True, metavar="ACTION")
    p = add(cert_commands, "import", cmd_certificates_import, "import or update certificates (CSV)")
    p.add_argument("file", metavar="FILE.csv")

    sheets = commands.add_parser("sheets", help="issue, list and print attendance sheets")
    sheet_commands = sheets.add_subparsers(dest="subcommand", required=True, metavar="ACTION")
    p = add(sheet_commands, "issue", cmd_sheets_issue, "issue a sheet per active certificate")
    p.add_argument("--month", required=True, metavar="YYYY-MM")
    p = add(sheet_commands, "list", cmd_sheets_list, "list a month's sheets")
    p.add_argument("--month", required=True, metavar="YYYY-MM")
    p.add_argument("--provider", metavar="ID")
    p.add_argument("--json", action="store_true", help="JSON array on standard output")
    p = add(sheet_commands, "print", cmd_sheets_print, "render print-ready PDF sheets")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--month", metavar="YYYY-MM")
    which.add_argument("--serial", metavar="S")
    p.add_argument("--provider", metavar="ID", help="only this provider's sheets (with --month)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE.pdf",
        help="a PDF file, or a folder (ending in /) for one PDF per provider and month",
    )
    p = add(sheet_commands, "layout", cmd_sheets_layout, "print a sheet's layout JSON")
    p.add_argument("--serial", required=True, metavar="S")

    intake = commands.add_parser("intake", help="take scanned sheets in")
    intake_commands = intake.add_subparsers(dest="subcommand", required=True, metavar="ACTION")
    p = add(intake_commands, "run", cmd_intake_run, "process scan files and folders once")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--json", action="store_true", help="the batch report as JSON")
    p = add(
        intake_commands,
        "watch",
        cmd_intake_watch,
        "watch an intake folder: claim stable files, queue their pages, report each batch",
    )
    p.add_argument("dir", metavar="DIR")
    _work_option(p)
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
    _render_timeout_option(p)
    p = add(intake_commands, "worker", cmd_intake_worker, "process queued pages (run N of these)")
    _work_option(p)
    p.add_argument("--id", metavar="NAME", help="worker name in logs (default host:pid)")
    p.add_argument(
        "--lease",
        type=float,
        default=60.0,
        metavar="S",
        help="a job held S seconds without a heartbeat goes to another worker (default 60)",
    )
    p.add_argument("--poll", type=float, default=1.0, metavar="S", help="idle poll (default 1)")
    p.add_argument("--drain", action="store_true", help="stop when no page is left to process")
    p.add_argument("--stats", metavar="FILE.json", help="write what this worker did here")
    _render_timeout_option(p)
    p = add(intake_commands, "report", cmd_intake_report, "a batch's report (default the latest)")
    p.add_argument("--batch", metavar="ID")
    p.add_argument("--json", action="store_true")

    p = add(commands, "status", cmd_status, "was a sheet received, and when")
    p.add_argument("serial", nargs="?", metavar="SERIAL")
    p.add_argument("--certificate", metavar="ID")
    p.add_argument("--month", metavar="YYYY-MM")
    p.add_argument("--json", action="store_true")

    p = add(commands, "export", cmd_export, "a month's attendance as JSON or CSV")
    p.add_argument("--month", required=True, metavar="YYYY-MM")
    p.add_argument("--format", choices=["json", "csv"], default="json")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of standard output")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `attend` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command == "sheets" and args.subcommand == "print" and args.serial and args.provider:
        parser.error("--provider goes with --month, not with --serial")
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"attend: {exc}", file=sys.stderr)
        return int(ExitCode.USAGE)
    handler: Handler = args.handler
    try:
        return int(handler(args, settings))
    except CommandError as exc:
        print(f"attend: {exc.message}", file=sys.stderr)
        return int(exc.code)
    except OperationalError as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"attend: database error: {exc.orig}", file=sys.stderr)
        return int(ExitCode.DATABASE)
    except KeyboardInterrupt:
        print("attend: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"attend: internal error: {type(exc).__name__}: {exc} (run with -v)", file=sys.stderr)
        return int(ExitCode.INTERNAL_ERROR)


if __name__ == "__main__":
    sys.exit(main())
