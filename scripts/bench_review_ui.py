"""Time the review queue through the web app, against the bare domain calls.

Builds the test site (the demo month scanned and read by the real intake) in a temporary
folder, logs in as a reviewer with FastAPI's TestClient (in-process: no network), and times N
review cycles: `POST /review/next` + `GET evidence.png` + `POST accept` (a correction for every
5th item). The same cycle done with the domain functions directly (claim_items,
item_evidence_png, accept_item/correct_item) on a second copy of the site is the baseline, so
the web layer's overhead shows as a ratio. Then N items as the review screen works them (one
sheet at a time: the sheet asked for again after every decision).

    .venv/bin/python scripts/bench_review_ui.py [--items 60] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from sqlmodel import Session, col, select  # noqa: E402

from attendance import decisions, errors, review_queue  # noqa: E402
from attendance import evidence as evidence_module  # noqa: E402
from attendance.models import ItemKind, ItemState, ReviewItem  # noqa: E402
from fixtures.website import Site, build_site, copy_site, login  # noqa: E402

REVIEWER = "reviewer"


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    if not ordered:
        return {"median_ms": 0.0, "p90_ms": 0.0}
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {"median_ms": _ms(statistics.median(ordered)), "p90_ms": _ms(p90)}


def _other_value(item: dict[str, Any]) -> str:
    """A value unlike the machine's, for the corrections."""
    if item.get("field_kind") == "time":
        return "23:59" if item.get("value") != "23:59" else "00:01"
    if item.get("field_kind") == "mark":
        return "blank" if item.get("value") else "marked"
    return "blank" if item.get("value") else "signed"


def clear_flags(site: Site) -> int:
    """Accept the open flags and pages first, so the cycles time field crops (most of the work)."""
    engine = site.engine()
    with Session(engine) as session:
        ids = session.exec(
            select(ReviewItem.id).where(
                ReviewItem.state == ItemState.OPEN.value,
                col(ReviewItem.kind).in_(
                    (
                        ItemKind.FLAG.value,
                        ItemKind.FINDING.value,
                        ItemKind.UNIDENTIFIED_PAGE.value,
                    )
                ),
            )
        ).all()
    cleared = 0
    for item_id in ids:
        assert item_id is not None
        try:
            decisions.accept_item(engine, item_id, reviewer="bench-setup", reason="bench setup")
            cleared += 1
        except errors.ReviewError:
            pass
    engine.dispose()
    return cleared


FIELDS = ("field", "qa_sample")


def bench_web(site: Site, items: int, *, cold: bool = False) -> dict[str, Any]:
    """N cycles through the app: next, evidence, accept (or correct every 5th).

    `cold`: the decoded-page cache of `attendance.evidence` is emptied before every crop, as
    it was before there was one (the before-and-after of that optimization, in one run).
    """
    app = site.app()
    steps: dict[str, list[float]] = {"next": [], "evidence": [], "decide": [], "item": []}
    done = corrected = 0
    with TestClient(app, base_url="http://127.0.0.1") as client:
        token = login(client, REVIEWER)
        headers = {"X-CSRF-Token": token, "Accept": "application/json"}
        skip: list[int] = []
        client.post("/review/next", json={}, headers=headers)  # warm-up (first request)
        while done < items:
            t0 = time.perf_counter()
            item = client.post("/review/next", json={"skip": skip}, headers=headers).json()["item"]
            t1 = time.perf_counter()
            if item is None:
                break
            if cold:
                evidence_module._decoded.cache_clear()
                t1 = time.perf_counter()
            evidence = client.get(item["evidence_url"])
            t2 = time.perf_counter()
            assert evidence.status_code == 200, evidence.text
            base = f"/review/items/{item['id']}"
            if item["kind"] in FIELDS and done % 5 == 4:
                body = {"value": _other_value(item), "version": item["version"]}
                decided = client.post(f"{base}/correct", json=body, headers=headers)
                corrected += 1
            elif item["kind"] in (*FIELDS, "flag", "finding"):
                body = {"version": item["version"], "reason": "bench: checked"}
                decided = client.post(f"{base}/accept", json=body, headers=headers)
            else:  # a page that cannot be accepted: give it back
                client.post(f"{base}/skip", headers=headers)
                skip.append(item["id"])
                continue
            t3 = time.perf_counter()
            assert decided.status_code == 200, decided.text
            for step, seconds in (("next", t1 - t0), ("evidence", t2 - t1), ("decide", t3 - t2)):
                steps[step].append(seconds)
            steps["item"].append(t3 - t0)
            done += 1
    summary = {k: _summary(v) for k, v in steps.items()}
    return {"items": done, "corrected": corrected, **summary}


def bench_screen(site: Site, items: int) -> dict[str, Any]:
    """N items as the review screen works them: the sheet (claimed whole, asked for again
    after every decision: what is left on it, or the next sheet), the item's crop, the
    decision with the version shown (a correction for every 5th field)."""
    app = site.app()
    steps: dict[str, list[float]] = {"sheet": [], "evidence": [], "decide": [], "item": []}
    done = corrected = sheets = 0
    with TestClient(app, base_url="http://127.0.0.1") as client:
        token = login(client, REVIEWER)
        headers = {"X-CSRF-Token": token, "Accept": "application/json"}
        serial: str | None = None
        skip: list[int] = []
        while done < items:
            t0 = time.perf_counter()
            body = {"serial": serial, "skip": skip}
            sheet = client.post("/review/sheets/next", json=body, headers=headers).json()["sheet"]
            t1 = time.perf_counter()
            if sheet is None:
                break
            sheets += sheet["serial"] != serial
            serial = sheet["serial"]
            item = next((i for i in sheet["items"] if i["kind"] != "unregistered_page"), None)
            if item is None:  # a page to key: not timed here
                client.post(f"/review/sheets/{serial}/release", headers=headers)
                skip.append(sheet["id"])
                serial = None
                continue
            evidence = client.get(item["evidence_url"])
            t2 = time.perf_counter()
            assert evidence.status_code == 200, evidence.text
            base = f"/review/items/{item['id']}"
            if item["kind"] in FIELDS and done % 5 == 4:
                sent = {"value": _other_value(item), "version": item["version"]}
                decided = client.post(f"{base}/correct", json=sent, headers=headers)
                corrected += 1
            else:
                sent = {
                    "version": item["version"],
                    "finding_version": item["finding_version"],
                    "reason": "bench: checked",
                }
                decided = client.post(f"{base}/accept", json=sent, headers=headers)
            t3 = time.perf_counter()
            assert decided.status_code == 200, decided.text
            for step, seconds in (("sheet", t1 - t0), ("evidence", t2 - t1), ("decide", t3 - t2)):
                steps[step].append(seconds)
            steps["item"].append(t3 - t0)
            done += 1
    summary = {k: _summary(v) for k, v in steps.items()}
    return {"items": done, "corrected": corrected, "sheets": sheets, **summary}


def bench_domain(site: Site, items: int) -> dict[str, Any]:
    """The same cycle with the domain functions, no HTTP: the baseline."""
    engine = site.engine()
    steps: dict[str, list[float]] = {"next": [], "evidence": [], "decide": [], "item": []}
    done = corrected = 0
    skip: list[int] = []
    while done < items:
        t0 = time.perf_counter()
        ids = review_queue.claim_items(engine, reviewer=REVIEWER, limit=5, exclude=skip)
        if not ids:
            break
        with Session(engine) as session:
            view = review_queue.describe_item(session, ids[0])
        t1 = time.perf_counter()
        with Session(engine) as session:
            evidence_module.item_evidence_png(session, view.id)
        t2 = time.perf_counter()
        if view.kind in FIELDS and done % 5 == 4:
            value = _other_value(view.to_json())
            decisions.correct_item(engine, view.id, value, reviewer=REVIEWER, version=view.version)
            corrected += 1
        elif view.kind in (*FIELDS, "flag", "finding"):
            decisions.accept_item(
                engine, view.id, reviewer=REVIEWER, version=view.version, reason="bench"
            )
        else:
            review_queue.release_item(engine, view.id, reviewer=REVIEWER)
            skip.append(view.id)
            continue
        t3 = time.perf_counter()
        for step, seconds in (("next", t1 - t0), ("evidence", t2 - t1), ("decide", t3 - t2)):
            steps[step].append(seconds)
        steps["item"].append(t3 - t0)
        done += 1
    engine.dispose()
    return {"items": done, "corrected": corrected, **{k: _summary(v) for k, v in steps.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=60, help="review cycles to time")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--with-flags",
        action="store_true",
        help="keep the open flags in the queue (by default they are accepted first, so the "
        "cycles time field crops)",
    )
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="attend-bench-ui-"))
    try:
        started = time.perf_counter()
        built = build_site(root / "built", root / "work")
        build_s = time.perf_counter() - started
        cleared = 0 if args.with_flags else clear_flags(built)
        web = bench_web(copy_site(built, root / "web"), args.items)
        uncached = bench_web(copy_site(built, root / "cold"), args.items, cold=True)
        domain = bench_domain(copy_site(built, root / "domain"), args.items)
        screen = bench_screen(copy_site(built, root / "screen"), args.items)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ratio = {
        step: round(web[step]["median_ms"] / domain[step]["median_ms"], 2)
        if domain[step]["median_ms"]
        else None
        for step in ("next", "evidence", "decide", "item")
    }
    result = {
        "build_site_s": round(build_s, 1),
        "flags_accepted_first": cleared,
        "web": web,
        "web_without_page_cache": uncached,
        "domain": domain,
        "screen": screen,
        "ratio": ratio,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"site built in {build_s:.1f} s; {cleared} flags/pages accepted first; "
        f"{web['items']} items through the app ({web['corrected']} corrected), "
        f"{domain['items']} through the domain calls"
    )
    print(f"{'step':<10}{'web median':>12}{'web p90':>10}{'domain median':>15}{'ratio':>8}")
    for step in ("next", "evidence", "decide", "item"):
        print(
            f"{step:<10}{web[step]['median_ms']:>10.1f}ms{web[step]['p90_ms']:>8.1f}ms"
            f"{domain[step]['median_ms']:>13.1f}ms{ratio[step] or 0:>8.2f}"
        )
    print(
        f"the review screen ({screen['items']} items on {screen['sheets']} sheets): the sheet "
        f"again after each decision {screen['sheet']['median_ms']:.1f}ms, crop "
        f"{screen['evidence']['median_ms']:.1f}ms, decision {screen['decide']['median_ms']:.1f}ms"
        f"; an item {screen['item']['median_ms']:.1f}ms median, {screen['item']['p90_ms']:.1f}ms"
        " p90"
    )
    for step in ("evidence", "item"):
        before, after = uncached[step]["median_ms"], web[step]["median_ms"]
        print(
            f"{step} without the decoded-page cache: median {before:.1f}ms "
            f"(with it {after:.1f}ms, {before / after:.2f}x)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
