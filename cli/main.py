"""The `attend` entry point: the parser, settings from the environment, errors to exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence

from sqlalchemy.exc import OperationalError

from attendance import __version__
from attendance.errors import ExitCode, error_kind
from attendance.settings import Settings, variable
from cli import agency, intake, review, sheets
from cli.common import CommandError, Commands, Handler


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attend",
        description="Attendance Intake: issue barcoded attendance sheets, take scans, "
        "mark sheets received, export attendance.",
        epilog="Environment: "
        + "; ".join(
            f"{variable(name)} ({field.description})"
            for name, field in Settings.model_fields.items()
        )
        + ".",
    )
    parser.add_argument("--version", action="version", version=f"attend {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log detail; tracebacks")
    commands = Commands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    for area in (sheets, intake, review, agency):
        area.register(commands)
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
    except KeyboardInterrupt:
        print("attend: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.verbose:
            traceback.print_exc()
        kind = error_kind(exc)
        if kind is None:
            print(
                f"attend: internal error: {type(exc).__name__}: {exc} (run with -v)",
                file=sys.stderr,
            )
            return int(ExitCode.INTERNAL_ERROR)
        # Messages of the packages below carry no personal data (attendance.errors).
        message = f"database error: {exc.orig}" if isinstance(exc, OperationalError) else exc
        print(f"attend: {message}", file=sys.stderr)
        return int(kind.exit_code)


if __name__ == "__main__":
    sys.exit(main())
