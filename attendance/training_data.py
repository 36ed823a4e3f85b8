"""Verified digit crops as training data: which are held out, and the export file.

A reviewer's verified time keeps its digit cells (`decisions._keep_training_crops`). Each crop
belongs to a page, named here only by a hash (`page_hash`: of the scan file's sha256 and the
page number): no serial, no name, no field. One page in `HOLDOUT_EVERY`, chosen by that hash,
is held out: its crops are never in an export's training split, so `attend model promote` can
judge a new model on verified crops it was not trained on. All crops of a page fall on the
same side (a page's cells share a writer and a scanner).

The export (`attend training export FILE`) is a ZIP: ``crops.csv`` with one row per crop
(``file, label, split, model_version, page_hash, cell``) and the crops as grey PNGs under
``crops/``, exactly the pixels of the stored page that the model read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, col, select

from attendance.files import atomic_output
from attendance.models import FieldReading, ScannedFile, ScannedPage, TrainingCrop

HOLDOUT_EVERY = 5
TRAIN = "train"
HOLDOUT = "holdout"
EXPORT_COLUMNS = ("file", "label", "split", "model_version", "page_hash", "cell")


def page_hash(file_sha256: str, page_number: int) -> str:
    """A page's name in training data: it groups a page's crops and says nothing else."""
    return hashlib.sha256(f"{file_sha256}/{page_number}".encode()).hexdigest()[:24]


def split_of(page: str) -> str:
    """``holdout`` for one page hash in `HOLDOUT_EVERY`, else ``train``; fixed forever."""
    return HOLDOUT if int(page[:8], 16) % HOLDOUT_EVERY == 0 else TRAIN


@dataclass(frozen=True)
class VerifiedCrop:
    """One verified digit cell: its digit, the model that read it, its page, the pixels."""

    id: int
    label: str
    model_version: str | None
    page_hash: str
    cell: int
    png: bytes

    @property
    def split(self) -> str:
        return split_of(self.page_hash)


def verified_crops(session: Session) -> list[VerifiedCrop]:
    """Every kept crop of a verified time field, oldest first."""
    rows = session.exec(
        select(TrainingCrop, ScannedPage.page_number, ScannedFile.sha256)
        .join(FieldReading, col(FieldReading.id) == col(TrainingCrop.reading_id))
        .join(ScannedPage, col(ScannedPage.id) == col(FieldReading.page_id))
        .join(ScannedFile, col(ScannedFile.id) == col(ScannedPage.file_id))
        .where(col(FieldReading.reviewed).is_(True))
        .order_by(col(TrainingCrop.id))
    ).all()
    return [
        VerifiedCrop(
            id=int(crop.id or 0),
            label=crop.label,
            model_version=crop.model_version,
            page_hash=page_hash(sha, number),
            cell=crop.cell,
            png=crop.png,
        )
        for crop, number, sha in rows
    ]


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote."""

    crops: int
    train: int
    holdout: int
    pages: int


def write_export(crops: list[VerifiedCrop], path: Path) -> ExportSummary:
    """Write `crops` to the ZIP `path` whole or not at all (a temporary file renamed)."""
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        atomic_output(path, prefix=f".{path.name}.") as out,
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive,
    ):
        for number, crop in enumerate(crops, start=1):
            name = f"crops/{number:07d}.png"
            archive.writestr(name, crop.png)
            writer.writerow(
                (name, crop.label, crop.split, crop.model_version or "", crop.page_hash, crop.cell)
            )
        archive.writestr("crops.csv", table.getvalue())
    held = sum(1 for crop in crops if crop.split == HOLDOUT)
    return ExportSummary(
        crops=len(crops),
        train=len(crops) - held,
        holdout=held,
        pages=len({crop.page_hash for crop in crops}),
    )
