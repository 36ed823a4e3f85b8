"""Settings from the environment, read once at the edge and passed in."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = "./attend-data"
DEFAULT_AGENCY_NAME = "Attendance Intake Demonstration Agency"
# Time fields read with less confidence than this go to review (see `make bench-reading` for
# the accuracy-review curve this default was chosen from).
DEFAULT_REVIEW_THRESHOLD = 0.95


@dataclass(frozen=True)
class Settings:
    """Where the data lives and which database to use.

    `home` holds the default SQLite database, the originals of scanned files (by content
    hash) and page images kept for reviewers. `database_url` is any SQLAlchemy URL.
    """

    home: Path
    database_url: str
    agency_name: str
    review_threshold: float = DEFAULT_REVIEW_THRESHOLD
    scan_dpi: int = 200
    work_dir: Path | None = None

    @property
    def intake_work_dir(self) -> Path:
        """The watched-folder intake's processing, archive and quarantine folders."""
        return self.work_dir or self.home / "intake"

    @property
    def store_dir(self) -> Path:
        """Folder of originals and page images, named by content hash only."""
        return self.home / "store"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read `ATTEND_HOME`, `ATTEND_DATABASE_URL`, `ATTEND_AGENCY_NAME`,
        `ATTEND_REVIEW_THRESHOLD` and `ATTEND_WORK_DIR`."""
        env = dict(os.environ if environ is None else environ)
        home = Path(env.get("ATTEND_HOME") or DEFAULT_HOME).expanduser().resolve()
        url = env.get("ATTEND_DATABASE_URL") or f"sqlite:///{home / 'attend.sqlite3'}"
        agency = env.get("ATTEND_AGENCY_NAME") or DEFAULT_AGENCY_NAME
        threshold_text = env.get("ATTEND_REVIEW_THRESHOLD") or str(DEFAULT_REVIEW_THRESHOLD)
        try:
            threshold = float(threshold_text)
        except ValueError:
            threshold = -1.0
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(
                f"ATTEND_REVIEW_THRESHOLD must be a number from 0 to 1, got {threshold_text!r}"
            )
        work = env.get("ATTEND_WORK_DIR")
        return cls(
            home=home,
            database_url=url,
            agency_name=agency,
            review_threshold=threshold,
            work_dir=Path(work).expanduser().absolute() if work else None,
        )
