"""Reading end to end: issued sheets filled with held-out handwriting, scanned, taken in.

The truth comes from `fixtures.fill`; the digits written are real MNIST digits the model
never saw in training. Assertions are on what the export says, as a payment clerk sees it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from attendance.months import parse_month
from fixtures.fill import SheetTruth, degrade_with_params, fill_page, plan_sheet
from fixtures.scanbatch import write_image, write_tiff
from forms.layout import CURRENT_FORM, build_layout
from scanner.load import load_pages
from tests.conftest import CERTIFICATES_CSV, Cli

MONTH = "2026-11"
CSV = "\n".join(
    [
        CERTIFICATES_CSV.read_text().splitlines()[0],
        *(
            f"C-{n},Child{n},Test,2021-01-0{n},Parent {n},P-1,Care One,licensed_center,"
            "2026-01-01,2027-12-31,Mon-Fri 07:30-17:30,50,full_time,S,555"
            for n in (1, 2, 3)
        ),
    ]
)
# Scanner recipes: (scan dpi, degradations, writer)
RECIPES = [
    (300, ["skew", "rotate180", "noise"], "png"),
    (200, ["scale", "blur", "jpeg"], "jpg"),
    (300, ["skew", "bilevel300"], "tif"),
]


@pytest.fixture(scope="module")
def read_batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, SheetTruth], dict]:
    tmp = tmp_path_factory.mktemp("reading")
    cli = Cli(tmp / "attend-data")
    cli.ok("init")
    (tmp / "certs.csv").write_text(CSV)
    cli.ok("certificates", "import", str(tmp / "certs.csv"))
    cli.ok("sheets", "issue", "--month", MONTH)
    serials = [
        r["serial"] for r in json.loads(cli.ok("sheets", "list", "--month", MONTH, "--json"))
    ]
    pdf = tmp / "printed.pdf"
    cli.ok("sheets", "print", "--month", MONTH, "-o", str(pdf))
    inbox = tmp / "inbox"
    inbox.mkdir()
    truths: dict[str, SheetTruth] = {}
    for index, (serial, (dpi, kinds, kind)) in enumerate(zip(serials, RECIPES, strict=True)):
        rng = np.random.default_rng([2026, index])
        page = list(load_pages(pdf, dpi=dpi))[index].image
        layout = build_layout(serial, parse_month(MONTH), form=CURRENT_FORM)
        truth = plan_sheet(layout, rng, font_rate=0.0)
        scanned, scan_dpi, _ = degrade_with_params(
            fill_page(page, dpi, layout, truth, rng), dpi, rng, kinds
        )
        target = inbox / f"scan-{index}.{kind}"
        if kind == "tif":
            write_tiff([scanned], target, int(scan_dpi))
        else:
            write_image(scanned, target, int(scan_dpi))
        truths[serial] = truth
    report = json.loads(cli.ok("intake", "run", str(inbox), "--json"))
    assert report["counts"]["pages_identified"] == 3
    export = json.loads(cli.ok("export", "--month", MONTH))
    return truths, export


def _times(truths: dict[str, SheetTruth], export: dict) -> list[tuple[str | None, dict]]:
    pairs = []
    for sheet in export["sheets"]:
        truth = truths[sheet["serial"]]
        for day in sheet["days"]:
            dd = day["date"][-2:]
            for which in ("in", "out"):
                t = truth.times[f"day.{dd}.{which}"]
                if not t.crossed_out:
                    pairs.append((t.time, day[f"time_{which}"]))
    return pairs


@pytest.mark.slow
def test_handwritten_times_are_read_and_know_when_unsure(read_batch: tuple) -> None:
    truths, export = read_batch
    assert {s["status"] for s in export["sheets"]} <= {"in_review", "verified"}
    assert all(s["received_at"] for s in export["sheets"])
    filled = [(t, f) for t, f in _times(truths, export) if t is not None]
    assert len(filled) > 60
    right = sum(f["machine_value"] == t for t, f in filled)
    assert right / len(filled) >= 0.9, f"{right}/{len(filled)} read right"
    accepted = [(t, f) for t, f in filled if not f["needs_review"]]
    wrong_accepted = [
        (t, f["machine_value"], f["confidence"]) for t, f in accepted if f["machine_value"] != t
    ]
    # Measured: 79 % accepted at the default threshold (72 % on the harder benchmark batch).
    assert len(accepted) / len(filled) >= 0.7
    assert len(wrong_accepted) <= 1, wrong_accepted  # confident and wrong is what costs money
    for _, f in filled:
        assert 0.0 <= f["confidence"] <= 1.0 and f["value"] == f["machine_value"]


@pytest.mark.slow
def test_blank_days_are_found_blank(read_batch: tuple) -> None:
    truths, export = read_batch
    blanks = [f for t, f in _times(truths, export) if t is None]
    assert len(blanks) > 30
    read_blank = sum(f["machine_value"] is None for f in blanks)
    assert read_blank / len(blanks) >= 0.98


@pytest.mark.slow
def test_absence_marks_and_signatures_are_detected(read_batch: tuple) -> None:
    truths, export = read_batch
    days = right = 0
    for sheet in export["sheets"]:
        truth = truths[sheet["serial"]]
        for day in sheet["days"]:
            dd = day["date"][-2:]
            marked = [
                name.rsplit(".", 1)[1]
                for name, value in truth.marks.items()
                if name.startswith(f"day.{dd}.absence.") and value == "marked"
            ]
            expected = marked[0] if len(marked) == 1 else None
            days += 1
            right += day["absence"]["code"] == expected
        for who in ("parent", "provider"):
            assert sheet["signatures"][who]["signed"] is truth.signatures[f"signature.{who}"]
    assert right / days >= 0.97, f"{right}/{days}"
