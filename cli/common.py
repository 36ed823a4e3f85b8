"""What every command shares: its errors, the engine, argument parsing helpers, the parser."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from attendance.db import SchemaNotCurrent, make_engine, require_current_schema
from attendance.errors import ExitCode
from attendance.models import Sheet
from attendance.months import InvalidMonth, month_key, parse_month
from attendance.settings import Settings
from attendance.sheets import SheetNotFound, find_sheet
from forms.serial import InvalidSerial

if TYPE_CHECKING:
    from intake.reading import Reading

Handler = Callable[[argparse.Namespace, Settings], ExitCode]


class CommandError(Exception):
    """A failure the user can act on, found by the command line itself: one readable line
    and an exit code. (Errors of the packages below carry their kind: attendance.errors.)"""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Commands:
    """The `attend` parser's command groups, each command with its handler."""

    def __init__(self, top: Any) -> None:
        self.top = top  # argparse's sub-parsers action for COMMAND
        self._groups: dict[str, Any] = {}

    def group(self, name: str, help_text: str) -> Any:
        """The sub-parsers of command group `name` (`attend NAME ACTION`)."""
        if name not in self._groups:
            parser = self.top.add_parser(name, help=help_text)
            self._groups[name] = parser.add_subparsers(
                dest="subcommand", required=True, metavar="ACTION"
            )
        return self._groups[name]

    def add(
        self, group: Any, name: str, handler: Handler, help_text: str
    ) -> argparse.ArgumentParser:
        """A command `name` in `group` (a group's sub-parsers, or `top`)."""
        sub: argparse.ArgumentParser = group.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub


def cli_actor() -> str:
    """Who is acting, for the event log: `cli:USER`."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in some containers
        return "cli"


def reviewer_of(args: argparse.Namespace) -> str:
    return str(args.reviewer) if args.reviewer else cli_actor()


def open_engine(settings: Settings, *, check_schema: bool = True) -> Engine:
    """The database engine; refuses (exit 6) a database that is not at this code's schema."""
    engine = make_engine(settings.database_url)
    if check_schema:
        try:
            require_current_schema(engine)
        except SchemaNotCurrent as exc:
            raise CommandError(ExitCode.DATABASE, str(exc)) from None
    return engine


def month_arg(text: str) -> str:
    """A `YYYY-MM` argument, normalised (exit 3 when it is not one)."""
    try:
        return month_key(parse_month(text))
    except InvalidMonth as exc:
        raise CommandError(ExitCode.INVALID_INPUT, str(exc)) from None


def find_sheet_arg(session: Session, serial_text: str) -> Sheet:
    """The sheet a typed serial names: exit 3 when mistyped, 4 when never issued."""
    try:
        return find_sheet(session, serial_text)
    except InvalidSerial as exc:
        raise CommandError(
            ExitCode.INVALID_INPUT, f"invalid serial {serial_text!r}: {exc}"
        ) from None
    except SheetNotFound as exc:
        raise CommandError(ExitCode.NOT_FOUND, str(exc)) from None


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def load_reading(settings: Settings) -> Reading:
    """The digit model and review thresholds, loaded once per command (imported here, not at
    the top: the model's libraries take most of a second to load, and most commands never
    read a page)."""
    from intake.reading import load_reading as load

    return load(settings)


def reviewer_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as", dest="reviewer", metavar="NAME", help="who is acting (default cli:USER)"
    )


def work_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--work",
        metavar="DIR",
        help="processing, archive and quarantine folders (default ATTEND_WORK_DIR, else "
        "ATTEND_HOME/intake); on the intake folder's filesystem, outside it",
    )


def render_timeout_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--render-timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="give up on a page poppler has not rendered in S seconds (default 120)",
    )
