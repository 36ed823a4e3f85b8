"""The review queue worked from the command line, on real scans: `attend review`, returning a
sheet with its notice, the payment export and the agency settings."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from fixtures.scanbatch import tear_off_identity, write_image
from forms.serial import format_serial
from scanner.load import load_pages
from scanner.simulate import simulate_scan
from tests.conftest import MONTH, Cli


def _printed(cli: Cli, tmp_path: Path) -> tuple[list[np.ndarray], list[str]]:
    pdf = tmp_path / "all.pdf"
    cli.ok("sheets", "print", "--month", MONTH, "-o", str(pdf))
    serials = [
        r["serial"] for r in json.loads(cli.ok("sheets", "list", "--month", MONTH, "--json"))
    ]
    return [p.image.copy() for p in load_pages(pdf, dpi=200)], serials


def _items(cli: Cli, *extra: str) -> list[dict[str, Any]]:
    return list(json.loads(cli.ok("review", "next", "--limit", "500", "--json", *extra)))


def test_the_queue_is_worked_from_the_command_line(issued_cli: Cli, tmp_path: Path) -> None:
    """GIVEN a blank sheet scanned with its QR code torn off and another scanned whole, with a
    QA sample rate of 50 %
    WHEN a reviewer works the queue from the command line
    THEN the torn page is identified by its serial (a mistyped one refused) and read; a red
    flag cannot be accepted without a reason; a stale version and another reviewer's claim
    are conflicts (exit 8); returning a sheet writes a notice in English and Spanish; the
    payment export shows it unpaid; the QA report counts the reviewed sample."""
    cli = issued_cli
    cli.ok("agency", "set", "qa_sample_rate", "0.5")
    cli.ok("agency", "set", "qa_batch_cap", "100")
    pages, serials = _printed(cli, tmp_path)
    torn, whole = tmp_path / "torn.png", tmp_path / "whole.png"
    write_image(simulate_scan(tear_off_identity(pages[0], 200), rotate=180, seed=4), torn, 200)
    write_image(simulate_scan(pages[1], rotate=0, seed=5), whole, 200)
    cli.ok("intake", "run", str(torn), str(whole))

    items = _items(cli)
    unidentified = [i for i in items if i["kind"] == "unidentified_page"]
    assert len(unidentified) == 1
    assert unidentified[0] == items[0], "an unidentified page is due the day it arrived: first"
    # The suggestions: the same provider's sheets of the month not yet received.
    assert serials[0] in unidentified[0]["suggestions"]
    item = str(unidentified[0]["id"])
    mistyped = serials[0][:-1] + ("A" if serials[0][-1] != "A" else "B")
    assert cli("review", "identify", item, mistyped).code == 3
    out = cli.ok("review", "identify", item, format_serial(serials[0]))
    assert "identified as" in out
    status = json.loads(cli.ok("status", serials[0], "--json"))
    assert status["received_at"] is not None and status["status"] == "in_review"

    # Blank sheets are unsigned: both signatures are red findings, each its own item.
    items = _items(cli)
    red = [i for i in items if i["kind"] == "finding" and i["serial"] == serials[1]]
    codes = {i["flag_code"] for i in red}
    assert {"parent_signature_missing", "provider_signature_missing"} <= codes
    parent = next(i for i in red if i["flag_code"] == "parent_signature_missing")
    assert cli("review", "accept", str(parent["id"])).code == 3
    assert cli("review", "correct", str(parent["id"]), "signed").code == 3

    # One screen per sheet: the sheet's items, claimed together, top to bottom (sheet-wide
    # problems first, then the days, then the signatures).
    screen = json.loads(cli.ok("review", "sheet", format_serial(serials[1]), "--json"))
    assert screen["serial"] == serials[1]
    listed = [i["id"] for i in screen["items"]]
    assert sorted(listed) == sorted(i["id"] for i in items if i["serial"] == serials[1])
    assert [i["flag_code"] for i in screen["items"][-2:]] == [
        "parent_signature_missing",
        "provider_signature_missing",
    ]
    stats = json.loads(cli.ok("review", "stats", "--json"))
    assert stats["sheets_received"] == 2 and stats["sheets_needing_review"] == 2
    assert stats["open_items"] == len(items)
    assert stats["decisions"] == len([i for i in items if i["kind"] != "qa_sample"])
    assert sum(stats["by_kind"].values()) == stats["open_items"]

    # A QA item: a stale version is refused, the right one saved.
    qa = next(i for i in items if i["kind"] == "qa_sample" and i["field_kind"] == "time")
    version = qa["version"]
    assert cli("review", "correct", str(qa["id"]), "08:15", "--version", str(version + 3)).code == 8
    cli.ok("review", "correct", str(qa["id"]), "08:15", "--version", str(version))
    report = json.loads(cli.ok("review", "qa", "--json"))
    assert report["sample_rate"] == 0.5 and report["sampled"] > 10
    assert report["by_kind"]["time"]["reviewed"] == 1 and report["by_kind"]["time"]["wrong"] == 1

    # Another reviewer's live claim is theirs.
    held = _items(cli, "--as", "alice")
    assert held, "alice claims what is left"
    assert cli("review", "accept", str(held[0]["id"]), "--as", "bob").code == 8
    assert _items(cli, "--as", "bob") == [], "nothing free: alice holds every open item"
    cli.ok("review", "release", str(held[0]["id"]), "--as", "alice")
    assert [i["id"] for i in _items(cli, "--as", "bob")] == [held[0]["id"]]

    # Return the unsigned sheet with a notice.
    notice = tmp_path / "notice.pdf"
    cli.ok("sheets", "return", serials[1], "--reason", "Please sign.", "--notice", str(notice))
    assert json.loads(cli.ok("status", serials[1], "--json"))["status"] == "returned"
    text = subprocess.run(
        ["pdftotext", "-layout", str(notice), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert format_serial(serials[1]) in text
    assert "parent" in text.lower() and "firma" in text.lower() and "Please sign." in text
    batch = tmp_path / "batch.pdf"
    assert "1 returned-sheet notices" in cli.ok(
        "notices", "--provider", "P-100", "--month", MONTH, "-o", str(batch)
    )
    assert cli("notices", "--serial", serials[2], "-o", str(batch)).code == 4

    rows = list(
        csv.DictReader(io.StringIO(cli.ok("export", "--month", MONTH, "--format", "payments")))
    )
    row = next(r for r in rows if r["serial"] == serials[1])
    assert row["status"] == "returned" and row["payable"] == "false"
    assert "parent_signature_missing" in row["red_flags"]
    assert float(row["certified_hours"]) > 0 and row["attended_hours"] == "0"

    # Every decision is in the event log.
    assert cli("agency", "set", "holidays", "2026-13-01").code == 3
    cli.ok("agency", "set", "holidays", "2026-11-26,2026-11-27")
    shown = json.loads(cli.ok("agency", "show", "--json"))
    assert shown["holidays"] == ["2026-11-26", "2026-11-27"] and shown["qa_sample_rate"] == 0.5
