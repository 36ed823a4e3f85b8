"""Settings from the environment, read once at the edge and passed in."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = "./attend-data"
DEFAULT_AGENCY_NAME = "Attendance Intake Demonstration Agency"


@dataclass(frozen=True)
class Settings:
    """Where the data lives and which database to use.

    `home` holds the default SQLite database, the originals of scanned files (by content
    hash) and page images kept for reviewers. `database_url` is any SQLAlchemy URL.
    """

    home: Path
    database_url: str
    agency_name: str
    scan_dpi: int = 200

    @property
    def store_dir(self) -> Path:
        """Folder of originals and page images, named by content hash only."""
        return self.home / "store"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read `ATTEND_HOME`, `ATTEND_DATABASE_URL` and `ATTEND_AGENCY_NAME`."""
        env = dict(os.environ if environ is None else environ)
        home = Path(env.get("ATTEND_HOME") or DEFAULT_HOME).expanduser().resolve()
        url = env.get("ATTEND_DATABASE_URL") or f"sqlite:///{home / 'attend.sqlite3'}"
        agency = env.get("ATTEND_AGENCY_NAME") or DEFAULT_AGENCY_NAME
        return cls(home=home, database_url=url, agency_name=agency)
