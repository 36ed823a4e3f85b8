"""The one reading set-up the command line and the web build from the settings."""

from __future__ import annotations

from pathlib import Path

from attendance.settings import Settings
from intake.reading import load_reading


def test_the_reading_set_up_follows_the_settings_and_shares_one_model(tmp_path: Path) -> None:
    strict = Settings(
        home=tmp_path, database_url="sqlite://", agency_name="A", review_threshold=0.99
    )
    lax = Settings(home=tmp_path, database_url="sqlite://", agency_name="A", review_threshold=0.5)
    first, second = load_reading(strict), load_reading(lax)
    assert first.settings.time_review_below == 0.99
    assert second.settings.time_review_below == 0.5
    # Marks and signatures keep their own measured thresholds.
    assert first.settings.mark_review_below == second.settings.mark_review_below == 0.9
    assert first.reader is second.reader and first.reader.version == "digits-v1"
