"""`attend init`, `certificates`, `sheets`, `status`, `notices` and `export`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from attendance import agency_settings, findings, sheet_actions
from attendance.certificates import CertificateImportError, import_certificates
from attendance.db import current_revision, session_scope, upgrade_database
from attendance.errors import ExitCode
from attendance.export import build_export, export_csv, iso_utc, payment_csv
from attendance.months import month_key, parse_month
from attendance.notices import render_notices
from attendance.settings import Settings
from attendance.sheets import issue_sheets, list_sheets, sheet_print
from cli.common import (
    CommandError,
    Commands,
    cli_actor,
    find_sheet_arg,
    month_arg,
    open_engine,
    print_json,
    reviewer_of,
    reviewer_option,
)
from forms.serial import format_serial

# From this schema revision on, review items are one per problem (attendance.findings).
FINDINGS_REVISION = "0007"


def cmd_init(args: argparse.Namespace, settings: Settings) -> ExitCode:
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = open_engine(settings, check_schema=False)
    before = current_revision(engine)
    upgrade_database(engine)
    if before is not None and before < FINDINGS_REVISION:
        # Review items are one per problem from this revision on: apply the rules again so
        # the sheets in review get their findings.
        with session_scope(engine) as session:
            count = findings.reapply_rules(session, actor=cli_actor())
        print(f"rules applied again to {count} sheets in play")
    print(f"database ready: {engine.url.render_as_string(hide_password=True)}")
    print(f"data folder: {settings.home}")
    return ExitCode.OK


def cmd_certificates_import(args: argparse.Namespace, settings: Settings) -> ExitCode:
    path = Path(args.file)
    if not path.is_file():
        raise CommandError(ExitCode.NOT_FOUND, f"no such file: {args.file}")
    engine = open_engine(settings)
    try:
        with session_scope(engine) as session:
            result = import_certificates(session, path, actor=cli_actor())
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
    month = month_arg(args.month)
    engine = open_engine(settings)
    with session_scope(engine) as session:
        result = issue_sheets(session, parse_month(month), actor=cli_actor())
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
    month = month_arg(args.month)
    engine = open_engine(settings)
    with session_scope(engine) as session:
        rows = [
            _sheet_summary(sheet, cert)
            for sheet, cert in list_sheets(session, month=month, provider_id=args.provider)
        ]
    if args.json:
        print_json(rows)
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
    from attendance.ids import UnsafePath, file_in, file_part
    from forms.render import render_sheets

    engine = open_engine(settings)
    out = Path(args.output)
    with session_scope(engine) as session:
        if args.serial:
            sheet = find_sheet_arg(session, args.serial)
            rows = [
                (s, c)
                for s, c in list_sheets(session, certificate_id=sheet.certificate_id)
                if s.id == sheet.id
            ]
        else:
            month = month_arg(args.month)
            rows = list_sheets(session, month=month, provider_id=args.provider)
        if not rows:
            raise CommandError(
                ExitCode.NOT_FOUND, "no sheets to print: issue them first (attend sheets issue)"
            )
        name = agency_settings.agency_name(session, settings.agency_name)
        prints = [sheet_print(session, s, c, agency_name=name) for s, c in rows]

    # A folder (existing, or named with a trailing slash) gets one PDF per provider and month,
    # named by provider id and month only: no child names in file names.
    if out.is_dir() or args.output.endswith(("/", "\\")):
        out.mkdir(parents=True, exist_ok=True)
        groups: dict[tuple[str, str], list[Any]] = {}
        for item in prints:
            groups.setdefault((item.provider_id, month_key(item.month)), []).append(item)
        for (provider_id, month_text), items in sorted(groups.items()):
            # Built from a clean id and checked at write time: data imported before ids were
            # validated (a provider id `../../admin`) still cannot leave the folder.
            try:
                target = file_in(out, f"sheets-{month_text}-{file_part(provider_id)}.pdf")
            except UnsafePath as exc:
                raise CommandError(ExitCode.UNSAFE_CONFIGURATION, str(exc)) from None
            render_sheets(items, target)
            print(f"{target}: {len(items)} sheets")
        return ExitCode.OK
    out.parent.mkdir(parents=True, exist_ok=True)
    render_sheets(prints, out)
    print(f"{out}: {len(prints)} sheets")
    return ExitCode.OK


def cmd_sheets_layout(args: argparse.Namespace, settings: Settings) -> ExitCode:
    from forms.layout import build_layout

    engine = open_engine(settings)
    with session_scope(engine) as session:
        sheet = find_sheet_arg(session, args.serial)
    print_json(
        build_layout(sheet.serial, parse_month(sheet.month), form=sheet.form_version).to_json()
    )
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
    engine = open_engine(settings)
    with session_scope(engine) as session:
        if args.serial:
            sheet = find_sheet_arg(session, args.serial)
            rows = list_sheets(session, certificate_id=sheet.certificate_id, month=sheet.month)
        else:
            month = month_arg(args.month) if args.month else None
            rows = list_sheets(session, certificate_id=args.certificate, month=month)
            if not rows:
                raise CommandError(
                    ExitCode.NOT_FOUND,
                    f"no sheet issued for certificate {args.certificate}"
                    + (f" in {month}" if month else ""),
                )
        summaries = [_sheet_summary(s, c) for s, c in rows]
    if args.json:
        print_json(summaries[0] if args.serial else summaries)
    else:
        for row in summaries:
            print(_status_line(row))
    return ExitCode.OK


def cmd_export(args: argparse.Namespace, settings: Settings) -> ExitCode:
    month = month_arg(args.month)
    engine = open_engine(settings)
    with session_scope(engine) as session:
        data = build_export(session, month)
        if args.mark_exported:
            sheets = [s for s, _ in list_sheets(session, month=month)]
            moved = sheet_actions.mark_exported(session, sheets, actor=cli_actor())
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


def cmd_sheets_return(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = open_engine(settings)
    with session_scope(engine) as session:
        sheet = find_sheet_arg(session, args.serial)
        sheet_actions.return_sheet(session, sheet, actor=reviewer_of(args), reason=args.reason)
        name = agency_settings.agency_name(session, settings.agency_name)
        notice = sheet_actions.returned_notice(session, sheet, agency_name=name)
    if args.notice:
        Path(args.notice).write_bytes(render_notices([notice]))
    print(
        f"{format_serial(notice.serial)} returned: {len(notice.problems)} problems"
        + (f"; notice {args.notice}" if args.notice else "")
    )
    return ExitCode.OK


def cmd_sheets_void(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = open_engine(settings)
    with session_scope(engine) as session:
        sheet = find_sheet_arg(session, args.serial)
        sheet_actions.void_sheet(session, sheet, actor=reviewer_of(args), reason=args.reason)
    print(f"{format_serial(sheet.serial)} void")
    return ExitCode.OK


def cmd_notices(args: argparse.Namespace, settings: Settings) -> ExitCode:
    if bool(args.serial) == bool(args.provider and args.month):
        raise CommandError(ExitCode.USAGE, "give --serial S, or --provider ID --month YYYY-MM")
    engine = open_engine(settings)
    with session_scope(engine) as session:
        if args.serial:
            sheets = [find_sheet_arg(session, args.serial)]
        else:
            sheets = [
                s
                for s, _ in list_sheets(
                    session, month=month_arg(args.month), provider_id=args.provider
                )
            ]
        sheets = [s for s in sheets if s.status == "returned"]
        if not sheets:
            raise CommandError(ExitCode.NOT_FOUND, "no returned sheet to write a notice for")
        name = agency_settings.agency_name(session, settings.agency_name)
        notices = [sheet_actions.returned_notice(session, s, agency_name=name) for s in sheets]
    Path(args.output).write_bytes(render_notices(notices))
    print(f"{args.output}: {len(notices)} returned-sheet notices (English and Spanish)")
    return ExitCode.OK


def register(commands: Commands) -> None:
    """Add these commands to the parser."""
    commands.add(
        commands.top,
        "init",
        cmd_init,
        "create the data folder and bring the database schema up to date",
    )

    cert_commands = commands.group("certificates", "certificates from the agency's system")
    p = commands.add(
        cert_commands, "import", cmd_certificates_import, "import or update certificates (CSV)"
    )
    p.add_argument("file", metavar="FILE.csv")

    sheet_commands = commands.group("sheets", "issue, list and print attendance sheets")
    p = commands.add(
        sheet_commands, "issue", cmd_sheets_issue, "issue a sheet per active certificate"
    )
    p.add_argument("--month", required=True, metavar="YYYY-MM")
    p = commands.add(sheet_commands, "list", cmd_sheets_list, "list a month's sheets")
    p.add_argument("--month", required=True, metavar="YYYY-MM")
    p.add_argument("--provider", metavar="ID")
    p.add_argument("--json", action="store_true", help="JSON array on standard output")
    p = commands.add(sheet_commands, "print", cmd_sheets_print, "render print-ready PDF sheets")
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
    p = commands.add(sheet_commands, "layout", cmd_sheets_layout, "print a sheet's layout JSON")
    p.add_argument("--serial", required=True, metavar="S")

    p = commands.add(sheet_commands, "return", cmd_sheets_return, "return a sheet to its provider")
    p.add_argument("serial", metavar="SERIAL")
    p.add_argument("--reason", metavar="TEXT", help="in your words, printed on the notice")
    p.add_argument("--notice", metavar="FILE.pdf", help="write the returned-sheet notice here")
    reviewer_option(p)
    p = commands.add(sheet_commands, "void", cmd_sheets_void, "void a sheet (it will not be paid)")
    p.add_argument("serial", metavar="SERIAL")
    p.add_argument("--reason", required=True, metavar="TEXT")
    reviewer_option(p)

    p = commands.add(
        commands.top, "notices", cmd_notices, "returned-sheet notices (English and Spanish PDF)"
    )
    p.add_argument("--serial", metavar="S")
    p.add_argument("--provider", metavar="ID")
    p.add_argument("--month", metavar="YYYY-MM")
    p.add_argument("-o", "--output", required=True, metavar="FILE.pdf")

    p = commands.add(commands.top, "status", cmd_status, "was a sheet received, and when")
    p.add_argument("serial", nargs="?", metavar="SERIAL")
    p.add_argument("--certificate", metavar="ID")
    p.add_argument("--month", metavar="YYYY-MM")
    p.add_argument("--json", action="store_true")

    p = commands.add(commands.top, "export", cmd_export, "a month's attendance as JSON or CSV")
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
