"""Exactly once through real workers: two different scans of one sheet, read by two workers
at the same moment, receive the sheet once, on PostgreSQL as on SQLite (issue 17).

The receipt's own test (tests/test_receipt.py) holds one transaction open by hand; this one
runs the race the way a mailroom meets it, over and over: four `attend intake worker`
processes, and each sheet scanned twice (a JPEG and a one-page PDF: different bytes) queued
one scan right after the other, so that two workers read the two scans side by side and
record them within moments of each other.
"""

from __future__ import annotations

import csv
import io
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from intake.folders import IntakeDirs
from intake.queue import claim_path, new_batch_id
from tests.batches import attend_process, pdf_bytes, printed_pages, query
from tests.conftest import CERTIFICATES_CSV, MONTH, Cli
from tests.sheetdb import engine_for

ROUNDS = 10
SHEETS = 4  # a round: 4 sheets, 8 scans; the 4 workers take two sheets' scans at a time
WORKERS = 4
COPIES = -(-ROUNDS * SHEETS // 7)  # of the fixture's certificates (7 sheets a copy)


def _certificates(path: Path, copies: int) -> None:
    """The fixture's certificates, `copies` times over under new ids: 7 sheets a copy."""
    with CERTIFICATES_CSV.open(newline="", encoding="utf-8") as fixture:
        rows = list(csv.DictReader(fixture))
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for copy in range(copies):
            for row in rows:
                writer.writerow(row | {"certificate_id": f"{row['certificate_id']}-R{copy:02d}"})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def many_sheets(request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    """At least ROUNDS x SHEETS issued sheets, on SQLite or on a fresh PostgreSQL database."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    cli = Cli(tmp_path / "attend-data", url)
    cli.ok("init")
    _certificates(tmp_path / "certificates.csv", COPIES)
    cli.ok("certificates", "import", str(tmp_path / "certificates.csv"))
    cli.ok("sheets", "issue", "--month", MONTH)
    return cli


def _jpeg(page: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(page, mode="L").save(out, "JPEG", quality=85, dpi=(100, 100))
    return out.getvalue()


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _finished(cli: Cli, batch: str, files: int) -> Callable[[], bool]:
    """True once the batch's `files` arrivals are all finished."""
    sql = (
        "SELECT count(*) FROM intake_files WHERE state IN ('done', 'failed') "
        f"AND batch_id = '{batch}'"
    )
    return lambda: query(cli, sql)[0][0] == files


def _trouble(log: Path) -> str:
    """The workers' log without its INFO lines: warnings, errors and tracebacks."""
    lines = log.read_text(errors="replace").splitlines()
    return "\n".join(line for line in lines if " INFO " not in line)[-4000:]


@pytest.mark.slow
def test_two_scans_of_a_sheet_read_at_once_receive_it_once(
    many_sheets: Cli, tmp_path: Path
) -> None:
    """GIVEN 40 issued sheets, each scanned twice as different bytes (a JPEG and a one-page
    PDF), and four workers running
    WHEN ten rounds of four sheets are queued, each sheet's two scans one right after the
    other so that two workers read them at the same time
    THEN every sheet is received exactly once: one identified page and one duplicate, one
    `received` event, the sheet's record the identified page; no review item doubled."""
    cli = many_sheets
    pages = printed_pages(cli, tmp_path, dpi=100)[: ROUNDS * SHEETS]
    assert len(pages) == ROUNDS * SHEETS
    engine = engine_for(cli)
    dirs = IntakeDirs(tmp_path / "work")
    dirs.ensure()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    log = tmp_path / "workers.log"
    args = ["intake", "worker", "--work", str(dirs.work), "--poll", "0.2"]
    workers = [attend_process(cli, *args, "--id", f"w{n}", log=log) for n in range(WORKERS)]
    try:
        listening = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'"
        if cli.database_url:  # all four idle and listening before the first round
            _wait(lambda: query(cli, listening)[0][0] == WORKERS, 120, "the workers")
        else:
            time.sleep(5)
        for round_ in range(ROUNDS):
            batch = new_batch_id()
            for index in range(round_ * SHEETS, (round_ + 1) * SHEETS):
                scans = [
                    (f"sheet-{index:02d}-a.jpg", _jpeg(pages[index])),
                    (f"sheet-{index:02d}-b.pdf", pdf_bytes([pages[index]], 100)),
                ]
                for name, data in scans:
                    (inbox / name).write_bytes(data)
                    claim_path(engine, dirs, inbox / name, name=name, batch_id=batch)
            _wait(_finished(cli, batch, 2 * SHEETS), 120, f"round {round_ + 1}")
        exited = {f"w{n}": w.returncode for n, w in enumerate(workers) if w.poll() is not None}
        assert exited == {}, _trouble(log)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
        engine.dispose()

    # Each sheet: one identified page (its record) and one duplicate.
    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    for serial, status in query(cli, "SELECT serial, status FROM scanned_pages"):
        statuses[str(serial)][str(status)] += 1
    assert len(statuses) == ROUNDS * SHEETS
    wrong = {s: dict(c) for s, c in statuses.items() if c != {"identified": 1, "duplicate": 1}}
    assert wrong == {}
    receipts = Counter(
        str(serial)
        for (serial,) in query(cli, "SELECT entity_id FROM events WHERE action = 'received'")
    )
    assert set(receipts) == set(statuses) and set(receipts.values()) == {1}
    # The sheet's record is the page that received it, and every sheet is received.
    records = query(
        cli,
        "SELECT s.serial FROM sheets s JOIN scanned_files f ON f.sha256 = s.source_file_sha256 "
        "JOIN scanned_pages p ON p.file_id = f.id AND p.page_number = s.source_page "
        "WHERE p.status = 'identified' AND p.serial = s.serial AND s.received_at IS NOT NULL",
    )
    assert len(records) == ROUNDS * SHEETS
    assert query(
        cli,
        "SELECT count(*), count(DISTINCT sheet_id) FROM scanned_pages WHERE is_record",
    ) == [(ROUNDS * SHEETS, ROUNDS * SHEETS)]
    # Review items come from the record page only (a doubled receipt doubled them).
    from_other_pages = query(
        cli,
        "SELECT count(*) FROM review_items i JOIN scanned_pages p ON p.id = i.page_id "
        "WHERE NOT p.is_record",
    )
    assert from_other_pages == [(0,)]
    jobs = dict(query(cli, "SELECT state, count(*) FROM page_jobs GROUP BY state"))
    assert jobs == {"done": ROUNDS * SHEETS * 2}
