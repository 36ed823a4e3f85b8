"""The reading set-up from the agency's settings: one constructor for the CLI and the web.

The digit model is the one promoted into the data folder's models folder, else the shipped
one (`intake.models`). It is loaded once per process (about 0.1 s) and again only after a
promotion; a worker keeps the reading set-up it started with until it is restarted. Every
reading records the version of the model that read it. The review threshold comes
from the settings each time, as they are passed.
"""

from __future__ import annotations

import functools
from pathlib import Path

from attendance.settings import Settings
from intake.models import INSTALLED_FILE, current_reader
from scanner.digits import DigitReader
from scanner.fields import ReadingSettings
from scanner.pipeline import Reading

__all__ = ["Reading", "digit_reader", "load_reading"]


def digit_reader(models_dir: Path) -> DigitReader:
    """The digit model in use for `models_dir`, loaded once and shared by the process until a
    promotion changes the folder's manifest (then the next set-up loads the new one)."""
    try:
        stat = (models_dir / INSTALLED_FILE).stat()
        key: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
    except FileNotFoundError:
        key = None
    return _reader(models_dir, key)


@functools.lru_cache(maxsize=4)
def _reader(models_dir: Path, _manifest_key: tuple[int, int] | None) -> DigitReader:
    return current_reader(models_dir)


def load_reading(settings: Settings) -> Reading:
    """How `settings` say fields are read: the digit model in use and the review threshold.

    The threshold is for time fields, where the digit model's doubt lives; marks and
    signatures keep their own (measured) defaults.
    """
    return Reading(
        reader=digit_reader(settings.models_dir),
        settings=ReadingSettings(time_review_below=settings.review_threshold),
    )
