"""The reading set-up from the agency's settings: one constructor for the CLI and the web.

The digit model is loaded once per process (about 0.1 s, and it never changes while the
process runs); the review threshold comes from the settings each time, as they are passed.
"""

from __future__ import annotations

import functools

from attendance.settings import Settings
from scanner.digits import DigitReader
from scanner.fields import ReadingSettings
from scanner.pipeline import Reading

__all__ = ["Reading", "digit_reader", "load_reading"]


@functools.lru_cache(maxsize=1)
def digit_reader() -> DigitReader:
    """The shipped digit model, loaded on first use and shared by the process."""
    return DigitReader.load()


def load_reading(settings: Settings) -> Reading:
    """How `settings` say fields are read: the shipped digit model and the review threshold.

    The threshold is for time fields, where the digit model's doubt lives; marks and
    signatures keep their own (measured) defaults.
    """
    return Reading(
        reader=digit_reader(),
        settings=ReadingSettings(time_review_below=settings.review_threshold),
    )
