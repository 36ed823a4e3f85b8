"""Reviewer load on a realistic month: what the queue asks of a person, and a scripted
reviewer working all of it in Chromium with the keyboard.

1. Generates a month (`fixtures.month`: certificates of every schedule and provider type,
   sheets that follow their schedules with human drift, absences with and without a reason,
   planted problems with their truth) and runs the real intake with `attend` commands.
2. Prints per received sheet (mean, median, max): open review items by kind; decisions a
   person must make (fields + flags + pages; without and with the QA sample); the share of
   written time fields sent to review; the error among auto-accepted fields by kind
   (export JSON against the truth); and how each problem in the truth ended.
3. Starts `attend review serve`, logs a reviewer in to Chromium (Debian's, headless, driven by
   Playwright) and works the whole queue with the keyboard only, answering from the truth;
   prints keystrokes and seconds per sheet (the wall time of the loop, server plus client, no
   think time) and how many exported values are wrong afterwards.

    .venv/bin/python scripts/bench_review.py [--sheets 40] [--seed 1] [--month 2026-11]
        [--json FILE] [--keep DIR] [--no-browser]

Adapting it to a new review model: the queue is read in `read_queue` (one row per open
decision) and the page is worked by a strategy class (`QueuePageReviewer`, today's `/review`
page, one item at a time); a one-screen-per-sheet page gets a strategy of its own, chosen
with `--reviewer`. Flag dispositions are read from the export (`flags[].disposition`) when
the export carries them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fixtures.fill import SheetTruth  # noqa: E402
from fixtures.month import (  # noqa: E402
    Attend,
    MonthRun,
    Problem,
    ScannedSheet,
    export,
    receipt_moment,
    run_month,
)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium on a closed network: no background connections, no sandbox (root in CI).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REVIEWER, PASSWORD = "bench-reviewer", "bench-review-password-1"
KINDS = ("field", "finding", "flag", "qa_sample", "unidentified_page", "unregistered_page")
# A person decides these about a sheet: a finding (one flag code on a sheet, its days inside),
# or, before findings, a flag on one day.
PROBLEM_KINDS = ("finding", "flag")
WEEK_CODES = ("weekly_hours_over", "weekly_hours_inconsistent")
SIGNATURE_CODES = {
    "parent_signature_missing": "signature.parent",
    "provider_signature_missing": "signature.provider",
}


# --- reading the system's state --------------------------------------------------------------


@dataclass(frozen=True)
class QueueItem:
    """One review item: its kind, the sheet (when known), and what it is about."""

    id: int
    kind: str
    state: str
    resolution: str | None
    resolved_by: str | None
    serial: str | None
    file_sha256: str | None
    field_name: str | None
    flag_code: str | None
    flag_day: str | None


def _connect(home: Path) -> sqlite3.Connection:
    """A read-only connection: the benchmark never writes, and never holds the writer's lock."""
    uri = f"file:{home / 'attend.sqlite3'}?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=30)


def read_queue(home: Path) -> list[QueueItem]:
    """Every review item, open and done: one row per field or page, and per day of a finding
    (one item, several rows with the same id: count items by id)."""
    findings = (
        ""
        if not _has_findings(home)
        else "OR (g.sheet_id = i.sheet_id AND g.code = i.finding_code)"
    )
    sql = f"""
        SELECT i.id, i.kind, i.state, i.resolution, i.resolved_by, s.serial, f.sha256,
               r.field_name, g.code, g.day
        FROM review_items i
        LEFT JOIN sheets s ON s.id = i.sheet_id
        LEFT JOIN scanned_pages p ON p.id = i.page_id
        LEFT JOIN scanned_files f ON f.id = p.file_id
        LEFT JOIN field_readings r ON r.id = i.reading_id
        LEFT JOIN sheet_flags g ON g.id = i.flag_id {findings}
        ORDER BY i.id
    """
    with _connect(home) as db:
        return [QueueItem(*row) for row in db.execute(sql).fetchall()]


def _has_findings(home: Path) -> bool:
    """Whether the schema has findings (review_items.finding_code; before 0.4 it had not)."""
    with _connect(home) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(review_items)")}
    return "finding_code" in columns


def current_values(home: Path, serial: str) -> dict[str, str | None]:
    """The values that count now on the sheet's record page (reviewer's, else machine's)."""
    sql = """
        SELECT r.field_name, r.machine_value, r.final_value, r.reviewed
        FROM field_readings r
        JOIN sheets s ON s.id = r.sheet_id
        JOIN scanned_pages p ON p.id = r.page_id
        JOIN scanned_files f ON f.id = p.file_id
        WHERE s.serial = ? AND f.sha256 = s.source_file_sha256 AND p.page_number = s.source_page
    """
    with _connect(home) as db:
        rows = db.execute(sql, (serial,)).fetchall()
    return {name: (final if reviewed else machine) for name, machine, final, reviewed in rows}


def item_page_sha(home: Path, item_id: int) -> str | None:
    sql = """
        SELECT f.sha256 FROM review_items i JOIN scanned_pages p ON p.id = i.page_id
        JOIN scanned_files f ON f.id = p.file_id WHERE i.id = ?
    """
    with _connect(home) as db:
        row = db.execute(sql, (item_id,)).fetchone()
    return str(row[0]) if row else None


# --- the truth -------------------------------------------------------------------------------


def truth_value(truth: SheetTruth, name: str) -> str | None:
    """A field's true value in the form the program stores (a blacked-out box is not marked)."""
    if name in truth.times:
        return truth.times[name].time
    if name in truth.signatures:
        return "signed" if truth.signatures[name] else None
    return "marked" if truth.marks.get(name) == "marked" else None


def _shown(value: str | None) -> str | None:
    """A stored value as it counts for the truth ("cancelled": the box is not marked)."""
    return None if value in (None, "cancelled") else value


def truth_absence(truth: SheetTruth, day: int) -> str | None:
    """The day's absence code as written (the generator ticks at most one reason a day)."""
    prefix = f"day.{day:02d}.absence."
    codes = sorted(
        k[len(prefix) :] for k, v in truth.marks.items() if k.startswith(prefix) and v == "marked"
    )
    return "+".join(codes) or None


# --- statistics ------------------------------------------------------------------------------


def spread(values: Sequence[float]) -> dict[str, float]:
    """mean, median and max of per-sheet figures."""
    if not values:
        return {"mean": 0.0, "median": 0.0, "max": 0.0}
    return {
        "mean": round(statistics.fmean(values), 2),
        "median": round(float(statistics.median(values)), 2),
        "max": round(float(max(values)), 2),
    }


def _sheet_of(item: QueueItem, by_sha: Mapping[str, ScannedSheet]) -> str | None:
    if item.serial:
        return item.serial
    sheet = by_sha.get(item.file_sha256 or "")
    return sheet.serial if sheet else None


def queue_figures(run: MonthRun, items: Sequence[QueueItem]) -> dict[str, Any]:
    """Open items per received sheet by kind, and the decisions they ask of a person."""
    by_sha = {s.sha256: s for s in run.scanned}
    per_sheet: dict[str, Counter[str]] = {s.serial: Counter() for s in run.scanned}
    unknown = Counter[str]()
    counted: set[int] = set()
    for item in items:
        if item.state != "open" or item.id in counted:
            continue
        counted.add(item.id)
        serial = _sheet_of(item, by_sha)
        per_sheet.get(serial or "", unknown)[item.kind] += 1
    sheets = list(per_sheet.values())
    by_kind = {kind: spread([c[kind] for c in sheets]) for kind in KINDS}
    totals = {kind: sum(c[kind] for c in sheets) + unknown[kind] for kind in KINDS}
    decisions = [sum(c[k] for k in KINDS if k != "qa_sample") for c in sheets]
    with_qa = [sum(c.values()) for c in sheets]
    flag_codes = Counter(i.flag_code for i in items if i.state == "open" and i.flag_code)
    return {
        "received_sheets": len(sheets),
        "open_items": sum(totals.values()),
        "open_by_kind_total": totals,
        "open_by_kind_per_sheet": by_kind,
        "open_items_per_sheet": spread(with_qa),
        "decisions_per_sheet": spread(decisions),
        "decisions_with_qa_per_sheet": spread(with_qa),
        "open_flags_by_code": dict(flag_codes.most_common()),
        "items_of_no_generated_sheet": sum(unknown.values()),
        "open_by_sheet": {serial: dict(c) for serial, c in per_sheet.items()},
    }


def _export_sheet(exports: Mapping[str, Any], s: ScannedSheet) -> dict[str, Any]:
    return next(x for x in exports[s.month]["sheets"] if x["serial"] == s.serial)


def reading_figures(run: MonthRun, exports: Mapping[str, Any]) -> dict[str, Any]:
    """Written time fields sent to review, and the error among auto-accepted fields by kind."""
    written = sent = unread_sheets = 0
    auto: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    examples: list[dict[str, Any]] = []
    for s in run.scanned:
        sheet = _export_sheet(exports, s)
        read = sheet["status"] != "issued" and any(
            d[k]["machine_value"] or d[k]["confidence"] is not None
            for d in sheet["days"]
            for k in ("time_in", "time_out")
        )
        for day in sheet["days"]:
            number = int(day["date"][8:10])
            for key, direction in (("time_in", "in"), ("time_out", "out")):
                name = f"day.{number:02d}.{direction}"
                truth = s.truth.times[name].time
                value = day[key]
                if truth is not None:
                    written += 1
                    sent += (not read) or bool(value["needs_review"])
                if read and not value["needs_review"]:
                    auto["time"] += 1
                    if value["value"] != truth:
                        wrong["time"] += 1
                        examples.append(
                            {
                                "serial": s.serial,
                                "field": name,
                                "truth": truth,
                                "exported": value["value"],
                            }
                        )
            absence = day["absence"]
            if read and not absence["needs_review"]:
                auto["absence"] += 1
                truth_code = truth_absence(s.truth, number)
                if absence["code"] != truth_code:
                    wrong["absence"] += 1
                    examples.append(
                        {
                            "serial": s.serial,
                            "field": f"day.{number:02d}.absence",
                            "truth": truth_code,
                            "exported": absence["code"],
                        }
                    )
        for who in ("parent", "provider"):
            signature = sheet["signatures"][who]
            if read and not signature["needs_review"]:
                auto["signature"] += 1
                truth_signed = s.truth.signatures[f"signature.{who}"]
                if signature["signed"] is not truth_signed:
                    wrong["signature"] += 1
                    examples.append(
                        {
                            "serial": s.serial,
                            "field": f"signature.{who}",
                            "truth": truth_signed,
                            "exported": signature["signed"],
                        }
                    )
        unread_sheets += not read
    return {
        "written_time_fields": written,
        "written_time_fields_to_review": sent,
        "written_time_share_to_review": round(sent / written, 4) if written else 0.0,
        "sheets_not_read": unread_sheets,
        "auto_accepted": dict(auto),
        "auto_accepted_wrong": {k: wrong[k] for k in auto},
        "auto_accepted_error": {k: round(wrong[k] / auto[k], 4) if auto[k] else 0.0 for k in auto},
        "auto_accepted_wrong_examples": examples[:50],
    }


def wrong_values(run: MonthRun, exports: Mapping[str, Any]) -> dict[str, Any]:
    """Exported values unlike the truth on the received sheets not returned to their provider.

    `wrong` counts the sheets the review finished (verified or exported: their values are
    final); sheets with items still open are counted apart (`wrong_on_unfinished_sheets`).
    """
    wrong: Counter[str] = Counter()
    compared: Counter[str] = Counter()
    unfinished_wrong: Counter[str] = Counter()
    by_sheet: Counter[str] = Counter()
    examples: list[dict[str, Any]] = []
    statuses: Counter[str] = Counter()
    for s in run.scanned:
        sheet = _export_sheet(exports, s)
        statuses[sheet["status"]] += 1
        if sheet["status"] in ("returned", "issued", "void"):
            continue
        final = sheet["status"] in ("verified", "exported")
        rows: list[tuple[str, str, Any, Any]] = []
        for day in sheet["days"]:
            number = int(day["date"][8:10])
            for key, direction in (("time_in", "in"), ("time_out", "out")):
                name = f"day.{number:02d}.{direction}"
                rows.append(("time", name, s.truth.times[name].time, day[key]["value"]))
            code = truth_absence(s.truth, number)
            rows.append(("absence", f"day.{number:02d}.absence", code, day["absence"]["code"]))
        for who in ("parent", "provider"):
            name = f"signature.{who}"
            signed = sheet["signatures"][who]["signed"]
            rows.append(("signature", name, s.truth.signatures[name], signed))
        for kind, name, truth, value in rows:
            if value == truth:
                compared[kind] += final
                continue
            by_sheet[s.serial] += 1
            if not final:
                unfinished_wrong[kind] += 1
                continue
            compared[kind] += 1
            wrong[kind] += 1
            examples.append({"serial": s.serial, "field": name, "truth": truth, "exported": value})
    return {
        "values_compared": dict(compared),
        "wrong": sum(wrong.values()),
        "wrong_by_kind": {k: wrong[k] for k in ("time", "absence", "signature")},
        "wrong_on_unfinished_sheets": sum(unfinished_wrong.values()),
        "sheets_by_status": dict(statuses),
        "wrong_by_sheet": dict(by_sheet),
        "examples": examples[:50],
    }


def _matching_flags(sheet: Mapping[str, Any], problem: Problem) -> list[dict[str, Any]]:
    return [
        f
        for f in sheet["flags"]
        if f["code"] == problem.kind and (problem.date is None or f["date"] == problem.date)
    ]


def problem_outcomes(
    run: MonthRun, exports: Mapping[str, Any], items: Sequence[QueueItem], *, after: bool
) -> list[dict[str, Any]]:
    """How each problem in the truth was handled: by a person, by a rule, as a note, or missed.

    At intake (`after` False) a problem whose flag opened a review item is "a person decides";
    after the review, "a person decided" (the flag accepted by the reviewer, or the sheet
    returned). A flag with the export's disposition `note` is "a note"; a flag that never
    opened an item, "a rule settled it"; no flag at all, "missed".
    """
    queued = {
        (i.serial, i.flag_code, i.flag_day or None)
        for i in items
        if i.kind in PROBLEM_KINDS and i.state == "open"
    }
    decided_by_person = {
        (i.serial, i.flag_code, i.flag_day or None)
        for i in items
        if i.kind in PROBLEM_KINDS and i.resolved_by == REVIEWER and i.resolution == "accepted"
    }
    by_serial = {s.serial: s for s in run.scanned}
    rows = []
    for problem in run.problems:
        sheet = _export_sheet(exports, by_serial[problem.serial])
        flags = _matching_flags(sheet, problem)
        key = (problem.serial, problem.kind, problem.date)
        if after and sheet["status"] == "returned":
            outcome = "a person decided (sheet returned)"
        elif not flags:
            outcome = "missed"
        elif any(f.get("disposition") == "note" for f in flags):
            outcome = "a note"
        elif after and key in decided_by_person:
            outcome = "a person decided"
        elif key in queued:
            outcome = "left open" if after else "a person decides"
        else:
            outcome = "a rule settled it"
        rows.append({**problem.to_json(), "outcome": outcome})
    return rows


# --- the scripted reviewer -------------------------------------------------------------------


@dataclass
class Tally:
    """Keystrokes and seconds per sheet, what was decided, and the reviewer's own time."""

    keys: Counter[str] = field(default_factory=Counter)
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    actions: Counter[str] = field(default_factory=Counter)
    think_s: float = 0.0
    errors: list[str] = field(default_factory=list)


class Keys:
    """The keyboard, counting every key pressed for the sheet being worked."""

    def __init__(self, page: Any, tally: Tally) -> None:
        self.page = page
        self.tally = tally
        self.serial = "(none)"

    def press(self, key: str, count: int = 1) -> None:
        for _ in range(count):
            self.page.keyboard.press(key)
        self.tally.keys[self.serial] += count

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)
        self.tally.keys[self.serial] += len(text)

    def tab_to(self, selector: str, *, backwards: bool = False, limit: int = 80) -> None:
        """Tab (or Shift+Tab) until the element matching `selector` has the focus."""
        check = "(s) => !!document.activeElement && document.activeElement.matches(s)"
        for _ in range(limit):
            if self.page.evaluate(check, selector):
                return
            self.press("Shift+Tab" if backwards else "Tab")
        raise RuntimeError(f"no focusable {selector} within {limit} tabs")


class Oracle:
    """What the reviewer knows from looking at the paper: the truth of every sheet, and what
    the system holds now (the same as the screen and the page image would tell a person)."""

    def __init__(self, run: MonthRun) -> None:
        self.run = run
        self.sheets = {s.serial: s for s in run.scanned}
        self.by_sha = {s.sha256: s for s in run.scanned}

    def truth(self, serial: str) -> SheetTruth:
        return self.sheets[serial].truth

    def field_value(self, serial: str, name: str) -> str | None:
        return truth_value(self.truth(serial), name)

    def page_serial(self, item_id: int) -> str | None:
        sheet = self.by_sha.get(item_page_sha(self.run.home, item_id) or "")
        return sheet.serial if sheet else None

    def flag_is_true(self, serial: str, code: str, day: str | None) -> bool:
        """Whether the flag says something true of the sheet as written: the values it was
        computed from are the true ones (else it comes from a misread)."""
        if serial not in self.sheets:
            return True
        truth = self.truth(serial)
        now = current_values(self.run.home, serial)
        if code in SIGNATURE_CODES:
            names = [SIGNATURE_CODES[code]]
        elif day:
            first = dt.date.fromisoformat(day)
            span = 7 if code in WEEK_CODES else 1
            days = [first + dt.timedelta(days=k) for k in range(span)]
            days = [d for d in days if d.month == first.month]
            prefixes = tuple(f"day.{d.day:02d}." for d in days)
            names = [n for n in now if n.startswith(prefixes)]
        else:
            return True
        return all(_shown(now.get(n)) == truth_value(truth, n) for n in names)


def typed_value(kind: str, value: str) -> str:
    """The fewest keys that say `value` to the value box (`7:35` as 735, 19:05 as 1905)."""
    if kind == "time":
        hours, minutes = value.split(":")
        return f"{int(hours)}{minutes}"
    return "x" if value == "marked" else value  # "x" marks; "signed" signs


ITEM_JS = """() => {
  const section = document.querySelector('#item');
  if (document.querySelector('#empty') || !section) return {empty: true};
  const text = (id) => (document.getElementById(id) || {textContent: ''}).textContent.trim();
  const now = document.getElementById('now-value');
  const link = document.getElementById('identify-link');
  return {
    empty: false, id: section.dataset.itemId, kind: section.dataset.kind,
    label: text('kind-label'), name: text('field-name'), machine: text('machine-value'),
    now: now && !now.hidden ? now.textContent.replace('Now: ', '').trim() : null,
    serial: text('serial-link'), date: text('date'), message: text('message'),
    identify: link ? link.getAttribute('href') : null,
  };
}"""
NEXT_JS = """(before) => {
  if (document.querySelector('#empty')) return true;
  const s = document.querySelector('#item');
  const e = document.getElementById('evidence');
  return !!s && !s.hidden && s.dataset.itemId !== before && e.complete && e.naturalWidth > 0
    && !e.src.startsWith('data:');
}"""


class WrongReviewer(RuntimeError):
    """The scripted reviewer chosen does not fit the review page the server shows."""


class QueuePageReviewer:
    """The review page before 0.4 (`/review`, one item at a time), keyboard only: kept to
    measure an older checkout's queue the way its figures were taken (`--reviewer queue`).

    A field: Enter when the value shown is the true one, `-` when the truth is blank, else
    the true value typed and Enter. A flag true of the sheet as written: a missing signature
    returns the sheet (its page, Tab to "Return the sheet", Enter, back to the queue); a red
    flag is accepted with a typed reason; a yellow one with Enter. A flag that comes from a
    misread is skipped (Escape) on the first pass, hoping the field's own item corrects it;
    on a later pass it is accepted, as nothing else can be done with it here. An unidentified
    page is identified (Tab to "Identify this page", type the serial, Enter, back to the
    queue). An unregistered page is skipped: it is keyed on another page.
    """

    name = "per-item queue (/review)"

    def __init__(self, page: Any, base: str, oracle: Oracle, tally: Tally) -> None:
        self.page = page
        self.base = base
        self.oracle = oracle
        self.tally = tally
        self.keys = Keys(page, tally)

    def _think(self, work: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return work()
        finally:
            self.tally.think_s += time.perf_counter() - started

    def _wait_next(self, before: str, timeout_ms: float = 30_000) -> bool:
        try:
            self.page.wait_for_function(NEXT_JS, arg=before, timeout=timeout_ms)
            return True
        except Exception:  # Playwright's TimeoutError: the item did not change
            return False

    def _back_to_queue(self) -> None:
        self.keys.tab_to('nav a[href="/review"]')
        with self.page.expect_navigation():
            self.keys.press("Enter")
        self.page.wait_for_load_state("load")
        self._wait_next("")

    def _return_sheet(self) -> None:
        self.keys.tab_to("#serial-link", backwards=True)
        with self.page.expect_navigation():
            self.keys.press("Enter")
        self.keys.tab_to("#return button[type=submit]")
        with self.page.expect_navigation():
            self.keys.press("Enter")
        self._back_to_queue()

    def _identify(self, serial: str) -> None:
        self.keys.tab_to("#identify-link", backwards=True)
        with self.page.expect_navigation():
            self.keys.press("Enter")
        self.page.wait_for_selector("#serial:focus")
        self.keys.type(serial)
        with self.page.expect_navigation():
            self.keys.press("Enter")
        self._back_to_queue()

    def _answer_field(self, serial: str, name: str, shown: str | None) -> str:
        """Answer a field whose value on screen is `shown` from the truth: Enter when it is
        true, `-` when the truth is blank, else the true value typed. Returns what was done."""
        truth = self._think(lambda: self.oracle.field_value(serial, name))
        if shown == truth:
            self.keys.press("Enter")
            return "confirmed"
        if truth is None:
            self.keys.press("-")
            return "blanked"
        field_kind = "time" if name.endswith((".in", ".out")) else "other"
        self.keys.type(typed_value(field_kind, truth))
        self.keys.press("Enter")
        return "corrected"

    def decide(self, item: Mapping[str, Any], final_pass: bool) -> str:
        """The action for the item on screen; performs it. Returns what was done."""
        kind = item["kind"]
        if kind in ("field", "qa_sample"):
            shown = item["now"] if item["now"] is not None else item["machine"]
            shown = None if shown in ("blank", "cancelled", "–") else shown
            return self._answer_field(item["serial"], item["name"], shown)
        if kind == "flag":
            serial, code = item["serial"], item["name"]
            day = item["date"] if item["date"] not in ("", "–") else None
            true = self._think(lambda: self.oracle.flag_is_true(serial, code, day))
            if not true and not final_pass:
                self.keys.press("Escape")
                return "skipped (misread)"
            if true and code in SIGNATURE_CODES:
                self._return_sheet()
                return "returned"
            if item["label"].endswith("red"):
                self.keys.type("as written" if true else "misread")
            self.keys.press("Enter")
            return "accepted" if true else "accepted (misread)"
        if kind == "unidentified_page":
            item_id = int(item["id"])
            serial = self._think(lambda: self.oracle.page_serial(item_id))
            if serial:
                self.keys.serial = serial
                self._identify(serial)
                return "identified"
        self.keys.press("Escape")
        return "skipped"

    def work(self) -> None:
        """Work the whole queue: passes until nothing is left but what this page cannot do."""
        self.page.goto(f"{self.base}/review")
        if self.page.evaluate("() => !!document.querySelector('#sheet')"):
            raise WrongReviewer(
                "--reviewer queue works the item-by-item /review of checkouts before 0.4; "
                "this server shows one screen per sheet: use --reviewer screen (the default)"
            )
        self._wait_next("")
        mark = time.perf_counter()
        for number in range(3):
            final_pass = number > 0
            if number:
                self.page.reload()  # one key (F5) for a person
                self.tally.keys[self.keys.serial] += 1
                self._wait_next("")
            skipped_only = True
            while True:
                item = self.page.evaluate(ITEM_JS)
                if item["empty"]:
                    break
                self.keys.serial = item["serial"] if item["kind"] != "unidentified_page" else "?"
                think_before = self.tally.think_s
                action = self.decide(item, final_pass)
                self.tally.actions[f"{item['kind']}: {action}"] += 1
                skipped_only &= action.startswith("skipped")
                if action not in ("returned", "identified") and not self._wait_next(item["id"]):
                    message = self.page.evaluate(ITEM_JS).get("message", "")
                    self.tally.errors.append(f"item {item['id']} ({action}): {message}")
                    self.keys.press("Escape")
                    self._wait_next(item["id"])
                now = time.perf_counter()
                spent = now - mark - (self.tally.think_s - think_before)
                self.tally.seconds[self.keys.serial] += spent
                mark = now
            if skipped_only:
                break


SCREEN_ITEM_JS = """() => {
  if (document.querySelector('#empty')) return {empty: true};
  const s = document.querySelector('#item');
  const sheet = document.querySelector('#sheet');
  if (!s || !sheet) return {empty: true};
  const d = s.dataset;
  return {
    empty: false, id: d.itemId, kind: d.kind, ready: d.ready === 'true',
    serial: sheet.dataset.serial, name: d.fieldName || '', code: d.flagCode || '',
    severity: d.severity || '', days: d.days ? d.days.split(',') : [], value: d.value || null,
    message: (document.getElementById('message') || {textContent: ''}).textContent.trim(),
  };
}"""
SCREEN_NEXT_JS = """(before) => {
  if (document.querySelector('#empty')) return true;
  const s = document.querySelector('#item');
  return !!s && s.dataset.ready === 'true' && s.dataset.itemId !== before;
}"""


class SheetScreenReviewer(QueuePageReviewer):
    """The review screen (`/review`): one sheet at a time, its open items top to bottom,
    keyboard only (review_ui/static/queue.js lists the keys and the DOM hooks read here).

    A field: Enter when the value shown is the true one, `-` when the truth is blank, else the
    true value typed and Enter. A finding whose days are all true of the sheet as written: a
    missing signature returns the sheet (`!`, Enter); a red finding is accepted with a typed
    reason, a yellow one with Enter. A finding that comes from a misread is passed (ArrowDown)
    the first time: correcting the field clears it; met again, it is accepted as a misread.
    A page that could not be registered is keyed from the truth (`5.in=735 5.out=1730 ...`).
    Pages without a known sheet are identified on their own page (/review/pages/ID) when the
    sheets are done.
    """

    name = "one screen per sheet (/review)"

    def _wait_item(self, before: str, timeout_ms: float = 30_000) -> bool:
        try:
            self.page.wait_for_function(SCREEN_NEXT_JS, arg=before, timeout=timeout_ms)
            return True
        except Exception:  # Playwright's TimeoutError: the item did not change
            return False

    def _keyed(self, serial: str) -> str:
        """The whole page as the reviewer keys it: every written time, mark and signature."""
        truth = self.oracle.truth(serial)
        pairs = []
        for name, written in sorted(truth.times.items()):
            if written.time is not None:
                day, column = name.split(".")[1:3]
                pairs.append(f"{int(day)}.{column}={typed_value('time', written.time)}")
        for name, mark in sorted(truth.marks.items()):
            if mark == "marked":
                if name.startswith("day."):
                    _, day, rest = name.split(".", 2)
                    pairs.append(f"{int(day)}.{rest}=x")
                else:
                    pairs.append("fee=x")
        for name, signed in sorted(truth.signatures.items()):
            if signed:
                pairs.append(f"{name.split('.')[1]}=signed")
        return " ".join(pairs)

    def decide_on_screen(self, item: Mapping[str, Any], seen: set[str]) -> str:
        """The action for the item on screen; performs it. Returns what was done."""
        serial, kind = item["serial"], item["kind"]
        if kind in ("field", "qa_sample"):
            return self._answer_field(serial, item["name"], _shown(item["value"]))
        if kind == "finding":
            code, days = item["code"], item["days"] or [None]
            true = self._think(
                lambda: all(self.oracle.flag_is_true(serial, code, day) for day in days)
            )
            if not true and item["id"] not in seen:
                seen.add(item["id"])
                self.keys.press("ArrowDown")
                return "passed (misread)"
            if true and code in SIGNATURE_CODES:
                self.keys.press("!")
                self.page.wait_for_selector("#return-reason:focus")
                self.keys.press("Enter")
                return "returned"
            if item["severity"] == "red":
                self.keys.type("as written" if true else "misread")
            self.keys.press("Enter")
            return "accepted" if true else "accepted (misread)"
        if kind == "unregistered_page":
            keyed = self._think(lambda: self._keyed(serial))
            self.keys.type(keyed)
            self.keys.press("Enter")
            return "keyed"
        self.keys.press("ArrowDown")
        return "passed"

    def _identify_pages(self) -> int:
        """Identify the pages no sheet is known for, each on its own page; how many."""
        pages = [
            i.id
            for i in read_queue(self.oracle.run.home)
            if i.kind == "unidentified_page" and i.state == "open"
        ]
        done = 0
        for item_id in dict.fromkeys(pages):
            serial = self._think(lambda item_id=item_id: self.oracle.page_serial(item_id))
            if not serial:
                continue
            self.keys.serial = serial
            self.page.goto(f"{self.base}/review/pages/{item_id}")  # one click from the list
            self.tally.keys[serial] += 1
            self.page.wait_for_selector("#serial:focus")
            self.keys.type(serial)
            with self.page.expect_navigation():
                self.keys.press("Enter")
            done += 1
        return done

    def work(self) -> None:
        """Work every sheet on the screen, then the unidentified pages, until nothing is left
        but what a person cannot decide from the paper."""
        for _ in range(3):
            self.page.goto(f"{self.base}/review")
            self._wait_item("")
            mark = time.perf_counter()
            seen: set[str] = set()
            stuck = 0
            while True:
                item = self.page.evaluate(SCREEN_ITEM_JS)
                if item["empty"]:
                    break
                self.keys.serial = item["serial"]
                think_before = self.tally.think_s
                action = self.decide_on_screen(item, seen)
                self.tally.actions[f"{item['kind']}: {action}"] += 1
                if not self._wait_item(item["id"]):
                    message = self.page.evaluate(SCREEN_ITEM_JS).get("message", "")
                    self.tally.errors.append(f"item {item['id']} ({action}): {message}")
                    stuck += 1
                    if stuck > 3:
                        break
                    self.keys.press("Escape")
                    self.keys.press("ArrowDown")
                    self._wait_item(item["id"])
                now = time.perf_counter()
                spent = now - mark - (self.tally.think_s - think_before)
                self.tally.seconds[self.keys.serial] += spent
                mark = now
            if not self._identify_pages():
                break


STRATEGIES = {"screen": SheetScreenReviewer, "queue": QueuePageReviewer}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(attend: Attend, log_path: Path) -> Iterator[str]:
    """`attend review serve` on a free localhost port; its base URL."""
    port = _free_port()
    log = log_path.open("w")
    process = subprocess.Popen(
        [str(attend.executable), "review", "serve", "--port", str(port)],
        env=attend.env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError(f"the server exited: {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}/login", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the server did not start")
        yield base
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def _login(page: Any, base: str) -> None:
    page.goto(f"{base}/login")
    page.wait_for_selector("input[name=username]:focus")
    page.keyboard.type(REVIEWER)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state("load")
    if "/login" in page.url:
        raise RuntimeError("the reviewer could not log in")


def review_in_browser(run: MonthRun, attend: Attend, strategy: str, work: Path) -> dict[str, Any]:
    """A scripted reviewer works the whole queue in Chromium; keys and seconds per sheet."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError("chromium is not installed: run scripts/setup.sh --dev")
    attend(
        "users", "add", REVIEWER, "--role", "reviewer", "--password-stdin", input=PASSWORD + "\n"
    )
    tally = Tally()
    with serve(attend, work / "server.log") as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            _login(page, base)
            reviewer = STRATEGIES[strategy](page, base, Oracle(run), tally)
            started = time.perf_counter()
            reviewer.work()
            wall = time.perf_counter() - started
            tally.errors += [f"page error: {e}" for e in errors]
        finally:
            browser.close()
    serials = [s.serial for s in run.scanned]
    keys = [float(tally.keys.get(s, 0)) for s in serials]
    seconds = [tally.seconds.get(s, 0.0) for s in serials]
    unattributed_keys = sum(v for k, v in tally.keys.items() if k not in serials)
    return {
        "strategy": STRATEGIES[strategy].name,
        "wall_s": round(wall, 1),
        "think_s_excluded": round(tally.think_s, 1),
        "keys_total": sum(tally.keys.values()),
        "keys_per_sheet": spread(keys),
        "seconds_per_sheet": spread([round(s, 2) for s in seconds]),
        "keys_not_of_a_sheet": unattributed_keys,
        "actions": dict(tally.actions.most_common()),
        "keys_by_sheet": {s: tally.keys.get(s, 0) for s in serials},
        "seconds_by_sheet": {s: round(tally.seconds.get(s, 0.0), 3) for s in serials},
        "errors": tally.errors[:20],
    }


# --- the report ------------------------------------------------------------------------------


def _row(label: str, figures: Mapping[str, float], unit: str = "") -> str:
    return (
        f"  {label:<38}{figures['mean']:>8.1f}{unit}{figures['median']:>8.1f}{unit}"
        f"{figures['max']:>8.1f}{unit}"
    )


def print_report(result: Mapping[str, Any]) -> None:
    run, queue, reading = result["run"], result["queue"], result["reading"]
    print()
    print(
        f"bench-review: {queue['received_sheets']} received sheets ({run['sheets']} of "
        f"{run['month']}, {queue['received_sheets'] - run['sheets']} of the month before), "
        f"seed {run['seed']}; generated in {run['generate_and_intake_s']:.0f} s, "
        f"intake {run['intake_s']:.0f} s; load average {run['load_average'][0]:.1f} on "
        f"{run['cpus']} cpus"
    )
    print(f"  {'per received sheet':<38}{'mean':>8}{'median':>8}{'max':>8}")
    print(_row("open review items", queue["open_items_per_sheet"]))
    for kind in KINDS:
        print(_row(f"  {kind}", queue["open_by_kind_per_sheet"][kind]))
    print(_row("decisions (fields + findings + pages)", queue["decisions_per_sheet"]))
    print(_row("decisions with the QA sample", queue["decisions_with_qa_per_sheet"]))
    codes = ", ".join(f"{c} {n}" for c, n in queue["open_flags_by_code"].items())
    print(f"  open flags by code: {codes or 'none'}")
    print(
        f"  written time fields sent to review: {reading['written_time_share_to_review']:.1%} "
        f"({reading['written_time_fields_to_review']} of {reading['written_time_fields']}); "
        f"sheets whose page was not read: {reading['sheets_not_read']}"
    )
    errors = ", ".join(
        f"{k} {reading['auto_accepted_error'][k]:.2%} "
        f"({reading['auto_accepted_wrong'][k]}/{reading['auto_accepted'][k]})"
        for k in reading["auto_accepted"]
    )
    print(f"  error among auto-accepted fields: {errors}")
    browser = result.get("reviewer")
    if browser:
        print(
            f"reviewer in Chromium, {browser['strategy']}: {browser['keys_total']} keys, "
            f"{browser['wall_s']:.0f} s wall ({browser['think_s_excluded']:.1f} s of looking "
            "up the truth excluded)"
        )
        print(_row("keystrokes per sheet", browser["keys_per_sheet"]))
        print(_row("seconds per sheet", browser["seconds_per_sheet"], "s"))
        actions = ", ".join(f"{k} {v}" for k, v in browser["actions"].items())
        print(f"  actions: {actions}")
        if browser["errors"]:
            print(f"  errors: {len(browser['errors'])}: {browser['errors'][:3]}")
        wrong = result["after"]
        by_kind = ", ".join(f"{k} {v}" for k, v in wrong["wrong_by_kind"].items())
        statuses = ", ".join(f"{k} {v}" for k, v in wrong["sheets_by_status"].items())
        print(
            f"  exported values wrong afterwards: {wrong['wrong']} ({by_kind}) on the sheets "
            f"the review finished; {wrong['wrong_on_unfinished_sheets']} on sheets with items "
            f"left open ({result['open_items_after']} items); sheets: {statuses}"
        )
    print("problems in the truth -> at intake -> after the review")
    for p in result["problems"]:
        where = f"{p['serial']} {p['date'] or 'sheet'}"
        origin = "planted" if p["planted"] else "background"
        after = f" -> {p['after']}" if "after" in p else ""
        print(f"  {p['kind']:<28}{where:<24}{origin:<11}{p['outcome']}{after}")


def summary_table(result: Mapping[str, Any]) -> None:
    """The compact table: the figures to compare before and after."""
    queue, reading = result["queue"], result["reading"]
    rows = [
        ("received sheets", f"{queue['received_sheets']}"),
        ("decisions per sheet (mean / median / max)", _triple(queue["decisions_per_sheet"])),
        ("  with the QA sample", _triple(queue["decisions_with_qa_per_sheet"])),
        ("open items per sheet", _triple(queue["open_items_per_sheet"])),
        ("written times sent to review", f"{reading['written_time_share_to_review']:.1%}"),
        (
            "auto-accepted error (time / absence / signature)",
            " / ".join(
                f"{reading['auto_accepted_error'].get(k, 0):.2%}"
                for k in ("time", "absence", "signature")
            ),
        ),
    ]
    browser = result.get("reviewer")
    if browser:
        rows += [
            ("keystrokes per sheet", _triple(browser["keys_per_sheet"])),
            ("seconds per sheet", _triple(browser["seconds_per_sheet"])),
            (
                "wrong exported values after review",
                f"{result['after']['wrong']} (+{result['after']['wrong_on_unfinished_sheets']} "
                f"on sheets with {result['open_items_after']} items left open)",
            ),
        ]
    outcomes = Counter(p.get("after", p["outcome"]) for p in result["problems"])
    rows.append(("problems: how they ended", ", ".join(f"{k} {v}" for k, v in outcomes.items())))
    width = max(len(r[0]) for r in rows)
    print("\nsummary")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


def _sheet_row(run: MonthRun, s: ScannedSheet) -> dict[str, Any]:
    """What the JSON tells of one sheet: its certificate's types and its scanner troubles."""
    certificate = run.plan.certificate(s.certificate_id)
    return {
        "serial": s.serial,
        "month": s.month,
        "certificate_id": s.certificate_id,
        "provider_type": certificate.provider_type,
        "schedule_type": certificate.schedule_type,
        "schedule": certificate.schedule,
        "file": s.file,
        "degradations": list(s.degradations),
        "planted": list(run.plan.plants.get(s.certificate_id, ()))
        if s.month == f"{run.plan.month:%Y-%m}"
        else [],
    }


def _triple(figures: Mapping[str, float]) -> str:
    return f"{figures['mean']:.1f} / {figures['median']:.1f} / {figures['max']:.1f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sheets", type=int, default=40, help="sheets of the month (>= 2)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--month", default="2026-11", help="YYYY-MM")
    parser.add_argument("--workers", type=int, default=2, help="intake workers")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--no-browser", action="store_true", help="skip the scripted reviewer")
    parser.add_argument("--reviewer", choices=sorted(STRATEGIES), default="screen")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="attend-bench-review-"))
    work.mkdir(parents=True, exist_ok=True)
    if any(work.iterdir()):
        parser.error(f"{work} is not empty")
    try:
        return _run(args, work)
    except WrongReviewer as exc:
        print(f"bench-review: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, work: Path) -> int:
    started = time.perf_counter()
    run = run_month(
        work, sheets=args.sheets, seed=args.seed, month=args.month, workers=args.workers
    )
    generate_s = time.perf_counter() - started
    items = read_queue(run.home)
    result: dict[str, Any] = {
        "run": {
            "sheets": args.sheets,
            "seed": args.seed,
            "month": args.month,
            "generate_and_intake_s": round(generate_s, 1),
            "intake_s": round(run.intake_seconds, 1),
            "attend_commands": [[n, round(t, 2), c] for n, t, c in run.commands],
            "load_average": os.getloadavg(),
            "cpus": os.cpu_count(),
        },
        "queue": queue_figures(run, items),
        "reading": reading_figures(run, run.exports),
    }
    problems = problem_outcomes(run, run.exports, items, after=False)
    if not args.no_browser:
        attend = Attend(home=run.home, clock=receipt_moment(run.plan.month))
        result["reviewer"] = review_in_browser(run, attend, args.reviewer, work)
        after_exports = {
            month: export(attend, month, work / f"export-{month}-after.json")
            for month in run.exports
        }
        after_items = read_queue(run.home)
        result["after"] = wrong_values(run, after_exports)
        result["open_items_after"] = sum(i.state == "open" for i in after_items)
        final = problem_outcomes(run, after_exports, after_items, after=True)
        for row, done in zip(problems, final, strict=True):
            row["after"] = done["outcome"]
    result["problems"] = problems
    result["sheets"] = [_sheet_row(run, s) for s in run.scanned]
    result["run"]["load_average_after"] = os.getloadavg()
    print_report(result)
    summary_table(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str) + "\n")
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
