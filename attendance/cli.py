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
from sqlmodel import Session, select

from attendance import __version__, review
from attendance.agency import InvalidSetting, settable_keys
from attendance.certificates import CertificateImportError, import_certificates
from attendance.db import (
    SchemaNotCurrent,
    make_engine,
    require_current_schema,
    session_scope,
    upgrade_database,
)
from attendance.evidence import EvidenceMissing
from attendance.export import build_export, export_csv, iso_utc, payment_csv
from attendance.months import InvalidMonth, month_key, parse_month
from attendance.notices import render_notices
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
    CONFLICT = 8


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
        name = review.agency_name(session, settings.agency_name)
        prints = [sheet_print(session, s, c, agency_name=name) for s, c in rows]

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
    from intake.reading import load_reading

    return load_reading(settings)


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
            jobs=args.jobs or default_jobs(),
            database_url=settings.database_url,
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
        if args.mark_exported:
            sheets = [s for s, _ in list_sheets(session, month=month)]
            moved = review.mark_exported(session, sheets, actor=_actor())
            print(f"{moved} verified sheets marked exported", file=sys.stderr)
    if args.format == "json":
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    elif args.format == "payments":
        text = payment_csv(data)
    else:
        text = export_csv(data)
    if args.output and args.output != "-":
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"{args.output}: {len(data['sheets'])} sheets", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return ExitCode.OK


# --- review -------------------------------------------------------------------------------


def _reviewer(args: argparse.Namespace) -> str:
    return str(args.reviewer) if args.reviewer else _actor()


@contextlib.contextmanager
def _review_errors() -> Iterator[None]:
    """Review errors as one line and an exit code; no personal data is in their messages."""
    try:
        yield
    except (review.ItemNotFound, EvidenceMissing, SheetNotFound) as exc:
        raise CommandError(ExitCode.NOT_FOUND, str(exc)) from exc
    except InvalidSerial as exc:
        raise CommandError(ExitCode.INVALID_INPUT, str(exc)) from exc
    except (review.ItemHeld, review.VersionConflict) as exc:
        raise CommandError(ExitCode.CONFLICT, str(exc)) from exc
    except (review.InvalidValue, review.NotAllowed, InvalidSetting) as exc:
        raise CommandError(ExitCode.INVALID_INPUT, str(exc)) from exc


def _item_line(view: review.ItemView) -> str:
    where = " ".join(
        part
        for part in (
            format_serial(view.serial) if view.serial else None,
            view.field_name or view.flag_code,
            view.date.strftime("%a %Y-%m-%d") if view.date else None,
        )
        if part
    )
    if view.field_name:
        what = f"machine {view.machine_value or 'blank'}"
        if view.confidence is not None:
            what += f" ({view.confidence:.2f}{', ' + view.reason if view.reason else ''})"
        if view.value != view.machine_value:
            what += f", now {view.value or 'blank'}"
        if view.authorized:
            what += f"; authorized {view.authorized}"
        if view.other_time:
            what += f"; other time {view.other_time}"
        what += f"; version {view.version}"
    elif view.flag_code:
        what = f"[{view.severity}] {view.message}"
    elif view.suggestions:
        what = "suggestions: " + ", ".join(format_serial(s) for s in view.suggestions)
    else:
        what = ""
    return f"#{view.id:<6} {view.kind:<17} due {view.deadline}  {where}  {what}".rstrip()


def _group(text: str | None) -> tuple[str, str | None] | None:
    if not text:
        return None
    kind, _, value = text.partition(":")
    if kind not in ("time", "mark", "signature") or not _:
        raise CommandError(ExitCode.USAGE, "--group is KIND:VALUE, e.g. time:07:30 or mark:blank")
    return kind, None if value in ("", "blank") else value


def cmd_review_next(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = _engine(settings)
    ids = review.claim_items(
        engine, reviewer=_reviewer(args), limit=args.limit, group=_group(args.group)
    )
    with Session(engine) as session:
        views = [review.describe_item(session, i) for i in ids]
    if args.json:
        _print_json([v.to_json() for v in views])
    elif not views:
        print("the review queue is empty")
    else:
        for view in views:
            print(_item_line(view))
    return ExitCode.OK


def cmd_review_show(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = _engine(settings)
    with _review_errors(), Session(engine) as session:
        view = review.describe_item(session, args.item)
        if args.crop:
            Path(args.crop).write_bytes(review.item_evidence_png(session, args.item))
    if args.json:
        _print_json(view.to_json())
    else:
        print(_item_line(view))
    return ExitCode.OK


def _decision_line(decision: review.Decision) -> str:
    value = f" -> {decision.value or 'blank'}" if decision.resolution == "corrected" else ""
    return f"#{decision.item_id} {decision.resolution}{value}; sheet {decision.sheet_status}"


def cmd_review_accept(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = _engine(settings)
    with _review_errors():
        if len(args.items) == 1:
            decisions = [
                review.accept_item(
                    engine,
                    args.items[0],
                    reviewer=_reviewer(args),
                    version=args.version,
                    reason=args.reason,
                )
            ]
        else:
            if args.version is not None:
                raise CommandError(ExitCode.USAGE, "--version goes with one item")
            decisions = review.accept_items(
                engine, args.items, reviewer=_reviewer(args), reason=args.reason
            )
    for decision in decisions:
        print(_decision_line(decision))
    return ExitCode.OK


def cmd_review_correct(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = _engine(settings)
    with _review_errors():
        decision = review.correct_item(
            engine,
            args.item,
            args.value,
            reviewer=_reviewer(args),
            version=args.version,
            reason=args.reason,
        )
    print(_decision_line(decision))
    return ExitCode.OK


def cmd_review_key(args: argparse.Namespace, settings: Settings) -> ExitCode:
    values = {}
    for pair in args.values:
        name, sep, value = pair.partition("=")
        if not sep:
            raise CommandError(ExitCode.USAGE, f"{pair!r} is not FIELD=VALUE")
        values[name.strip()] = value
    engine = _engine(settings)
    with _review_errors():
        decision = review.correct_page(
            engine, args.item, values, reviewer=_reviewer(args), reason=args.reason
        )
    print(_decision_line(decision))
    return ExitCode.OK


def cmd_review_identify(args: argparse.Namespace, settings: Settings) -> ExitCode:
    from intake.identify import identify_item

    engine = _engine(settings)
    reading = _reading(settings)
    with _review_errors():
        decision = identify_item(
            engine,
            args.item,
            args.serial,
            reviewer=_reviewer(args),
            store_dir=settings.store_dir,
            reading=reading,
            model_version=reading.reader.version,
        )
    print(
        f"#{decision.item_id} identified as {format_serial(decision.value or '')}; "
        f"sheet {decision.sheet_status}"
    )
    return ExitCode.OK


def cmd_review_release(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = _engine(settings)
    with _review_errors():
        review.release_item(engine, args.item, reviewer=_reviewer(args))
    print(f"#{args.item} back in the queue")
    return ExitCode.OK


def cmd_review_groups(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = _engine(settings)
    with Session(engine) as session:
        found = review.groups(session, minimum=args.minimum)
    if args.json:
        _print_json(
            [
                {"field_kind": g.field_kind, "machine_value": g.machine_value, "count": g.count}
                for g in found
            ]
        )
    else:
        for g in found:
            print(f"{g.count:>5}  {g.field_kind}:{g.machine_value or 'blank'}")
    return ExitCode.OK


def cmd_review_qa(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = _engine(settings)
    with Session(engine) as session:
        report = review.qa_report(session)
    if args.json:
        _print_json(report)
        return ExitCode.OK
    print(
        f"QA sample rate {report['sample_rate']:.1%}: {report['sampled']} fields drawn, "
        f"{report['reviewed']} reviewed"
    )
    for kind, row in report["by_kind"].items():
        rate = "n/a" if row["error_rate"] is None else f"{row['error_rate']:.2%}"
        low, high = row["error_95"]
        print(
            f"  {kind:<10} {row['wrong']}/{row['reviewed']} wrong = {rate} "
            f"(95% interval {low:.2%} to {high:.2%})"
        )
    return ExitCode.OK


# --- returning, voiding, notices, agency settings ------------------------------------------


def cmd_sheets_return(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = _engine(settings)
    with _review_errors(), session_scope(engine) as session:
        sheet = _find(session, args.serial)
        review.return_sheet(session, sheet, actor=_reviewer(args), reason=args.reason)
        name = review.agency_name(session, settings.agency_name)
        notice = review.returned_notice(session, sheet, agency_name=name)
    if args.notice:
        Path(args.notice).write_bytes(render_notices([notice]))
    print(
        f"{format_serial(notice.serial)} returned: {len(notice.problems)} problems"
        + (f"; notice {args.notice}" if args.notice else "")
    )
    return ExitCode.OK


def cmd_sheets_void(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = _engine(settings)
    with _review_errors(), session_scope(engine) as session:
        sheet = _find(session, args.serial)
        review.void_sheet(session, sheet, actor=_reviewer(args), reason=args.reason)
    print(f"{format_serial(sheet.serial)} void")
    return ExitCode.OK


def cmd_notices(args: argparse.Namespace, settings: Settings) -> ExitCode:
    if bool(args.serial) == bool(args.provider and args.month):
        raise CommandError(ExitCode.USAGE, "give --serial S, or --provider ID --month YYYY-MM")
    engine = _engine(settings)
    with session_scope(engine) as session:
        if args.serial:
            sheets = [_find(session, args.serial)]
        else:
            sheets = [
                s
                for s, _ in list_sheets(
                    session, month=_month(args.month), provider_id=args.provider
                )
            ]
        sheets = [s for s in sheets if s.status == "returned"]
        if not sheets:
            raise CommandError(ExitCode.NOT_FOUND, "no returned sheet to write a notice for")
        name = review.agency_name(session, settings.agency_name)
        notices = [review.returned_notice(session, s, agency_name=name) for s in sheets]
    Path(args.output).write_bytes(render_notices(notices))
    print(f"{args.output}: {len(notices)} returned-sheet notices (English and Spanish)")
    return ExitCode.OK


def cmd_agency_show(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = _engine(settings)
    with Session(engine) as session:
        data = review.load_config(session).to_json()
    if args.json:
        _print_json(data)
    else:
        for key in settable_keys():
            if key.startswith("absence_limits."):
                value = data["absence_limits"].get(key.split(".", 1)[1])
                shown = "unlimited" if value is None else str(value)
            elif key == "holidays":
                shown = ",".join(data["holidays"]) or "(none)"
            else:
                shown = str(data[key]) if data[key] != "" else "(not set)"
            print(f"{key:<30} {shown}")
    return ExitCode.OK


def cmd_agency_set(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = _engine(settings)
    with _review_errors(), session_scope(engine) as session:
        config = review.load_config(session).with_setting(args.key, args.value)
        review.save_config(session, config, actor=_actor())
    print(f"{args.key} set; rules applied again to the sheets in play")
    return ExitCode.OK


# --- parser -----------------------------------------------------------------------------

Handler = Callable[[argparse.Namespace, Settings], ExitCode]


def _reviewer_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as", dest="reviewer", metavar="NAME", help="who is acting (default cli:USER)"
    )


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


def cmd_review_serve(args: argparse.Namespace, settings: Settings) -> ExitCode:
    import ipaddress

    _engine(settings)  # the schema must be current before the server starts
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback and not args.behind_https:
        raise CommandError(
            ExitCode.UNSAFE_CONFIGURATION,
            f"refusing to serve on {args.host} over plain http: passwords and session cookies "
            "would cross the network in clear. Put it behind an https proxy and pass "
            "--behind-https, or serve on 127.0.0.1",
        )
    from review_ui.app import serve

    print(f"attend: serving on http://{args.host}:{args.port}/ (Ctrl-C to stop)", file=sys.stderr)
    serve(settings, host=args.host, port=args.port, secure_cookies=args.behind_https)
    return ExitCode.OK


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise CommandError(ExitCode.USAGE, "no terminal to ask for the password: --password-stdin")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise CommandError(ExitCode.INVALID_INPUT, "the two passwords differ")
    return first


def cmd_users_add(args: argparse.Namespace, settings: Settings) -> ExitCode:
    from review_ui.auth import InvalidUser, add_user

    password = _read_password(args)
    engine = _engine(settings)
    try:
        with session_scope(engine) as session:
            user = add_user(
                session,
                username=args.username,
                password=password,
                role=args.role,
                provider_id=args.provider,
                display_name=args.name or "",
                actor=_actor(),
            )
            name, role = user.username, user.role
    except InvalidUser as exc:
        raise CommandError(ExitCode.INVALID_INPUT, str(exc)) from None
    print(f"attend: user {name} added ({role})", file=sys.stderr)
    return ExitCode.OK


def cmd_users_list(args: argparse.Namespace, settings: Settings) -> ExitCode:
    from attendance.models import User

    engine = _engine(settings)
    with session_scope(engine) as session:
        rows = [
            {
                "username": u.username,
                "role": u.role,
                "provider_id": u.provider_id,
                "display_name": u.display_name,
                "active": u.active,
            }
            for u in session.exec(select(User).order_by(User.username)).all()
        ]
    if args.json:
        _print_json(rows)
    else:
        for row in rows:
            state = "" if row["active"] else "  (inactive)"
            provider = f"  provider {row['provider_id']}" if row["provider_id"] else ""
            print(f"{row['username']:<24} {row['role']:<9}{provider}{state}")
    return ExitCode.OK


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
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="processes reading pages (default: the machine's cores)",
    )
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

    p = add(sheet_commands, "return", cmd_sheets_return, "return a sheet to its provider")
    p.add_argument("serial", metavar="SERIAL")
    p.add_argument("--reason", metavar="TEXT", help="in your words, printed on the notice")
    p.add_argument("--notice", metavar="FILE.pdf", help="write the returned-sheet notice here")
    _reviewer_option(p)
    p = add(sheet_commands, "void", cmd_sheets_void, "void a sheet (it will not be paid)")
    p.add_argument("serial", metavar="SERIAL")
    p.add_argument("--reason", required=True, metavar="TEXT")
    _reviewer_option(p)

    review_parser = commands.add_parser("review", help="work the review queue")
    review_commands = review_parser.add_subparsers(
        dest="subcommand", required=True, metavar="ACTION"
    )
    p = add(review_commands, "next", cmd_review_next, "claim the next items of the queue")
    p.add_argument("--limit", type=int, default=5, metavar="N", help="items to claim (5)")
    p.add_argument(
        "--group",
        metavar="KIND:VALUE",
        help="only field items the machine read as VALUE (time:07:30, mark:blank)",
    )
    p.add_argument("--json", action="store_true")
    _reviewer_option(p)
    p = add(review_commands, "show", cmd_review_show, "one item, and its evidence image")
    p.add_argument("item", type=int, metavar="ITEM")
    p.add_argument("--crop", metavar="FILE.png", help="write the field's evidence crop here")
    p.add_argument("--json", action="store_true")
    p = add(review_commands, "accept", cmd_review_accept, "confirm items as they are")
    p.add_argument("items", type=int, nargs="+", metavar="ITEM")
    p.add_argument("--version", type=int, metavar="N", help="the field version you looked at")
    p.add_argument("--reason", metavar="TEXT", help="needed to accept a red flag")
    _reviewer_option(p)
    p = add(review_commands, "correct", cmd_review_correct, "give a field its right value")
    p.add_argument("item", type=int, metavar="ITEM")
    p.add_argument("value", metavar="VALUE", help="07:30, 7:30pm, blank, marked, signed")
    p.add_argument("--version", type=int, metavar="N", help="the field version you looked at")
    p.add_argument("--reason", metavar="TEXT")
    _reviewer_option(p)
    p = add(review_commands, "key", cmd_review_key, "key a page that could not be registered")
    p.add_argument("item", type=int, metavar="ITEM")
    p.add_argument("values", nargs="*", metavar="FIELD=VALUE", help="unnamed fields are blank")
    p.add_argument("--reason", metavar="TEXT")
    _reviewer_option(p)
    p = add(review_commands, "identify", cmd_review_identify, "say which sheet a page is")
    p.add_argument("item", type=int, metavar="ITEM")
    p.add_argument("serial", metavar="SERIAL")
    _reviewer_option(p)
    p = add(review_commands, "release", cmd_review_release, "give a claimed item back")
    p.add_argument("item", type=int, metavar="ITEM")
    _reviewer_option(p)
    p = add(review_commands, "groups", cmd_review_groups, "machine readings shared by items")
    p.add_argument("--minimum", type=int, default=2, metavar="N")
    p.add_argument("--json", action="store_true")
    p = add(review_commands, "qa", cmd_review_qa, "the measured error of auto-accepted fields")
    p.add_argument("--json", action="store_true")
    p = add(
        review_commands, "serve", cmd_review_serve, "run the web app (review, mailroom, look-up)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (8080)")
    p.add_argument(
        "--behind-https",
        action="store_true",
        help="an https proxy is in front: cookies are Secure; allows a non-loopback --host",
    )

    users = commands.add_parser("users", help="web app users and their roles")
    user_commands = users.add_subparsers(dest="subcommand", required=True, metavar="ACTION")
    p = add(user_commands, "add", cmd_users_add, "add a user (the first admin, say)")
    p.add_argument("username", metavar="USERNAME")
    p.add_argument("--role", required=True, choices=["admin", "mailroom", "reviewer", "provider"])
    p.add_argument("--provider", metavar="ID", help="the provider a provider user belongs to")
    p.add_argument("--name", metavar="TEXT", help="the name shown in the app")
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    p = add(user_commands, "list", cmd_users_list, "list users and roles")
    p.add_argument("--json", action="store_true")

    p = add(commands, "notices", cmd_notices, "returned-sheet notices (English and Spanish PDF)")
    p.add_argument("--serial", metavar="S")
    p.add_argument("--provider", metavar="ID")
    p.add_argument("--month", metavar="YYYY-MM")
    p.add_argument("-o", "--output", required=True, metavar="FILE.pdf")

    agency = commands.add_parser("agency", help="the agency's rule settings")
    agency_commands = agency.add_subparsers(dest="subcommand", required=True, metavar="ACTION")
    p = add(agency_commands, "show", cmd_agency_show, "show the rule settings")
    p.add_argument("--json", action="store_true")
    p = add(agency_commands, "set", cmd_agency_set, "change one setting")
    p.add_argument("key", metavar="KEY", help=", ".join(settable_keys()))
    p.add_argument("value", metavar="VALUE")

    p = add(commands, "status", cmd_status, "was a sheet received, and when")
    p.add_argument("serial", nargs="?", metavar="SERIAL")
    p.add_argument("--certificate", metavar="ID")
    p.add_argument("--month", metavar="YYYY-MM")
    p.add_argument("--json", action="store_true")

    p = add(commands, "export", cmd_export, "a month's attendance as JSON or CSV")
    p.add_argument("--month", required=True, metavar="YYYY-MM")
    p.add_argument(
        "--format",
        choices=["json", "csv", "payments"],
        default="json",
        help="payments: one row per sheet for the payment unit",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of standard output")
    p.add_argument(
        "--mark-exported",
        action="store_true",
        help="verified sheets of the month become exported (logged)",
    )
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
