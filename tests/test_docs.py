"""The README documents every command, exit code and environment variable."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from attendance.errors import ExitCode
from attendance.settings import Settings, variable
from cli.main import build_parser
from scanner.errors import Reason

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _commands(parser: argparse.ArgumentParser, prefix: str = "attend") -> list[str]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = _commands(sub, f"{prefix} {name}")
                found.extend(nested or [f"{prefix} {name}"])
    return found


def test_every_command_is_documented() -> None:
    commands = _commands(build_parser())
    assert "attend intake run" in commands and "attend sheets layout" in commands
    for command in commands:
        assert f"`{command}" in README, command


def test_every_exit_code_and_reason_is_documented() -> None:
    for code in ExitCode:
        assert re.search(rf"^\| {code.value} \|", README, re.MULTILINE), code
    for reason in Reason:
        assert f"`{reason.value}`" in README, reason


def test_every_environment_variable_is_a_setting_and_documented() -> None:
    """Every ATTEND_ variable the program reads is a field of the one Settings object, and
    every field has its row in the README's environment table."""
    repo = Path(__file__).resolve().parent.parent
    fields = {variable(name) for name in Settings.model_fields}
    assert {"ATTEND_HOME", "ATTEND_DATABASE_URL", "ATTEND_CLOCK_SHIFT_S"} <= fields
    for name in fields:
        assert f"| `{name}` |" in README, name
    mentioned = set()
    for package in ("attendance", "forms", "scanner", "intake", "review_ui", "cli"):
        for path in (repo / package).rglob("*.py"):
            mentioned |= set(re.findall(r"\b(ATTEND_[A-Z_]+[A-Z])\b", path.read_text()))
    mentioned.discard("ATTEND_")
    assert mentioned <= fields, mentioned - fields
    documented = set(re.findall(r"^\| `(ATTEND_[A-Z_]+)` \|", README, re.MULTILINE))
    assert documented == fields


def test_every_flag_code_and_agency_setting_is_documented() -> None:
    from attendance.agency import settable_keys
    from attendance.flags import FLAG_CODES

    for code, flag in FLAG_CODES.items():
        row = f"| `{code}` | {flag.severity.value} | {flag.disposition.value} | {flag.meaning} |"
        assert row in README, code
    assert "| `disposition.CODE` |" in README
    for key in settable_keys():
        if not key.startswith("disposition."):
            assert f"| `{key}` |" in README, key
