"""Fault benchmark: the watched folder on a real PostgreSQL through what goes wrong in a mailroom.

A throwaway PostgreSQL cluster is started (as the user postgres when run as root, like the
tests), then each scenario runs the real commands as an operator would: one watcher
(`attend intake watch INBOX --workers 0`) and two workers (`attend intake worker --id wN`), each
its own process, restarted 5 s after it exits like the shipped systemd units
(`Restart=on-failure`, `RestartSec=5s`). The input is realistic: sheets issued for a month,
printed, filled in by hand and scanned (`fixtures.scanbatch`, `fixtures.fill`) into multi-page
PDFs, Group 4 TIFFs, JPEGs and PNGs with a blank page in each group (130 pages in 20 files by
default). The files are dropped into the inbox at once; the fault is made when 30 % of the pages
are recorded; when the batch is done, the services are left idle for 5 s (a worker whose LISTEN
connection died used to fall over at its first idle moment), then one more file is dropped and
must be processed too.

Scenarios:

- `race`: each of the 7 demo sheets (fixtures/certificates.csv) scanned twice as different
  bytes (a JPEG and a one-page PDF), `attend intake watch INBOX --workers N --once` with 2 and
  4 workers, several runs each: how many sheets were received more than once.
- `baseline`: no fault; the other scenarios' wall times are given as ratios to it.
- `restart`: `pg_ctl restart -m fast`.
- `stop-start`: `pg_ctl stop -m fast`, 20 s without a server (longer than the 15 s lease, so
  the leases of the pages in hand run out meanwhile), `pg_ctl start`.
- `terminate`: `pg_terminate_backend` on every connection of the watcher and the workers,
  LISTEN connections included, mid-batch and again when they are idle.
- `kill-storm`: 15 times, `kill -9` of a worker that holds a page; the time until another
  worker takes the page is measured (the lease).
- `full-disk`: the data folder's store on a small tmpfs, filled up for 15 s (needs root to
  mount; skipped otherwise).

Per scenario it prints pages expected / recorded / recorded twice / missing, sheets received
more than once, processes that exited (and how) apart from the bench's own kills, the time to
recover (from the end of the fault to the next page recorded; for kills, to the page taken
again), the attempts counted (page claims beyond the first, which should count only killed
workers) and the wall time and its ratio to the baseline. Exit status 1 when a page was lost or
recorded twice or a batch did not finish; sheets received twice (`race`) are reported, not
failed on, until the receipt takes the sheet's row lock (issue 17, part 1).

    .venv/bin/python scripts/bench_faults.py
    .venv/bin/python scripts/bench_faults.py --scenarios race,restart --race-runs 3
    .venv/bin/python scripts/bench_faults.py --code /path/to/other/checkout   # compare versions
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fixtures.fill import fill_page, plan_sheet
from fixtures.postgres import Cluster
from fixtures.scanbatch import make_batch, write_image, write_pdf
from forms.layout import build_layout
from forms.payload import decode_payload
from scanner.barcode import find_barcode
from scanner.load import count_pages, load_pages
from scanner.simulate import simulate_scan

REPO = Path(__file__).resolve().parent.parent
MONTH = "2026-11"
MONTH_DATE = dt.date(2026, 11, 1)
NOW = dt.datetime(2026, 12, 2, 17, 0, tzinfo=dt.UTC)  # in time for November's sheets
RESTART_S = 5.0  # RestartSec= of the systemd units
IDLE_S = 5.0
TRIGGER = 0.3
OUTAGE_S = 20.0
KILLS = 15
FULL_S = 15.0
WORKERS = 2
SCENARIOS = (
    "race",
    "baseline",
    "restart",
    "stop-start",
    "terminate",
    "kill-storm",
    "full-disk",
)


# --- the commands --------------------------------------------------------------------------


@dataclass(frozen=True)
class Attend:
    """How to run `attend` from a checkout (this one, or another to compare with)."""

    code: Path
    clock_shift_s: int

    def env(self, url: str, home: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATTEND_")}
        env.update(
            ATTEND_HOME=str(home),
            ATTEND_DATABASE_URL=url,
            ATTEND_CLOCK_SHIFT_S=str(self.clock_shift_s),
            PYTHONPATH=str(self.code),
            PYTHONUNBUFFERED="1",
        )
        return env

    def argv(self, *args: str) -> list[str]:
        # (The command line moved from attendance/cli.py to cli/: either checkout runs.)
        module = "cli" if (self.code / "cli" / "__main__.py").exists() else "attendance.cli"
        return [sys.executable, "-m", module, "-v", *args]

    def run(self, url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.argv(*args),
            env=self.env(url, home),
            cwd=self.code,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise SystemExit(
                f"bench_faults: `attend {' '.join(args)}` exited {result.returncode}:\n"
                f"{result.stderr.strip()[-2000:]}"
            )
        return result

    def popen(self, url: str, home: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(
                self.argv(*args),
                env=self.env(url, home),
                cwd=self.code,
                stdout=out,
                stderr=subprocess.STDOUT,
            )


# --- the input -----------------------------------------------------------------------------


@dataclass
class Sample:
    """Scan files in `folder` and, per file, its page count."""

    folder: Path
    pages: dict[str, int]  # file name -> pages

    @property
    def total(self) -> int:
        return sum(self.pages.values())


def write_certificates(path: Path, count: int, providers: int) -> None:
    """`count` fictional full-time certificates over `providers` providers, active all month."""
    with (REPO / "fixtures" / "certificates.csv").open(newline="", encoding="utf-8") as fixture:
        header = next(csv.reader(fixture))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        for i in range(count):
            p = i % providers
            writer.writerow(
                {
                    "certificate_id": f"C-F{i + 1:05d}",
                    "child_first_name": f"Child{i + 1}",
                    "child_last_name": "Faultbench",
                    "child_birth_date": f"{2020 + i % 5}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                    "parent_name": f"Parent {i + 1}",
                    "provider_id": f"P-F{p + 1:02d}",
                    "provider_name": f"Fault Bench Provider {p + 1}",
                    "provider_type": "licensed_center",
                    "start_date": "2026-07-01",
                    "end_date": "2027-06-30",
                    "schedule": "Mon-Fri 07:30-17:30",
                    "weekly_hours": "50",
                    "schedule_type": "full_time",
                    "specialist_name": "Specialist 1",
                    "specialist_phone": "(555) 010-2000",
                }
            )


def _scan_group(task: tuple[str, str, int]) -> dict[str, int]:
    """One provider's printed PDF filled in and scanned as a mailroom batch (4 files)."""
    pdf, out, seed = task
    truth = make_batch([Path(pdf)], Path(out), seed=seed, fill_month=MONTH_DATE)
    pages: dict[str, int] = {}
    for t in truth:
        pages[t.file] = max(pages.get(t.file, 0), t.page)
    return pages


def make_mail_sample(attend: Attend, pg: Cluster, root: Path, *, pages: int, groups: int) -> Sample:
    """Database `mail` (sheets issued) and its scanned batch: `groups` providers, 4 files each."""
    url = pg.create_database("mail")
    home = root / "mail-home"
    certificates = root / "mail-certificates.csv"
    write_certificates(certificates, pages - groups, groups)  # + one blank page per group
    attend.run(url, home, "init")
    attend.run(url, home, "certificates", "import", str(certificates))
    attend.run(url, home, "sheets", "issue", "--month", MONTH)
    printed = root / "mail-printed"
    attend.run(url, home, "sheets", "print", "--month", MONTH, "-o", f"{printed}/")
    pdfs = sorted(printed.glob("*.pdf"))
    folder = root / "mail-scans"
    folder.mkdir()
    tasks = [(str(p), str(root / f"group-{k + 1}"), 7 + k) for k, p in enumerate(pdfs)]
    sample = Sample(folder, {})
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for (_pdf, out, _seed), done in zip(tasks, pool.map(_scan_group, tasks), strict=True):
            group = Path(out).name
            for name, count in done.items():
                os.rename(Path(out) / name, folder / f"{group}-{name}")
                sample.pages[f"{group}-{name}"] = count
    assert sum(count_pages(folder / n) for n in sample.pages) == sample.total
    return sample


def _fill_and_scan(page: np.ndarray, dpi: int, seed: int) -> np.ndarray:
    barcode = find_barcode(page, dpi=dpi)
    payload = decode_payload(barcode.text) if barcode else None
    if payload is None:
        raise RuntimeError("a printed sheet's QR code was not read")
    layout = build_layout(payload.serial, MONTH_DATE)
    rng = np.random.default_rng(seed)
    filled = fill_page(page, dpi, layout, plan_sheet(layout, rng, font_rate=0.0), rng)
    return simulate_scan(filled, skew_deg=round(float(rng.uniform(-2, 2)), 2), noise=4.0, seed=seed)


def make_race_sample(attend: Attend, pg: Cluster, root: Path) -> Sample:
    """Database `race` (the 7 demo sheets issued) and each sheet scanned twice: a JPEG and a
    one-page PDF of the same scan, so different bytes of the same sheet."""
    url = pg.create_database("race")
    home = root / "race-home"
    attend.run(url, home, "init")
    attend.run(url, home, "certificates", "import", str(REPO / "fixtures" / "certificates.csv"))
    attend.run(url, home, "sheets", "issue", "--month", MONTH)
    printed = root / "race-printed.pdf"
    attend.run(url, home, "sheets", "print", "--month", MONTH, "-o", str(printed))
    folder = root / "race-scans"
    folder.mkdir()
    sample = Sample(folder, {})
    for index, page in enumerate(load_pages(printed, dpi=300)):
        scanned = _fill_and_scan(page.image, 300, 100 + index)
        write_image(scanned, folder / f"sheet-{index + 1:02d}-a.jpg", 300)
        write_pdf([scanned], folder / f"sheet-{index + 1:02d}-b.pdf", 300)
        sample.pages |= {f"sheet-{index + 1:02d}-a.jpg": 1, f"sheet-{index + 1:02d}-b.pdf": 1}
    return sample


def drop(files: Sequence[Path], inbox: Path) -> None:
    """Into the inbox the way a scanner writes: a hidden partial name, then a rename."""
    for path in files:
        partial = inbox / f".{path.name}.part"
        shutil.copyfile(path, partial)
        os.rename(partial, inbox / path.name)


# --- the database, seen from outside -------------------------------------------------------


def _query(pg: Cluster, database: str, sql: str) -> list[tuple[Any, ...]]:
    return pg.execute(sql, database)


def _count(pg: Cluster, database: str, sql: str) -> int | None:
    """One number, or None while the server does not answer."""
    import psycopg

    try:
        return int(_query(pg, database, sql)[0][0] or 0)
    except psycopg.Error:
        return None


FINISHED_JOBS = "SELECT count(*) FROM page_jobs WHERE state IN ('done', 'failed')"
TERMINAL = "SELECT count(*) FROM intake_files WHERE state IN ('done', 'failed', 'duplicate')"


def wait_for(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return False


# --- services, supervised like systemd units ------------------------------------------------


@dataclass
class Exit:
    service: str
    code: int
    at_s: float  # since the scenario started
    by_bench: bool = False  # our own kill -9


class Service:
    """One process, started again RESTART_S after it exits (unless the bench is stopping).

    Each start has its own id (`w1-1`, `w1-2`, ...), so a page job's lease owner tells which
    start holds it; the systemd units reuse HOST-N, which changes nothing for the queue.
    """

    def __init__(self, name: str, start: Callable[[str], subprocess.Popen[bytes]]) -> None:
        self.name, self._start = name, start
        self.process: subprocess.Popen[bytes] | None = None
        self.restart_at: float | None = None
        self.killing = False
        self.starts = 0

    @property
    def ident(self) -> str:
        return f"{self.name}-{self.starts}"

    def start(self) -> None:
        self.starts += 1
        self.process = self._start(self.ident)
        self.restart_at = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Supervisor:
    """The watcher and the workers, each restarted 5 s after it exits; every exit recorded."""

    def __init__(self, services: list[Service], t0: float) -> None:
        self.services, self.t0 = services, t0
        self.exits: list[Exit] = []
        self.stop_codes: dict[str, int] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> None:
        for service in self.services:
            service.start()
        self.thread.start()

    def _watch(self) -> None:
        while not self.stopping.wait(0.1):
            with self.lock:
                now = time.monotonic()
                for s in self.services:
                    if s.process is not None and s.restart_at is None and not s.alive():
                        code = s.process.returncode
                        self.exits.append(Exit(s.name, code, now - self.t0, s.killing))
                        s.killing = False
                        s.restart_at = now + RESTART_S
                    if s.restart_at is not None and now >= s.restart_at:
                        s.start()

    def kill(self, service: Service) -> None:
        with self.lock:
            if service.alive() and service.process is not None:
                service.killing = True
                service.process.send_signal(signal.SIGKILL)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()
        for s in self.services:
            if s.alive() and s.process is not None:
                s.process.send_signal(signal.SIGTERM)
        for s in self.services:
            if s.process is None:
                continue
            try:
                self.stop_codes[s.name] = s.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                s.process.kill()
                self.stop_codes[s.name] = s.process.wait()


# --- one scenario --------------------------------------------------------------------------


@dataclass
class Result:
    scenario: str
    files: int = 0
    pages_expected: int = 0
    pages_recorded: int = 0
    pages_twice: int = 0
    pages_missing: int = 0
    pages_failed: int = 0
    sheets_twice: int = 0
    finished: bool = False
    wall_s: float = 0.0
    exits: list[str] = field(default_factory=list)  # "w1: 1 at 40.2 s"
    kills: int = 0
    stop_codes: dict[str, int] = field(default_factory=dict)
    recover_s: list[float] = field(default_factory=list)
    attempts_counted: int = 0
    max_attempts: int = 0
    log_lines: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.finished
            and not self.pages_twice
            and not self.pages_missing
            and not self.pages_failed
        )


@dataclass
class Context:
    attend: Attend
    pg: Cluster
    root: Path
    sample: Sample
    race: Sample
    rng: random.Random


LOG_MARKS = {
    "database unavailable": "outage seen",
    "database back after": "back",
    "given back": "given back",
    "LISTEN connection made again": "LISTEN again",
    "lease lost": "lease lost",
    "Traceback": "traceback",
}


class Run:
    """The services and input of one scenario, on a fresh copy of the `mail` database."""

    def __init__(self, ctx: Context, name: str) -> None:
        self.ctx, self.name = ctx, name
        self.db = f"s_{name.replace('-', '_')}"
        self.url = ctx.pg.create_database(self.db, template="mail")
        self.folder = ctx.root / name
        self.home, self.inbox, self.work = (self.folder / n for n in ("home", "inbox", "work"))
        self.inbox.mkdir(parents=True)
        (self.home / "store").mkdir(parents=True)
        self.log = self.folder / "services.log"
        self.t0 = time.monotonic()
        attend, url, home = ctx.attend, self.url, self.home
        watch = ("intake", "watch", str(self.inbox), "--work", str(self.work), "--workers", "0")
        watcher = Service(
            "watcher", lambda _id: attend.popen(url, home, self.log, *watch, "--settle", "1")
        )

        def worker(n: int) -> Callable[[str], subprocess.Popen[bytes]]:
            args = ("intake", "worker", "--work", str(self.work), "--id")
            return lambda ident: attend.popen(url, home, self.log, *args, ident)

        self.workers = [Service(f"w{n}", worker(n)) for n in range(1, WORKERS + 1)]
        self.supervisor = Supervisor([watcher, *self.workers], self.t0)

    def count(self, sql: str) -> int | None:
        return _count(self.ctx.pg, self.db, sql)

    def start(self) -> None:
        self.supervisor.start()
        listening = (
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' "
            f"AND datname = '{self.db}'"
        )
        if not wait_for(lambda: (self.count(listening) or 0) >= WORKERS, 120, 0.2):
            raise SystemExit(
                f"bench_faults: {self.name}: the workers did not start (see {self.log})"
            )

    def held_jobs(self) -> dict[str, tuple[int, int]]:
        """Worker id -> (job id, attempts) of the jobs running now."""
        rows = _query(
            self.ctx.pg,
            self.db,
            "SELECT lease_owner, id, attempts FROM page_jobs WHERE state = 'running'",
        )
        return {str(owner): (int(job), int(attempts)) for owner, job, attempts in rows}

    def next_page_after(self, finished_before: int, timeout_s: float = 300) -> float | None:
        """Seconds until one more page job is finished than `finished_before`."""
        started = time.monotonic()
        if wait_for(lambda: (self.count(FINISHED_JOBS) or -1) > finished_before, timeout_s, 0.05):
            return time.monotonic() - started
        return None

    def execute(self, fault: Callable[[Run, Result], None] | None, result: Result) -> None:
        files = sorted(self.ctx.sample.folder.iterdir())
        late = files[-1]  # dropped when the batch is done and the services idle
        result.files = len(files)
        result.pages_expected = self.ctx.sample.total
        self.start()
        began = time.monotonic()
        drop(files[:-1], self.inbox)
        trigger = int(TRIGGER * (self.ctx.sample.total - self.ctx.sample.pages[late.name]))
        if fault is not None:
            wait_for(lambda: (self.count(FINISHED_JOBS) or 0) >= trigger, 600, 0.1)
            fault(self, result)
        batch = len(files) - 1
        result.finished = wait_for(lambda: self.count(TERMINAL) == batch, 900, 0.2)
        if result.finished:
            time.sleep(IDLE_S)
            if self.name == "terminate":
                count = self.ctx.pg.terminate_backends(self.db)
                result.notes.append(f"idle: {count} connections terminated")
                time.sleep(IDLE_S)
            drop([late], self.inbox)
            result.finished = wait_for(lambda: self.count(TERMINAL) == len(files), 300, 0.2)
        result.wall_s = time.monotonic() - began
        self.supervisor.stop()
        self.measure(result)

    def measure(self, result: Result) -> None:
        pg, db = self.ctx.pg, self.db
        rows = _query(
            pg,
            db,
            "SELECT f.sha256, p.page_number, count(*) FROM scanned_pages p "
            "JOIN scanned_files f ON f.id = p.file_id GROUP BY 1, 2",
        )
        result.pages_recorded = sum(int(n) for *_k, n in rows)
        result.pages_twice = sum(1 for *_k, n in rows if int(n) > 1)
        result.pages_missing = max(0, result.pages_expected - len(rows))
        result.pages_failed = int(
            _query(pg, db, "SELECT count(*) FROM scanned_pages WHERE status = 'failed'")[0][0]
        )
        result.sheets_twice = int(
            _query(
                pg,
                db,
                "SELECT count(*) FROM (SELECT entity_id FROM events WHERE action = 'received' "
                "GROUP BY entity_id HAVING count(*) > 1) twice",
            )[0][0]
        )
        extra, most = _query(
            pg,
            db,
            "SELECT coalesce(sum(attempts - 1), 0), coalesce(max(attempts), 0) FROM page_jobs",
        )[0]
        result.attempts_counted, result.max_attempts = int(extra), int(most)
        for e in self.supervisor.exits:
            if e.by_bench:
                result.kills += 1
            else:
                result.exits.append(f"{e.service}: {e.code} at {e.at_s:.0f} s")
        result.stop_codes = dict(self.supervisor.stop_codes)
        text = self.log.read_text(errors="replace")
        result.log_lines = {label: text.count(mark) for mark, label in LOG_MARKS.items()}


# --- the faults ----------------------------------------------------------------------------


def fault_restart(run: Run, result: Result) -> None:
    done = run.count(FINISHED_JOBS) or 0
    took = run.ctx.pg.restart("fast")
    result.notes.append(f"pg_ctl restart -m fast took {took:.2f} s")
    recovered = run.next_page_after(done)
    if recovered is not None:
        result.recover_s.append(recovered)


def fault_stop_start(run: Run, result: Result) -> None:
    done = run.count(FINISHED_JOBS) or 0
    run.ctx.pg.stop("fast")
    time.sleep(OUTAGE_S)
    run.ctx.pg.start()
    result.notes.append(f"server stopped for {OUTAGE_S:.0f} s")
    recovered = run.next_page_after(done)
    if recovered is not None:
        result.recover_s.append(recovered)


def fault_terminate(run: Run, result: Result) -> None:
    done = run.count(FINISHED_JOBS) or 0
    count = run.ctx.pg.terminate_backends(run.db)
    result.notes.append(f"mid-batch: {count} connections terminated")
    recovered = run.next_page_after(done)
    if recovered is not None:
        result.recover_s.append(recovered)


def fault_kill_storm(run: Run, result: Result) -> None:
    """kill -9 of a worker holding a page, KILLS times; each page's retake timed apart."""
    rng = run.ctx.rng
    timers: list[threading.Thread] = []
    retakes: list[float] = []

    def time_retake(job: int, attempts: int, killed_at: float) -> None:
        over = f"SELECT count(*) FROM page_jobs WHERE id = {job} AND state <> 'running'"
        sql = f"SELECT count(*) FROM page_jobs WHERE id = {job} AND attempts > {attempts}"
        wait_for(lambda: run.count(sql) or run.count(over), 300, 0.05)
        if run.count(sql):
            retakes.append(time.monotonic() - killed_at)

    kills = missed = 0
    hit: set[int] = set()
    batch = len(run.ctx.sample.pages) - 1
    while kills < KILLS and run.count(TERMINAL) != batch:
        time.sleep(rng.uniform(1.5, 3.5))
        held = run.held_jobs()
        # Each kill on a page not hit before: four deaths on one page fail it as
        # worker_crashed (by design), which is not what this storm measures.
        victims = [
            w for w in run.workers if w.alive() and w.ident in held and held[w.ident][0] not in hit
        ]
        if not victims:
            continue
        victim = rng.choice(victims)
        owner = victim.ident
        job, attempts = held[owner]
        hit.add(job)
        run.supervisor.kill(victim)
        killed_at = time.monotonic()
        kills += 1
        wait_for(lambda v=victim: not v.alive(), 10, 0.01)
        still = run.count(
            f"SELECT count(*) FROM page_jobs WHERE id = {job} AND state = 'running' "
            f"AND lease_owner = '{owner}' AND attempts = {attempts}"
        )
        if still != 1:
            missed += 1  # it finished that page a moment before the kill
            continue
        timer = threading.Thread(target=time_retake, args=(job, attempts, killed_at))
        timer.start()
        timers.append(timer)
    for timer in timers:
        timer.join()
    result.recover_s = retakes
    result.notes.append(
        f"{kills} workers killed, {kills - missed} of them holding a page "
        f"({len(retakes)} retakes timed)"
    )


def fault_full_disk(run: Run, result: Result) -> None:
    store = run.home / "store"
    filler = store / "filler"
    try:
        with filler.open("wb") as out:
            while True:
                out.write(b"\0" * (1 << 20))
                out.flush()
    except OSError:
        pass
    time.sleep(FULL_S)
    done = run.count(FINISHED_JOBS) or 0
    filler.unlink()
    result.notes.append(f"store full for {FULL_S:.0f} s")
    recovered = run.next_page_after(done)
    if recovered is not None:
        result.recover_s.append(recovered)


FAULTS: dict[str, Callable[[Run, Result], None] | None] = {
    "baseline": None,
    "restart": fault_restart,
    "stop-start": fault_stop_start,
    "terminate": fault_terminate,
    "kill-storm": fault_kill_storm,
    "full-disk": fault_full_disk,
}


def run_scenario(ctx: Context, name: str) -> Result:
    print(f"scenario {name} ...", flush=True)
    result = Result(name)
    run = Run(ctx, name)
    mounted = False
    try:
        if name == "full-disk":
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=512m", "tmpfs", str(run.home / "store")],
                check=True,
            )
            mounted = True
        run.execute(FAULTS[name], result)
    finally:
        if run.supervisor.thread.is_alive():
            run.supervisor.stop()
        if mounted:
            subprocess.run(["umount", str(run.home / "store")], check=False)
    return result


@dataclass
class RaceResult:
    workers: int
    runs: int = 0
    sheets: int = 0
    received_twice: list[int] = field(default_factory=list)  # per run
    identified: list[int] = field(default_factory=list)  # pages identified per run (7 right)
    exit_codes: list[int] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    missing: int = 0


def run_race(ctx: Context, workers: int, runs: int) -> RaceResult:
    print(f"scenario race, {workers} workers, {runs} runs ...", flush=True)
    result = RaceResult(workers)
    sheets = len(ctx.race.pages) // 2
    for k in range(runs):
        db = f"race_{workers}_{k}"
        url = ctx.pg.create_database(db, template="race")
        folder = ctx.root / db
        inbox, home = folder / "inbox", folder / "home"
        inbox.mkdir(parents=True)
        drop(sorted(ctx.race.folder.iterdir()), inbox)
        args = ("intake", "watch", str(inbox), "--work", str(folder / "work"))
        started = time.monotonic()
        with (folder / "watch.log").open("wb") as log:
            code = subprocess.run(
                ctx.attend.argv(*args, "--workers", str(workers), "--once", "--settle", "0"),
                env=ctx.attend.env(url, home),
                cwd=ctx.attend.code,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=600,
                check=False,
            ).returncode
        result.wall_s.append(time.monotonic() - started)
        result.exit_codes.append(code)
        twice = _query(
            ctx.pg,
            db,
            "SELECT count(*) FROM (SELECT entity_id FROM events WHERE action = 'received' "
            "GROUP BY entity_id HAVING count(*) > 1) twice",
        )[0][0]
        identified, recorded = _query(
            ctx.pg,
            db,
            "SELECT count(*) FILTER (WHERE status = 'identified'), count(*) FROM scanned_pages",
        )[0]
        result.runs += 1
        result.sheets += sheets
        result.received_twice.append(int(twice))
        result.identified.append(int(identified))
        result.missing += max(0, ctx.race.total - int(recorded))
    return result


# --- the report ----------------------------------------------------------------------------


def _fmt_recover(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"med {statistics.median(values):.1f}, max {max(values):.1f}"


def report(results: list[Result], races: list[RaceResult], load: tuple[float, float]) -> None:
    print(
        f"\nload average (1 min) at start {load[0]:.1f}, at the end {load[1]:.1f}; wall times "
        "and ratios follow the machine's load, the counts do not"
    )
    for race in races:
        doubled = sum(race.received_twice)
        print(
            f"race, {race.workers} workers: {race.runs} runs x {race.sheets // max(1, race.runs)} "
            f"sheets scanned twice: {doubled} of {race.sheets} sheets received more than once "
            f"(per run {race.received_twice}; pages identified per run {race.identified}, "
            f"{race.sheets // max(1, race.runs)} right); pages missing {race.missing}; "
            f"exit codes {race.exit_codes}; median wall {statistics.median(race.wall_s):.1f} s"
        )
    if not results:
        return
    base = next((r.wall_s for r in results if r.scenario == "baseline" and r.finished), None)
    header = (
        f"{'scenario':<11} {'pages exp':>9} {'rec':>4} {'x2':>3} {'miss':>4} {'fail':>4} "
        f"{'sheets x2':>9} "
        f"{'recover s':>18} {'attempts+':>9} {'wall s':>7} {'ratio':>5}  exits (not ours)"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in results:
        ratio = f"{r.wall_s / base:.2f}" if base and r.finished else "-"
        exits = "; ".join(r.exits) or "none"
        print(
            f"{r.scenario:<11} {r.pages_expected:>9} {r.pages_recorded:>4} {r.pages_twice:>3} "
            f"{r.pages_missing:>4} {r.pages_failed:>4} {r.sheets_twice:>9} "
            f"{_fmt_recover(r.recover_s):>18} "
            f"{r.attempts_counted:>9} {r.wall_s:>7.1f} {ratio:>5}  {exits}"
            + ("" if r.finished else "  NOT FINISHED")
        )
    print()
    for r in results:
        lines = ", ".join(f"{k} {v}" for k, v in r.log_lines.items() if v)
        stops = ", ".join(f"{k} {v}" for k, v in sorted(r.stop_codes.items()))
        notes = "; ".join([*r.notes, f"killed by the bench {r.kills}" if r.kills else ""]).strip(
            "; "
        )
        print(f"{r.scenario}: {notes or 'no fault'}; log: {lines or '-'}; codes at stop: {stops}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pages", type=int, default=130, help="pages in the batch (default 130)")
    parser.add_argument("--groups", type=int, default=5, help="providers, 4 files each (default 5)")
    parser.add_argument("--race-runs", type=int, default=5, help="runs per worker count")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"comma-separated, of {SCENARIOS}"
    )
    parser.add_argument(
        "--code", type=Path, default=REPO, help="the checkout whose `attend` is run (default this)"
    )
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="write every figure here")
    parser.add_argument("--keep", action="store_true", help="keep the folders and logs")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    if "full-disk" in chosen and os.geteuid() != 0:
        print("full-disk: skipped (it needs root to mount a small tmpfs for the store)")
        chosen.remove("full-disk")
    attend = Attend(args.code.resolve(), int(NOW.timestamp() - time.time()))
    root = Path(tempfile.mkdtemp(prefix="attend-faults-"))
    results: list[Result] = []
    races: list[RaceResult] = []
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    try:
        with Cluster() as pg:
            print(f"PostgreSQL {pg.bindir.parent.name} on port {pg.port}; work in {root}")
            sample = make_mail_sample(attend, pg, root, pages=args.pages, groups=args.groups)
            race = make_race_sample(attend, pg, root)
            print(
                f"input: {sample.total} pages in {len(sample.pages)} files "
                f"({', '.join(sorted({n.rsplit('.', 1)[1] for n in sample.pages}))}); "
                f"race: {len(race.pages) // 2} sheets x 2 scans; "
                f"made in {time.monotonic() - started:.0f} s",
                flush=True,
            )
            ctx = Context(attend, pg, root, sample, race, random.Random(args.seed))
            for name in chosen:
                if name == "race":
                    races += [run_race(ctx, n, args.race_runs) for n in (2, 4)]
                else:
                    results.append(run_scenario(ctx, name))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept: {root}")
    report(results, races, (load_before, os.getloadavg()[0]))
    if args.json:
        figures = {"scenarios": [asdict(r) for r in results], "race": [asdict(r) for r in races]}
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\ntotal {time.monotonic() - started:.0f} s")
    bad = [r.scenario for r in results if not r.ok]
    if bad or any(r.missing for r in races):
        print(f"FAILED: pages lost or recorded twice, or a batch not finished: {', '.join(bad)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
