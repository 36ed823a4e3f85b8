"""`attend intake run --jobs N`: the same records and report as one job, exactly once even
when the whole run is killed with SIGKILL and started again."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.batches import attend_env, printed_pages, query, write_batch
from tests.conftest import REPO, Cli


def _run(cli: Cli, inbox: Path, *extra: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    """`attend intake run INBOX --json ...` in its own process group (killed as a whole)."""
    out = log.open("ab") if log else subprocess.PIPE
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "cli", "intake", "run", str(inbox), "--json", *extra],
            env=attend_env(cli),
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT if log else subprocess.PIPE,
            start_new_session=True,
        )
    finally:
        if log:
            out.close()  # type: ignore[union-attr]


def _report(cli: Cli, inbox: Path, *extra: str, code: int = 0) -> dict[str, object]:
    process = _run(cli, inbox, *extra)
    out, err = process.communicate(timeout=600)
    assert process.returncode == code, err.decode()
    report: dict[str, object] = json.loads(out)
    return report


def _recorded(cli: Cli) -> list[tuple[object, ...]]:
    return query(
        cli,
        "SELECT f.sha256, p.page_number, p.status, p.serial, p.needs_review, "
        "(SELECT count(*) FROM field_readings r WHERE r.page_id = p.id), "
        "(SELECT count(*) FROM field_readings r WHERE r.page_id = p.id "
        "AND r.machine_value IS NOT NULL) "
        "FROM scanned_pages p JOIN scanned_files f ON f.id = p.file_id ORDER BY 1, 2",
    )


def test_jobs_give_the_report_and_records_of_one_job(issued_cli: Cli, tmp_path: Path) -> None:
    """GIVEN the same batch (PDFs of several pages and a file that is not a scan)
    WHEN one data folder takes it in with one job and another with --jobs 2
    THEN the two reports are the same, and so is every page's record and its readings."""
    printed = printed_pages(issued_cli, tmp_path, dpi=100)
    inbox = tmp_path / "inbox"
    write_batch(printed, inbox, total_pages=9, pages_per_file=3, dpi=100)
    (inbox / "notes.txt").write_text("not a scan\n")
    # A second data folder with the very same sheets.
    other = Cli(tmp_path / "other-home")
    shutil.copytree(issued_cli.home, other.home)

    # Exit code 5: a file failed (the text file), in both.
    one = _report(issued_cli, inbox, "--jobs", "1", code=5)
    two = _report(other, inbox, "--jobs", "2", code=5)
    assert one == two
    counts = one["counts"]
    assert isinstance(counts, dict)
    assert (counts["files_processed"], counts["files_failed"], counts["pages"]) == (3, 1, 9)
    # The batch cycles through the month's sheets: the second scan of a sheet is a duplicate.
    assert counts["pages_identified"] + counts["pages_duplicate"] == 9
    assert _recorded(issued_cli) == _recorded(other)


@pytest.mark.slow
def test_jobs_keep_exactly_once_when_the_run_is_killed(issued_backend: Cli, tmp_path: Path) -> None:
    """GIVEN 40 pages in 10 PDFs
    WHEN `intake run --jobs 2` is killed with SIGKILL (the run and its reading processes)
    each time a file more has been recorded, and started again, until a run finishes
    THEN every file and every page is recorded exactly once, every sheet received once, and
    the last run reports the files recorded before as already processed."""
    cli = issued_backend
    printed = printed_pages(cli, tmp_path, dpi=100)
    inbox = tmp_path / "inbox"
    files = write_batch(printed, inbox, total_pages=40, pages_per_file=4, dpi=100)
    rng = random.Random(14)
    log = tmp_path / "runs.log"
    interrupted = 0
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        before = query(cli, "SELECT count(*) FROM scanned_files")[0][0]
        assert isinstance(before, int)
        if before >= len(files):
            break
        process = _run(cli, inbox, "--jobs", "2", log=log)
        while process.poll() is None:
            now = query(cli, "SELECT count(*) FROM scanned_files")[0][0]
            assert isinstance(now, int)
            if now > before:
                time.sleep(rng.uniform(0.0, 0.4))
                break
            time.sleep(0.02)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the group this test started, by its id
            interrupted += 1
        process.wait()
    assert interrupted >= 3
    final = _report(cli, inbox, "--jobs", "2")
    counts = final["counts"]
    assert isinstance(counts, dict)
    assert counts["files"] == len(files) and counts["files_failed"] == 0
    assert counts["files_processed"] + counts["files_already_processed"] == len(files)
    assert counts["files_already_processed"] >= 1
    assert query(cli, "SELECT count(*), count(DISTINCT sha256) FROM scanned_files") == [
        (len(files), len(files))
    ]
    pages = query(cli, "SELECT file_id, page_number, count(*) FROM scanned_pages GROUP BY 1, 2")
    assert len(pages) == 40 and all(count == 1 for *_key, count in pages)
    receipts = query(
        cli, "SELECT entity_id, count(*) FROM events WHERE action = 'received' GROUP BY 1"
    )
    assert receipts and all(count == 1 for _serial, count in receipts)
