"""The review benchmark's generated month (fixtures.month): its plan covers what the benchmark
claims, its truth is consistent, and the real intake sees the planted problems."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from fixtures.month import (
    PLANTED_KINDS,
    MonthRun,
    plan_month,
    run_month,
    sheet_truth,
    truth_problems,
)
from forms.layout import days_in_month


def test_plan_covers_every_type_and_plants_each_problem_on_its_own_sheet() -> None:
    """GIVEN the default month of 40 sheets
    WHEN it is planned twice with the same seed
    THEN every schedule and provider type appears, each planted problem is on its own sheet
    (the absence limit with an earlier month), and the plan is the same both times."""
    plan = plan_month("2026-11", sheets=40, seed=1)
    assert plan == plan_month("2026-11", sheets=40, seed=1)
    assert plan != plan_month("2026-11", sheets=40, seed=2)
    assert {c.schedule_type for c in plan.certificates} == {"full_time", "part_time", "variable"}
    assert {c.provider_type for c in plan.certificates} == {
        "licensed_center",
        "licensed_family",
        "exempt",
    }
    planted = [kind for kinds in plan.plants.values() for kind in kinds]
    assert sorted(planted) == sorted(PLANTED_KINDS)
    assert len(plan.plants) == len(PLANTED_KINDS)
    (limited,) = [c for c, kinds in plan.plants.items() if "absence_limit_exceeded" in kinds]
    assert plan.earlier == (limited,)
    certificate = plan.certificate(limited)
    assert certificate.covers(plan.prior_month) and certificate.provider_type != "exempt"
    (late_start,) = [c for c, k in plan.plants.items() if "outside_certificate_period" in k]
    assert plan.certificate(late_start).start_date > plan.month


def test_times_follow_the_schedule_with_human_drift() -> None:
    """GIVEN the planned certificates of a month
    WHEN each sheet's truth is drawn
    THEN care is written only on authorized days in the period (but for the planted days),
    most times lie within half an hour of the authorized windows, some lie further out, and
    many minutes are rounded to the quarter hour; the draw is deterministic."""
    plan = plan_month("2026-11", sheets=40, seed=3)
    near = far = quarter = written = 0
    for index, certificate in enumerate(plan.certificates):
        windows = certificate.windows()
        truth = sheet_truth(
            plan, certificate, "0" * 11, plan.month, [], np.random.default_rng([3, index])
        )
        again = sheet_truth(
            plan, certificate, "0" * 11, plan.month, [], np.random.default_rng([3, index])
        )
        assert truth == again
        planted_days = {
            p.date
            for p in truth_problems(plan, [(certificate, truth)])
            if p.kind in ("weekday_not_authorized", "outside_certificate_period")
        }
        for day in days_in_month(plan.month):
            for direction in ("in", "out"):
                time = truth.times[f"day.{day.day:02d}.{direction}"].time
                if time is None:
                    continue
                if day.isoformat() in planted_days:
                    continue
                assert windows[day.weekday()] and certificate.covers(day), (certificate, day)
                minutes = int(time[:2]) * 60 + int(time[3:])
                start, end = windows[day.weekday()][0][0], windows[day.weekday()][-1][1]
                written += 1
                quarter += minutes % 15 == 0
                if start - 30 <= minutes <= end + 30:
                    near += 1
                else:
                    far += 1
    assert written > 800
    assert near / written > 0.9
    assert far > 5  # sometimes half an hour or more outside the window
    assert 0.4 < quarter / written < 0.95


def test_truth_problems_list_exactly_what_was_planted_and_the_background() -> None:
    """GIVEN a planned month
    WHEN every sheet's truth is drawn and the problems are derived from the truth alone
    THEN every planted kind is found on the sheet it was planted on, marked planted, and any
    other problem comes from the background (a sheet left unsigned)."""
    plan = plan_month("2026-11", sheets=12, seed=5)
    sheets = []
    for index, certificate in enumerate(plan.certificates):
        rng = np.random.default_rng([5, index])
        sheets.append((certificate, sheet_truth(plan, certificate, "0" * 11, plan.month, [], rng)))
    for certificate_id in plan.earlier:
        certificate = plan.certificate(certificate_id)
        rng = np.random.default_rng([5, 99])
        prior = sheet_truth(plan, certificate, "1" * 11, plan.prior_month, [], rng)
        best_interest = [k for k, v in prior.marks.items() if k.endswith(".best_interest") and v]
        assert len(best_interest) >= 7
        sheets.append((certificate, prior))
    problems = truth_problems(plan, sheets)
    for certificate_id, kinds in plan.plants.items():
        for kind in kinds:
            found = [p for p in problems if p.certificate_id == certificate_id and p.kind == kind]
            assert found and all(p.planted for p in found), (certificate_id, kind)
    for p in problems:
        if not p.planted:
            assert p.kind.endswith("_signature_missing") or p.kind == "absence_limit_exceeded"


@pytest.fixture(scope="module")
def month_run(tmp_path_factory: pytest.TempPathFactory) -> MonthRun:
    return run_month(tmp_path_factory.mktemp("month"), sheets=3, seed=1, workers=1)


@pytest.mark.slow
def test_intake_of_the_generated_month_agrees_with_its_truth(month_run: MonthRun) -> None:
    """GIVEN 3 sheets of a month and the previous month's sheet of one child, issued, printed,
    filled, scanned with scanner troubles and taken in by `attend intake watch --once` on the
    program's clock in time for each month
    WHEN the month is exported
    THEN every sheet is received in time (no `late` flag), each planted problem is flagged on
    its day, or its field is sent to review (never silently passed); signatures read with
    confidence agree with the truth, and a missing one is flagged."""
    run = month_run
    assert Counter(s.month for s in run.scanned) == {"2026-11": 3, "2026-10": 1}
    assert {p.kind for p in run.problems if p.planted} == set(PLANTED_KINDS)
    for scanned in run.scanned:
        sheet = run.export_sheet(scanned.serial, scanned.month)
        if sheet["status"] == "issued":  # its page was not identified: it waits for a person
            unidentified = run.exports["2026-11"]["unidentified"]
            assert any(u["file_sha256"] == scanned.sha256 for u in unidentified)
            continue
        assert sheet["source"]["file_sha256"] == scanned.sha256
        codes = {f["code"] for f in sheet["flags"]}
        assert not codes & {"late", "past_due"}
        received = dt.datetime.fromisoformat(sheet["received_at"].replace("Z", "+00:00"))
        month_end = days_in_month(dt.date.fromisoformat(scanned.month + "-01"))[-1]
        assert received.date() == month_end + dt.timedelta(days=2)
        for who in ("parent", "provider"):
            signature = sheet["signatures"][who]
            truth = scanned.truth.signatures[f"signature.{who}"]
            if not signature["needs_review"]:
                assert signature["signed"] is truth, (scanned.serial, who)
            if not truth:
                assert f"{who}_signature_missing" in codes or signature["needs_review"]
    for problem in run.problems:
        sheet = run.export_sheet(problem.serial, problem.month)
        if sheet["status"] == "issued":
            continue
        flagged = any(
            f["code"] == problem.kind and (problem.date is None or f["date"] == problem.date)
            for f in sheet["flags"]
        )
        in_review = problem.date is not None and any(
            d["date"] == problem.date
            and (d["time_in"]["needs_review"] or d["time_out"]["needs_review"])
            for d in sheet["days"]
        )
        assert flagged or in_review, problem


@pytest.mark.slow
def test_the_truth_beside_the_scans_is_what_was_written(month_run: MonthRun) -> None:
    """GIVEN the generated month
    WHEN the intake's confident readings are compared with the truth
    THEN nearly all confident time readings equal the written time (the reader's measured
    error is well under 1 %), so the truth describes the pages the intake read."""
    compared = wrong = 0
    for scanned in month_run.scanned:
        sheet = month_run.export_sheet(scanned.serial, scanned.month)
        for day in sheet["days"]:
            for key, direction in (("time_in", "in"), ("time_out", "out")):
                value = day[key]
                if value["needs_review"] or value["confidence"] is None:
                    continue
                name = f"day.{int(day['date'][8:]):02d}.{direction}"
                compared += 1
                wrong += value["value"] != scanned.truth.times[name].time
    assert compared > 100
    assert wrong <= max(1, compared // 100)


@pytest.mark.slow
def test_scan_files_are_what_a_scanner_writes(month_run: MonthRun) -> None:
    """GIVEN the generated month
    THEN its files are PNG, JPEG or Group 4 TIFF pages named by the scanner (never after a
    child), with mixed scanner troubles recorded."""
    suffixes = {Path(s.file).suffix for s in month_run.scanned}
    assert suffixes <= {".png", ".jpg", ".tif"} and len(suffixes) >= 2
    assert all(s.file.startswith("scan-") for s in month_run.scanned)
    assert len({kind for s in month_run.scanned for kind in s.degradations}) >= 2
