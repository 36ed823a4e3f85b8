"""Returned-sheet notices, read back the way a person would: pdftotext, pdfinfo (poppler)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from attendance.flags import FLAG_CODES
from attendance.notices import (
    OTHER,
    SENTENCES,
    Problem,
    ReturnedNotice,
    day_text,
    long_date_text,
    month_text,
    problem_text,
    problem_texts,
    render_notices,
)
from forms.serial import format_serial

SERIAL = "7K2M9QXR4T8"
CHILD = "Amelia Rodriguez-Thompson"
PHONE = "(559) 555-0142"
DEC_3 = dt.date(2026, 12, 3)


def make_notice(**changes: Any) -> ReturnedNotice:
    notice = ReturnedNotice(
        serial=SERIAL,
        month=dt.date(2026, 12, 1),
        provider_id="P-10392",
        provider_name="Sunny Days Family Child Care",
        child_name=CHILD,
        specialist_name="Jordan Lee",
        specialist_phone=PHONE,
        agency_name="Golden Valley Child Care Resource & Referral",
        return_address="Golden Valley CCR&R\nAttn: Attendance\n1234 Olive Ave\nFresno, CA 93721",
        returned_on=dt.date(2027, 1, 8),
        problems=(
            Problem("parent_signature_missing", None),
            Problem("out_before_in", DEC_3),
        ),
        note="The time out on December 3 reads 7:15 AM; it is probably 5:15 PM.",
    )
    return dataclasses.replace(notice, **changes)


def write_pdf(tmp_path: Path, notices: list[ReturnedNotice], **kwargs: Any) -> Path:
    path = tmp_path / "notice.pdf"
    path.write_bytes(render_notices(notices, **kwargs))
    return path


def pdftotext(path: Path, *pages: int, layout: bool = True) -> str:
    args = ["pdftotext", *(["-layout"] if layout else []), "-enc", "UTF-8"]
    if pages:
        args += ["-f", str(pages[0]), "-l", str(pages[-1])]
    text = subprocess.run([*args, str(path), "-"], check=True, capture_output=True).stdout
    return text.decode("utf-8")


def pdfinfo(path: Path) -> dict[str, str]:
    out = subprocess.run(
        ["pdfinfo", "-enc", "UTF-8", str(path)], check=True, capture_output=True
    ).stdout.decode("utf-8")
    return {
        key.strip(): value.strip()
        for key, value in (line.split(":", 1) for line in out.splitlines() if ":" in line)
    }


def flat(text: str) -> str:
    """Text with line breaks and runs of spaces as single spaces, for phrase checks."""
    return re.sub(r"\s+", " ", text)


def test_notice_reads_back_in_english_and_spanish(tmp_path: Path) -> None:
    path = write_pdf(tmp_path, [make_notice()])
    assert pdfinfo(path)["Pages"] == "2"
    english, spanish = flat(pdftotext(path, 1)), flat(pdftotext(path, 2))

    shown = format_serial(SERIAL)
    for page in (english, spanish):
        assert shown in page
        assert "Sunny Days Family Child Care" in page
        assert "P-10392" in page
        assert PHONE in page
        assert "Jordan Lee" in page
        assert CHILD in page
        assert "1234 Olive Ave" in page
        assert "Golden Valley Child Care Resource & Referral" in page
        assert "7:15 AM" in page  # the reviewer's note, as is

    assert "Attendance sheet returned" in english
    assert "December 2026" in english
    assert "January 8, 2027" in english
    assert "December 3" in english
    assert "The parent did not sign the sheet." in english
    assert "We cannot pay this sheet yet because:" in english
    assert "30 days" in english

    assert "Hoja de asistencia devuelta" in spanish
    assert "diciembre de 2026" in spanish
    assert "8 de enero de 2027" in spanish
    assert "3 de diciembre" in spanish
    assert "Falta la firma del padre, madre o tutor." in spanish
    assert "firma" in spanish
    # Accents and Spanish punctuation survive the built-in fonts (WinAnsi).
    for word in ("más", "después", "Pídale", "devolución", "Número", "Niño(a)", "¿Preguntas?"):
        assert word in spanish


def test_reviewer_text_keeps_its_accents(tmp_path: Path) -> None:
    note = "¡Atención! La señora Muñoz firmó, pero falta la fecha en la última página."
    detail = "Había dos hojas para el mismo niño; envíe solo una."
    notice = make_notice(note=note, problems=(Problem(OTHER, None, detail),))
    spanish = flat(pdftotext(write_pdf(tmp_path, [notice]), 2))
    assert note in spanish and detail in spanish


def test_batch_has_a_page_per_language_per_notice(tmp_path: Path) -> None:
    other = make_notice(serial="0000000000" + "0", problems=(Problem("past_due", None),))
    path = write_pdf(tmp_path, [make_notice(), other])
    assert pdfinfo(path)["Pages"] == "4"
    pages = [flat(pdftotext(path, n)) for n in range(1, 5)]
    assert format_serial(SERIAL) in pages[0] and format_serial(SERIAL) in pages[1]
    assert "0000-0000-000" in pages[2] and "0000-0000-000" in pages[3]
    assert "English" in pages[2] and "Español" in pages[3]


def test_languages_option(tmp_path: Path) -> None:
    path = write_pdf(tmp_path, [make_notice()], languages=("es",))
    assert pdfinfo(path)["Pages"] == "1"
    assert "Hoja de asistencia devuelta" in pdftotext(path)
    with pytest.raises(ValueError):
        render_notices([make_notice()], languages=("fr",))
    with pytest.raises(ValueError):
        render_notices([])


def test_metadata_has_no_child_name(tmp_path: Path) -> None:
    path = write_pdf(tmp_path, [make_notice()])
    info = pdfinfo(path)
    assert info["Title"] == f"Returned sheet notice {format_serial(SERIAL)}"
    metadata = " ".join(info.values())
    assert "Amelia" not in metadata and "Rodriguez" not in metadata
    raw = path.read_bytes()
    assert b"Amelia" not in raw  # the body is compressed; nothing else carries the name


@pytest.mark.parametrize("code", [*FLAG_CODES, OTHER])
def test_every_code_has_a_sentence_in_both_languages(code: str) -> None:
    assert code in SENTENCES
    for date in (None, DEC_3):
        english = problem_text(Problem(code, date), "en")
        spanish = problem_text(Problem(code, date), "es")
        assert english.strip() and spanish.strip()
        assert english != spanish
        assert "{" not in english + spanish
        assert english.endswith(".") and spanish.endswith(".")


def test_day_and_week_are_named() -> None:
    assert day_text(DEC_3, "en") == "December 3"
    assert day_text(DEC_3, "es") == "3 de diciembre"
    assert long_date_text(DEC_3, "es") == "3 de diciembre de 2026"
    assert month_text(dt.date(2026, 11, 1), "en") == "November 2026"
    assert month_text(dt.date(2026, 11, 1), "es") == "noviembre de 2026"
    week = Problem("weekly_hours_over", dt.date(2026, 12, 1))
    assert "the week of December 1" in problem_text(week, "en")
    assert "la semana del 1 de diciembre" in problem_text(week, "es")
    assert "December 3" in problem_text(Problem("out_before_in", DEC_3), "en")
    assert "3 de diciembre" in problem_text(Problem("out_before_in", DEC_3), "es")
    # A whole-sheet problem does not name a day even if one is given.
    assert "December" not in problem_text(Problem("late", DEC_3), "en")


def test_other_and_details_are_shown_as_is() -> None:
    other = Problem(OTHER, DEC_3, "Two children's times are on one sheet.")
    assert problem_text(other, "en") == "On December 3: Two children's times are on one sheet."
    assert problem_text(other, "es") == "El 3 de diciembre: Two children's times are on one sheet."
    bare = problem_text(Problem(OTHER, None), "en")
    assert "case specialist" in bare
    noted = problem_text(Problem("incomplete_pair", DEC_3, "Time out is blank."), "es")
    assert noted.endswith("Nota: Time out is blank.")
    with pytest.raises(ValueError):
        problem_text(other, "fr")


def test_long_list_spills_onto_a_next_page(tmp_path: Path) -> None:
    codes = [*FLAG_CODES, OTHER]
    problems = tuple(Problem(codes[i % len(codes)], dt.date(2026, 12, 1 + i)) for i in range(25))
    notice = make_notice(
        problems=problems,
        provider_name="The Very Long Named Little Sunflowers And Busy Bees Family Child Care "
        "Home And Preschool Learning Center Of The Greater Central Valley",
    )
    path = write_pdf(tmp_path, [notice])
    pages = int(pdfinfo(path)["Pages"])
    assert pages > 2
    text = flat(pdftotext(path))
    for lang in ("en", "es"):
        for sentence in problem_texts(problems, lang):
            assert flat(sentence) in text
    # The table cell wraps the long name; read without -layout to keep the cell's lines together.
    assert notice.provider_name in flat(pdftotext(path, 1, layout=False))
    assert "(continued)" in text and "(continuación)" in text
    # The Spanish part starts on its own page, after the English pages.
    first_spanish = next(
        n for n in range(1, pages + 1) if "Hoja de asistencia devuelta" in pdftotext(path, n)
    )
    assert "Attendance sheet returned" not in pdftotext(path, first_spanish)
    assert all("English" in pdftotext(path, n) for n in range(1, first_spanish))


def test_no_return_address_leaves_the_mail_sentence_out(tmp_path: Path) -> None:
    path = write_pdf(tmp_path, [make_notice(return_address="")])
    text = flat(pdftotext(path))
    assert "Mail it" not in text and "por correo" not in text
    assert "drop it off" in text and "entréguela" in text


def test_the_agency_past_due_days_are_printed(tmp_path: Path) -> None:
    """GIVEN an agency that pays sheets up to 45 days after the month (past_due_days 45)
    WHEN a past-due sheet's notice is printed
    THEN both languages say 45 days, in the problem and in the deadline sentence."""
    notice = make_notice(problems=(Problem("past_due", None),), past_due_days=45)
    english = flat(pdftotext(write_pdf(tmp_path, [notice]), 1))
    spanish = flat(pdftotext(write_pdf(tmp_path, [notice]), 2))
    assert english.count("more than 45 days after the end of the month") == 2
    assert spanish.count("más de 45 días después del fin del mes") == 2
    assert "30 days" not in english and "30 días" not in spanish


def test_one_sentence_per_problem_and_notes_told_apart(tmp_path: Path) -> None:
    """GIVEN a returned sheet with one problem on three days, a missing signature, and two
    notes the rules settled (late, outside the authorized hours)
    WHEN its notice is printed THEN the three days are one item, the problems are numbered
    under 'cannot pay ... because', and the notes are listed apart under 'Also noted (these do
    not stop payment)', in both languages."""
    days = [dt.date(2026, 11, d) for d in (3, 5, 10)]
    notice = make_notice(
        problems=(
            Problem("parent_signature_missing", None),
            *(Problem("weekday_not_authorized", d) for d in days),
        ),
        notes=(Problem("late", None), Problem("outside_authorized_hours", days[0])),
    )
    whole = flat(pdftotext(write_pdf(tmp_path, [notice])))
    english, spanish = whole.split("Hoja de asistencia devuelta", 1)
    because = english.index("We cannot pay this sheet yet because:")
    also = english.index("Also noted (these do not stop payment):")
    assert because < also
    assert "1. The parent did not sign" in english[because:also]
    assert (
        "2. On November 3, November 5, and November 10, care is written for a day of the week"
        in english[because:also]
    )
    assert "3." not in english[because:also]
    assert "We received this sheet after its due date" in english[also:]
    assert "We received this sheet after its due date" not in english[:also]
    assert "El 3 de noviembre, 5 de noviembre y 10 de noviembre hay horas" in spanish
    assert spanish.index("Todavía no podemos pagar") < spanish.index("También anotamos")
