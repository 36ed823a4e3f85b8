"""Settings from the environment: every `ATTEND_` variable, read once at the edge, passed in.

Each field is one variable (`ATTEND_` + its name in capitals) and is documented in the
README's environment table (a test checks both ways). The agency's rule settings are not
here: they live in the database (`attend agency`), so that every process shares them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOME = "./attend-data"
DEFAULT_AGENCY_NAME = "Attendance Intake Demonstration Agency"
# Time fields read with less confidence than this go to review (see `make bench-reading` for
# the accuracy-review curve this default was chosen from).
DEFAULT_REVIEW_THRESHOLD = 0.95
ENV_PREFIX = "ATTEND_"


class Settings(BaseSettings):
    """Where the data lives, which database to use, and how the program runs."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    home: Path = Field(
        default=Path(DEFAULT_HOME),
        description="data folder: the SQLite database, the store of scanned originals and "
        "page images (named by content hash only)",
    )
    database_url: str = Field(
        default="",
        description="any SQLAlchemy URL; empty: SQLite in the data folder",
    )
    agency_name: str = Field(
        default=DEFAULT_AGENCY_NAME,
        description="printed on sheets and notices unless the agency setting names the agency",
    )
    review_threshold: float = Field(
        default=DEFAULT_REVIEW_THRESHOLD,
        ge=0.0,
        le=1.0,
        description="time fields read with less confidence than this go to review",
    )
    work_dir: Path | None = Field(
        default=None,
        description="the watched folder's work folders; default the data folder's intake/",
    )
    clock_shift_s: float = Field(
        default=0.0,
        description="seconds added to the wall clock (read by attendance.clock at first use)",
    )
    scan_dpi: int = Field(default=200, ge=72, le=600, description="PDF pages are rendered at this")
    intake_stats: Path | None = Field(
        default=None,
        description="a folder where intake processes write their stage times as they stop "
        "(for make bench-intake; read by intake.stats)",
    )

    @field_validator("home", mode="after")
    @classmethod
    def _absolute_home(cls, home: Path) -> Path:
        return home.expanduser().resolve()

    @field_validator("work_dir", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value in ("", None) else value

    @field_validator("work_dir", mode="after")
    @classmethod
    def _absolute_work(cls, work: Path | None) -> Path | None:
        return work.expanduser().absolute() if work is not None else None

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.home / 'attend.sqlite3'}")
        if not self.agency_name:
            object.__setattr__(self, "agency_name", DEFAULT_AGENCY_NAME)
        return self

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
        """Read every `ATTEND_` variable; ValueError names the variable that is wrong."""
        env = dict(os.environ if environ is None else environ)
        given = {
            name: env[variable(name)]
            for name in cls.model_fields
            if env.get(variable(name)) not in (None, "")
        }
        try:
            # Values come only from `env` (a test's dict, or the process environment).
            return cls.model_validate(given)
        except ValidationError as error:
            problem = error.errors()[0]
            name = str(problem["loc"][0]) if problem["loc"] else "?"
            raise ValueError(
                f"{variable(name)}: {problem['msg'].lower()}, got {given.get(name)!r}"
            ) from None


def variable(name: str) -> str:
    """The environment variable of a settings field: `review_threshold` ->
    `ATTEND_REVIEW_THRESHOLD`."""
    return ENV_PREFIX + name.upper()
