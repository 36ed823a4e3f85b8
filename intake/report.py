"""The batch report: what a batch of scans became, for the mailroom (terminal table and JSON).

Only counts, reason codes, provider ids and claim ids: no file names, no children's names.
"""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from attendance.models import (
    ArrivalState,
    Certificate,
    IntakeFile,
    JobState,
    PageJob,
    ScannedPage,
    Sheet,
    SheetStatus,
)

REPORT_VERSION = 1


def latest_batch(engine: Engine) -> str | None:
    with Session(engine) as session:
        return session.exec(
            select(IntakeFile.batch_id).order_by(col(IntakeFile.id).desc()).limit(1)
        ).first()


def batch_report(engine: Engine, batch_id: str) -> dict[str, Any]:
    """Files, pages and quarantine reasons of one batch; per provider, expected vs received."""
    with Session(engine) as session:
        arrivals = session.exec(
            select(IntakeFile).where(IntakeFile.batch_id == batch_id).order_by(col(IntakeFile.id))
        ).all()
        if not arrivals:
            raise LookupError(f"no batch {batch_id!r}")
        states = Counter(a.state for a in arrivals)
        # Pages belong to the arrival that brought the bytes first; a duplicate adds none.
        file_ids = [
            a.file_id
            for a in arrivals
            if a.file_id is not None and a.state != ArrivalState.DUPLICATE.value
        ]
        pages = (
            session.exec(select(ScannedPage).where(col(ScannedPage.file_id).in_(file_ids))).all()
            if file_ids
            else []
        )
        page_status = Counter(p.status for p in pages)
        waiting = session.exec(
            select(func.count())
            .select_from(PageJob)
            .where(col(PageJob.intake_file_id).in_([a.id for a in arrivals]))
            .where(col(PageJob.state).in_([JobState.QUEUED.value, JobState.RUNNING.value]))
        ).one()
        serials = {p.serial for p in pages if p.serial and p.sheet_id is not None}
        months_by_provider: set[tuple[str, str]] = set()
        if serials:
            for sheet, certificate in session.exec(
                select(Sheet, Certificate)
                .join(Certificate, col(Certificate.certificate_id) == Sheet.certificate_id)
                .where(col(Sheet.serial).in_(serials))
            ).all():
                months_by_provider.add((certificate.provider_id, sheet.month))
        providers = []
        for provider_id, month in sorted(months_by_provider):
            sheets = session.exec(
                select(Sheet)
                .join(Certificate, col(Certificate.certificate_id) == Sheet.certificate_id)
                .where(Certificate.provider_id == provider_id)
                .where(Sheet.month == month)
                .where(Sheet.status != SheetStatus.VOID.value)
            ).all()
            providers.append(
                {
                    "provider_id": provider_id,
                    "month": month,
                    "expected": len(sheets),
                    "received": sum(1 for s in sheets if s.received_at is not None),
                }
            )
    quarantined = Counter(a.reason or "unknown" for a in arrivals if a.state == "failed")
    return {
        "report_version": REPORT_VERSION,
        "batch_id": batch_id,
        "started_at": arrivals[0].arrived_at.isoformat(),
        "finished": states[ArrivalState.QUEUED.value] + states[ArrivalState.CLAIMING.value] == 0,
        "files": {
            "arrived": len(arrivals),
            "done": states[ArrivalState.DONE.value],
            "failed": states[ArrivalState.FAILED.value],
            "duplicate": states[ArrivalState.DUPLICATE.value],
            "in_progress": states[ArrivalState.QUEUED.value] + states[ArrivalState.CLAIMING.value],
        },
        "pages": {
            "processed": len(pages),
            "identified": page_status["identified"],
            "unidentified": page_status["unidentified"],
            "duplicate": page_status["duplicate"],
            "failed": page_status["failed"],
            "waiting": waiting,
        },
        "quarantined": dict(sorted(quarantined.items())),
        "quarantine_files": [
            {"claim_id": a.claim_id, "reason": a.reason}
            for a in arrivals
            if a.state == ArrivalState.FAILED.value
        ],
        "providers": providers,
    }


def _counts_table(title: str | None, counts: dict[str, int]) -> Table:
    """One row of counts under their column names."""
    table = Table(title=title, show_header=True)
    for column in counts:
        table.add_column(column, justify="right")
    table.add_row(*(str(value) for value in counts.values()))
    return table


def render_report(report: dict[str, Any], *, width: int = 100) -> str:
    """The report as terminal tables (plain text when not on a terminal)."""
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=False, color_system=None)
    files, pages = report["files"], report["pages"]
    state = "finished" if report["finished"] else "in progress"
    console.print(
        _counts_table(
            f"Batch {report['batch_id']} ({state})",
            {
                "files": files["arrived"],
                "done": files["done"],
                "quarantined": files["failed"],
                "duplicate": files["duplicate"],
                "in progress": files["in_progress"],
            },
        )
    )
    console.print(
        _counts_table(
            None,
            {
                "pages": pages["processed"],
                "identified": pages["identified"],
                "unidentified": pages["unidentified"],
                "duplicate": pages["duplicate"],
                "failed": pages["failed"],
            },
        )
    )
    if report["quarantined"]:
        reasons = Table(title="Quarantined", show_header=True)
        reasons.add_column("reason")
        reasons.add_column("files", justify="right")
        for reason, count in report["quarantined"].items():
            reasons.add_row(reason, str(count))
        console.print(reasons)
    if report["providers"]:
        providers = Table(title="Sheets received per provider", show_header=True)
        for column in ("provider", "month", "expected", "received", "missing"):
            providers.add_column(column, justify="left" if column == "provider" else "right")
        for row in report["providers"]:
            providers.add_row(
                row["provider_id"],
                row["month"],
                str(row["expected"]),
                str(row["received"]),
                str(row["expected"] - row["received"]),
            )
        console.print(providers)
    return out.getvalue()
