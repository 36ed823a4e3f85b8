"""Time the watched-folder intake end to end: claim, then N workers, on 200 filled sheets.

Generates (once, cached) a month of issued sheets for as many certificates as pages, prints
them, fills every page with handwriting and scans it lightly, then writes the same pages as
two batches: 10 multi-page PDFs (JPEG images inside) and single-page JPEG files, 300 dpi grey.
For each batch and for 1 and 2 workers it copies a fresh data folder, claims the files with
`attend intake watch --workers 0 --once`, starts the workers (`attend intake worker --drain`)
and times them, then checks in the database that every page was recorded exactly once.

It prints pages per minute, median ms per page and per stage (from the workers' `--stats`),
peak memory per worker, the 2-worker / 1-worker ratio, and a naive baseline on the same pages
(pdf2image at 300 dpi, pyzbar on the whole page, pytesseract on every time field), each beside
its target. A run with a page missing or recorded twice prints FAILED and exits 1.

    .venv/bin/python scripts/bench_intake.py --pages 200
    .venv/bin/python scripts/bench_intake.py --pages 200 --naive-pages 8 --json OUT.json
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import fcntl
import hashlib
import io
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fixtures.badinput import PdfImage, image_pdf
from fixtures.fill import fill_page, plan_sheet
from forms.layout import CURRENT_FORM, TimeField, build_layout
from forms.payload import decode_payload
from scanner.barcode import find_barcode
from scanner.load import count_pages, load_pages
from scanner.simulate import simulate_scan

REPO = Path(__file__).resolve().parent.parent
MONTH = "2026-11"
MONTH_DATE = dt.date(2026, 11, 1)
DPI = 300
JPEG_QUALITY = 75
PDF_FILES = 10
PROVIDERS = 20
SEED = 11
CACHE_VERSION = 2  # bump when what is generated changes
WORKER_COUNTS = (1, 2)
FORMATS = ("pdf", "jpeg")
STAGES = ("load", "identify", "register", "warp", "read", "store", "record")

TARGET_PAGES_PER_MIN = 600.0  # per worker, i.e. <= 100 ms a page
TARGET_SCALING = 1.8
TARGET_RSS_MB = 400.0
TARGET_NAIVE_RATIO = 60.0


def _attend_command() -> str:
    """The installed `attend` entry point of this virtual environment."""
    beside = Path(sys.executable).parent / "attend"
    if beside.exists():
        return str(beside)
    local = REPO / ".venv" / "bin" / "attend"
    if local.exists():
        return str(local)
    found = shutil.which("attend")
    if found is None:
        raise SystemExit("bench_intake: no `attend` command (run `make setup-dev` first)")
    return found


ATTEND = _attend_command()


def _env(home: Path) -> dict[str, str]:
    """The environment for `attend`: SQLite in `home`, nothing inherited that points elsewhere."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ATTEND_DATABASE_URL", "ATTEND_WORK_DIR", "ATTEND_HOME")
    }
    env["ATTEND_HOME"] = str(home)
    return env


def _attend(args: Sequence[str], home: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [ATTEND, *args], env=_env(home), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(
            f"bench_intake: `attend {' '.join(args)}` exited {result.returncode}:\n"
            f"{result.stderr.strip()}"
        )
    return result


def _attend_with(code_dir: Path, args: Sequence[str], home: Path) -> None:
    """`attend ARGS` with the command line of the checkout `code_dir` (not timed)."""
    result = subprocess.run(
        [sys.executable, "-m", _cli_module(code_dir), *args],
        env={**_env(home), "PYTHONPATH": str(code_dir)},
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(
            f"bench_intake: `attend {' '.join(args)}` ({code_dir}) exited "
            f"{result.returncode}:\n{result.stderr.strip()}"
        )


def _schema_revision(database: Path) -> str | None:
    with sqlite3.connect(database) as db:
        row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0]) if row else None


def _knows_revision(code_dir: Path, revision: str | None) -> bool:
    """Whether the checkout's migrations include `revision` (it can use a database there)."""
    if revision is None:
        return False
    versions = code_dir / "attendance" / "migrations" / "versions"
    return any(
        f'"{revision}"' in path.read_text(encoding="utf-8") for path in versions.glob("*.py")
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- generating the batches ----------------------------------------------------------------

_FIRST = ("Ava", "Noah", "Mia", "Leo", "Zoe", "Eli", "Ivy", "Max", "Uma", "Kai", "Nia", "Ray")
_LAST = (
    "Testperson",
    "Samplekid",
    "Exampleson",
    "Placeholder",
    "Mockwell",
    "Fixtureby",
    "Demoford",
    "Trialson",
    "Benchly",
    "Dryrunner",
    "Stubworth",
    "Dummington",
)
_PROVIDER_TYPES = ("licensed_center", "licensed_family", "exempt")


def write_certificates(path: Path, count: int) -> None:
    """`count` fictional full-time certificates over about 20 providers, all active all month."""
    # The fixture's header, so the columns stay those of a real import file.
    with (REPO / "fixtures" / "certificates.csv").open(newline="", encoding="utf-8") as fixture:
        header = next(csv.reader(fixture))
    providers = min(PROVIDERS, count)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        for i in range(count):
            p = i % providers
            first, last = _FIRST[i % len(_FIRST)], _LAST[(i // len(_FIRST)) % len(_LAST)]
            writer.writerow(
                {
                    "certificate_id": f"C-B{i + 1:05d}",
                    "child_first_name": first,
                    "child_last_name": last,
                    "child_birth_date": f"{2019 + i % 5}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                    "parent_name": f"Parent {last}",
                    "provider_id": f"P-B{p + 1:03d}",
                    "provider_name": f"Bench Provider {p + 1:02d} Learning Center",
                    "provider_type": _PROVIDER_TYPES[p % len(_PROVIDER_TYPES)],
                    "start_date": "2026-07-01",
                    "end_date": "2027-06-30",
                    "schedule": "Mon-Fri 07:30-17:30",
                    "weekly_hours": "50",
                    "schedule_type": "full_time",
                    "specialist_name": f"Specialist {p % 4 + 1}",
                    "specialist_phone": f"(555) 010-{2000 + p:04d}",
                }
            )


def _scan_printed(task: tuple[str, int, str, int]) -> list[tuple[int, str, float]]:
    """Fill and scan every page of one printed PDF into JPEG files; (index, serial, skew)."""
    pdf, first_index, out_dir, seed = task
    done = []
    for offset, page in enumerate(load_pages(Path(pdf), dpi=DPI)):
        index = first_index + offset
        barcode = find_barcode(page.image, dpi=DPI)
        payload = decode_payload(barcode.text) if barcode else None
        if payload is None:
            raise RuntimeError(f"printed page {index + 1}: its QR code was not read")
        layout = build_layout(payload.serial, MONTH_DATE, form=payload.form)
        rng = np.random.default_rng([seed, index])
        filled = fill_page(page.image, DPI, layout, plan_sheet(layout, rng, font_rate=0.0), rng)
        skew = round(float(rng.uniform(-1.5, 1.5)), 2)
        scanned = simulate_scan(filled, skew_deg=skew, noise=3.0, blur=0.6, seed=seed + index)
        Image.fromarray(scanned, mode="L").save(
            Path(out_dir) / f"page-{index + 1:04d}.jpg",
            "JPEG",
            quality=JPEG_QUALITY,
            dpi=(DPI, DPI),
        )
        done.append((index, payload.serial, skew))
    return done


def write_jpeg_pdf(jpegs: Sequence[bytes], path: Path, dpi: int) -> None:
    """A multi-page PDF whose pages are the given JPEG files, embedded as they are (DCTDecode).

    The PDF batch then holds exactly the compressed pages of the JPEG batch, byte for byte.
    """
    images = []
    for data in jpegs:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if image.mode != "L":
                raise ValueError("only grey JPEG pages are embedded")
        entries = b"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /DCTDecode"
        images.append(PdfImage(width, height, entries, data))
    path.write_bytes(image_pdf(images, dpi=dpi))


@dataclass
class Batch:
    """The generated batches: where each page is, its serial, and every file's hash."""

    pages: int
    serials: list[str]  # by page index
    jpeg_files: list[str]  # page index -> file name in jpeg/
    pdf_pages: list[tuple[str, int]]  # page index -> (file name in pdf/, page number)
    sha256: dict[str, str]  # "pdf/NAME" or "jpeg/NAME" -> hash
    version: int = CACHE_VERSION

    def files(self, fmt: str) -> list[str]:
        return sorted(name.split("/", 1)[1] for name in self.sha256 if name.startswith(fmt + "/"))

    def expected(self, fmt: str) -> dict[tuple[str, int], str]:
        """(file hash, page number) -> serial, for every page of the batch `fmt`."""
        if fmt == "pdf":
            return {
                (self.sha256[f"pdf/{name}"], number): self.serials[i]
                for i, (name, number) in enumerate(self.pdf_pages)
            }
        return {
            (self.sha256[f"jpeg/{name}"], 1): self.serials[i]
            for i, name in enumerate(self.jpeg_files)
        }


def _cached(cache: Path, pages: int) -> Batch | None:
    manifest = cache / "manifest.json"
    if not manifest.exists():
        return None
    try:
        data = json.loads(manifest.read_text())
        batch = Batch(
            pages=int(data["pages"]),
            serials=list(data["serials"]),
            jpeg_files=list(data["jpeg_files"]),
            pdf_pages=[(str(n), int(p)) for n, p in data["pdf_pages"]],
            sha256=dict(data["sha256"]),
            version=int(data["version"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
    if batch.version != CACHE_VERSION or batch.pages != pages:
        return None
    if not (cache / "template" / "attend.sqlite3").exists():
        return None
    if any(not (cache / name).is_file() for name in batch.sha256):
        return None
    return batch


def generate(cache: Path, pages: int, *, jobs: int) -> Batch:
    """Make (or reuse) the template data folder and the two batches in `cache`."""
    found = _cached(cache, pages)
    if found is not None:
        print(f"batches: reusing {cache} ({pages} pages)")
        return found
    if cache.exists() and any(cache.iterdir()):
        if not (cache / ".attend-bench-cache").exists():
            raise SystemExit(f"bench_intake: {cache} is not empty and not a benchmark cache")
        shutil.rmtree(cache)
    cache.mkdir(parents=True, exist_ok=True)
    (cache / ".attend-bench-cache").write_text("made by scripts/bench_intake.py\n")
    started = time.perf_counter()
    home = cache / "template"
    home.mkdir()
    write_certificates(cache / "certificates.csv", pages)
    _attend(["init"], home)
    _attend(["certificates", "import", str(cache / "certificates.csv")], home)
    _attend(["sheets", "issue", "--month", MONTH], home)
    printed = cache / "printed"
    _attend(["sheets", "print", "--month", MONTH, "-o", f"{printed}/"], home)
    pdfs = sorted(printed.glob("*.pdf"))
    counts = [count_pages(p) for p in pdfs]
    if sum(counts) != pages:
        raise SystemExit(f"bench_intake: {sum(counts)} sheets printed, expected {pages}")
    print(
        f"generating: {pages} sheets issued and printed as {len(pdfs)} PDFs "
        f"({time.perf_counter() - started:.1f} s); filling and scanning on {jobs} processes"
    )
    jpeg_dir, pdf_dir = cache / "jpeg", cache / "pdf"
    jpeg_dir.mkdir()
    pdf_dir.mkdir()
    firsts = np.cumsum([0, *counts[:-1]])
    tasks = [(str(p), int(f), str(jpeg_dir), SEED) for p, f in zip(pdfs, firsts, strict=True)]
    serials = [""] * pages
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for done in pool.map(_scan_printed, tasks):
            for index, serial, _skew in done:
                serials[index] = serial
    jpeg_files = [f"page-{i + 1:04d}.jpg" for i in range(pages)]
    per_pdf = -(-pages // PDF_FILES)
    pdf_pages: list[tuple[str, int]] = []
    for f in range(0, pages, per_pdf):
        name = f"batch-{f // per_pdf + 1:02d}.pdf"
        chunk = jpeg_files[f : f + per_pdf]
        write_jpeg_pdf([(jpeg_dir / n).read_bytes() for n in chunk], pdf_dir / name, DPI)
        pdf_pages += [(name, k + 1) for k in range(len(chunk))]
    sha = {f"jpeg/{n}": _sha256(jpeg_dir / n) for n in jpeg_files}
    sha |= {f"pdf/{n}": _sha256(pdf_dir / n) for n in sorted({n for n, _ in pdf_pages})}
    batch = Batch(pages, serials, jpeg_files, pdf_pages, sha)
    (cache / "manifest.json").write_text(json.dumps(asdict(batch)) + "\n")
    print(f"generated in {time.perf_counter() - started:.1f} s into {cache}")
    return batch


def describe_batches(cache: Path, batch: Batch) -> list[str]:
    """One line per batch: files, size, and the PDF images' compression (pdfimages -list)."""
    lines = []
    for fmt in FORMATS:
        files = batch.files(fmt)
        size = sum((cache / fmt / n).stat().st_size for n in files)
        lines.append(
            f"  {fmt}: {len(files)} files, {batch.pages} pages, {size / 1e6:.1f} MB "
            f"({size / batch.pages / 1e3:.0f} kB a page)"
        )
    first = cache / "pdf" / batch.files("pdf")[0]
    result = subprocess.run(
        ["pdfimages", "-list", str(first)], capture_output=True, text=True, check=False
    )
    rows = [r.split() for r in result.stdout.splitlines()[2:] if r.strip()]
    if rows:
        # page num type width height color comp bpc enc interp object ID x-ppi y-ppi size ratio
        r = rows[0]
        lines.append(
            f"  pdfimages -list {first.name}: {len(rows)} images, e.g. {r[3]}x{r[4]} "
            f"{r[5]} {r[7]} bpc enc={r[8]} {r[12]}x{r[13]} ppi"
        )
    return lines


# --- running the intake --------------------------------------------------------------------


@dataclass
class Run:
    """One timed run of one batch with N workers, and what the database says afterwards."""

    fmt: str
    workers: int
    pages: int
    files: int
    claim_s: float = 0.0
    wall_s: float = 0.0
    startup_s: float = 0.0  # wall minus the longest worker's own loop time
    cpu_ours_s: float = 0.0  # CPU of the workers and their poppler children
    cpu_other_s: float | None = None  # CPU of everything else on the machine meanwhile
    stats: list[dict[str, Any]] = field(default_factory=list)
    identified: int = 0
    misidentified: int = 0
    unidentified: int = 0
    failed_pages: int = 0
    missing: int = 0
    doubled: int = 0
    problems: list[str] = field(default_factory=list)
    kept: str | None = None  # the run's folder, when kept (--keep, or a failed run)
    page_ms_by_page: dict[str, float] = field(default_factory=dict)  # "sha:page" -> ms

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def pages_per_min(self) -> float:
        return self.pages / self.wall_s * 60 if self.wall_s else 0.0

    def pooled(self, key: str) -> list[float]:
        values: list[float] = []
        for s in self.stats:
            values += s["page_ms"] if key == "page" else s["stage_ms"].get(key, [])
        return values

    def other_ms(self) -> list[float]:
        """Per page: the worker's page time not in any stage (claiming the job, the lease
        heartbeat, looking the sheet up); only where every page has every stage."""
        values: list[float] = []
        for s in self.stats:
            lists = [s["stage_ms"].get(k, []) for k in STAGES]
            if all(len(v) == len(s["page_ms"]) for v in lists):
                values += [p - sum(st) for p, *st in zip(s["page_ms"], *lists, strict=True)]
        return values

    def median(self, key: str) -> float | None:
        values = self.other_ms() if key == "other" else self.pooled(key)
        return statistics.median(values) if values else None

    @property
    def peak_rss_mb(self) -> list[float]:
        return [float(s["peak_rss_mb"]) for s in self.stats]


def _timed_watch(home: Path, inbox: Path) -> float:
    command = [
        ATTEND,
        *("intake", "watch", str(inbox), "--workers", "0", "--once"),
        *("--settle", "0", "--interval", "0.2"),
    ]
    started = time.perf_counter()
    result = subprocess.run(command, env=_env(home), capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(
            f"`attend intake watch` exited {result.returncode}: {result.stderr.strip()[-2000:]}"
        )
    return elapsed


def claim_overhead(template: Path) -> float:
    """Seconds `attend intake watch --once` takes on an empty folder: start-up and one look."""
    with tempfile.TemporaryDirectory(prefix="attend-bench-run-") as tmp:
        home, inbox = Path(tmp) / "home", Path(tmp) / "inbox"
        shutil.copytree(template, home)
        inbox.mkdir()
        return min(_timed_watch(home, inbox) for _ in range(2))


def _verify(run: Run, database: Path, expected: dict[tuple[str, int], str]) -> None:
    """Every page exactly once in scanned_pages, on the right sheet; count what was found."""
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT f.sha256, p.page_number, COUNT(*), MAX(p.status), MAX(p.serial) "
            "FROM scanned_pages p JOIN scanned_files f ON f.id = p.file_id "
            "GROUP BY f.sha256, p.page_number"
        ).fetchall()
        jobs_open = db.execute(
            "SELECT COUNT(*) FROM page_jobs WHERE state NOT IN ('done', 'failed')"
        ).fetchone()[0]
        arrivals = dict(
            db.execute("SELECT state, COUNT(*) FROM intake_files GROUP BY state").fetchall()
        )
    seen: dict[tuple[str, int], tuple[int, str, str | None]] = {
        (sha, page): (count, status, serial) for sha, page, count, status, serial in rows
    }
    run.missing = len(set(expected) - set(seen))
    run.doubled = sum(1 for count, _, _ in seen.values() if count > 1)
    extra = len(set(seen) - set(expected))
    for key, (_, status, serial) in seen.items():
        if key not in expected:
            continue
        if status == "failed":
            run.failed_pages += 1
        elif serial is not None and serial != expected[key]:
            run.misidentified += 1
        elif status == "identified":
            run.identified += 1
        else:
            run.unidentified += 1
    if run.missing or run.doubled or extra:
        run.problems.append(
            f"{run.missing} page(s) missing, {run.doubled} recorded more than once, "
            f"{extra} unexpected, of {len(expected)}"
        )
    if run.misidentified:
        run.problems.append(f"{run.misidentified} page(s) taken for the wrong sheet")
    if jobs_open:
        run.problems.append(f"{jobs_open} page job(s) still queued or running")
    if arrivals.get("done", 0) != run.files:
        run.problems.append(f"arrivals by state {arrivals}, expected {run.files} done")


def run_intake(
    cache: Path, batch: Batch, fmt: str, workers: int, *, timeout_s: float, keep: bool
) -> Run:
    """Copy the template data folder and the batch, claim, run `workers` workers, verify."""
    files = batch.files(fmt)
    run = Run(fmt=fmt, workers=workers, pages=batch.pages, files=len(files))
    tmp = Path(tempfile.mkdtemp(prefix=f"attend-bench-run-{fmt}-{workers}w-"))
    home, inbox = tmp / "home", tmp / "inbox"
    shutil.copytree(cache / "template", home)
    inbox.mkdir()
    for name in files:
        shutil.copyfile(cache / fmt / name, inbox / name)
    children: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        run.claim_s = _timed_watch(home, inbox)
        left = [p.name for p in inbox.iterdir()]
        if left:
            run.problems.append(f"{len(left)} file(s) left unclaimed in the inbox")
        busy_before, ours_before = _cpu_busy_s(), _children_cpu_s()
        started = time.perf_counter()
        for k in range(1, workers + 1):
            log = (tmp / f"w{k}.log").open("wb")
            command = [
                ATTEND,
                *("intake", "worker", "--drain", "--stats", str(tmp / f"w{k}.json")),
                *("--id", f"w{k}"),
            ]
            child = subprocess.Popen(command, env=_env(home), stdout=log, stderr=log)
            log.close()
            children.append((child, tmp / f"w{k}.log"))
        deadline = started + timeout_s
        for child, _ in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.perf_counter()))
            except subprocess.TimeoutExpired:
                run.problems.append(f"worker pid {child.pid} still running after {timeout_s} s")
        run.wall_s = time.perf_counter() - started
        for child, _ in children:
            if child.poll() is None:  # only our own children, by pid
                child.kill()
                child.wait()
        run.cpu_ours_s = _children_cpu_s() - ours_before
        busy_after = _cpu_busy_s()
        if busy_before is not None and busy_after is not None:
            run.cpu_other_s = max(0.0, busy_after - busy_before - run.cpu_ours_s)
        for k, (child, log_path) in enumerate(children, start=1):
            if child.returncode != 0:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
                run.problems.append(f"worker w{k} exited {child.returncode}: {' | '.join(tail)}")
            stats_path = tmp / f"w{k}.json"
            if stats_path.exists():
                run.stats.append(json.loads(stats_path.read_text()))
        if run.stats:
            run.startup_s = run.wall_s - max(float(s["wall_s"]) for s in run.stats)
        _verify(run, home / "attend.sqlite3", batch.expected(fmt))
        run.page_ms_by_page = _page_ms_by_page(run, home / "attend.sqlite3")
    except RuntimeError as exc:
        run.problems.append(str(exc))
    finally:
        for child, _ in children:
            if child.poll() is None:  # interrupted: stop our own workers, by pid
                child.kill()
                child.wait()
    if run.ok and not keep:
        shutil.rmtree(tmp)
    else:
        run.kept = str(tmp)
    return run


def _cpu_busy_s() -> float | None:
    """CPU seconds the whole machine has been busy (all cores, /proc/stat); None off Linux."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    """CPU seconds of this process's finished children (workers, and the poppler they ran)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _page_ms_by_page(run: Run, database: Path) -> dict[str, float]:
    """Each page's ms keyed by file hash and page (jobs and page_ms are in the same order
    when no job was given back or lost; otherwise that worker's pages are left out)."""
    with sqlite3.connect(database) as db:
        where = {
            job_id: f"{sha}:{page}"
            for job_id, sha, page in db.execute(
                "SELECT j.id, i.sha256, j.page_number FROM page_jobs j "
                "JOIN intake_files i ON i.id = j.intake_file_id"
            )
        }
    found: dict[str, float] = {}
    for s in run.stats:
        if len(s["jobs"]) != len(s["page_ms"]):
            continue
        for job_id, ms in zip(s["jobs"], s["page_ms"], strict=True):
            found[where[job_id]] = float(ms)
    return found


# --- the naive path ------------------------------------------------------------------------


@dataclass
class Naive:
    pages: list[str] = field(default_factory=list)  # "sha:page"
    page_ms: list[float] = field(default_factory=list)
    render_ms: list[float] = field(default_factory=list)
    zbar_ms: list[float] = field(default_factory=list)
    ocr_ms: list[float] = field(default_factory=list)
    fields_per_page: int = 0
    zbar_missed: int = 0
    fields_with_text: int = 0


def run_naive(cache: Path, batch: Batch, count: int) -> Naive:
    """pdf2image at 300 dpi, pyzbar on the whole page, tesseract on every time field's box."""
    from pdf2image import convert_from_path
    from pytesseract import image_to_string  # type: ignore[import-untyped]
    from pyzbar.pyzbar import decode as zbar_decode

    naive = Naive()
    config = "--psm 7 -c tessedit_char_whitelist=0123456789:"
    scale = DPI / 72
    for index, (name, number) in enumerate(batch.pdf_pages[:count]):
        pdf = cache / "pdf" / name
        started = time.perf_counter()
        image = convert_from_path(
            pdf, dpi=DPI, first_page=number, last_page=number, grayscale=True
        )[0]
        rendered = time.perf_counter()
        symbols = zbar_decode(image)
        payload = decode_payload(symbols[0].data.decode("utf-8", "replace")) if symbols else None
        decoded = time.perf_counter()
        if payload is None:
            naive.zbar_missed += 1
        serial = payload.serial if payload else batch.serials[index]
        layout = build_layout(serial, MONTH_DATE, form=payload.form if payload else CURRENT_FORM)
        time_fields = [f for f in layout.fields if isinstance(f, TimeField)]
        for f in time_fields:
            left = min(c[0] for c in f.cells)
            top = min(c[1] for c in f.cells)
            right = max(c[0] + c[2] for c in f.cells)
            bottom = max(c[1] + c[3] for c in f.cells)
            box = (
                round(left * scale),
                round(top * scale),
                round(right * scale),
                round(bottom * scale),
            )
            text = image_to_string(image.crop(box), config=config).strip()
            naive.fields_with_text += bool(text)
        finished = time.perf_counter()
        naive.fields_per_page = len(time_fields)
        naive.pages.append(f"{batch.sha256['pdf/' + name]}:{number}")
        naive.render_ms.append((rendered - started) * 1000)
        naive.zbar_ms.append((decoded - rendered) * 1000)
        naive.ocr_ms.append((finished - decoded) * 1000)
        naive.page_ms.append((finished - started) * 1000)
    return naive


# --- report --------------------------------------------------------------------------------


def _fmt(value: float | None, width: int = 7, digits: int = 1) -> str:
    return f"{value:{width}.{digits}f}" if value is not None else " " * (width - 1) + "-"


def _mark(met: bool) -> str:
    return "met" if met else "NOT MET"


def report(
    runs: list[Run],
    naive: Naive | None,
    cores: int,
    overhead_s: float,
    load: tuple[float, float],
) -> tuple[dict[str, Any], bool]:
    """Print the table, ratios and targets; return the figures and whether all runs passed."""
    figures: dict[str, Any] = {
        "cores": cores,
        "load_average_1min": {"before": load[0], "after": load[1]},
        "claim_overhead_s": overhead_s,
        "runs": [],
    }
    print()
    print(
        f"machine: {cores} cores (os.cpu_count()); 2 workers can scale by at most "
        f"min(2, cores) = {min(2, cores)}x. Medians throughout. 1-minute load average "
        f"{load[0]:.2f} before the timed part, {load[1]:.2f} after it (this includes the "
        "benchmark's own workers; 'other %' below is what the rest of the machine used "
        "during each run)."
    )
    print(
        f"claim: `attend intake watch --workers 0 --once --settle 0 --interval 0.2`; its "
        f"start-up and first look on an empty folder take {overhead_s:.2f} s (subtracted "
        "in 'net ms/file')"
    )
    head = (
        f"{'format':6} {'wkr':>3} {'pages':>5} {'ok':>4} {'claim s':>7} {'ms/file':>7} "
        f"{'net':>6} {'wall s':>7} {'start s':>7} {'pg/min':>7} {'/worker':>7} "
        f"{'ms/page':>7} "
        + " ".join(f"{s:>8}" for s in (*STAGES, "other"))
        + f" {'cores':>5} {'other%':>6} {'peak RSS MB':>12}"
    )
    print(head)
    print("-" * len(head))
    for r in runs:
        net = max(0.0, r.claim_s - overhead_s) / r.files * 1000 if r.files else None
        stages = " ".join(f"{_fmt(r.median(s), 8)}" for s in (*STAGES, "other"))
        used = r.cpu_ours_s / r.wall_s if r.wall_s else None
        other = (
            r.cpu_other_s / (r.wall_s * cores) * 100
            if r.wall_s and r.cpu_other_s is not None
            else None
        )
        rss = "/".join(f"{v:.0f}" for v in r.peak_rss_mb) or "-"
        print(
            f"{r.fmt:6} {r.workers:>3} {r.pages:>5} {'yes' if r.ok else 'NO':>4} "
            f"{r.claim_s:7.2f} {_fmt(r.claim_s / r.files * 1000 if r.files else None)} "
            f"{_fmt(net, 6)} {r.wall_s:7.1f} {r.startup_s:7.1f} {r.pages_per_min:7.1f} "
            f"{r.pages_per_min / r.workers:7.1f} {_fmt(r.median('page'))} {stages} "
            f"{_fmt(used, 5, 2)} {_fmt(other, 6)} {rss:>12}"
        )
        figures["runs"].append(
            {
                "format": r.fmt,
                "workers": r.workers,
                "pages": r.pages,
                "files": r.files,
                "ok": r.ok,
                "problems": r.problems,
                "folder_kept": r.kept,
                "claim_s": round(r.claim_s, 3),
                "claim_ms_per_file": round(r.claim_s / r.files * 1000, 1) if r.files else None,
                "claim_net_ms_per_file": round(net, 1) if net is not None else None,
                "wall_s": round(r.wall_s, 2),
                "startup_s": round(r.startup_s, 2),
                "cpu_workers_s": round(r.cpu_ours_s, 2),
                "cpu_other_s": r.cpu_other_s,
                "cores_used": used,
                "other_cpu_percent": other,
                "pages_per_min": round(r.pages_per_min, 1),
                "pages_per_min_per_worker": round(r.pages_per_min / r.workers, 1),
                "median_ms": {k: r.median(k) for k in ("page", *STAGES, "other")},
                "peak_rss_mb": r.peak_rss_mb,
                "identified": r.identified,
                "unidentified": r.unidentified,
                "misidentified": r.misidentified,
                "failed_pages": r.failed_pages,
                "missing": r.missing,
                "doubled": r.doubled,
                "workers_stats": r.stats,  # as each worker wrote them, per-page lists too
            }
        )
    print(
        "(ms/page: a worker's own time for a page, claim to commit; stages as the worker "
        "times them; other: ms/page not in any stage (claiming the job, lease heartbeat, "
        "sheet look-up); wall: first worker started to last exited; start s: wall minus the "
        "longest worker's loop, i.e. start-up and model load; cores: CPU seconds of the "
        "workers and their pdftoppm per wall second; other%: the rest of the machine's CPU "
        "meanwhile, of all cores; RSS: the worker process only, not its pdftoppm children)"
    )
    print()
    all_ok = True
    for r in runs:
        verdict = "ok" if r.ok else "FAILED"
        print(
            f"{r.fmt} x{r.workers}: {verdict}: {r.identified}/{r.pages} identified on the "
            f"right sheet, {r.unidentified} unidentified, {r.misidentified} wrong sheet, "
            f"{r.failed_pages} failed, {r.missing} missing, {r.doubled} doubled"
        )
        for problem in r.problems:
            print(f"  FAILED: {r.fmt} with {r.workers} worker(s): {problem}")
        if r.kept:
            print(f"  (its folder, logs and database kept: {r.kept})")
        all_ok &= r.ok

    by = {(r.fmt, r.workers): r for r in runs}
    ratios: dict[str, float | None] = {}
    print()
    for fmt in FORMATS:
        one, two = by.get((fmt, 1)), by.get((fmt, 2))
        ratio = two.pages_per_min / one.pages_per_min if one and two and one.wall_s else None
        ratios[fmt] = ratio
        print(
            f"{fmt}: 2 workers / 1 worker throughput = {_fmt(ratio, 4, 2)}x "
            f"(at most {min(2, cores)}x on {cores} cores)"
        )
    figures["scaling"] = ratios

    naive_figures: dict[str, Any] | None = None
    naive_ratio: float | None = None
    if naive is not None and naive.page_ms:
        pdf_one = by.get(("pdf", 1))
        ours_median: float | None
        ours = [pdf_one.page_ms_by_page.get(k) for k in naive.pages] if pdf_one else []
        matched = [v for v in ours if v is not None]
        if pdf_one and len(matched) == len(naive.pages):
            ours_median, how = statistics.median(matched), "the same pages, matched by file+page"
        elif pdf_one and pdf_one.median("page") is not None:
            ours_median = pdf_one.median("page")
            how = "NOT matched by page: the whole 1-worker PDF run's median"
        else:
            ours_median, how = None, "no 1-worker PDF run to compare with"
        naive_median = statistics.median(naive.page_ms)
        naive_ratio = naive_median / ours_median if ours_median else None
        print()
        print(
            f"naive path on the first {len(naive.page_ms)} pages of the PDF batch "
            f"(pdf2image 300 dpi, pyzbar whole page, tesseract --psm 7 on all "
            f"{naive.fields_per_page} time fields): median {naive_median:.0f} ms/page "
            f"(render {statistics.median(naive.render_ms):.0f}, zbar "
            f"{statistics.median(naive.zbar_ms):.0f}, tesseract "
            f"{statistics.median(naive.ocr_ms):.0f}); zbar missed {naive.zbar_missed}; "
            f"{naive.fields_with_text} fields gave text"
        )
        print(
            f"ours (1 worker, PDF, {how}): median {_fmt(ours_median, 1)} ms/page; "
            f"naive / ours = {_fmt(naive_ratio, 1)}x"
        )
        naive_figures = {
            "pages": naive.pages,
            "median_ms": naive_median,
            "page_ms": naive.page_ms,
            "median_render_ms": statistics.median(naive.render_ms),
            "median_zbar_ms": statistics.median(naive.zbar_ms),
            "median_tesseract_ms": statistics.median(naive.ocr_ms),
            "fields_per_page": naive.fields_per_page,
            "zbar_missed": naive.zbar_missed,
            "ours_median_ms": ours_median,
            "ours_matched": how,
            "ratio": naive_ratio,
        }
    figures["naive"] = naive_figures

    print()
    print("targets:")
    targets: list[dict[str, Any]] = []

    def target(name: str, value: str, met: bool) -> None:
        targets.append({"target": name, "value": value, "met": met})
        print(f"  {name:44} {value:44} {_mark(met)}")

    for r in runs:
        per_worker = r.pages_per_min / r.workers
        page = r.median("page")
        target(
            f">= 600 pages/min per worker ({r.fmt} x{r.workers})",
            f"{per_worker:.0f} pages/min per worker",
            per_worker >= TARGET_PAGES_PER_MIN,
        )
        target(
            f"<= 100 ms a page, median ({r.fmt} x{r.workers})",
            f"{_fmt(page, 1, 0).strip()} ms/page",
            page is not None and page <= 60000 / TARGET_PAGES_PER_MIN,
        )
    for fmt in FORMATS:
        ratio = ratios.get(fmt)
        target(
            f">= 1.8x with 2 workers ({fmt})",
            f"{_fmt(ratio, 1, 2).strip()}x (ceiling {min(2, cores)}x)",
            ratio is not None and ratio >= TARGET_SCALING,
        )
    peak = max((v for r in runs for v in r.peak_rss_mb), default=None)
    target(
        "<= 400 MB per worker (peak RSS, all runs)",
        f"{_fmt(peak, 1, 0).strip()} MB",
        peak is not None and peak <= TARGET_RSS_MB,
    )
    target(
        ">= 60x faster than the naive path",
        f"{_fmt(naive_ratio, 1, 1).strip()}x",
        naive_ratio is not None and naive_ratio >= TARGET_NAIVE_RATIO,
    )
    figures["targets"] = targets
    return figures, all_ok


# --- the mixed batch: what a mailroom really sends -------------------------------------------

MIXED_CACHE_VERSION = 1
MIXED_SHEETS = 40
# (file, pages as (kind, dpi)): 23 files, 41 pages. Kinds: "jpeg" grey JPEG, "g4" 1-bit
# Group 4, "png" grey PNG, "blot" a JPEG page whose QR code is blotted out (read by its
# printed serial), "letter" a page that is not one of our sheets.
MIXED_PLAN: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = (
    ("scan-01.pdf", (("jpeg", 300),) * 3),
    ("scan-02.pdf", (("jpeg", 300),) * 3),
    ("scan-03.pdf", (("jpeg", 200),) * 3),
    ("scan-04.pdf", (("g4", 300),) * 3),
    ("scan-05.pdf", (("g4", 200),) * 3),
    ("scan-06.pdf", (("jpeg", 300), ("g4", 300), ("jpeg", 300))),
    ("fax-07.tif", (("g4", 300),) * 3),
    ("fax-08.tif", (("g4", 200),) * 3),
    ("fax-09.tif", (("g4", 300),) * 3),
    *((f"page-{n:02d}.jpg", (("jpeg", 200),)) for n in range(10, 15)),
    ("page-15.jpg", (("jpeg", 300),)),
    ("page-16.jpg", (("blot", 200),)),
    ("page-17.jpg", (("jpeg", 200),)),
    *((f"page-{n:02d}.png", (("png", 200),)) for n in range(18, 23)),
    ("page-23.png", (("letter", 200),)),
)
# The naive path's sample: one page of each kind of file.
NAIVE_SAMPLE = (
    ("scan-01.pdf", 1),
    ("scan-04.pdf", 2),
    ("scan-06.pdf", 2),
    ("fax-08.tif", 1),
    ("page-10.jpg", 1),
    ("page-18.png", 1),
)


@dataclass
class MixedBatch:
    """The mixed batch: every file's hash, and each page's serial (None: not a sheet)."""

    files: list[str]
    serials: dict[str, list[str | None]]  # file -> serial per page
    sha256: dict[str, str]
    version: int = MIXED_CACHE_VERSION

    @property
    def pages(self) -> int:
        return sum(len(v) for v in self.serials.values())

    def expected(self) -> dict[tuple[str, int], str | None]:
        return {
            (self.sha256[name], number): serial
            for name, serials in self.serials.items()
            for number, serial in enumerate(serials, start=1)
        }


def _letter(dpi: int, rng: np.random.Generator) -> np.ndarray:
    """A typed letter on Letter paper: a page that is not one of our sheets."""
    import cv2

    height, width = round(11 * dpi), round(8.5 * dpi)
    page = np.full((height, width), 250, np.uint8)
    scale = dpi / 200
    y = round(150 * scale)
    while y < height - 150 * scale:
        words = " ".join(
            "".join(chr(int(c)) for c in rng.integers(97, 123, size=int(rng.integers(2, 9))))
            for _ in range(int(rng.integers(6, 11)))
        )
        cv2.putText(
            page, words, (round(120 * scale), y), cv2.FONT_HERSHEY_SIMPLEX, 0.9 * scale, 20, 2
        )
        y += round(42 * scale)
    return page


def _jpeg(image: np.ndarray, dpi: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image, mode="L").save(buffer, "JPEG", quality=JPEG_QUALITY, dpi=(dpi, dpi))
    return buffer.getvalue()


def generate_mixed(cache: Path, code_dir: Path) -> MixedBatch:
    """Make (or reuse) the template data folder and the mixed batch in `cache`, the data
    folder made by the checkout `code_dir` (the oldest code to be measured: newer code
    upgrades its copy, older code could not use a newer schema)."""
    from fixtures.badinput import PdfImage, ccitt_image, image_pdf, ink_of
    from fixtures.fill import degrade_with_params
    from fixtures.scanbatch import write_image, write_tiff

    manifest = cache / "manifest.json"
    if manifest.exists():
        try:
            data = json.loads(manifest.read_text())
            found = MixedBatch(
                files=list(data["files"]),
                serials={k: list(v) for k, v in data["serials"].items()},
                sha256=dict(data["sha256"]),
                version=int(data["version"]),
            )
            template = cache / "template" / "attend.sqlite3"
            if (
                found.version == MIXED_CACHE_VERSION
                and template.exists()
                and _knows_revision(code_dir, _schema_revision(template))
                and all((cache / "inbox" / n).is_file() for n in found.files)
            ):
                print(f"batch: reusing {cache}")
                return found
        except (ValueError, KeyError, TypeError):
            pass
    if cache.exists() and any(cache.iterdir()):
        if not (cache / ".attend-bench-cache").exists():
            raise SystemExit(f"bench_intake: {cache} is not empty and not a benchmark cache")
        shutil.rmtree(cache)
    cache.mkdir(parents=True, exist_ok=True)
    (cache / ".attend-bench-cache").write_text("made by scripts/bench_intake.py\n")
    started = time.perf_counter()
    home = cache / "template"
    home.mkdir()
    write_certificates(cache / "certificates.csv", MIXED_SHEETS)
    _attend_with(code_dir, ["init"], home)
    _attend_with(code_dir, ["certificates", "import", str(cache / "certificates.csv")], home)
    _attend_with(code_dir, ["sheets", "issue", "--month", MONTH], home)
    printed = cache / "printed.pdf"
    _attend_with(code_dir, ["sheets", "print", "--month", MONTH, "-o", str(printed)], home)
    rasters = {dpi: [p.image for p in load_pages(printed, dpi=dpi)] for dpi in (200, 300)}
    inbox = cache / "inbox"
    inbox.mkdir()
    rng = np.random.default_rng(SEED)
    sheet = 0
    serials: dict[str, list[str | None]] = {}
    for name, kinds in MIXED_PLAN:
        images: list[np.ndarray] = []
        serials[name] = []
        for kind, dpi in kinds:
            if kind == "letter":
                images.append(_letter(dpi, rng))
                serials[name].append(None)
                continue
            printed_page = rasters[dpi][sheet]
            barcode = find_barcode(printed_page, dpi=dpi)
            payload = decode_payload(barcode.text) if barcode else None
            if payload is None:
                raise RuntimeError(f"printed sheet {sheet + 1}: its QR code was not read")
            layout = build_layout(payload.serial, MONTH_DATE, form=payload.form)
            page_rng = np.random.default_rng([SEED, sheet])
            filled = fill_page(
                printed_page, dpi, layout, plan_sheet(layout, page_rng, font_rate=0.0), page_rng
            )
            if kind == "blot":
                filled, _, _ = degrade_with_params(filled, dpi, page_rng, ["blot_qr"])
            scanned = simulate_scan(
                filled,
                rotate=180 if sheet % 7 == 3 else 0,
                skew_deg=round(float(page_rng.uniform(-1.5, 1.5)), 2),
                noise=3.0,
                blur=0.6 * dpi / 300,
                seed=SEED + sheet,
            )
            images.append(scanned)
            serials[name].append(payload.serial)
            sheet += 1
        target = inbox / name
        dpi = kinds[0][1]
        if name.endswith(".pdf"):
            objects = []
            for image, (kind, _) in zip(images, kinds, strict=True):
                if kind == "g4":
                    objects.append(ccitt_image(ink_of(image)))
                else:
                    entries = b"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /DCTDecode"
                    height, width = image.shape
                    objects.append(PdfImage(width, height, entries, _jpeg(image, dpi)))
            target.write_bytes(image_pdf(objects, dpi=dpi))
        elif name.endswith(".tif"):
            write_tiff(images, target, dpi)
        elif name.endswith(".jpg"):
            target.write_bytes(_jpeg(images[0], dpi))
        else:
            write_image(images[0], target, dpi)
    files = [name for name, _ in MIXED_PLAN]
    batch = MixedBatch(files, serials, {n: _sha256(inbox / n) for n in files})
    manifest.write_text(json.dumps(asdict(batch)) + "\n")
    print(
        f"generated {batch.pages} pages in {len(files)} files in "
        f"{time.perf_counter() - started:.1f} s into {cache}"
    )
    return batch


def describe_mixed(cache: Path, batch: MixedBatch) -> str:
    size = sum((cache / "inbox" / n).stat().st_size for n in batch.files)
    kinds = Counter(kind for _, pages in MIXED_PLAN for kind, _ in pages)
    dpis = Counter(dpi for _, pages in MIXED_PLAN for _, dpi in pages)
    return (
        f"mixed batch: {batch.pages} pages in {len(batch.files)} files "
        f"({sum(n.endswith('.pdf') for n in batch.files)} PDFs with JPEG and Group 4 pages, "
        f"{sum(n.endswith('.tif') for n in batch.files)} Group 4 TIFFs, "
        f"{sum(n.endswith('.jpg') for n in batch.files)} JPEG and "
        f"{sum(n.endswith('.png') for n in batch.files)} PNG files), {size / 1e6:.1f} MB; "
        f"pages by kind {dict(kinds)}, by dpi {dict(dpis)}"
    )


@dataclass
class Command:
    """One way to run the intake: a label and the `attend` arguments (INBOX replaced)."""

    label: str
    args: tuple[str, ...]
    readers: int  # processes reading pages in parallel


def mixed_commands(workers: Sequence[int], jobs: Sequence[int]) -> list[Command]:
    commands = [
        Command(f"run --jobs {n}", ("intake", "run", "INBOX", "--json", "--jobs", str(n)), n)
        for n in (1, *jobs)
    ]
    commands += [
        Command(
            f"watch --workers {n}",
            (
                *("intake", "watch", "INBOX", "--once", "--workers", str(n)),
                *("--settle", "0", "--interval", "0.2", "--json"),
            ),
            n,
        )
        for n in workers
    ]
    return commands


@dataclass
class Timed:
    """One whole command, timed, and what its processes said about themselves."""

    code: str  # "after" (this checkout) or "before"
    command: Command
    pages: int
    wall_s: float = 0.0
    cpu_s: float = 0.0
    max_rss_mb: float = 0.0  # the largest of the command's processes
    processes: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    identified: int = 0
    unidentified: int = 0

    @property
    def stages(self) -> dict[str, list[float]]:
        """ms per page by stage (wall; ``STAGE:cpu`` CPU), over every page-reading process."""
        found: dict[str, list[float]] = {}
        for process in self.processes:
            for page in process["stage_s"]:
                for stage, seconds in page.items():
                    found.setdefault(stage, []).append(seconds * 1000)
        return found

    def cpu_totals_ms(self) -> dict[str, float]:
        """Total CPU ms by stage, with start-up (the whole command's CPU less the stages')."""
        totals = {
            stage[: -len(":cpu")]: sum(values)
            for stage, values in self.stages.items()
            if stage.endswith(":cpu")
        }
        totals["start-up"] = 0.0
        totals["other"] = max(0.0, self.cpu_s * 1000 - sum(totals.values()))
        return totals

    @property
    def startup_s(self) -> float:
        loops = [p["loop_s"] for p in self.processes if p["stage_s"]]
        return max(0.0, self.wall_s - max(loops)) if loops else 0.0

    def totals_ms(self) -> dict[str, float]:
        """Total ms by stage, with start-up and the rest of the reading processes' time."""
        totals = {stage: sum(values) for stage, values in self.stages.items() if ":" not in stage}
        loops = sum(p["loop_s"] for p in self.processes if p["stage_s"]) * 1000
        totals["other"] = max(0.0, loops - sum(totals.values()))
        totals["start-up"] = self.startup_s * 1000 * self.command.readers
        return totals


def _code_env(code_dir: Path, home: Path, stats: Path) -> dict[str, str]:
    env = _env(home)
    env["PYTHONPATH"] = str(code_dir)
    env["ATTEND_INTAKE_STATS"] = str(stats)
    return env


def run_mixed(cache: Path, batch: MixedBatch, command: Command, code: str, code_dir: Path) -> Timed:
    """Run `command` with the code in `code_dir` on a fresh copy of the data and the batch."""
    timed = Timed(code, command, batch.pages)
    tmp = Path(tempfile.mkdtemp(prefix="attend-bench-mixed-"))
    try:
        home, inbox, stats = tmp / "home", tmp / "inbox", tmp / "stats"
        shutil.copytree(cache / "template", home)
        shutil.copytree(cache / "inbox", inbox)
        stats.mkdir()
        _attend_with(code_dir, ["init"], home)  # this code's schema (not timed)
        args = [str(inbox) if a == "INBOX" else a for a in command.args]
        argv = [sys.executable, "-m", _cli_module(code_dir), *args]
        started = time.perf_counter()
        child = subprocess.Popen(
            argv,
            env=_code_env(code_dir, home, stats),
            # Not this checkout: `python -m` puts the working folder first on sys.path, ahead
            # of PYTHONPATH, and the code to run is `code_dir`'s.
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert child.stderr is not None
        err = child.stderr.read()
        _, status, usage = os.wait4(child.pid, 0)
        timed.wall_s = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        timed.cpu_s = usage.ru_utime + usage.ru_stime
        timed.max_rss_mb = usage.ru_maxrss / 1024
        if child.returncode not in (0, 6):  # 6: some files failed (none should here)
            tail = err.decode("utf-8", "replace").strip().splitlines()[-3:]
            timed.problems.append(f"exited {child.returncode}: {' | '.join(tail)}")
        timed.processes = [json.loads(p.read_text()) for p in sorted(stats.glob("*.json"))]
        _verify_mixed(timed, home / "attend.sqlite3", batch.expected())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return timed


def _verify_mixed(timed: Timed, database: Path, expected: dict[tuple[str, int], Any]) -> None:
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT f.sha256, p.page_number, COUNT(*), MAX(p.status), MAX(p.serial) "
            "FROM scanned_pages p JOIN scanned_files f ON f.id = p.file_id "
            "GROUP BY f.sha256, p.page_number"
        ).fetchall()
    seen = {(sha, page): (count, status, serial) for sha, page, count, status, serial in rows}
    missing = set(expected) - set(seen)
    doubled = [k for k, (count, _, _) in seen.items() if count > 1]
    wrong = [k for k, (_, _, serial) in seen.items() if serial and serial != expected.get(k)]
    timed.identified = sum(1 for _, status, _ in seen.values() if status == "identified")
    timed.unidentified = sum(1 for _, status, _ in seen.values() if status == "unidentified")
    if missing or doubled or wrong or len(seen) != len(expected):
        timed.problems.append(
            f"{len(missing)} page(s) missing, {len(doubled)} doubled, {len(wrong)} on the "
            f"wrong sheet, {len(seen)} recorded of {len(expected)}"
        )


def run_naive_mixed(cache: Path, batch: MixedBatch) -> list[float]:
    """ms per page of the naive path on `NAIVE_SAMPLE`: pdf2image (300 dpi) or Pillow, pyzbar
    on the whole page, tesseract on every time field's box."""
    from pdf2image import convert_from_path
    from pytesseract import image_to_string
    from pyzbar.pyzbar import decode as zbar_decode

    config = "--psm 7 -c tessedit_char_whitelist=0123456789:"
    page_ms = []
    for name, number in NAIVE_SAMPLE:
        path = cache / "inbox" / name
        started = time.perf_counter()
        if name.endswith(".pdf"):
            image = convert_from_path(
                path, dpi=DPI, first_page=number, last_page=number, grayscale=True
            )[0]
            dpi = DPI
        else:
            with Image.open(path) as opened:
                opened.seek(number - 1)
                dpi = round(float(opened.info.get("dpi", (200, 200))[0]))
                image = opened.convert("L")
        symbols = zbar_decode(image)
        payload = decode_payload(symbols[0].data.decode("utf-8", "replace")) if symbols else None
        serial = payload.serial if payload else batch.serials[name][number - 1] or "0000000000T"
        scale = dpi / 72
        form = payload.form if payload else CURRENT_FORM
        for f in build_layout(serial, MONTH_DATE, form=form).fields:
            if not isinstance(f, TimeField):
                continue
            left, top = min(c[0] for c in f.cells), min(c[1] for c in f.cells)
            right = max(c[0] + c[2] for c in f.cells)
            bottom = max(c[1] + c[3] for c in f.cells)
            box = (round(left * scale), round(top * scale), round(right * scale))
            image_to_string(image.crop((*box, round(bottom * scale))), config=config)
        page_ms.append((time.perf_counter() - started) * 1000)
    return page_ms


MIXED_STAGES = ("start-up", "load", "identify", "register", "warp", "read", "store", "record")


def report_mixed(results: list[Timed], naive_ms: list[float] | None, cores: int) -> dict[str, Any]:
    """Print, per command and code, the whole-command figures and the stage table."""
    figures: dict[str, Any] = {"cores": cores, "load_average": os.getloadavg(), "runs": []}
    print()
    print(
        f"machine: {cores} cores; 1-minute load average now {os.getloadavg()[0]:.1f} (above "
        f"{cores}, other work shares the cores: wall times grow, CPU times much less)"
    )
    print(
        "whole commands on the mixed batch (medians over repeats); wall ms/page includes "
        "start-up; pages/min/core: pages per minute per reading process"
    )
    head = (
        f"{'command':22} {'code':6} {'ok':3} {'wall s':>7} {'wall ms/pg':>10} "
        f"{'CPU ms/pg':>9} {'pg/min/core':>11} {'start s':>7} {'id/unid':>7} "
        f"{'peak RSS MB per process':>24}"
    )
    print(head)
    print("-" * len(head))
    groups: dict[tuple[str, str], list[Timed]] = {}
    for t in results:
        groups.setdefault((t.command.label, t.code), []).append(t)
    summary: dict[tuple[str, str], dict[str, Any]] = {}
    for (label, code), runs in groups.items():
        pages = runs[0].pages
        wall = statistics.median(t.wall_s for t in runs)
        cpu = statistics.median(t.cpu_s for t in runs)
        readers = runs[0].command.readers
        per_core = pages / wall * 60 / min(readers, cores) if wall else 0.0
        rss = sorted({round(p["peak_rss_mb"]) for t in runs for p in t.processes})
        rss_text = "/".join(str(v) for v in rss) or f"max {max(t.max_rss_mb for t in runs):.0f}"
        ok = all(not t.problems for t in runs)
        stages = {}
        cpu_stages = {}
        totals = [t.totals_ms() for t in runs]
        total = sum(sum(x.values()) for x in totals)
        cpu_totals = [t.cpu_totals_ms() for t in runs]
        cpu_total = sum(sum(x.values()) for x in cpu_totals)
        for stage in (*MIXED_STAGES, "other"):
            pooled = [v for t in runs for v in t.stages.get(stage, [])]
            share = sum(x.get(stage, 0.0) for x in totals) / total if total else None
            stages[stage] = {
                "median_ms": statistics.median(pooled) if pooled else None,
                "share": share,
            }
            pooled = [v for t in runs for v in t.stages.get(f"{stage}:cpu", [])]
            share = sum(x.get(stage, 0.0) for x in cpu_totals) / cpu_total if cpu_total else None
            cpu_stages[stage] = {
                "median_ms": statistics.median(pooled) if pooled else None,
                "share": share,
            }
        stages["start-up"]["median_ms"] = statistics.median(t.startup_s * 1000 for t in runs)
        cpu_stages["other"]["median_ms"] = None
        row: dict[str, Any] = {
            "command": label,
            "code": code,
            "ok": ok,
            "problems": [p for t in runs for p in t.problems],
            "repeats": len(runs),
            "pages": pages,
            "wall_s": wall,
            "wall_ms_per_page": wall / pages * 1000,
            "cpu_ms_per_page": cpu / pages * 1000,
            "pages_per_min_per_core": per_core,
            "startup_s": statistics.median(t.startup_s for t in runs),
            "peak_rss_mb": rss or [max(t.max_rss_mb for t in runs)],
            "identified": runs[0].identified,
            "unidentified": runs[0].unidentified,
            "stages": stages,
            "cpu_stages": cpu_stages,
        }
        summary[(label, code)] = row
        figures["runs"].append(row)
        print(
            f"{label:22} {code:6} {'yes' if ok else 'NO':3} {wall:7.2f} "
            f"{row['wall_ms_per_page']:10.1f} {row['cpu_ms_per_page']:9.1f} {per_core:11.1f} "
            f"{row['startup_s']:7.2f} {runs[0].identified:>3}/{runs[0].unidentified:<3} "
            f"{rss_text:>24}"
        )
        for problem in row["problems"]:
            print(f"  FAILED: {problem}")
    for key, title in (
        ("stages", "stages, wall: median ms per page (share of the processes' wall time)"),
        (
            "cpu_stages",
            "stages, CPU: median CPU ms per page (share of the command's CPU; other: the "
            "CPU not in a stage, start-up and poppler included)",
        ),
    ):
        print()
        print(title)
        head = f"{'command':22} {'code':6} " + " ".join(
            f"{s:>14}" for s in (*MIXED_STAGES, "other")
        )
        print(head)
        print("-" * len(head))
        for (label, code), row in summary.items():
            cells = []
            for stage in (*MIXED_STAGES, "other"):
                value = row[key][stage]
                shown = "-" if value["median_ms"] is None else f"{value['median_ms']:.1f}"
                percent = "" if value["share"] is None else f" {100 * value['share']:3.0f}%"
                cells.append(f"{shown + percent:>14}")
            print(f"{label:22} {code:6} " + " ".join(cells))
    befores = {label for label, code in summary if code == "before"}
    if befores:
        print()
        print("after / before (same run, interleaved):")
        for label in sorted(befores):
            before, after = summary.get((label, "before")), summary.get((label, "after"))
            if before and after:
                print(
                    f"  {label:22} wall ms/page {before['wall_ms_per_page']:.1f} -> "
                    f"{after['wall_ms_per_page']:.1f} "
                    f"({after['wall_ms_per_page'] / before['wall_ms_per_page']:.2f}x); "
                    f"CPU ms/page {before['cpu_ms_per_page']:.1f} -> "
                    f"{after['cpu_ms_per_page']:.1f}"
                )
    one = summary.get(("run --jobs 1", "after"))
    if naive_ms and one:
        naive = statistics.median(naive_ms)
        ratio = naive / one["wall_ms_per_page"]
        print()
        print(
            f"naive path (pdf2image 300 dpi or Pillow, pyzbar on the whole page, tesseract on "
            f"every time field) on {len(naive_ms)} pages, one of each kind of file: median "
            f"{naive:.0f} ms/page; `attend intake run` {one['wall_ms_per_page']:.1f} ms/page "
            f"(whole command, start-up included): naive / ours = {ratio:.1f}x"
        )
        figures["naive"] = {"page_ms": naive_ms, "median_ms": naive, "ratio": ratio}
    for n in (2,):
        jobs = summary.get((f"run --jobs {n}", "after"))
        if jobs and one:
            speedup = one["wall_s"] / jobs["wall_s"]
            print(f"`intake run --jobs {n}` / one job throughput: {speedup:.2f}x")
            figures[f"jobs{n}_speedup"] = speedup
    return figures


def bench_mixed(args: argparse.Namespace, cache: Path, cores: int) -> int:
    jobs = [n for n in args.jobs if n > 1]
    codes = [("after", (args.after or REPO).absolute())]
    if args.before:
        codes.insert(0, ("before", args.before.absolute()))
    batch = generate_mixed(cache, codes[0][1])
    print(describe_mixed(cache, batch))
    results: list[Timed] = []
    for repeat in range(args.repeat):
        for command in mixed_commands(args.workers, jobs):
            for code, code_dir in codes:
                run = command
                if "--jobs" in command.args and not _supports_jobs(code_dir):
                    if command.readers > 1:
                        continue
                    # Code from before --jobs: one job is all it does.
                    run = Command(command.label, command.args[:-2], 1)
                print(f"[{repeat + 1}/{args.repeat}] {run.label} ({code}) ...", flush=True)
                results.append(run_mixed(cache, batch, run, code, code_dir))
    naive_ms = None
    if args.naive_pages > 0:
        print("naive path ...", flush=True)
        naive_ms = run_naive_mixed(cache, batch)
    figures = report_mixed(results, naive_ms, cores)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0 if all(not t.problems for t in results) else 1


def _cli_module(code_dir: Path) -> str:
    """The command line's module in that checkout (`cli` now, `attendance.cli` before)."""
    return "cli" if (code_dir / "cli" / "__main__.py").exists() else "attendance.cli"


def _supports_jobs(code_dir: Path) -> bool:
    result = subprocess.run(
        [sys.executable, "-m", _cli_module(code_dir), "intake", "run", "--help"],
        env={**os.environ, "PYTHONPATH": str(code_dir)},
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=False,
    )
    return "--jobs" in result.stdout


@contextlib.contextmanager
def _exclusive(cache: Path) -> Iterator[None]:
    """One benchmark at a time per cache: two at once would share the cores (and the cache)."""
    lock_path = cache.with_name(cache.name + ".lock")
    with lock_path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another bench_intake run ({lock_path}) ...", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _bench(args: argparse.Namespace, cache: Path, cores: int) -> int:
    batch = generate(cache, args.pages, jobs=cores)
    print("\n".join(describe_batches(cache, batch)))

    load_before = os.getloadavg()[0]
    naive = None
    if args.naive_pages > 0:
        print(f"naive path: {min(args.naive_pages, batch.pages)} pages ...", flush=True)
        naive = run_naive(cache, batch, min(args.naive_pages, batch.pages))

    runs: list[Run] = []
    overhead = 0.0
    if not args.skip_runs:
        overhead = claim_overhead(cache / "template")
        timeout = args.timeout or 30 + 5 * args.pages
        for fmt in FORMATS:
            for workers in WORKER_COUNTS:
                print(f"run: {fmt}, {workers} worker(s) ...", flush=True)
                runs.append(
                    run_intake(cache, batch, fmt, workers, timeout_s=timeout, keep=args.keep)
                )
    figures, all_ok = report(runs, naive, cores, overhead, (load_before, os.getloadavg()[0]))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"figures written to {args.json}")
    if not all_ok:
        print("FAILED: at least one run lost or doubled pages or did not finish (see above)")
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--batch",
        choices=["mixed", "uniform"],
        default="mixed",
        help="mixed: whole `intake run` / `intake watch` commands on a realistic mixed "
        "batch (default); uniform: the watched folder's workers on --pages JPEG pages",
    )
    parser.add_argument("--pages", type=int, default=200, help="(uniform) pages")
    parser.add_argument("--naive-pages", type=int, default=8)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="write every figure here")
    parser.add_argument(
        "--timeout", type=float, default=0.0, help="per run, s (default 30 s + 5 s a page)"
    )
    parser.add_argument("--keep", action="store_true", help="keep every run's folder")
    parser.add_argument("--skip-runs", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--before",
        type=Path,
        metavar="DIR",
        help="(mixed) also run a checkout of earlier code, interleaved, for before/after",
    )
    parser.add_argument(
        "--after",
        type=Path,
        metavar="DIR",
        help="(mixed) the code to measure as 'after' (default: this checkout)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="(mixed) runs of each command")
    parser.add_argument(
        "--workers", type=int, nargs="*", default=[1, 2], help="(mixed) watch --workers N"
    )
    parser.add_argument(
        "--jobs", type=int, nargs="*", default=[2], help="(mixed) also intake run --jobs N"
    )
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    if args.batch == "mixed":
        cache = (args.cache or Path("/tmp/attend-bench-mixed")).absolute()
        with _exclusive(cache):
            return bench_mixed(args, cache, cores)
    if args.pages < PDF_FILES:
        parser.error(f"--pages must be at least {PDF_FILES}")
    cache = (args.cache or Path("/tmp/attend-bench-cache")).absolute()
    with _exclusive(cache):
        return _bench(args, cache, cores)


if __name__ == "__main__":
    raise SystemExit(main())
