"""Names in any script on printed sheets and notices, read back with poppler's pdftotext."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
from pathlib import Path

import pytest

from attendance.notices import render_notices
from fixtures.samples import sample_sheet
from forms import fonts
from forms.render import render_sheets
from tests.test_notices import make_notice

NAMES = ("Nguyễn Thị Ánh", "李小龍", "Zoë", "김민준", "Zoë 李小龍")


def pdftotext(path: Path) -> str:
    done = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=True
    )
    return done.stdout


def pdffonts(path: Path) -> str:
    return subprocess.run(
        ["pdffonts", str(path)], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize("name", NAMES)
def test_a_sheet_prints_the_childs_name_as_written(tmp_path: Path, name: str) -> None:
    """GIVEN a sheet for a child named `name` (and a parent and provider in other scripts)
    WHEN it is rendered and its text extracted by pdftotext
    THEN every name comes back exactly, and the fonts that draw them are embedded."""
    sheet = dataclasses.replace(
        sample_sheet("0123456789A", month=dt.date(2026, 11, 1)),
        child_name=name,
        parent_name="Trần Văn Bình",
        provider_name="Phở Hà Nội Care",
    )
    pdf = tmp_path / "sheet.pdf"
    render_sheets([sheet], pdf)
    text = pdftotext(pdf)
    for written in (name, "Trần Văn Bình", "Phở Hà Nội Care"):
        assert written in text, written
    assert "\u25a0" not in text  # no black boxes
    for line in pdffonts(pdf).splitlines()[2:]:
        if "TrueType" in line:
            assert line.split()[-5:-2] == ["yes", "yes", "yes"], line  # embedded subset, ToUnicode


def test_latin_text_stays_in_the_standard_fonts(tmp_path: Path) -> None:
    """An English or Spanish sheet embeds nothing: text the standard fonts print stays in them."""
    sheet = dataclasses.replace(
        sample_sheet("0123456789A", month=dt.date(2026, 11, 1)), child_name="José Peña Zoë"
    )
    pdf = tmp_path / "sheet.pdf"
    render_sheets([sheet], pdf)
    assert "José Peña Zoë" in pdftotext(pdf)
    assert "TrueType" not in pdffonts(pdf)


@pytest.mark.parametrize("name", NAMES)
def test_a_notice_prints_names_as_written_in_both_languages(tmp_path: Path, name: str) -> None:
    """GIVEN a returned-sheet notice for `name`, a provider and a reviewer's note in other
    scripts WHEN rendered (English and Spanish pages) THEN pdftotext reads each back on
    both pages."""
    notice = make_notice(
        child_name=name, provider_name="김민준 Family Care", note=f"Llamamos a {name}."
    )
    pdf = tmp_path / "notice.pdf"
    pdf.write_bytes(render_notices([notice]))
    text = pdftotext(pdf)
    pages = text.split("\f")
    assert "Attendance sheet returned" in pages[0]
    assert "Hoja de asistencia devuelta" in pages[1]
    for page in pages[:2]:
        assert name in page
        assert "김민준 Family Care" in page
        assert f"Llamamos a {name}." in page


def test_runs_keep_words_whole() -> None:
    assert fonts.runs("Ava Ng", "Helvetica") == [("Helvetica", "Ava Ng")]
    ((font, run),) = fonts.runs("Nguyễn Thị Ánh", "Helvetica-Bold")
    assert run == "Nguyễn Thị Ánh" and "DejaVuSans-Bold" in font
    # A name in decomposed form (e + combining marks) is drawn composed.
    assert fonts.runs("Nguye\u0302\u0303n", "Helvetica")[0][1] == "Nguyễn"
    mixed = fonts.runs("李小龍", "Helvetica")
    assert [r for _, r in mixed] == ["李小龍"]
