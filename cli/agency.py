"""`attend agency show | set`: the agency's rule settings."""

from __future__ import annotations

import argparse

from sqlmodel import Session

from attendance import agency_settings, findings
from attendance.agency import settable_keys
from attendance.db import session_scope
from attendance.errors import ExitCode
from attendance.settings import Settings
from cli.common import Commands, cli_actor, open_engine, print_json


def cmd_agency_show(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = open_engine(settings)
    with Session(engine) as session:
        data = agency_settings.load_config(session).to_json()
    if args.json:
        print_json(data)
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
    engine = open_engine(settings)
    with session_scope(engine) as session:
        config = agency_settings.load_config(session).with_setting(args.key, args.value)
        findings.change_settings(session, config, actor=cli_actor())
    print(f"{args.key} set; rules applied again to the sheets in play")
    return ExitCode.OK


def register(commands: Commands) -> None:
    """Add these commands to the parser."""
    agency_commands = commands.group("agency", "the agency's rule settings")
    p = commands.add(agency_commands, "show", cmd_agency_show, "show the rule settings")
    p.add_argument("--json", action="store_true")
    p = commands.add(agency_commands, "set", cmd_agency_set, "change one setting")
    p.add_argument("key", metavar="KEY", help=", ".join(settable_keys()))
    p.add_argument("value", metavar="VALUE")
