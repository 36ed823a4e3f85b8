"""Read a generated batch of filled, scanned sheets and compare with the truth beside each page.

The batch covers issue 13's conditions (`fixtures.fill.pick_conditions`): scanner damage,
blotted QR codes, corner targets cut off by a crooked enlarged copy, photocopies of
photocopies and phone photos, on monthly-v1 and monthly-v2 sheets (``--scanner-only``: the
earlier batch, scanner damage on v1 sheets only).

Prints per condition and form: pages identified (by printed serial) / mis-identified /
unidentified / registered; then over the batch: digit accuracy; time-field raw
accuracy; the share of filled time fields sent to review; the error among auto-accepted
fields; blank-vs-filled confusions; mark and signature errors both ways; median ms per page
per stage at each resolution (one core); and the accuracy-review curve, so the review
threshold can be chosen with eyes open.

    .venv/bin/python scripts/bench_reading.py --sheets 40 --seed 1
    .venv/bin/python scripts/bench_reading.py --batch DIR     # an existing fixtures.fill batch
    .venv/bin/python scripts/bench_reading.py --baseline-model scanner/models/digits-v1.onnx
    .venv/bin/python scripts/bench_reading.py --keep DIR      # generate into DIR and keep it
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from attendance.months import parse_month
from fixtures.fill import SheetTruth, condition_of, make_reading_batch
from fixtures.samples import sample_sheet
from forms.layout import FORMS, TimeField, build_layout
from scanner.digits import DigitReader, prepare_cell
from scanner.fields import ReadingSettings
from scanner.load import load_pages
from scanner.pipeline import ContextFor, Reading, SheetContext, read_page
from scanner.readings import FieldReading, crop
from scanner.timefield import BOTH_AMPM_MARKED, NOT_A_TIME

THRESHOLDS = (0.5, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999)
HARD_REASONS = (NOT_A_TIME, BOTH_AMPM_MARKED)


@dataclass
class Tally:
    pages: int = 0
    identified: int = 0
    misidentified: int = 0
    unidentified: int = 0
    unidentified_intact: int = 0  # unidentified although the QR code was not blotted
    serial_ocr: int = 0
    registration_failed: int = 0
    digits: int = 0
    digits_right: int = 0
    # (confidence, reason, right) for every filled, uncrossed time field
    filled_times: list[tuple[float, str | None, bool]] = field(default_factory=list)
    blank_times: list[tuple[float, str | None, bool]] = field(default_factory=list)
    crossed_out: int = 0
    crossed_out_caught: int = 0
    blank_read_filled: int = 0
    filled_read_blank: int = 0
    marks: Counter[str] = field(default_factory=Counter)
    signatures: Counter[str] = field(default_factory=Counter)
    ms: dict[tuple[int, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    # per (condition, form): pages, identified, by serial, mis-identified, unidentified,
    # registered, blotted (QR code blotted)
    by_condition: dict[tuple[str, str], Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )


def _windows(month: str) -> dict[dt.date, tuple[tuple[int, int], ...]]:
    sample = sample_sheet()
    # The sample certificate: Mon-Fri 07:30-17:30 (fixtures.samples), the same for every page.
    assert sample.schedule_text == "Mon-Fri 07:30-17:30"
    from attendance.months import month_days

    return {
        day: ((450, 1050),) if day.weekday() in sample.authorized_weekdays else ()
        for day in month_days(parse_month(month))
    }


def _digit_accuracy(
    canon: np.ndarray,
    layout_fields: list[TimeField],
    truth: SheetTruth,
    reader: DigitReader,
    tally: Tally,
) -> None:
    cells, labels = [], []
    for tf in layout_fields:
        t = truth.times.get(tf.name)
        if t is None:
            continue
        for rect, written in zip(tf.cells, t.cells, strict=True):
            if written is not None and written.isdigit():
                cells.append(prepare_cell(crop(canon, rect)))
                labels.append(int(written))
    if cells:
        predicted = reader.probabilities(np.stack(cells)).argmax(axis=1)
        tally.digits += len(labels)
        tally.digits_right += int((predicted == np.asarray(labels)).sum())


def _score_page(readings: list[FieldReading], truth: SheetTruth, tally: Tally) -> None:
    for r in readings:
        if r.kind == "time":
            t = truth.times[r.name]
            if t.crossed_out:
                tally.crossed_out += 1
                tally.crossed_out_caught += int(r.needs_review)
                continue
            right = r.value == t.time
            if t.time is None:
                tally.blank_times.append((r.confidence, r.reason, right))
                tally.blank_read_filled += int(r.value is not None)
            else:
                tally.filled_times.append((r.confidence, r.reason, right))
                tally.filled_read_blank += int(r.value is None)
        elif r.kind == "mark" and r.name in truth.marks:
            expected = truth.marks[r.name]
            if r.value == expected:
                tally.marks["right"] += 1
            else:
                tally.marks[f"truth {expected} read {r.value}"] += 1
            tally.marks["reviewed"] += int(r.needs_review)
        elif r.kind == "signature":
            expected = truth.signatures[r.name]
            got = r.value == "signed"
            key = "right" if got == expected else ("missed" if expected else "false_signed")
            tally.signatures[key] += 1
            tally.signatures["reviewed"] += int(r.needs_review)


def _only(context: SheetContext) -> ContextFor:
    return lambda serial: context if serial == context.serial else None


def evaluate(paths: list[Path], reader: DigitReader, settings: ReadingSettings) -> Tally:
    reading = Reading(reader=reader, settings=settings)
    tally = Tally()
    for path in paths:
        truth = SheetTruth.from_json(
            json.loads(path.with_name(path.stem + ".truth.json").read_text())
        )
        started = time.perf_counter()
        page = next(iter(load_pages(path)))
        # Phone photos are timed under "photo": their resolution means nothing.
        dpi = round(page.dpi) if "phone" not in truth.degradations else 0
        tally.ms[(dpi, "load")].append((time.perf_counter() - started) * 1000)
        tally.pages += 1
        counts = tally.by_condition[(condition_of(truth), truth.form)]
        counts["pages"] += 1
        counts["blotted"] += int("blot_qr" in truth.degradations)
        context = SheetContext(
            serial=truth.serial,
            month=parse_month(truth.month),
            windows=_windows(truth.month),
            form=truth.form,
        )
        # The same composer as intake: only the page's own sheet is known.
        result = read_page(page, context_for=_only(context), reading=reading)
        for stage, seconds in result.timings.items():
            tally.ms[(dpi, stage)].append(seconds * 1000)
        identity = result.identity
        if identity.payload is None:
            tally.unidentified += 1
            tally.unidentified_intact += int("blot_qr" not in truth.degradations)
            counts["unidentified"] += 1
            continue
        if identity.payload.serial != truth.serial:
            tally.misidentified += 1
            counts["misidentified"] += 1
            continue
        tally.identified += 1
        counts["identified"] += 1
        tally.serial_ocr += int(identity.barcode is None)
        counts["by_serial"] += int(identity.barcode is None)
        counts["blotted_by_serial"] += int(
            identity.barcode is None and "blot_qr" in truth.degradations
        )
        if not result.registered or result.canon is None:
            tally.registration_failed += 1
            counts[f"failed {result.review_reason}"] += 1
            continue
        counts["registered"] += 1
        _score_page(list(result.readings), truth, tally)
        layout = build_layout(
            truth.serial,
            parse_month(truth.month),
            form=truth.form if truth.form in FORMS else FORMS[0],
        )
        _digit_accuracy(
            result.canon,
            [f for f in layout.fields if isinstance(f, TimeField)],
            truth,
            reader,
            tally,
        )
    return tally


def _pct(part: int | float, whole: int | float) -> str:
    return f"{100 * part / whole:6.2f}%" if whole else "   n/a"


def report(tally: Tally, threshold: float) -> None:
    print(
        "per condition (pages: identified [by printed serial] / mis-identified / unidentified"
        " / registered):"
    )
    print(
        f"  {'condition':<11} {'form':<11} {'pages':>5} {'ident.':>6} {'serial':>6} "
        f"{'wrong':>5} {'unid.':>5} {'regist.':>7}  not registered"
    )
    for (condition, form), c in sorted(tally.by_condition.items()):
        failures = ", ".join(
            f"{k[len('failed ') :]} {v}" for k, v in sorted(c.items()) if k.startswith("failed ")
        )
        print(
            f"  {condition:<11} {form:<11} {c['pages']:>5} {c['identified']:>6} "
            f"{c['by_serial']:>6} {c['misidentified']:>5} {c['unidentified']:>5} "
            f"{c['registered']:>7}  {failures}"
        )
    blotted = sum(c["blotted"] for c in tally.by_condition.values())
    rescued = sum(c["blotted_by_serial"] for c in tally.by_condition.values())
    print(f"blotted-code pages identified by printed serial: {rescued}/{blotted}")
    print(
        f"pages: {tally.pages}  identified {tally.identified} (by printed serial "
        f"{tally.serial_ocr})  mis-identified {tally.misidentified}  unidentified "
        f"{tally.unidentified} (of which QR intact: {tally.unidentified_intact})  "
        f"registration failed {tally.registration_failed}"
    )
    print(
        f"digits: {tally.digits_right}/{tally.digits} right = "
        f"{_pct(tally.digits_right, tally.digits)}"
    )
    filled = tally.filled_times
    right = sum(1 for _, _, ok in filled if ok)
    print(f"time fields filled: {len(filled)}  raw accuracy {_pct(right, len(filled))}")

    def at(t: float) -> tuple[int, int, int, int]:
        reviewed = [x for x in filled if x[0] < t or x[1] in HARD_REASONS]
        accepted = [x for x in filled if not (x[0] < t or x[1] in HARD_REASONS)]
        wrong = sum(1 for _, _, ok in accepted if not ok)
        blank_acc = [x for x in tally.blank_times if not (x[0] < t or x[1] in HARD_REASONS)]
        blank_wrong = sum(1 for _, _, ok in blank_acc if not ok)
        return len(reviewed), len(accepted), wrong, blank_wrong

    reviewed, accepted, wrong, blank_wrong = at(threshold)
    print(
        f"at threshold {threshold}: filled time fields sent to review "
        f"{_pct(reviewed, len(filled))}; "
        f"error among auto-accepted filled {_pct(wrong, accepted)} ({wrong}/{accepted}); "
        f"blank fields auto-accepted wrong {blank_wrong}/{len(tally.blank_times)}"
    )
    print(
        f"blank read as filled: {tally.blank_read_filled}/{len(tally.blank_times)}   "
        f"filled read as blank: {tally.filled_read_blank}/{len(filled)}   "
        f"crossed-out sent to review: {tally.crossed_out_caught}/{tally.crossed_out}"
    )
    marks_total = sum(v for k, v in tally.marks.items() if k != "reviewed")
    mark_errors = {k: v for k, v in tally.marks.items() if k not in ("right", "reviewed")}
    print(
        f"marks: {marks_total} boxes, errors {sum(mark_errors.values())} {dict(mark_errors)}, "
        f"reviewed {tally.marks['reviewed']}"
    )
    sig_total = sum(v for k, v in tally.signatures.items() if k != "reviewed")
    print(
        f"signatures: {sig_total}, missed {tally.signatures['missed']}, falsely signed "
        f"{tally.signatures['false_signed']}, reviewed {tally.signatures['reviewed']}"
    )
    print("accuracy-review curve (filled time fields):")
    print("  threshold  sent to review  error among accepted")
    for t in THRESHOLDS:
        reviewed, accepted, wrong, _ = at(t)
        print(
            f"  {t:9.3f}  {_pct(reviewed, len(filled)):>14}  {_pct(wrong, accepted):>20}"
            f" ({wrong}/{accepted})"
        )
    print("median ms per page (one core):")
    for dpi in sorted({d for d, _ in tally.ms}):
        stages = {s: statistics.median(v) for (d, s), v in tally.ms.items() if d == dpi and v}
        composed = ("identify", "register", "warp", "read")
        parts = "  ".join(f"{s} {stages[s]:7.1f}" for s in ("load", *composed) if s in stages)
        after_load = sum(stages.get(s, 0.0) for s in composed)
        label = "photos " if dpi == 0 else f"{dpi} dpi"
        print(f"  {label}: {parts}   identify+register+warp+read {after_load:7.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sheets", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=Path, help="read this batch instead of generating one")
    parser.add_argument(
        "--plan",
        choices=["random", "schedule"],
        default="random",
        help="times drawn anew each day (default), or following the certificate's schedule "
        "with human drift (fixtures.fill.make_reading_batch)",
    )
    parser.add_argument("--keep", type=Path, help="generate the batch into this folder, kept")
    parser.add_argument(
        "--scanner-only",
        action="store_true",
        help="the earlier batch: scanner damage on monthly-v1 sheets only",
    )
    parser.add_argument("--threshold", type=float, default=ReadingSettings().time_review_below)
    parser.add_argument("--backend", choices=["onnxruntime", "opencv"], default="onnxruntime")
    parser.add_argument("--model", type=Path, help="a digit model (default: the shipped one)")
    parser.add_argument(
        "--baseline-model",
        type=Path,
        help="also read the same batch with this model first and print its figures (e.g. "
        "scanner/models/digits-v1.onnx: before and after in one run)",
    )
    args = parser.parse_args()
    cv2.setNumThreads(1)  # the figure is per core
    readers = [DigitReader.load(args.model, backend=args.backend)]
    if args.baseline_model:
        readers.insert(0, DigitReader.load(args.baseline_model, backend=args.backend))
    settings = ReadingSettings(time_review_below=args.threshold)
    with tempfile.TemporaryDirectory(prefix="attend-bench-") as tmp:
        if args.batch:
            paths = sorted(
                p
                for p in args.batch.iterdir()
                if p.name.startswith("page-") and not p.name.endswith(".json")
            )
        else:
            started = time.perf_counter()
            paths = make_reading_batch(
                args.keep or Path(tmp),
                sheets=args.sheets,
                seed=args.seed,
                plan=args.plan,
                conditions=not args.scanner_only,
            )
            print(
                f"generated {len(paths)} filled, scanned sheets (seed {args.seed}, plan "
                f"{args.plan}) in "
                f"{time.perf_counter() - started:.1f} s"
            )
        for reader in readers:
            print(f"digit model {reader.version} on {reader.backend}")
            report(evaluate(paths, reader, settings), args.threshold)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
