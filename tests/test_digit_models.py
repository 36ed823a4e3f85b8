"""Learning from verified values: the training export, the promote rule, the model in use, and
readings that a new model never changes.

Verified crops come from the real review path: sheets recorded through `record_pages`
(`tests/sheetdb.py`) whose canonical image carries held-out real digits written into their
cells, and a reviewer correcting each time to what was written (`decisions.correct_item`,
which keeps the verified cells). The models are real: the shipped one and `digits-v1`, the
model it replaced (kept beside it for this).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from attendance.decisions import correct_item
from attendance.models import Certificate, FieldReading, TrainingCrop
from attendance.training_data import EXPORT_COLUMNS, HOLDOUT, TRAIN, page_hash, split_of
from fixtures.fill import degrade_with_params, fill_page, plan_sheet
from fixtures.scanbatch import write_image
from forms.canon import canon_shape, canon_slice
from forms.layout import Layout, TimeField
from intake import models
from intake.models import Comparison, Plan, Score, better
from scanner.digits import MODEL_PATH, DigitReader
from scanner.load import load_pages
from tests import sheetdb as db
from tests.conftest import Cli
from training import cells as cell_renderer

NOV = "2026-11"
V1 = MODEL_PATH.parent / "digits-v1.onnx"
HELD_OUT_DIGITS = Path(__file__).resolve().parent.parent / "fixtures" / "digits-heldout.npz"
# Times written on the test sheets: hours 10-12 so that every one of the four cells is kept.
TIMES = ("10:25", "11:40", "12:05", "10:50", "11:15", "12:35", "10:10", "11:55")


@pytest.fixture
def engine(issued_cli: Cli) -> Iterator[Engine]:
    with db.configured_engine(issued_cli) as engine:
        yield engine


def _sha_on(split: str, salt: str) -> str:
    """A scan file sha256 whose page 1 falls on `split`."""
    for n in range(1000):
        sha = hashlib.sha256(f"{salt}-{n}".encode()).hexdigest()
        if split_of(page_hash(sha, 1)) == split:
            return sha
    raise AssertionError("no such sha in 1000 tries")


def _write_digits(path: Path, layout: Layout, rng: np.random.Generator) -> dict[str, str]:
    """A canonical image whose day fields 2..9 (time in) carry `TIMES` in held-out real digits,
    each cell degraded like a scan; the fields and the times written."""
    with np.load(HELD_OUT_DIGITS) as data:
        images, labels = data["images"], data["labels"]
    image = np.full(canon_shape(), 250, dtype=np.uint8)
    written: dict[str, str] = {}
    for day, value in zip(range(2, 10), TIMES, strict=True):
        field = layout.field(f"day.{day:02d}.in")
        assert isinstance(field, TimeField)
        for rect, digit in zip(field.cells, value.replace(":", ""), strict=True):
            choice = int(rng.choice(np.flatnonzero(labels == int(digit))))
            cell = cell_renderer.random_cell(cell_renderer.mnist_glyph(images[choice]), rng)
            rows, cols = canon_slice(rect)
            height, width = rows.stop - rows.start, cols.stop - cols.start
            image[rows, cols] = cv2.resize(cell, (width, height), interpolation=cv2.INTER_AREA)
        written[field.name] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return written


def _verified_sheet(engine: Engine, certificate: str, split: str, tmp: Path, seed: int) -> str:
    """Record `certificate`'s sheet on a page of `split` and verify its written times."""
    serial = db.serial_of(engine, certificate, NOV)
    rng = np.random.default_rng(seed)
    canon = tmp / f"canon-{certificate}.png"
    written = _write_digits(canon, db.layout_of(engine, serial), rng)
    unsure = {name: ("09:00", 0.5, True) for name in written}
    db.receive(engine, serial, unsure, sha=_sha_on(split, certificate), canon=canon)
    for name, value in written.items():
        correct_item(engine, db.field_item(engine, serial, name).id or 0, value, reviewer="rev")
    return serial


def _manifest(folder: Path) -> dict:
    return json.loads((folder / models.INSTALLED_FILE).read_text())


def _install_by_hand(folder: Path, model: Path) -> None:
    """Put `model` in use as an earlier promotion would have (the documented manifest)."""
    folder.mkdir(parents=True, exist_ok=True)
    reader = DigitReader.load(model)
    shutil.copyfile(model, folder / f"{reader.version}.onnx")
    entry = {
        "version": reader.version,
        "file": f"{reader.version}.onnx",
        "sha256": reader.sha256,
        "installed_at": "2026-11-30T00:00:00+00:00",
        "replaced": "shipped",
        "heldout": {},
        "verified": {},
    }
    (folder / models.INSTALLED_FILE).write_text(
        json.dumps({"current": reader.version, "models": [entry]})
    )


def _snapshot(engine: Engine) -> list[tuple]:
    with Session(engine) as session:
        rows = session.exec(select(FieldReading).order_by(FieldReading.id)).all()
        return [
            (r.id, r.field_name, r.machine_value, r.confidence, r.needs_review, r.model_version)
            for r in rows
        ]


# --- the rule, on constructed figures ----------------------------------------------------------


def test_better_means_more_right_or_as_many_right_and_surer() -> None:
    assert better(Score(100, 95, 0.3), Score(100, 94, 0.1))
    assert not better(Score(100, 94, 0.1), Score(100, 95, 0.3))
    assert better(Score(100, 100, 0.01), Score(100, 100, 0.02))  # a tie at 100 %: surer wins
    assert not better(Score(100, 100, 0.02), Score(100, 100, 0.02))
    assert not better(Score(0, 0, 0.0), Score(0, 0, 0.0))  # nothing to judge on
    assert not better(Score(50, 50, 0.0), Score(100, 90, 0.1))  # not the same cells


def _plan(heldout: tuple[int, int], verified: tuple[int, int], cells: int = 100) -> Plan:
    reader = DigitReader.load()
    return Plan(
        candidate=reader,
        candidate_path=MODEL_PATH,
        current=reader,
        heldout=Comparison("held-out", Score(2000, heldout[0], 0.2), Score(2000, heldout[1], 0.2)),
        verified=Comparison(
            "verified",
            Score(cells, verified[0], 0.2),
            Score(cells, verified[1], 0.2),
            minimum=models.MIN_VERIFIED_CROPS,
        ),
    )


@pytest.mark.parametrize(
    ("heldout", "verified", "cells", "allowed"),
    [
        ((1900, 1950), (90, 95), 100, True),  # better on both
        ((1900, 1950), (95, 90), 100, False),  # worse on the verified crops
        ((1950, 1900), (90, 95), 100, False),  # worse on the held-out digits
        ((1900, 1900), (90, 95), 100, False),  # no better on the held-out digits
        ((1900, 1950), (9, 10), 10, False),  # too few verified crops to show anything
    ],
)
def test_promotion_needs_better_on_both(
    heldout: tuple[int, int], verified: tuple[int, int], cells: int, allowed: bool
) -> None:
    assert _plan(heldout, verified, cells).allowed is allowed


# --- the training export -------------------------------------------------------------------


def test_training_export_writes_only_verified_crops_with_no_names(
    issued_cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    """GIVEN two sheets whose written times a reviewer verified (one page held out, one not),
    and a crop stored on a reading nobody verified
    WHEN `attend training export FILE` runs
    THEN the ZIP holds exactly the verified cells, each with its digit, the model that read
    it, its page hash and side of the split, as the stored pixels; no child's, parent's or
    reviewer's name, no serial anywhere in it."""
    train = _verified_sheet(engine, "C-1001", TRAIN, tmp_path, 1)
    held = _verified_sheet(engine, "C-1002", HOLDOUT, tmp_path, 2)
    stray = db.serial_of(engine, "C-1003", NOV)
    db.receive(engine, stray, {"day.02.in": ("10:25", 0.5, True)})
    with Session(engine) as session:
        reading = db.readings(engine, stray)["day.02.in"]
        session.add(
            TrainingCrop(
                reading_id=reading.id or 0, cell=0, label="1", png=b"x", verified_by="nobody"
            )
        )
        session.commit()

    out = tmp_path / "export" / "crops.zip"
    result = json.loads(issued_cli.ok("training", "export", str(out), "--json"))

    with zipfile.ZipFile(out) as archive:
        rows = list(csv.DictReader(io.TextIOWrapper(archive.open("crops.csv"), "utf-8")))
        assert tuple(rows[0]) == EXPORT_COLUMNS
        everything = b"".join(archive.read(name) for name in archive.namelist())
        pngs = {row["file"]: archive.read(row["file"]) for row in rows}
    assert len(rows) == 2 * 8 * 4 == result["crops"]
    assert (result["train"], result["holdout"], result["pages"]) == (32, 32, 2)
    assert {row["model_version"] for row in rows} == {"test"}
    assert {row["split"] for row in rows} == {TRAIN, HOLDOUT}
    assert [row["label"] for row in rows[:4]] == list("1025")
    with Session(engine) as session:
        kept = session.exec(select(TrainingCrop).order_by(TrainingCrop.id)).all()
        verified = [crop for crop in kept if crop.verified_by == "rev"]
        assert [pngs[row["file"]] for row in rows] == [crop.png for crop in verified]
        people = [
            text
            for certificate in session.exec(select(Certificate)).all()
            for text in (
                certificate.child_first_name,
                certificate.child_last_name,
                certificate.parent_name,
            )
        ]
    for text in [*people, train, held, "rev", "nobody"]:
        assert text.encode() not in everything, text


# --- promotion, the model in use, and stored readings ---------------------------------------


def test_promote_installs_only_a_better_model_and_never_changes_stored_readings(
    issued_cli: Cli, engine: Engine, tmp_path: Path
) -> None:
    """GIVEN a data folder reading with `digits-v1` (installed earlier), a sheet read and
    stored with it, and three sheets of verified times on held-out pages
    WHEN the shipped model is promoted, then `digits-v1` again
    THEN the first promotion prints both comparisons, installs the model and records the
    event; every stored reading is exactly as it was (values, confidences, `digits-v1`);
    the second is refused with exit 3 and changes nothing."""
    folder = issued_cli.home / "models"
    _install_by_hand(folder, V1)
    for n, certificate in enumerate(("C-1001", "C-1002", "C-2001")):
        _verified_sheet(engine, certificate, HOLDOUT, tmp_path, 10 + n)
    before = _snapshot(engine)

    result = issued_cli("model", "promote", str(MODEL_PATH))
    assert result.code == 0, result.err
    shipped = DigitReader.load()
    assert f"candidate {shipped.version}, in use digits-v1" in result.out
    assert "held-out real digits (2000 cells)" in result.out
    assert "verified crops held out (96 cells)" in result.out
    assert _manifest(folder)["current"] == shipped.version
    assert (folder / f"{shipped.version}.onnx").read_bytes() == MODEL_PATH.read_bytes()
    assert [e.entity_id for e in db.events(engine, entity="digit_model")] == [shipped.version]
    assert _snapshot(engine) == before
    shown = json.loads(issued_cli.ok("model", "show", "--json"))
    assert (shown["current"], shown["source"]) == (shipped.version, "installed")

    manifest = (folder / models.INSTALLED_FILE).read_bytes()
    files = sorted(p.name for p in folder.iterdir())
    refused = issued_cli("model", "promote", str(V1))
    assert refused.code == 3
    assert "not promoted" in refused.err and "nothing changed" in refused.err
    assert "held-out real digits" in refused.out and "verified crops held out" in refused.out
    assert (folder / models.INSTALLED_FILE).read_bytes() == manifest
    assert sorted(p.name for p in folder.iterdir()) == files
    assert len(db.events(engine, entity="digit_model")) == 1
    assert _snapshot(engine) == before


def test_a_promotion_is_refused_for_bad_files_and_reused_versions(
    issued_cli: Cli, tmp_path: Path
) -> None:
    """GIVEN a data folder reading with the shipped model
    WHEN files that are no candidate are offered: none, not ONNX, the model in use, and
    another model claiming the shipped model's version
    THEN each is refused with its exit code (4, then 3) and nothing is installed."""
    missing = issued_cli("model", "promote", str(tmp_path / "none.onnx"))
    assert missing.code == 4
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    assert issued_cli("model", "promote", str(junk)).code == 3
    same = issued_cli("model", "promote", str(MODEL_PATH))
    assert same.code == 3 and "is the model in use" in same.err
    shipped = DigitReader.load().version
    impostor = tmp_path / "impostor.onnx"
    # digits-v1 with its metadata saying it is the shipped version (same length: valid ONNX).
    data = V1.read_bytes()
    assert data.count(b"digits-v1") == 1 and len(shipped) == len("digits-v1")
    impostor.write_bytes(data.replace(b"digits-v1", shipped.encode()))
    assert DigitReader.load(impostor).version == shipped
    clash = issued_cli("model", "promote", str(impostor))
    assert clash.code == 3 and "names another model" in clash.err
    assert not (issued_cli.home / "models").exists()


def test_a_changed_installed_model_stops_reading_instead_of_switching(
    issued_cli: Cli,
) -> None:
    """GIVEN a promoted model whose file was then changed on disk
    WHEN a command needs the model in use
    THEN it refuses with exit 7, naming the fix; it does not fall back to the shipped one."""
    folder = issued_cli.home / "models"
    _install_by_hand(folder, V1)
    (folder / "digits-v1.onnx").write_bytes(MODEL_PATH.read_bytes())
    result = issued_cli("model", "show")
    assert result.code == 7
    assert "missing or changed" in result.err


def _filled_scan(pdf: Path, index: int, layout: Layout, target: Path, seed: int) -> None:
    """Sheet `index` of the printed PDF, filled with held-out handwriting and scanned."""
    rng = np.random.default_rng(seed)
    page = list(load_pages(pdf, dpi=200))[index].image
    truth = plan_sheet(layout, rng, font_rate=0.0)
    scanned, dpi, _ = degrade_with_params(
        fill_page(page, 200, layout, truth, rng), 200, rng, ["skew", "noise"]
    )
    write_image(scanned, target, int(dpi))


def test_every_reading_records_the_model_that_read_it(issued_cli: Cli, tmp_path: Path) -> None:
    """GIVEN a data folder reading with `digits-v1`, and a filled sheet taken in with it
    WHEN the shipped model is put in use and a second sheet (and the first one's scan again)
    are taken in
    THEN the first sheet's time readings say `digits-v1` and are exactly as they were; the
    second sheet's, and the duplicate scan's, say the shipped version."""
    folder = issued_cli.home / "models"
    _install_by_hand(folder, V1)
    engine = db.engine_for(issued_cli)
    pdf = tmp_path / "printed.pdf"
    issued_cli.ok("sheets", "print", "--month", NOV, "-o", str(pdf))
    listed = json.loads(issued_cli.ok("sheets", "list", "--month", NOV, "--json"))
    first, second = listed[0]["serial"], listed[1]["serial"]
    scans = tmp_path / "scans"
    scans.mkdir()
    _filled_scan(pdf, 0, db.layout_of(engine, first), scans / "first.png", 1)
    issued_cli.ok("intake", "run", str(scans / "first.png"))
    stored = db.readings(engine, first)
    assert {r.model_version for r in stored.values() if r.kind == "time"} == {"digits-v1"}
    assert any(r.machine_value for r in stored.values() if r.kind == "time")
    before = _snapshot(engine)

    shutil.rmtree(folder)
    _install_by_hand(folder, MODEL_PATH)
    shipped = DigitReader.load().version
    _filled_scan(pdf, 1, db.layout_of(engine, second), scans / "second.png", 2)
    # another scan of the first
    _filled_scan(pdf, 0, db.layout_of(engine, first), scans / "first-again.png", 3)
    issued_cli.ok("intake", "run", str(scans / "second.png"), str(scans / "first-again.png"))

    assert _snapshot(engine)[: len(before)] == before
    assert {r.model_version for r in db.readings(engine, second).values()} == {shipped}
    earlier = {row[0] for row in before}
    with Session(engine) as session:
        sheet_id = db.sheet(engine, first).id
        duplicate = [
            r
            for r in session.exec(select(FieldReading).where(FieldReading.sheet_id == sheet_id))
            if r.id not in earlier
        ]
    assert duplicate and {r.model_version for r in duplicate} == {shipped}
    engine.dispose()
