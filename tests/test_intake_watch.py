"""The watched folder and its workers as real processes: slow writers, repeated events,
restarts, `kill -9` at random moments, four workers at once, unsafe settings, privacy."""

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

from tests.batches import (
    attend_env,
    attend_process,
    exactly_once,
    pdf_bytes,
    printed_pages,
    query,
    worker_stats,
    write_batch,
)
from tests.conftest import CERTIFICATES_CSV, MONTH, REPO, Cli

WATCH_FAST = ["--settle", "1", "--interval", "0.2", "--reconcile", "2"]


def _folders(tmp_path: Path) -> tuple[Path, Path]:
    inbox, work = tmp_path / "inbox", tmp_path / "work"
    inbox.mkdir()
    return inbox, work


def _watcher(
    cli: Cli, inbox: Path, work: Path, *options: str, log: Path
) -> subprocess.Popen[bytes]:
    """`attend intake watch INBOX --work WORK OPTIONS` as its own process."""
    return attend_process(
        cli, "intake", "watch", str(inbox), "--work", str(work), *options, log=log
    )


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _stop(process: subprocess.Popen[bytes], timeout: float = 60) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return process.wait(timeout=timeout)


def _arrivals(cli: Cli) -> dict[str, int]:
    return {
        str(k): int(str(v))
        for k, v in query(cli, "SELECT state, count(*) FROM intake_files GROUP BY state")
    }


def test_watch_once_processes_the_folder_and_reports_the_batch(
    issued_cli: Cli, tmp_path: Path
) -> None:
    inbox, work = _folders(tmp_path)
    files = write_batch(printed_pages(issued_cli, tmp_path), inbox, total_pages=7, pages_per_file=3)
    (inbox / "notes.pdf").write_text("not a scan")
    shutil.copy(files[0], inbox / "copy-of-first.pdf")
    result = issued_cli(
        "intake", "watch", str(inbox), "--work", str(work), "--once", "--json", *WATCH_FAST
    )
    assert result.code == 5, result.err  # a file was quarantined
    report = json.loads(result.out)
    assert report["files"] == {
        "arrived": 5,
        "done": 3,
        "failed": 1,
        "duplicate": 1,
        "in_progress": 0,
    }
    assert report["pages"]["identified"] == 7 and report["pages"]["processed"] == 7
    assert report["quarantined"] == {"unsupported_format": 1}
    providers = {row["provider_id"]: row for row in report["providers"]}
    assert sum(row["received"] for row in providers.values()) == 7
    assert all(row["expected"] == row["received"] for row in providers.values())
    # On demand, the same report; and saved as JSON beside the work folders.
    again = json.loads(issued_cli.ok("intake", "report", "--json"))
    assert again == report
    assert json.loads((work / "reports" / f"{report['batch_id']}.json").read_text()) == report
    table = issued_cli.ok("intake", "report")
    assert "unsupported_format" in table and "identified" in table
    assert os.listdir(inbox) == []


@pytest.mark.slow
def test_slow_writer_is_claimed_once_after_it_finishes(issued_cli: Cli, tmp_path: Path) -> None:
    inbox, work = _folders(tmp_path)
    pages = printed_pages(issued_cli, tmp_path, dpi=100)
    data = pdf_bytes([pages[n % len(pages)] for n in range(100)], 100)
    watcher = _watcher(
        issued_cli,
        inbox,
        work,
        "--workers",
        "1",
        "--settle",
        "2",
        "--interval",
        "0.25",
        log=tmp_path / "watch.log",
    )
    try:
        chunks = 80
        size = len(data) // chunks + 1
        target = inbox / "slow-scanner.pdf"
        started = time.monotonic()
        for index in range(chunks):
            # A scanner that closes and reopens the file between chunks.
            with target.open("ab") as out:
                out.write(data[index * size : (index + 1) * size])
            time.sleep(0.25)
        finished_writing = time.monotonic()
        assert finished_writing - started >= 19
        assert target.read_bytes() == data
        _wait(lambda: _arrivals(issued_cli).get("done") == 1, 240, "the file to be processed")
    finally:
        assert _stop(watcher) == 0
    assert _arrivals(issued_cli) == {"done": 1}
    assert query(issued_cli, "SELECT page_count, size_bytes FROM intake_files") == [
        (100, len(data))
    ]
    assert query(issued_cli, "SELECT count(*) FROM scanned_pages") == [(100,)]


def test_repeated_events_renames_and_a_restart_give_one_record_each(
    issued_cli: Cli, tmp_path: Path
) -> None:
    inbox, work = _folders(tmp_path)
    pages = printed_pages(issued_cli, tmp_path)
    files = write_batch(pages, tmp_path / "scans", total_pages=4, pages_per_file=1)
    # Files already there before the watcher starts.
    shutil.copy(files[0], inbox / "before-start.pdf")
    shutil.copy(files[1], inbox / "before-start-2.pdf")
    log = tmp_path / "watch.log"
    args = [
        "intake",
        "watch",
        str(inbox),
        "--work",
        str(work),
        "--workers",
        "1",
        "--settle",
        "3",
        "--interval",
        "0.2",
    ]
    watcher = attend_process(issued_cli, *args, log=log)
    try:
        time.sleep(1.0)
        # A file touched over and over (events without new content), then left alone.
        touched = inbox / "touched.pdf"
        shutil.copy(files[2], touched)
        for _ in range(10):
            os.utime(touched)
            touched.read_bytes()
            time.sleep(0.1)
        # Stop the watcher while files wait for their settle time; start it again.
    finally:
        assert _stop(watcher) == 0
    watcher = attend_process(issued_cli, *args, log=log)
    try:
        shutil.copy(files[3], inbox / ".scanner-temp")  # written under a hidden name...
        os.rename(inbox / ".scanner-temp", inbox / "renamed-in.pdf")  # ...then renamed in
        # The same bytes again under a new name.
        shutil.copy(files[0], inbox / "same-bytes-new-name.pdf")
        _wait(
            lambda: (
                sum(_arrivals(issued_cli).values()) == 5
                and "claiming" not in _arrivals(issued_cli)
                and "queued" not in _arrivals(issued_cli)
            ),
            120,
            "five arrivals",
        )
    finally:
        assert _stop(watcher) == 0
    assert _arrivals(issued_cli) == {"done": 4, "duplicate": 1}
    assert query(issued_cli, "SELECT count(*) FROM scanned_pages") == [(4,)]
    assert os.listdir(inbox) == []


def _crash_run(cli: Cli, tmp_path: Path, *, kills: int, pages: int, seed: int) -> None:
    """Watcher and worker killed with SIGKILL at random moments, restarted, until done."""
    inbox, work = _folders(tmp_path)
    printed = printed_pages(cli, tmp_path, dpi=100)
    files = write_batch(printed, inbox, total_pages=pages, pages_per_file=10, dpi=100)
    rng = random.Random(seed)
    log = tmp_path / "crash.log"
    watch_args = [
        "intake",
        "watch",
        str(inbox),
        "--work",
        str(work),
        "--workers",
        "0",
        "--settle",
        "0.5",
        "--interval",
        "0.1",
    ]
    worker_args = ["intake", "worker", "--work", str(work), "--lease", "3", "--poll", "0.2"]
    killed = 0
    deadline = time.monotonic() + 600
    watcher = attend_process(cli, *watch_args, log=log)
    worker = attend_process(cli, *worker_args, log=log)
    try:
        while killed < kills and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.3, 2.5))
            victim = worker if rng.random() < 0.8 else watcher
            victim.kill()  # SIGKILL: no clean-up of any kind
            victim.wait()
            killed += 1
            if victim is worker:
                worker = attend_process(cli, *worker_args, log=log)
            else:
                watcher = attend_process(cli, *watch_args, log=log)
        assert killed == kills
        _wait(
            lambda: _arrivals(cli).get("done") == len(files),
            600,
            "every file to be done after the crashes",
        )
    finally:
        worker.kill()
        watcher.kill()
        worker.wait()
        watcher.wait()
    # A last watcher start mends anything the final kill interrupted (a move after commit).
    final = attend_process(cli, *watch_args, "--once", log=log)
    assert final.wait(timeout=120) == 0
    exactly_once(cli, work, files=len(files), pages=pages)
    attempts = query(cli, "SELECT max(attempts) FROM page_jobs")[0][0]
    assert isinstance(attempts, int) and attempts >= 2  # some page really was interrupted


@pytest.mark.slow
def test_kill_9_at_random_moments_processes_every_page_exactly_once(
    issued_backend: Cli, tmp_path: Path
) -> None:
    kills = int(os.environ.get("ATTEND_CRASH_KILLS", "20"))
    _crash_run(issued_backend, tmp_path, kills=kills, pages=200, seed=kills)


@pytest.mark.slow
def test_four_workers_over_1000_pages_never_collide(issued_backend: Cli, tmp_path: Path) -> None:
    inbox, work = _folders(tmp_path)
    printed = printed_pages(issued_backend, tmp_path, dpi=100)
    files = write_batch(printed, inbox, total_pages=1000, pages_per_file=25, dpi=100)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "intake",
            "watch",
            str(inbox),
            "--work",
            str(work),
            "--workers",
            "0",
            "--once",
            "--settle",
            "0",
            "--interval",
            "0.1",
        ],
        env=attend_env(issued_backend),
        cwd=REPO,
        capture_output=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr.decode()
    log = tmp_path / "workers.log"
    workers = [
        attend_process(
            issued_backend,
            "intake",
            "worker",
            "--work",
            str(work),
            "--drain",
            "--id",
            f"w{n}",
            "--stats",
            str(tmp_path / f"w{n}.json"),
            log=log,
        )
        for n in range(4)
    ]
    for worker in workers:
        assert worker.wait(timeout=1200) == 0, log.read_text()[-3000:]
    stats = [worker_stats(tmp_path / f"w{n}.json") for n in range(4)]
    claimed = [job for s in stats for job in s["jobs"]]  # type: ignore[attr-defined]
    assert len(claimed) == len(set(claimed)) == 1000  # 0 double claims
    assert sum(int(s["lock_errors"]) for s in stats) == 0  # type: ignore[call-overload]
    assert sum(int(s["lease_lost"]) for s in stats) == 0  # type: ignore[call-overload]
    assert all(int(s["pages_done"]) > 100 for s in stats)  # type: ignore[call-overload]  # all four worked
    assert "locked" not in log.read_text().lower()
    exactly_once(issued_backend, work, files=len(files), pages=1000)


def test_unsafe_configurations_are_refused_at_start(issued_cli: Cli, tmp_path: Path) -> None:
    inbox, work = _folders(tmp_path)
    (inbox / "keep.pdf").write_text("nothing may touch this")

    def refused(*args: str) -> str:
        result = issued_cli("intake", "watch", *args, "--once")
        assert result.code == 7, (args, result.code, result.err)
        return result.err

    assert "inside the intake folder" in refused(str(inbox), "--work", str(inbox / "work"))
    link = tmp_path / "inbox-link"
    link.symlink_to(inbox)
    assert "symbolic link" in refused(str(link), "--work", str(work))
    real_work = tmp_path / "real-work"
    real_work.mkdir()
    (tmp_path / "work-link").symlink_to(real_work)
    assert "symbolic link" in refused(str(inbox), "--work", str(tmp_path / "work-link"))
    assert "program" in refused(str(inbox), "--work", str(REPO / "intake" / "work"))
    assert "program" in refused(str(REPO), "--work", str(work))
    result = issued_cli("intake", "worker", "--work", str(REPO / ".venv" / "w"), "--drain")
    assert result.code == 7
    # The data folder inside the inbox (its database and page images would be taken in).
    nested = Cli(inbox / "data")
    nested.ok("init")
    result = nested("intake", "watch", str(inbox), "--work", str(work), "--once")
    assert result.code == 7 and "data folder" in result.err
    assert (inbox / "keep.pdf").read_text() == "nothing may touch this"
    assert not (REPO / "intake" / "work").exists()


@pytest.mark.root
def test_work_folder_on_another_filesystem_is_refused(issued_cli: Cli, tmp_path: Path) -> None:
    inbox, _work = _folders(tmp_path)
    mount = tmp_path / "other-fs"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        result = issued_cli("intake", "watch", str(inbox), "--work", str(mount / "w"), "--once")
        assert result.code == 7 and "another filesystem" in result.err
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_sqlite_on_a_network_filesystem_is_refused(tmp_path: Path) -> None:
    from intake.folders import UnsafeConfiguration, check_sqlite_location, filesystem_type

    mounts = "server:/export /mnt/share nfs4 rw,relatime 0 0\n/dev/sda1 / ext4 rw 0 0\n"
    assert filesystem_type(Path("/mnt/share/attend/db.sqlite3"), mounts=mounts) == "nfs4"
    assert filesystem_type(Path("/srv/x"), mounts=mounts) == "ext4"
    with pytest.raises(UnsafeConfiguration, match="network filesystem"):
        check_sqlite_location(Path("/mnt/share/attend/db.sqlite3"), mounts=mounts)
    check_sqlite_location(tmp_path / "db.sqlite3")  # the real local disk is fine


@pytest.mark.root
def test_full_disk_loses_nothing_and_resumes(issued_cli: Cli, tmp_path: Path) -> None:
    """The page store fills up: the page waits in the queue, the worker keeps running, and
    the page is processed once space is back."""
    inbox, work = _folders(tmp_path)
    store = issued_cli.home / "store"
    store.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(store)], check=True)
    try:
        filler = store / "filler"
        with filler.open("wb") as out, pytest.raises(OSError):
            out.write(b"\0" * (2 << 20))
            out.flush()
            os.fsync(out.fileno())
        # A blank page nobody can identify: its image must be kept for the reviewer.
        blank = printed_pages(issued_cli, tmp_path)[0] * 0 + 255
        (inbox / "blank.pdf").write_bytes(pdf_bytes([blank], 150))
        log = tmp_path / "watch.log"
        watcher = _watcher(
            issued_cli,
            inbox,
            work,
            "--workers",
            "1",
            *WATCH_FAST,
            log=log,
        )
        try:
            _wait(lambda: "disk full" in log.read_text(), 60, "the worker to meet the full disk")
            assert _arrivals(issued_cli) == {"queued": 1}
            assert watcher.poll() is None
            filler.unlink()
            _wait(lambda: _arrivals(issued_cli) == {"done": 1}, 60, "the page after space is back")
        finally:
            assert _stop(watcher) == 0
        assert query(issued_cli, "SELECT status FROM scanned_pages") == [("unidentified",)]
        assert list((store / "pages").glob("*.png"))
    finally:
        subprocess.run(["umount", str(store)], check=True)


def test_logs_reports_and_file_names_never_carry_names(tmp_path: Path) -> None:
    """Sentinel names in the certificates and in the scan file names appear nowhere but the
    database."""
    sentinel_child, sentinel_parent = "Zebulon", "Quixotica"
    csv = CERTIFICATES_CSV.read_text()
    lines = csv.splitlines()
    header = lines[0].split(",")
    rows = []
    for line in lines[1:]:
        cells = line.split(",")
        cells[header.index("child_first_name")] = sentinel_child
        cells[header.index("parent_name")] = f"{sentinel_parent} Parent"
        rows.append(",".join(cells))
    sentinel_csv = tmp_path / "certificates.csv"
    sentinel_csv.write_text("\n".join([lines[0], *rows]) + "\n")
    cli = Cli(tmp_path / "attend-data")
    cli.ok("init")
    cli.ok("certificates", "import", str(sentinel_csv))
    cli.ok("sheets", "issue", "--month", MONTH)
    inbox, work = _folders(tmp_path)
    files = write_batch(
        printed_pages(cli, tmp_path), tmp_path / "scans", total_pages=3, pages_per_file=1
    )
    os.rename(files[0], inbox / f"{sentinel_child} {sentinel_parent} march.pdf")
    os.rename(files[1], inbox / f"{sentinel_child}-again.pdf")
    shutil.copy(inbox / f"{sentinel_child}-again.pdf", inbox / f"{sentinel_parent}-dup.pdf")
    (inbox / f"{sentinel_child}-broken.pdf").write_text("garbage")
    blank = printed_pages(cli, tmp_path)[0] * 0 + 255
    (inbox / f"{sentinel_child}-blank.pdf").write_bytes(pdf_bytes([blank], 150))
    log = tmp_path / "watch.log"
    watcher = _watcher(
        cli,
        inbox,
        work,
        "--workers",
        "1",
        "--once",
        *WATCH_FAST,
        log=log,
    )
    assert watcher.wait(timeout=180) == 5  # the broken file
    text = log.read_text() + cli.ok("intake", "report") + cli.ok("intake", "report", "--json")
    assert "claim " in text and "batch " in text  # the log really has content
    derived = [p for p in (*work.rglob("*"), *cli.home.rglob("*"))]
    for sentinel in (sentinel_child, sentinel_parent):
        assert sentinel not in text
        assert not [p for p in derived if sentinel in p.name]
        for path in derived:
            if path.is_file() and path.suffix in (".json", ".log", ".txt"):
                assert sentinel not in path.read_text(errors="replace"), path
    # The database keeps the names the mailroom needs to find a file again.
    names = [n for (n,) in query(cli, "SELECT original_name FROM intake_files")]
    assert any(sentinel_child in n for n in names)


def test_watcher_survives_a_stream_of_bad_files(issued_cli: Cli, tmp_path: Path) -> None:
    inbox, work = _folders(tmp_path)
    watcher = _watcher(
        issued_cli,
        inbox,
        work,
        "--workers",
        "1",
        *WATCH_FAST,
        log=tmp_path / "watch.log",
    )
    try:
        for n in range(10):
            (inbox / f"bad-{n}.pdf").write_bytes(os.urandom(100 + n))
        good = write_batch(
            printed_pages(issued_cli, tmp_path)[:1], tmp_path / "s", total_pages=1, pages_per_file=1
        )
        shutil.copy(good[0], inbox / "good.pdf")
        _wait(lambda: _arrivals(issued_cli) == {"failed": 10, "done": 1}, 120, "all eleven")
        assert watcher.poll() is None
    finally:
        assert _stop(watcher) == 0
    assert len(list((work / "quarantine").glob("*.reason.json"))) == 10


@pytest.mark.slow
def test_every_corpus_file_is_quarantined_with_its_reason_and_good_files_go_on(
    issued_cli: Cli, tmp_path: Path
) -> None:
    from fixtures.badinput import write_corpus

    inbox, work = _folders(tmp_path)
    pages = printed_pages(issued_cli, tmp_path, dpi=200)
    cases = write_corpus(inbox, pages, dpi=200)
    assert {c.expected for c in cases} >= {
        "empty_file",
        "unsupported_format",
        "corrupt_file",
        "encrypted_pdf",
        "page_too_large",
        "rasterizer_timeout",
        "not_a_regular_file",
        "processed",
    }
    log = tmp_path / "watch.log"
    watcher = _watcher(
        issued_cli,
        inbox,
        work,
        "--workers",
        "1",
        "--render-timeout",
        "2",
        *WATCH_FAST,
        log=log,
    )
    try:
        _wait(
            lambda: (
                sum(_arrivals(issued_cli).values()) == len(cases)
                and "queued" not in _arrivals(issued_cli)
                and "claiming" not in _arrivals(issued_cli)
            ),
            300,
            "the corpus",
        )
        # A good file dropped after all of that is processed as usual.
        good = write_batch(pages[:1], tmp_path / "good", total_pages=1, pages_per_file=1, dpi=200)
        shutil.copy(good[0], inbox / "good-after.pdf")
        _wait(
            lambda: (
                sum(_arrivals(issued_cli).values()) == len(cases) + 1
                and "queued" not in _arrivals(issued_cli)
            ),
            120,
            "the good file",
        )
        assert watcher.poll() is None  # the watcher never fell over
    finally:
        assert _stop(watcher) == 0
    rows = query(
        issued_cli,
        "SELECT original_name, state, reason, page_count, file_id FROM intake_files ORDER BY id",
    )
    by_name = {
        str(name): (state, reason, count, file_id) for name, state, reason, count, file_id in rows
    }
    for case in cases:
        state, reason, count, file_id = by_name[case.name]
        if case.expected == "processed":
            assert (state, count) == ("done", case.pages), (case.name, state, reason)
            statuses = query(
                issued_cli, f"SELECT status FROM scanned_pages WHERE file_id = {file_id}"
            )
            assert {s for (s,) in statuses} <= {"identified", "duplicate"}, case.name
        else:
            assert (state, reason) == ("failed", case.expected), case.name
            claim = next(
                iter(
                    query(
                        issued_cli,
                        f"SELECT claim_id FROM intake_files WHERE original_name = '{case.name}'",
                    )
                )
            )[0]
            reason_file = json.loads((work / "quarantine" / f"{claim}.reason.json").read_text())
            assert reason_file["reason"] == case.expected
    assert by_name["good-after.pdf"][0] == "done"
    assert os.listdir(inbox) == [] and os.listdir(work / "processing") == []


@pytest.mark.root
def test_a_file_that_cannot_be_moved_is_left_alone_and_the_rest_go_on(
    issued_cli: Cli, tmp_path: Path
) -> None:
    inbox, work = _folders(tmp_path)
    stuck_dir = inbox / "read-only"
    stuck_dir.mkdir()
    pages = printed_pages(issued_cli, tmp_path)
    files = write_batch(pages, tmp_path / "scans", total_pages=2, pages_per_file=1)
    shutil.copy(files[0], stuck_dir / "Zebulon stuck.pdf")
    # A read-only bind mount: even root cannot move a file out of it.
    subprocess.run(["mount", "--bind", str(stuck_dir), str(stuck_dir)], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(stuck_dir)], check=True)
    log = tmp_path / "watch.log"
    try:
        watcher = _watcher(
            issued_cli,
            inbox,
            work,
            "--workers",
            "1",
            *WATCH_FAST,
            log=log,
        )
        try:
            shutil.copy(files[1], inbox / "fine.pdf")
            _wait(lambda: _arrivals(issued_cli) == {"done": 1}, 120, "the movable file")
            _wait(lambda: "cannot be moved" in log.read_text(), 30, "the error line")
            time.sleep(3)  # several more passes: still alive, no second error line
            assert watcher.poll() is None
        finally:
            assert _stop(watcher) == 0
    finally:
        subprocess.run(["umount", str(stuck_dir)], check=True)
    text = log.read_text()
    assert text.count("cannot be moved") == 1 and "Zebulon" not in text
    assert (stuck_dir / "Zebulon stuck.pdf").exists()
    assert _arrivals(issued_cli) == {"done": 1}


def test_a_batch_left_open_by_an_earlier_run_is_reported_when_it_finishes(
    issued_cli: Cli, tmp_path: Path
) -> None:
    inbox, work = _folders(tmp_path)
    write_batch(printed_pages(issued_cli, tmp_path)[:2], inbox, total_pages=2, pages_per_file=1)
    # Claimed with no worker running: the run ends with its batch still open, unreported.
    claimed = issued_cli(
        "intake", "watch", str(inbox), "--work", str(work), "--workers", "0", "--once", *WATCH_FAST
    )
    assert claimed.code == 0, claimed.err
    assert _arrivals(issued_cli) == {"queued": 2}
    assert list((work / "reports").iterdir()) == []
    issued_cli.ok("intake", "worker", "--work", str(work), "--drain", "--poll", "0.1")
    # The next watcher run reports it.
    result = issued_cli(
        "intake",
        "watch",
        str(inbox),
        "--work",
        str(work),
        "--workers",
        "0",
        "--once",
        "--json",
        *WATCH_FAST,
    )
    assert result.code == 0, result.err
    reports = list((work / "reports").iterdir())
    assert len(reports) == 1
    report = json.loads(reports[0].read_text())
    assert report["files"]["done"] == 2 and report["pages"]["identified"] == 2
