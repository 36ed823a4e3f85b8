"""The intake queue on real SQLite and PostgreSQL: claims, duplicates, quarantine, leases,
recovery after a crash at each step, uploads with hostile names."""

from __future__ import annotations

import io
import json
import os
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from attendance.models import ArrivalState
from intake.folders import IntakeDirs
from intake.oneshot import Reading
from intake.queue import (
    LeaseLost,
    accept_upload,
    claim_job,
    claim_path,
    complete_job,
    display_name,
    forgive_attempt,
    mend_claim,
    new_batch_id,
    place_unplaced,
    recover,
    release_job,
)
from intake.worker import Worker, WorkerOptions
from scanner.digits import DigitReader
from scanner.errors import Reason, ScanError
from tests.batches import exactly_once, pdf_bytes, printed_pages, query, write_batch
from tests.conftest import Cli
from tests.sheetdb import engine_for


@pytest.fixture(scope="module")
def reading() -> Reading:
    return Reading(reader=DigitReader.load())


def _setup(cli: Cli, tmp_path: Path) -> tuple[object, IntakeDirs, Path]:
    engine = engine_for(cli)
    dirs = IntakeDirs(tmp_path / "work")
    dirs.ensure()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    return engine, dirs, inbox


def _drain(cli: Cli, engine: object, dirs: IntakeDirs, reading: Reading | None) -> None:
    worker = Worker(
        engine,  # type: ignore[arg-type]
        dirs,
        store_dir=cli.home / "store",
        reading=reading,
        options=WorkerOptions(worker_id="test", drain=True, poll_s=0.05),
    )
    stats = worker.run(threading.Event())
    assert stats.lock_errors == 0 and stats.lease_lost == 0


def test_claimed_files_are_processed_once_and_archived(
    issued_backend: Cli, tmp_path: Path, reading: Reading
) -> None:
    engine, dirs, inbox = _setup(issued_backend, tmp_path)
    pages = printed_pages(issued_backend, tmp_path)
    files = write_batch(pages, inbox, total_pages=7, pages_per_file=4)
    original = {p.name: p.read_bytes() for p in files}
    batch = new_batch_id()
    arrivals = [claim_path(engine, dirs, p, name=p.name, batch_id=batch) for p in files]  # type: ignore[arg-type]
    assert [a.state if a else None for a in arrivals] == ["queued", "queued"]
    assert os.listdir(inbox) == []  # claimed by rename: the inbox is empty at once
    _drain(issued_backend, engine, dirs, reading)
    exactly_once(issued_backend, dirs.work, files=2, pages=7)
    # The archive holds the original bytes, unmodified, named by hash.
    archived = sorted(p.read_bytes() for p in dirs.archive.rglob("*") if p.is_file())
    assert archived == sorted(original.values())
    received = query(issued_backend, "SELECT count(*) FROM sheets WHERE received_at IS NOT NULL")
    assert received == [(7,)]
    # Readings were stored for the identified pages.
    assert query(issued_backend, "SELECT count(DISTINCT page_id) FROM field_readings") == [(7,)]


def test_same_bytes_under_another_name_is_a_duplicate(issued_backend: Cli, tmp_path: Path) -> None:
    engine, dirs, inbox = _setup(issued_backend, tmp_path)
    data = pdf_bytes(printed_pages(issued_backend, tmp_path)[:2], 150)
    batch = new_batch_id()
    (inbox / "first.pdf").write_bytes(data)
    first = claim_path(engine, dirs, inbox / "first.pdf", name="first.pdf", batch_id=batch)  # type: ignore[arg-type]
    (inbox / "again.pdf").write_bytes(data)
    again = claim_path(engine, dirs, inbox / "again.pdf", name="again.pdf", batch_id=batch)  # type: ignore[arg-type]
    assert first is not None and again is not None
    assert (first.state, again.state) == ("queued", "duplicate")
    _drain(issued_backend, engine, dirs, None)
    # Moved aside with its reason, recorded, and not counted again.
    reason = json.loads((dirs.duplicates / f"{again.claim_id}.reason.json").read_text())
    assert reason["reason"] == "duplicate" and reason["sha256"] == first.sha256
    assert (dirs.duplicates / again.claim_id).read_bytes() == data
    assert query(issued_backend, "SELECT count(*) FROM scanned_files") == [(1,)]
    assert query(issued_backend, "SELECT count(*) FROM scanned_pages") == [(2,)]
    states = dict(query(issued_backend, "SELECT state, count(*) FROM intake_files GROUP BY state"))
    assert states == {"done": 1, "duplicate": 1}


def test_bad_file_is_quarantined_with_its_reason_and_the_next_is_processed(
    issued_backend: Cli, tmp_path: Path
) -> None:
    engine, dirs, inbox = _setup(issued_backend, tmp_path)
    (inbox / "letter.pdf").write_text("Dear sir, this is not a scan.\n")
    good = write_batch(
        printed_pages(issued_backend, tmp_path)[:1], inbox, total_pages=1, pages_per_file=1
    )
    batch = new_batch_id()
    bad = claim_path(engine, dirs, inbox / "letter.pdf", name="letter.pdf", batch_id=batch)  # type: ignore[arg-type]
    ok = claim_path(engine, dirs, good[0], name="good.pdf", batch_id=batch)  # type: ignore[arg-type]
    assert bad is not None and bad.state == "failed" and bad.reason == "unsupported_format"
    assert ok is not None and ok.state == "queued"
    _drain(issued_backend, engine, dirs, None)
    reason = json.loads((dirs.quarantine / f"{bad.claim_id}.reason.json").read_text())
    assert reason["reason"] == "unsupported_format"
    assert "letter" not in json.dumps(reason)  # no original names in derived files
    assert (dirs.quarantine / bad.claim_id).read_text().startswith("Dear sir")
    states = dict(query(issued_backend, "SELECT state, count(*) FROM intake_files GROUP BY state"))
    assert states == {"done": 1, "failed": 1}


def test_fifo_and_symlink_are_quarantined_without_being_opened(
    issued_backend: Cli, tmp_path: Path
) -> None:
    engine, dirs, inbox = _setup(issued_backend, tmp_path)
    secret = tmp_path / "outside.pdf"
    secret.write_bytes(pdf_bytes(printed_pages(issued_backend, tmp_path)[:1], 150))
    os.mkfifo(inbox / "pipe.pdf")
    os.symlink(secret, inbox / "link.pdf")
    batch = new_batch_id()
    started = time.monotonic()
    for name in ("pipe.pdf", "link.pdf"):
        arrival = claim_path(engine, dirs, inbox / name, name=name, batch_id=batch)  # type: ignore[arg-type]
        assert arrival is not None and arrival.state == "failed"
        assert arrival.reason == "not_a_regular_file"
    assert time.monotonic() - started < 10  # opening the FIFO would have blocked forever
    messages = [m for (m,) in query(issued_backend, "SELECT message FROM intake_files ORDER BY id")]
    assert "named pipe" in messages[0] and "symbolic link" in messages[1]
    assert secret.exists()  # the link's target is untouched, and was not read
    assert query(issued_backend, "SELECT count(*) FROM scanned_files") == [(0,)]


def test_recovery_after_a_crash_at_each_claim_step(issued_backend: Cli, tmp_path: Path) -> None:
    engine, dirs, inbox = _setup(issued_backend, tmp_path)
    data = pdf_bytes(printed_pages(issued_backend, tmp_path)[:1], 150)
    from attendance.db import session_scope
    from attendance.models import IntakeFile

    # Crash after the row, before the rename: the file is still in the inbox.
    (inbox / "a.pdf").write_bytes(data)
    # Crash after the rename, before admission: the file sits in processing.
    (dirs.processing / "20261123T000000-000000000002").write_bytes(data + b"\n% b")
    with session_scope(engine) as session:  # type: ignore[arg-type]
        for claim_id in ("20261123T000000-000000000001", "20261123T000000-000000000002"):
            session.add(
                IntakeFile(
                    claim_id=claim_id,
                    batch_id="b",
                    source="watch",
                    original_name="x.pdf",
                    state=ArrivalState.CLAIMING.value,
                )
            )
    assert recover(engine, dirs) == 2  # type: ignore[arg-type]
    rows = query(issued_backend, "SELECT claim_id, state FROM intake_files ORDER BY claim_id")
    assert rows == [("20261123T000000-000000000002", "queued")]
    assert (inbox / "a.pdf").exists()  # left for the watcher to claim again
    # Crash after finishing, before the move: the next pass places the file.
    _drain(issued_backend, engine, dirs, None)
    assert place_unplaced(engine, dirs) == 0  # type: ignore[arg-type]
    assert os.listdir(dirs.processing) == []


def test_a_dead_workers_job_is_taken_again_after_its_lease(
    issued_backend: Cli, tmp_path: Path
) -> None:
    engine, dirs, inbox = _setup(issued_backend, tmp_path)
    files = write_batch(
        printed_pages(issued_backend, tmp_path)[:1], inbox, total_pages=1, pages_per_file=1
    )
    claim_path(engine, dirs, files[0], name="one.pdf", batch_id=new_batch_id())  # type: ignore[arg-type]
    dead = claim_job(engine, "dead", lease_s=0.5)  # type: ignore[arg-type]
    assert dead is not None
    assert claim_job(engine, "alive", lease_s=30) is None  # type: ignore[arg-type]  # held
    time.sleep(0.7)
    alive = claim_job(engine, "alive", lease_s=30)  # type: ignore[arg-type]
    assert alive is not None and alive.job_id == dead.job_id and alive.attempts == 2
    failure = ScanError(Reason.CORRUPT_FILE, "test")
    with pytest.raises(LeaseLost):
        complete_job(engine, dead, failure, actor="t", model_version=None)  # type: ignore[arg-type]
    # The late worker wrote nothing; the live one records the page exactly once.
    assert query(issued_backend, "SELECT count(*) FROM scanned_pages") == [(0,)]
    from intake.oneshot import read_page
    from scanner.load import load_page

    page = load_page(dirs.processing / alive.claim_id, 1)
    result = read_page(
        page,
        sha=alive.sha256,
        store_dir=tmp_path / "store",
        context_for=lambda _s: None,
        reading=None,
    )
    assert complete_job(engine, alive, result, actor="t", model_version=None) is not None  # type: ignore[arg-type]
    assert query(issued_backend, "SELECT count(*), min(status) FROM scanned_pages") == [
        (1, "identified")
    ]


def test_a_page_that_kills_every_worker_fails_instead_of_looping(
    issued_backend: Cli, tmp_path: Path
) -> None:
    engine, dirs, inbox = _setup(issued_backend, tmp_path)
    files = write_batch(
        printed_pages(issued_backend, tmp_path)[:1], inbox, total_pages=1, pages_per_file=1
    )
    arrival = claim_path(engine, dirs, files[0], name="x.pdf", batch_id=new_batch_id())  # type: ignore[arg-type]
    assert arrival is not None
    for attempt in range(4):
        assert claim_job(engine, f"w{attempt}", lease_s=0.01) is not None  # type: ignore[arg-type]
        time.sleep(0.05)  # ... and the worker dies
    assert claim_job(engine, "w5", lease_s=0.01) is None  # type: ignore[arg-type]
    assert place_unplaced(engine, dirs) == 1  # type: ignore[arg-type]
    reason = json.loads((dirs.quarantine / f"{arrival.claim_id}.reason.json").read_text())
    assert reason["reason"] == "worker_crashed"
    assert reason["failed_pages"][0]["page"] == 1


def test_uploads_with_hostile_names_are_stored_by_id_only(
    issued_backend: Cli, tmp_path: Path
) -> None:
    engine, dirs, _inbox = _setup(issued_backend, tmp_path)
    data = pdf_bytes(printed_pages(issued_backend, tmp_path)[:1], 150)
    names: list[str | bytes] = [
        "../../../etc/cron.d/evil.pdf",
        "scan\x00.pdf",
        "x" * 250 + ".pdf",
        b"\xff\xfe-bad-utf8.pdf",
    ]
    batch = new_batch_id()
    before = set(tmp_path.rglob("*"))
    for index, name in enumerate(names):
        payload = data + f"\n% {index}\n".encode()
        arrival = accept_upload(engine, dirs, io.BytesIO(payload), name=name, batch_id=batch)  # type: ignore[arg-type]
        assert arrival.state == "queued"
    _drain(issued_backend, engine, dirs, None)
    stored = [
        n for (n,) in query(issued_backend, "SELECT original_name FROM intake_files ORDER BY id")
    ]
    assert stored[0] == "../../../etc/cron.d/evil.pdf"  # kept as text, never used as a path
    assert stored[1] == "scan?.pdf"
    assert len(stored[2]) == 254 and stored[3].startswith("\ufffd")
    created = set(tmp_path.rglob("*")) - before
    assert all(dirs.work in p.parents or (issued_backend.home in p.parents) for p in created)
    assert not any("evil" in p.name or "xxxx" in p.name for p in created)


def test_display_name() -> None:
    assert display_name("a\x00b\x1fc") == "a?b?c"
    assert display_name(b"caf\xc3\xa9.pdf") == "café.pdf"
    assert display_name("") == "(no name)"
    assert len(display_name("y" * 1000)) == 255


def test_bytes_that_failed_are_read_anew_when_dropped_again(
    issued_backend: Cli, tmp_path: Path, reading: Reading
) -> None:
    engine, dirs, inbox = _setup(issued_backend, tmp_path)
    files = write_batch(
        printed_pages(issued_backend, tmp_path)[:1], inbox, total_pages=1, pages_per_file=1
    )
    data = files[0].read_bytes()
    first = claim_path(engine, dirs, files[0], name="x.pdf", batch_id=new_batch_id())  # type: ignore[arg-type]
    assert first is not None
    for attempt in range(4):  # the page kills every worker that takes it
        assert claim_job(engine, f"w{attempt}", lease_s=0.01) is not None  # type: ignore[arg-type]
        time.sleep(0.05)
    assert claim_job(engine, "w5") is None  # type: ignore[arg-type]
    place_unplaced(engine, dirs)  # type: ignore[arg-type]
    received = "SELECT count(*) FROM sheets WHERE received_at IS NOT NULL"
    assert query(issued_backend, received) == [(0,)]
    # The mailroom drops the same bytes again once the cause is fixed.
    (inbox / "again.pdf").write_bytes(data)
    again = claim_path(engine, dirs, inbox / "again.pdf", name="again.pdf", batch_id=new_batch_id())  # type: ignore[arg-type]
    assert again is not None and again.state == "queued"
    _drain(issued_backend, engine, dirs, reading)
    assert query(issued_backend, "SELECT status FROM scanned_pages") == [("identified",)]
    received = "SELECT count(*) FROM sheets WHERE received_at IS NOT NULL"
    assert query(issued_backend, received) == [(1,)]
    states = dict(query(issued_backend, "SELECT state, count(*) FROM intake_files GROUP BY state"))
    assert states == {"failed": 1, "done": 1}


def test_an_outage_cut_claim_is_mended_and_mending_twice_does_nothing(
    issued_backend: Cli, tmp_path: Path
) -> None:
    """GIVEN two claims a database outage cut short: one whose file never left the inbox,
    one whose file was moved into processing before its admission failed
    WHEN the watcher mends each (twice, as it may after a second outage)
    THEN the first row is gone and its file waits in the inbox; the second is queued; a
    claim id that never reached the database, or that is queued already, is left alone."""
    engine, dirs, inbox = _setup(issued_backend, tmp_path)
    data = pdf_bytes(printed_pages(issued_backend, tmp_path)[:1], 150)
    from attendance.db import session_scope
    from attendance.models import IntakeFile

    (inbox / "a.pdf").write_bytes(data)
    (dirs.processing / "20261123T000000-00000000000b").write_bytes(data + b"\n% b")
    with session_scope(engine) as session:  # type: ignore[arg-type]
        for claim_id in ("20261123T000000-00000000000a", "20261123T000000-00000000000b"):
            session.add(
                IntakeFile(
                    claim_id=claim_id,
                    batch_id="b",
                    source="watch",
                    original_name="x.pdf",
                    state=ArrivalState.CLAIMING.value,
                )
            )
    for _twice in range(2):
        for claim_id in ("20261123T000000-00000000000a", "20261123T000000-00000000000b"):
            mend_claim(engine, dirs, claim_id)  # type: ignore[arg-type]
        mend_claim(engine, dirs, "20261123T000000-00000000000c")  # type: ignore[arg-type]
    rows = query(issued_backend, "SELECT claim_id, state FROM intake_files ORDER BY claim_id")
    assert rows == [("20261123T000000-00000000000b", "queued")]
    assert (inbox / "a.pdf").read_bytes() == data
    assert query(issued_backend, "SELECT count(*) FROM page_jobs") == [(1,)]


def test_attempts_count_only_workers_that_died(issued_backend: Cli, tmp_path: Path) -> None:
    """GIVEN a queued page
    WHEN one worker gives it back (a full disk), one loses it while the database was away
    from it (its lease ran out, another took it), and one dies holding it
    THEN a release says whether it was still the worker's, a lost claim is forgiven, and
    the page's attempts count the dead worker and the live one only; a worker back from
    an outage leaves an expired lease alone when asked to."""
    engine, dirs, inbox = _setup(issued_backend, tmp_path)
    files = write_batch(
        printed_pages(issued_backend, tmp_path)[:1], inbox, total_pages=1, pages_per_file=1
    )
    claim_path(engine, dirs, files[0], name="one.pdf", batch_id=new_batch_id())  # type: ignore[arg-type]
    attempts = "SELECT attempts FROM page_jobs"
    disk_full = claim_job(engine, "disk-full")  # type: ignore[arg-type]
    assert disk_full is not None and release_job(engine, disk_full)  # type: ignore[arg-type]
    assert query(issued_backend, attempts) == [(0,)]
    cut_off = claim_job(engine, "cut-off", lease_s=0.3)  # type: ignore[arg-type]
    assert cut_off is not None and cut_off.attempts == 1
    time.sleep(0.5)
    assert claim_job(engine, "back", take_expired=False) is None  # type: ignore[arg-type]
    dies = claim_job(engine, "dies", lease_s=0.3)  # type: ignore[arg-type]
    assert dies is not None and dies.attempts == 2
    # The cut-off worker comes back: its release finds the job someone else's ...
    assert not release_job(engine, cut_off)  # type: ignore[arg-type]
    with pytest.raises(LeaseLost):
        complete_job(
            engine, cut_off, ScanError(Reason.CORRUPT_FILE, "x"), actor="t", model_version=None
        )  # type: ignore[arg-type]
    forgive_attempt(engine, cut_off)  # type: ignore[arg-type]  # ... and its claim is not counted
    assert query(issued_backend, attempts) == [(1,)]
    time.sleep(0.5)  # "dies" never comes back: its lease runs out
    live = claim_job(engine, "live")  # type: ignore[arg-type]
    assert live is not None and live.attempts == 2
    assert query(issued_backend, "SELECT attempts, lease_owner FROM page_jobs") == [(2, "live")]


def test_two_workers_placing_the_same_files_at_once_both_carry_on(
    issued_backend: Cli, tmp_path: Path
) -> None:
    """GIVEN 40 finished files still in processing (20 failed, 20 done)
    WHEN two workers place them at the same moment (one just finished a page, the other idle
    and tidying up: CI saw a worker die of this on PostgreSQL)
    THEN neither raises: each file is moved once, to its folder, and recorded as placed."""
    engine, dirs, inbox = _setup(issued_backend, tmp_path)
    batch = new_batch_id()
    claims = []
    for n in range(40):
        (inbox / f"letter-{n}.pdf").write_text(f"Letter {n}: this is not a scan.\n")
        arrival = claim_path(engine, dirs, inbox / f"letter-{n}.pdf", name="x.pdf", batch_id=batch)  # type: ignore[arg-type]
        assert arrival is not None and arrival.state == "failed" and arrival.sha256
        claims.append(arrival.claim_id)
    # Back in processing, unplaced, as if each worker had just committed its last page.
    for claim_id in claims:
        (dirs.quarantine / claim_id).rename(dirs.processing / claim_id)
        (dirs.quarantine / f"{claim_id}.reason.json").unlink()
    done = claims[::2]  # as if read: the archive path, named by hash
    with engine.begin() as connection:  # type: ignore[attr-defined]
        connection.execute(text("UPDATE intake_files SET placed_in = NULL, placed_at = NULL"))
        ids = ", ".join(f"'{c}'" for c in done)
        done_sql = f"UPDATE intake_files SET state = 'done' WHERE claim_id IN ({ids})"
        connection.execute(text(done_sql))
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def placer() -> None:
        start.wait()
        try:
            for _ in range(3):
                place_unplaced(engine, dirs)  # type: ignore[arg-type]
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=placer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert os.listdir(dirs.processing) == []
    assert sorted(p.name for p in dirs.quarantine.iterdir() if ".reason" not in p.name) == sorted(
        set(claims) - set(done)
    )
    assert len([p for p in dirs.archive.rglob("*") if p.is_file()]) == len(done)
    placed = query(issued_backend, "SELECT placed_in, count(*) FROM intake_files GROUP BY 1")
    assert dict(placed) == {"archive": 20, "quarantine": 20}
