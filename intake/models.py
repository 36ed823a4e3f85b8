"""Which digit model reads pages, and how a better one is promoted: the agency's models folder.

Installed models live in ``$ATTEND_HOME/models/`` (`Settings.models_dir`):

- ``digits-vN.onnx``: each promoted model, named by its version, written once and kept (the
  readings it made name it);
- ``installed.json``: ``{"current": VERSION, "models": [{"version", "file", "sha256",
  "installed_at", "replaced", "heldout", "verified"}, ...]}``, the model in use and every
  promotion with the figures it was promoted on.

With no ``installed.json`` the model shipped with the program reads (`scanner.digits.MODEL_PATH`).
A file named there that is missing or changed (its sha256) stops reading with an error instead
of falling back: readings never switch model silently. A process loads its model once, so
workers already running keep the model they started with until restarted, and every reading
records the version that actually read it.

A candidate is promoted only when it is better than the model in use on both:

- the held-out real digits (``scanner/models/heldout-cells.npz``: the 2,000 MNIST digits never
  trained on, written into degraded cells, prepared by today's `prepare_cell`), and
- the verified crops it was not trained on: the digit cells reviewers verified on the pages
  `attendance.training_data` holds out from every export's training split.

"Better" is more cells right, or as many right and a lower mean negative log-likelihood of the
right class (so a tie at 100 % is broken by how sure each model is). Fewer than
`MIN_VERIFIED_CROPS` held-out verified crops cannot show anything: the promotion is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from attendance.errors import ModelInvalid, ModelRefused, ModelStoreBroken
from attendance.files import write_atomically
from scanner.digits import MODEL_PATH, DigitReader, prepare_cell

INSTALLED_FILE = "installed.json"
HELDOUT_CELLS = MODEL_PATH.parent / "heldout-cells.npz"
MIN_VERIFIED_CROPS = 20


@dataclass(frozen=True)
class Score:
    """How one model did on one set of labelled cells."""

    cells: int
    right: int
    nll: float  # mean negative log-likelihood of the right class

    @property
    def accuracy(self) -> float:
        return self.right / self.cells if self.cells else float("nan")

    def to_json(self) -> dict[str, Any]:
        return {"cells": self.cells, "right": self.right, "nll": round(self.nll, 5)}


def score(reader: DigitReader, prepared: np.ndarray, labels: np.ndarray) -> Score:
    """`reader` on prepared cells (N, 28, 28) with their true classes."""
    if len(labels) == 0:
        return Score(0, 0, float("nan"))
    probabilities = reader.probabilities(prepared.astype(np.float32))
    chosen = probabilities[np.arange(len(labels)), labels]
    right = int((probabilities.argmax(axis=1) == labels).sum())
    nll = float(-np.log(np.maximum(chosen.astype(np.float64), 1e-12)).mean())
    return Score(len(labels), right, nll)


def better(candidate: Score, current: Score) -> bool:
    """More right, or as many right and surer of the right class (lower mean NLL)."""
    if candidate.cells != current.cells or candidate.cells == 0:
        return False
    if candidate.right != current.right:
        return candidate.right > current.right
    return candidate.nll < current.nll


@dataclass(frozen=True)
class Comparison:
    """The model in use and a candidate on one set of cells."""

    name: str
    current: Score
    candidate: Score
    minimum: int = 1

    @property
    def decidable(self) -> bool:
        return self.current.cells >= self.minimum

    @property
    def candidate_better(self) -> bool:
        return self.decidable and better(self.candidate, self.current)

    def line(self) -> str:
        """One line for people: both accuracies and who wins."""
        if not self.decidable:
            return (
                f"{self.name}: {self.current.cells} cells, at least {self.minimum} needed "
                "to compare"
            )
        verdict = "better" if self.candidate_better else "not better"
        return (
            f"{self.name} ({self.current.cells} cells): in use {_pct(self.current)}, "
            f"candidate {_pct(self.candidate)}: {verdict}"
        )


def _pct(value: Score) -> str:
    return f"{100 * value.accuracy:.2f}% right (NLL {value.nll:.4f})"


@dataclass(frozen=True)
class Plan:
    """What promoting a candidate would do, and whether it may."""

    candidate: DigitReader
    candidate_path: Path
    current: DigitReader
    heldout: Comparison
    verified: Comparison

    @property
    def allowed(self) -> bool:
        return self.heldout.candidate_better and self.verified.candidate_better

    def to_json(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate.version,
            "current": self.current.version,
            "allowed": self.allowed,
            **{
                c.name.replace(" ", "_"): {
                    "current": c.current.to_json(),
                    "candidate": c.candidate.to_json(),
                    "candidate_better": c.candidate_better,
                }
                for c in (self.heldout, self.verified)
            },
        }


# --- the folder ----------------------------------------------------------------------------


def _manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / INSTALLED_FILE
    if not path.exists():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        str(data["current"])
        list(data["models"])
    except (OSError, ValueError, KeyError, TypeError):
        raise ModelStoreBroken(f"{path} cannot be read: restore it or remove it") from None
    return data


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def installed_model(folder: Path) -> Path | None:
    """The promoted model in use (its file checked against its sha256), or None: the shipped
    model reads."""
    data = _manifest(folder)
    if data is None:
        return None
    entry = next((m for m in data["models"] if m.get("version") == data["current"]), None)
    if entry is None:
        raise ModelStoreBroken(f"{folder / INSTALLED_FILE} names no model {data['current']}")
    path = folder / str(entry["file"])
    if not path.is_file() or _sha256(path) != entry.get("sha256"):
        raise ModelStoreBroken(
            f"installed digit model {data['current']} is missing or changed in {folder}: "
            f"restore it, or remove {INSTALLED_FILE} to read with the shipped model"
        )
    return path


def current_reader(folder: Path) -> DigitReader:
    """The digit model pages are read with: the promoted one, else the shipped one."""
    return DigitReader.load(installed_model(folder))


def history(folder: Path) -> list[dict[str, Any]]:
    """Every promotion recorded in the folder, oldest first."""
    data = _manifest(folder)
    return list(data["models"]) if data else []


# --- judging -------------------------------------------------------------------------------


@cache
def heldout_cells() -> tuple[np.ndarray, np.ndarray]:
    """The shipped held-out real digits in degraded cells, prepared: (N, 28, 28), labels."""
    with np.load(HELDOUT_CELLS) as data:
        flat, shapes, labels = data["pixels"], data["shapes"], data["labels"]
    prepared, start = [], 0
    for height, width in shapes.tolist():
        cell = flat[start : start + height * width].reshape(height, width)
        prepared.append(prepare_cell(cell))
        start += height * width
    return np.stack(prepared), labels.astype(np.int64)


def prepare_pngs(pngs: Sequence[bytes]) -> np.ndarray:
    """Stored crops (PNG bytes) as network inputs (N, 28, 28)."""
    cells = []
    for data in pngs:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise ValueError("a stored crop is not a PNG image")
        cells.append(prepare_cell(image))
    return np.stack(cells) if cells else np.zeros((0, 28, 28), np.float32)


def plan(
    folder: Path,
    candidate_path: Path,
    verified_pngs: Sequence[bytes],
    verified_labels: Sequence[int],
) -> Plan:
    """Judge the candidate file against the model in use (see the module's rule)."""
    try:
        candidate = DigitReader.load(candidate_path)
    except ValueError as exc:
        raise ModelInvalid(f"{candidate_path.name}: {exc}") from None
    current_path = installed_model(folder) or MODEL_PATH
    current = DigitReader.load(current_path)
    known = {m["version"]: m["sha256"] for m in history(folder)}
    shipped = DigitReader.load(MODEL_PATH)
    known.setdefault(shipped.version, shipped.sha256)
    if known.get(candidate.version, candidate.sha256) != candidate.sha256:
        raise ModelInvalid(
            f"{candidate_path.name}: version {candidate.version} names another model already; "
            "train it with a new --version"
        )
    if candidate.sha256 == current.sha256:
        raise ModelInvalid(f"{candidate_path.name}: {current.version} is the model in use")
    cells, labels = heldout_cells()
    heldout = Comparison(
        "held-out real digits", score(current, cells, labels), score(candidate, cells, labels)
    )
    crops = prepare_pngs(verified_pngs)
    truth = np.asarray(verified_labels, np.int64)
    verified = Comparison(
        "verified crops held out",
        score(current, crops, truth),
        score(candidate, crops, truth),
        minimum=MIN_VERIFIED_CROPS,
    )
    return Plan(candidate, candidate_path, current, heldout, verified)


def refusal(decision: Plan) -> ModelRefused:
    """Why a plan may not be carried out, as the error to raise."""
    reasons = [c.name for c in (decision.heldout, decision.verified) if not c.candidate_better]
    return ModelRefused(
        f"{decision.candidate.version} not promoted: not better than {decision.current.version} "
        f"on {' nor on '.join(reasons)}; nothing changed"
    )


def install(folder: Path, decision: Plan, *, now: dt.datetime) -> Path:
    """Carry out an allowed plan: copy the candidate in, then make it current (each file
    replaced whole, so a crash leaves the old model in use). Returns the installed file."""
    if not decision.allowed:
        raise refusal(decision)
    folder.mkdir(parents=True, exist_ok=True)
    version = decision.candidate.version
    target = folder / f"{version}.onnx"
    if not target.exists():
        write_atomically(target, decision.candidate_path.read_bytes())
    if _sha256(target) != decision.candidate.sha256:
        raise ModelStoreBroken(f"{target} exists and is another model")
    data = _manifest(folder) or {"current": None, "models": []}
    data["models"] = [m for m in data["models"] if m.get("version") != version]
    data["models"].append(
        {
            "version": version,
            "file": target.name,
            "sha256": decision.candidate.sha256,
            "installed_at": now.isoformat(timespec="seconds"),
            "replaced": decision.current.version,
            "heldout": decision.heldout.candidate.to_json(),
            "verified": decision.verified.candidate.to_json(),
        }
    )
    data["current"] = version
    write_atomically(folder / INSTALLED_FILE, (json.dumps(data, indent=1) + "\n").encode())
    return target
