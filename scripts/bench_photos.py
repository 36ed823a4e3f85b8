"""Reading quality of phone photos against flatbed scans of the same filled sheets.

Generates `--sheets` filled sheets (real held-out handwritten digits, `fixtures.fill`), writes
each once as a clean 200 dpi scan and once as a phone photo (`fixtures.phone.photograph`:
perspective, desk, uneven light, warm colour, JPEG), reads both with the intake's page
composer and prints `scripts/bench_reading.py`'s report for each, so the two can be compared
in one run.

    .venv/bin/python scripts/bench_photos.py --sheets 12 --seed 1
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fixtures.fill import _serial, fill_page, plan_sheet  # noqa: E402
from fixtures.phone import photograph  # noqa: E402
from fixtures.samples import sample_sheet  # noqa: E402
from forms import layout as L  # noqa: E402
from forms.render import render_sheets  # noqa: E402
from scanner.digits import DigitReader  # noqa: E402
from scanner.fields import ReadingSettings  # noqa: E402
from scanner.load import load_pages  # noqa: E402

DPI = 200


def _bench_reading() -> object:
    spec = importlib.util.spec_from_file_location(
        "bench_reading", REPO / "scripts/bench_reading.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_reading"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def make_pairs(out: Path, *, sheets: int, seed: int) -> tuple[list[Path], list[Path]]:
    """The same filled sheets as clean scans and as phone photos, each with its truth."""
    rng = np.random.default_rng(seed)
    serials = [_serial(rng) for _ in range(sheets)]
    pdf = out / "printed.pdf"
    render_sheets([sample_sheet(s) for s in serials], pdf)
    scans, photos = [], []
    for folder in ("scan", "photo"):
        (out / folder).mkdir()
    for index, page in enumerate(load_pages(pdf, dpi=DPI)):
        sheet_rng = np.random.default_rng([seed, index])
        sample = sample_sheet(serials[index])
        layout = L.build_layout(sample.serial, sample.month)
        truth = plan_sheet(layout, sheet_rng, authorized_weekdays=sample.authorized_weekdays)
        filled = fill_page(page.image, DPI, layout, truth, sheet_rng)
        stem = f"page-{index + 1:04d}"
        scan = out / "scan" / f"{stem}.png"
        cv2.imwrite(str(scan), filled)
        photo = out / "photo" / f"{stem}.jpg"
        photo.write_bytes(photograph(filled, seed=seed * 1000 + index))
        for path in (scan, photo):
            path.with_name(f"{stem}.truth.json").write_text(json.dumps(truth.to_json()))
        scans.append(scan)
        photos.append(photo)
    return scans, photos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sheets", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threshold", type=float, default=ReadingSettings().time_review_below)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    bench = _bench_reading()
    reader = DigitReader.load()
    settings = ReadingSettings(time_review_below=args.threshold)
    with tempfile.TemporaryDirectory(prefix="attend-photos-") as tmp:
        started = time.perf_counter()
        scans, photos = make_pairs(Path(tmp), sheets=args.sheets, seed=args.seed)
        print(
            f"generated {args.sheets} filled sheets, scanned and photographed, in "
            f"{time.perf_counter() - started:.1f} s; digit model {reader.version}"
        )
        for label, paths in (("flatbed scans (200 dpi PNG)", scans), ("phone photos", photos)):
            print(f"\n== {label}")
            started = time.perf_counter()
            tally = bench.evaluate(paths, reader, settings)  # type: ignore[attr-defined]
            seconds = time.perf_counter() - started
            bench.report(tally, args.threshold)  # type: ignore[attr-defined]
            print(f"read in {seconds:.1f} s ({1000 * seconds / len(paths):.0f} ms a page)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
