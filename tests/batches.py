"""Scanned batches for the intake tests: real printed sheets, scanned, in many distinct files,
and helpers to run the real `attend` commands as separate processes (so they can be killed)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy import text

from scanner.load import load_pages
from tests.conftest import MONTH, REPO, Cli
from tests.sheetdb import engine_for


def printed_pages(cli: Cli, tmp_path: Path, *, dpi: int = 150) -> list[np.ndarray]:
    """The month's printed sheets as page rasters (real QR codes of issued serials)."""
    pdf = tmp_path / "printed-all.pdf"
    cli.ok("sheets", "print", "--month", MONTH, "-o", str(pdf))
    return [page.image for page in load_pages(pdf, dpi=dpi)]


def _marked(page: np.ndarray, index: int) -> np.ndarray:
    """The page with a tiny index code in its margin, so every file's bytes are unique."""
    marked = page.copy()
    for bit in range(16):
        if index >> bit & 1:
            marked[4:8, 4 + bit * 5 : 8 + bit * 5] = 0
    return marked


def pdf_bytes(pages: Sequence[np.ndarray], dpi: int) -> bytes:
    """A multi-page PDF of JPEG-compressed grey images, as a scanner writes it."""
    images = [Image.fromarray(p, mode="L") for p in pages]
    out = io.BytesIO()
    images[0].save(out, "PDF", save_all=True, append_images=images[1:], resolution=dpi)
    return out.getvalue()


def write_batch(
    pages: Sequence[np.ndarray],
    out_dir: Path,
    *,
    total_pages: int,
    pages_per_file: int,
    dpi: int = 150,
    start: int = 0,
) -> list[Path]:
    """`total_pages` pages cycling through `pages`, in PDFs of `pages_per_file` pages."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for first in range(0, total_pages, pages_per_file):
        chunk = [
            _marked(pages[(start + n) % len(pages)], start + n)
            for n in range(first, min(total_pages, first + pages_per_file))
        ]
        path = out_dir / f"scan-{start + first:05d}.pdf"
        path.write_bytes(pdf_bytes(chunk, dpi))
        written.append(path)
    return written


def attend_env(cli: Cli, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["ATTEND_HOME"] = str(cli.home)
    if cli.database_url:
        env["ATTEND_DATABASE_URL"] = cli.database_url
    else:
        env.pop("ATTEND_DATABASE_URL", None)
    env.update(extra)
    return env


def attend_process(
    cli: Cli, *args: str, log: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`attend ARGS` as its own process (stdout and stderr to `log`)."""
    out = log.open("ab") if log else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "cli", "-v", *args],
            env=env or attend_env(cli),
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    finally:
        if log:
            out.close()  # type: ignore[union-attr]


def query(cli: Cli, sql: str) -> list[tuple[object, ...]]:
    engine = engine_for(cli)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


def exactly_once(cli: Cli, work: Path, *, files: int, pages: int) -> None:
    """Every file arrived once and is done; every page recorded exactly once; nothing left."""
    states = dict(query(cli, "SELECT state, count(*) FROM intake_files GROUP BY state"))
    assert states == {"done": files}, states
    recorded = query(cli, "SELECT file_id, page_number, count(*) FROM scanned_pages GROUP BY 1, 2")
    assert len(recorded) == pages
    assert all(count == 1 for *_key, count in recorded)
    jobs = dict(query(cli, "SELECT state, count(*) FROM page_jobs GROUP BY state"))
    assert jobs == {"done": pages}, jobs
    assert os.listdir(work / "processing") == []
    archived = [p for p in (work / "archive").rglob("*") if p.is_file()]
    assert len(archived) == files
    # The receipt was recorded once per sheet, however many times a worker died.
    receipts = query(
        cli,
        "SELECT entity_id, count(*) FROM events WHERE action = 'received' GROUP BY entity_id",
    )
    assert receipts and all(count == 1 for _serial, count in receipts)


def worker_stats(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(path.read_text())
    return data
