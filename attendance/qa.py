"""The QA sample's report: the measured error of auto-accepted fields, with a 95 % interval."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from sqlmodel import Session, select

from attendance.agency_settings import load_config
from attendance.models import (
    ItemKind,
    ItemState,
    ReviewItem,
)


def _wilson(errors: int, total: int, z: float = 1.96) -> tuple[float, float]:
    if total == 0:
        return (0.0, 1.0)
    p = errors / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (max(0.0, centre - half), min(1.0, centre + half))


def qa_report(session: Session) -> dict[str, Any]:
    """The measured error of auto-accepted fields, from the reviewed QA sample, per kind."""
    rows = session.exec(select(ReviewItem).where(ReviewItem.kind == ItemKind.QA_SAMPLE.value)).all()
    by_kind: dict[str, list[ReviewItem]] = defaultdict(list)
    for item in rows:
        by_kind[item.field_kind or "?"].append(item)
    config = load_config(session)
    kinds: dict[str, dict[str, Any]] = {}
    for kind, items in sorted(by_kind.items()):
        done = [
            i for i in items if i.state == ItemState.DONE.value and i.machine_was_wrong is not None
        ]
        wrong = sum(1 for i in done if i.machine_was_wrong)
        low, high = _wilson(wrong, len(done))
        kinds[kind] = {
            "sampled": len(items),
            "reviewed": len(done),
            "wrong": wrong,
            "error_rate": wrong / len(done) if done else None,
            "error_95": [round(low, 4), round(high, 4)],
        }
    reviewed = sum(int(k["reviewed"]) for k in kinds.values())
    wrong = sum(int(k["wrong"]) for k in kinds.values())
    low, high = _wilson(wrong, reviewed)
    return {
        "sample_rate": config.qa_sample_rate,
        "sampled": len(rows),
        "reviewed": reviewed,
        "wrong": wrong,
        "error_rate": wrong / reviewed if reviewed else None,
        "error_95": [round(low, 4), round(high, 4)],
        "by_kind": kinds,
    }
