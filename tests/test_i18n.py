"""The gettext catalogs: complete for every language, placeholders intact, the template up to
date with the code and templates; a new language is a file."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from babel.messages.pofile import read_po

from attendance import i18n
from tests.conftest import REPO


def _catalogs_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("catalogs", REPO / "scripts" / "catalogs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


catalogs = _catalogs_script()


def _read(path: Path, lang: str) -> Any:
    with path.open("rb") as handle:
        return read_po(handle, locale=lang, domain=i18n.DOMAIN)


@pytest.mark.parametrize("lang", [lang for lang in i18n.available_languages() if lang != "en"])
def test_every_catalog_has_every_string(lang: str) -> None:
    """Every string the code and the templates use is translated in every language's catalog,
    with the same placeholders and tags as the English."""
    problems = catalogs.catalog_problems(_read(i18n.catalog_path(lang), lang), catalogs.extract())
    assert not problems, "\n".join(problems)


def test_the_template_is_up_to_date() -> None:
    assert catalogs.main(["--check"]) == 0, "run: .venv/bin/python scripts/catalogs.py"


def test_a_missing_or_broken_translation_is_caught(tmp_path: Path) -> None:
    """GIVEN the Spanish catalog with one message removed, one emptied and one whose
    placeholder was translated WHEN checked THEN each is reported."""
    catalog = _read(i18n.catalog_path("es"), "es")
    template = catalogs.extract()
    removed = "Questions?"
    emptied = "Call your case specialist."
    broken = "Please have the sheet number ready: <b>{serial}</b>."
    del catalog[removed]
    catalog[emptied].string = ""
    catalog[broken].string = "Tenga a mano el número de hoja: <b>{número}</b>."
    problems = catalogs.catalog_problems(catalog, template)
    assert f"missing: {removed!r}" in problems
    assert f"not translated: {emptied!r}" in problems
    assert any(p.startswith(f"placeholders differ: {broken!r}") for p in problems)
    assert len(problems) == 3


def test_a_third_language_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a copy of the locale folder with one more catalog (Vietnamese, translated from
    the Spanish file for the test) WHEN the program looks for languages THEN it offers the
    new one, translates with it, and prints a notice page in it: no code changed."""
    locale = tmp_path / "locale"
    shutil.copytree(i18n.LOCALE_DIR, locale)
    vi = locale / "vi" / "LC_MESSAGES" / "attend.po"
    vi.parent.mkdir(parents=True)
    text = i18n.catalog_path("es").read_text()
    text = text.replace(
        'msgstr "Hoja de asistencia devuelta"', 'msgstr "Phiếu điểm danh bị trả lại"'
    )
    vi.write_text(text.replace("Language: es", "Language: vi"))
    monkeypatch.setattr(i18n, "LOCALE_DIR", locale)
    for cached in (i18n.available_languages, i18n.translations):
        cached.cache_clear()
    try:
        assert i18n.available_languages() == ("en", "es", "vi")
        assert i18n.gettext("vi", "Attendance sheet returned") == "Phiếu điểm danh bị trả lại"
        assert i18n.language_name("vi") == "Tiếng Việt"
        from attendance.notices import render_notices
        from tests.test_notices import make_notice

        pdf = tmp_path / "notice.pdf"
        pdf.write_bytes(render_notices([make_notice()]))
        text = subprocess.run(
            ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        pages = text.split("\f")
        assert "Phiếu điểm danh bị trả lại" in pages[2]
        assert "tháng 12" in pages[2]  # December in Vietnamese, from CLDR
    finally:
        for cached in (i18n.available_languages, i18n.translations):
            cached.cache_clear()


def test_dates_come_from_cldr_not_the_machine() -> None:
    import datetime as dt

    day = dt.date(2026, 12, 3)
    assert i18n.long_date(day, "en") == "December 3, 2026"
    assert i18n.long_date(day, "es") == "3 de diciembre de 2026"
    assert i18n.month_year(day, "es") == "diciembre de 2026"
    assert i18n.best_language("es-MX,es;q=0.9,en;q=0.8") == "es"
    assert i18n.best_language("fr-FR, en;q=0.5") == "en"
    assert i18n.best_language("fr") is None
