"""Returned-sheet notices: the letter an agency sends a provider with a sheet it cannot pay yet.

Each notice says, in plain words, what is missing or wrong on one monthly attendance sheet and
how to send it back. `render_notices` prints one or more notices as one US Letter PDF: for each
notice, an English page and then a Spanish page (more pages only when a long list spills).

Dates are written from our own month-name tables (never the machine's locale). The child's
name is printed in the letter body only, never in the PDF metadata.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from babel.lists import format_list
from reportlab.lib.colors import Color
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import (
    BaseDocTemplate,
    Frame,
    HRFlowable,
    KeepTogether,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from attendance import i18n
from attendance.i18n import N_
from attendance.safetext import shown
from forms import fonts
from forms.serial import SERIAL_LENGTH, format_serial

OTHER = "other"


@dataclass(frozen=True)
class Problem:
    """One reason a sheet is returned: a flag code (or "other"), the day it concerns if any."""

    code: str  # a flag code from attendance/flags.py FLAG_CODES, or "other"
    date: dt.date | None  # the day it concerns (a week's first day for weekly codes); None: sheet
    detail: str | None = None  # free text from the reviewer, shown as is ("other" mainly)


@dataclass(frozen=True)
class ReturnedNotice:
    """Everything printed on the notice for one returned sheet."""

    serial: str  # the sheet's serial, as printed under its barcode
    month: dt.date  # first day of the sheet's month
    provider_id: str
    provider_name: str
    child_name: str  # the provider knows the child; printed in the letter body only
    specialist_name: str
    specialist_phone: str
    agency_name: str
    return_address: str  # where to mail the sheet; "" -> that sentence is left out
    returned_on: dt.date
    problems: tuple[Problem, ...]  # what stops payment (attendance.findings.return_problems)
    note: str | None = None  # the reviewer's reason in their own words
    past_due_days: int = 30  # the agency's `past_due_days`: printed in the deadline sentences
    # What the rules settled and noted, which does not stop payment (findings.sheet_notes).
    notes: tuple[Problem, ...] = ()


# --- dates -------------------------------------------------------------------------------


def _check_lang(lang: str) -> None:
    i18n.check_language(lang)


def day_text(date: dt.date, lang: str) -> str:
    """``December 3`` / ``3 de diciembre``."""
    return i18n.day_month(date, lang)


def long_date_text(date: dt.date, lang: str) -> str:
    """``December 3, 2026`` / ``3 de diciembre de 2026``."""
    return i18n.long_date(date, lang)


def month_text(month: dt.date, lang: str) -> str:
    """``November 2026`` / ``noviembre de 2026``."""
    return i18n.month_year(month, lang)


def _when(date: dt.date, lang: str, weekly: bool) -> str:
    if not weekly:
        return day_text(date, lang)
    tr = i18n.translations(lang).gettext
    return tr("the week of {day}").format(day=day_text(date, lang))


# --- problem sentences -------------------------------------------------------------------

DAY, WEEK, SHEET = "day", "week", "sheet"


@dataclass(frozen=True)
class _Sentence:
    """A code's sentence (English, the catalog's message id) with a day or week ({when}) and
    without one; translated when printed."""

    kind: str  # DAY, WEEK or SHEET (the date, if any, is not named)
    when: str
    plain: str


SENTENCES: dict[str, _Sentence] = {
    "incomplete_pair": _Sentence(
        DAY,
        N_(
            "On {when}, there is a time in without a time out, or a time out without a time in. "
            "Write both times for that day."
        ),
        N_(
            "One day has a time in without a time out, or a time out without a time in. Write "
            "both times for each day the child was in care."
        ),
    ),
    "out_before_in": _Sentence(
        DAY,
        N_(
            "On {when}, the time out is earlier than the time in. Check the times and the AM or "
            "PM mark, and correct them."
        ),
        N_(
            "On one day, the time out is earlier than the time in. Check the times and the AM or "
            "PM marks, and correct them."
        ),
    ),
    "time_on_absent_day": _Sentence(
        DAY,
        N_(
            "On {when}, an absence is marked, but a time is also written. If the child was in "
            "care that day, cross out the absence mark. If not, cross out the time."
        ),
        N_(
            "One day has an absence marked and a time written. If the child was in care that "
            "day, cross out the absence mark. If not, cross out the time."
        ),
    ),
    "absence_without_reason": _Sentence(
        DAY,
        N_(
            "On {when}, there are no times and no absence reason. If the child was absent, mark "
            "one reason. If the child was in care, write the times."
        ),
        N_(
            "One day has no times and no absence reason. If the child was absent, mark one "
            "reason. If the child was in care, write the times."
        ),
    ),
    "multiple_absence_codes": _Sentence(
        DAY,
        N_(
            "On {when}, more than one absence reason is marked. Keep only one reason and cross "
            "out the others."
        ),
        N_(
            "One day has more than one absence reason marked. Keep only one reason and cross out "
            "the others."
        ),
    ),
    "outside_certificate_period": _Sentence(
        DAY,
        N_(
            "On {when}, care is written for a day outside the dates of the child's certificate. "
            "Check that the times are on the right line. If they are, call your case specialist."
        ),
        N_(
            "Care is written for a day outside the dates of the child's certificate. Check that "
            "the times are on the right line. If they are, call your case specialist."
        ),
    ),
    "weekday_not_authorized": _Sentence(
        DAY,
        N_(
            "On {when}, care is written for a day of the week the certificate does not approve. "
            "Check that the times are on the right line. If they are, call your case specialist."
        ),
        N_(
            "Care is written for a day of the week the certificate does not approve. Check that "
            "the times are on the right line. If they are, call your case specialist."
        ),
    ),
    "outside_authorized_hours": _Sentence(
        DAY,
        N_(
            "On {when}, care starts earlier or ends later than the approved hours. Check the "
            "times. If they are right, call your case specialist."
        ),
        N_(
            "On one day, care starts earlier or ends later than the approved hours. Check the "
            "times. If they are right, call your case specialist."
        ),
    ),
    "daily_hours_over": _Sentence(
        DAY,
        N_(
            "On {when}, the hours of care are more than the approved hours for one day. Check "
            "the times. If they are right, call your case specialist."
        ),
        N_(
            "On one day, the hours of care are more than the approved hours for one day. Check "
            "the times. If they are right, call your case specialist."
        ),
    ),
    "weekly_hours_over": _Sentence(
        WEEK,
        N_(
            "For {when}, the hours of care are more than the approved hours for one week. Check "
            "the times. If they are right, call your case specialist."
        ),
        N_(
            "In one week, the hours of care are more than the approved hours for one week. Check "
            "the times. If they are right, call your case specialist."
        ),
    ),
    "weekly_hours_inconsistent": _Sentence(
        WEEK,
        N_(
            "For {when}, the hours of care are very different from the child's approved "
            "schedule. Check the times. If they are right, call your case specialist."
        ),
        N_(
            "In one week, the hours of care are very different from the child's approved "
            "schedule. Check the times. If they are right, call your case specialist."
        ),
    ),
    "hours_inconsistent": _Sentence(
        SHEET,
        "",
        N_(
            "This month's hours of care are very different from the child's approved schedule. "
            "Your case specialist may call the parent about it. Check the times. If they are "
            "right, call your case specialist."
        ),
    ),
    "absence_limit_exceeded": _Sentence(
        DAY,
        N_(
            "On {when}, the absence goes over the number of absence days allowed this fiscal "
            "year (July to June). Check the absence reason. If it is right, call your case "
            "specialist."
        ),
        N_(
            "An absence goes over the number of absence days allowed this fiscal year (July to "
            "June). Check the absence reasons. If they are right, call your case specialist."
        ),
    ),
    "absence_not_payable": _Sentence(
        DAY,
        N_(
            "On {when}, an absence or a closed day is marked. License-exempt providers are not "
            "paid for absences or closed days. If the child was in care that day, write the "
            "times."
        ),
        N_(
            "An absence or a closed day is marked. License-exempt providers are not paid for "
            "absences or closed days. If the child was in care that day, write the times."
        ),
    ),
    "parent_signature_missing": _Sentence(
        SHEET,
        "",
        N_(
            "The parent did not sign the sheet. Ask the parent to sign and date it at the bottom "
            "of the sheet."
        ),
    ),
    "provider_signature_missing": _Sentence(
        SHEET,
        "",
        N_("The provider did not sign the sheet. Sign and date it at the bottom of the sheet."),
    ),
    "late": _Sentence(
        SHEET,
        "",
        N_(
            "We received this sheet after its due date. Send your next sheets on time so your "
            "payment is not delayed."
        ),
    ),
    "past_due": _Sentence(
        SHEET,
        "",
        N_(
            "We received this sheet more than {days} days after the end of the month, so it may "
            "not be paid. Call your case specialist to ask if it can still be paid."
        ),
    ),
    "duplicate_scan": _Sentence(
        SHEET,
        "",
        N_(
            "We received this same sheet more than once. We keep the first copy. You do not need "
            "to send the same sheet twice."
        ),
    ),
    "duplicate_conflict": _Sentence(
        SHEET,
        "",
        N_(
            "We received two copies of this sheet that do not match. Send back one sheet with "
            "the right information, and tell your case specialist which copy is right."
        ),
    ),
    "page_not_read": _Sentence(
        SHEET,
        "",
        N_(
            "We could not read the sheet. It may be torn or too dark, or the barcode may be "
            "covered or damaged. Send the original sheet again, and do not write on or cover the "
            "barcode."
        ),
    ),
    OTHER: _Sentence(
        DAY,
        N_("On {when}, there is a problem. Call your case specialist to find out what to fix."),
        N_(
            "There is another problem with this sheet. Call your case specialist to find out "
            "what to fix."
        ),
    ),
}


def problem_text(problem: Problem, lang: str, *, past_due_days: int = 30) -> str:
    """One plain-language sentence in `lang`: what is missing or wrong and what to do.

    Names the day ('December 3' / '3 de diciembre') or, for weekly codes, the week ('the week of
    December 1' / 'la semana del 1 de diciembre') when the problem has a date. An "other"
    problem with a detail is the reviewer's text as is (after the day, if any); for any other
    code the detail is added after the sentence. A code without a sentence of its own (added
    to the flags later) reads as "other".
    """
    _check_lang(lang)
    tr = i18n.translations(lang).gettext
    detail = (problem.detail or "").strip()
    sentence = SENTENCES.get(problem.code, SENTENCES[OTHER])
    if problem.code == OTHER and detail:
        if problem.date is None:
            return detail
        return tr("On {when}: {detail}").format(when=day_text(problem.date, lang), detail=detail)
    if sentence.kind != SHEET and problem.date is not None:
        text = tr(sentence.when).format(when=_when(problem.date, lang, sentence.kind == WEEK))
    else:
        text = tr(sentence.plain).format(days=past_due_days)
    if detail:
        label = tr("Note")
        text = f"{text} {label}: {detail}"
    return text


def problem_texts(problems: Sequence[Problem], lang: str, *, past_due_days: int = 30) -> list[str]:
    """The problems as sentences, one per code: the days one code concerns are named in one
    sentence ('On November 3, November 5 and November 10, ...'), as a reviewer decides one
    finding per problem. A problem with the reviewer's own words stays on its own."""
    groups: dict[str, list[Problem]] = {}
    order: list[str | Problem] = []
    for problem in problems:
        sentence = SENTENCES.get(problem.code, SENTENCES[OTHER])
        if problem.detail or problem.date is None or sentence.kind == SHEET:
            order.append(problem)
            continue
        if problem.code not in groups:
            groups[problem.code] = []
            order.append(problem.code)
        groups[problem.code].append(problem)
    texts = []
    tr = i18n.translations(lang).gettext
    for entry in order:
        if isinstance(entry, Problem):
            texts.append(problem_text(entry, lang, past_due_days=past_due_days))
            continue
        group = groups[entry]
        if len(group) == 1:
            texts.append(problem_text(group[0], lang, past_due_days=past_due_days))
            continue
        sentence = SENTENCES.get(entry, SENTENCES[OTHER])
        days = sorted({p.date for p in group if p.date is not None})
        when = format_list([_when(d, lang, sentence.kind == WEEK) for d in days], locale=lang)
        texts.append(tr(sentence.when).format(when=when))
    return texts


# --- page words --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Words:
    title: str
    returned: str
    to: str
    provider_id: str
    sheet_number: str
    month: str
    child: str
    because: str
    notes: str
    note: str
    how_title: str
    fix: str  # {serial}
    sign: str
    barcode: str
    send: str
    mail: str  # {address}
    send_no_address: str
    deadline: str
    questions_title: str
    call: str  # {name} {phone}
    call_no_name: str  # {phone}
    call_no_phone: str
    call_plain: str
    quote: str  # {serial}
    footer: str  # {serial}
    continued: str  # {serial}


def notice_words(lang: str) -> _Words:
    """The notice's words in `lang` (from its catalog)."""
    tr = i18n.translations(lang).gettext
    return _Words(
        title=tr("Attendance sheet returned"),
        returned=tr("Date returned"),
        to=tr("To"),
        provider_id=tr("Provider ID"),
        sheet_number=tr("Sheet number"),
        month=tr("Month"),
        child=tr("Child"),
        because=tr("We cannot pay this sheet yet because:"),
        notes=tr("Also noted (these do not stop payment):"),
        note=tr("Note from the reviewer:"),
        how_title=tr("How to send the sheet back"),
        fix=tr(
            "Fix each item above on the <b>original</b> sheet. If you lost the sheet, print a "
            "new blank sheet with the same sheet number ({serial}), or ask your case "
            "specialist for one, and copy all the times onto it."
        ),
        sign=tr("The parent and the provider both sign and date the sheet at the bottom."),
        barcode=tr(
            "Do not write on, cover or staple over the barcode (the square code at the top "
            "right of the sheet)."
        ),
        send=tr("Send the sheet back to us as soon as possible."),
        mail=tr("Mail it to the address below, or drop it off at our office:"),
        send_no_address=tr(
            "Send it the way you send your monthly sheets, or drop it off at our office."
        ),
        deadline=tr(
            "Sheets we receive more than {days} days after the end of the month may not be paid."
        ),
        questions_title=tr("Questions?"),
        call=tr("Call your case specialist, {name}, at <b>{phone}</b>."),
        call_no_name=tr("Call your case specialist at <b>{phone}</b>."),
        call_no_phone=tr("Call your case specialist, {name}."),
        call_plain=tr("Call your case specialist."),
        quote=tr("Please have the sheet number ready: <b>{serial}</b>."),
        footer=tr("Returned sheet notice \u00b7 Sheet {serial} \u00b7 {language}"),
        continued=tr("Sheet {serial} (continued)"),
    )


# --- PDF ---------------------------------------------------------------------------------

PAGE_W, PAGE_H = LETTER
MARGIN_X = 60.0
MARGIN_TOP = 48.0
MARGIN_BOTTOM = 60.0  # room for the footer
INK = Color(0.1, 0.1, 0.1)
MUTED = Color(0.35, 0.35, 0.35)
RULE = Color(0.72, 0.72, 0.72)
TINT = Color(0.94, 0.94, 0.94)
ACCENT = Color(0.65, 0.1, 0.05)  # the sheet's month red (forms/render.py)

_BODY = ParagraphStyle("body", fontName="Helvetica", fontSize=10.5, leading=14, textColor=INK)
_STYLES = {
    "letterhead": ParagraphStyle(
        "letterhead", _BODY, fontName="Helvetica-Bold", fontSize=15, leading=19
    ),
    "address": ParagraphStyle("address", _BODY, fontSize=8.5, leading=11, textColor=MUTED),
    "date": ParagraphStyle("date", _BODY, fontSize=10, leading=13, alignment=TA_RIGHT),
    "title": ParagraphStyle(
        "title",
        _BODY,
        fontName="Helvetica-Bold",
        fontSize=20,
        leading=24,
        textColor=ACCENT,
        spaceBefore=4,
        spaceAfter=10,
    ),
    "label": ParagraphStyle("label", _BODY, fontSize=9, leading=13, textColor=MUTED),
    "value": ParagraphStyle("value", _BODY, fontName="Helvetica-Bold", fontSize=11, leading=14),
    "serial": ParagraphStyle(
        "serial", _BODY, fontName="Courier-Bold", fontSize=17, leading=20, spaceAfter=0
    ),
    "heading": ParagraphStyle(
        "heading",
        _BODY,
        fontName="Helvetica-Bold",
        fontSize=12.5,
        leading=16,
        spaceBefore=12,
        spaceAfter=5,
        keepWithNext=1,
    ),
    "item": ParagraphStyle(
        "item",
        _BODY,
        leftIndent=26,
        bulletIndent=4,
        bulletFontName="Helvetica-Bold",
        spaceAfter=5,
        allowWidows=0,  # a short item moves whole to the next page rather than split
        allowOrphans=0,
    ),
    "note_label": ParagraphStyle(
        "note_label", _BODY, fontName="Helvetica-Bold", spaceBefore=6, keepWithNext=1
    ),
    "note": ParagraphStyle(
        "note",
        _BODY,
        leftIndent=10,
        rightIndent=10,
        backColor=TINT,
        borderPadding=7,
        spaceBefore=8,
        spaceAfter=10,
    ),
    "indent": ParagraphStyle("indent", _BODY, leftIndent=40, spaceBefore=2, spaceAfter=5),
    "deadline": ParagraphStyle("deadline", _BODY, fontName="Helvetica-Bold", spaceBefore=4),
}


def display_serial(serial: str) -> str:
    """The serial as printed under the sheet's barcode (grouped when it has the full length)."""
    serial = serial.strip()
    return format_serial(serial) if len(serial) == SERIAL_LENGTH else serial


def _x(text: str) -> str:
    """Escape text for a Paragraph; keep line breaks; format characters replaced (names)."""
    return "<br/>".join(escape(shown(line.strip())) for line in text.strip().splitlines())


def _para(xml: str, style: ParagraphStyle, **options: Any) -> Paragraph:
    """A Paragraph whose text, in any script, prints as written: runs the style's standard
    font cannot print are set in an embedded font that can (`forms.fonts.rich`)."""
    return Paragraph(fonts.rich(xml, style.fontName), style, **options)


def _info_table(notice: ReturnedNotice, lang: str, width: float) -> Table:
    words = notice_words(lang)
    label_w = 96.0
    s = _STYLES
    provider = (
        f"{_x(notice.provider_name)}"
        f"<br/><font name='Helvetica' size='10'>{words.provider_id} "
        f"{_x(notice.provider_id)}</font>"
    )
    rows = [
        [_para(words.to, s["label"]), _para(provider, s["value"])],
        [
            _para(words.sheet_number, s["label"]),
            _para(_x(display_serial(notice.serial)), s["serial"]),
        ],
        [
            _para(words.month, s["label"]),
            _para(_x(month_text(notice.month, lang)), s["value"]),
        ],
        [_para(words.child, s["label"]), _para(_x(notice.child_name), s["value"])],
    ]
    table = Table(rows, colWidths=(label_w, width - label_w), hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 0.8, RULE),
                ("LINEBELOW", (0, 0), (-1, -2), 0.4, RULE),
                ("BACKGROUND", (0, 1), (-1, 1), TINT),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("VALIGN", (0, 1), (-1, 1), "MIDDLE"),  # the serial's larger type
                ("LEFTPADDING", (0, 0), (-1, -1), 8),
                ("RIGHTPADDING", (0, 0), (-1, -1), 8),
                ("TOPPADDING", (0, 0), (-1, -1), 5),
                ("TOPPADDING", (0, 0), (0, -1), 6.5),  # label baselines on the values'
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
            ]
        )
    )
    return table


def _page_story(notice: ReturnedNotice, lang: str, width: float) -> list[Any]:
    words = notice_words(lang)
    s = _STYLES
    serial = _x(display_serial(notice.serial))
    story: list[Any] = [_para(_x(notice.agency_name), s["letterhead"])]
    if notice.return_address.strip():
        one_line = " \u00b7 ".join(
            _x(line) for line in notice.return_address.splitlines() if line.strip()
        )
        story.append(_para(one_line, s["address"]))
    story += [
        Spacer(1, 4),
        HRFlowable(width="100%", thickness=1.2, color=INK, spaceBefore=2, spaceAfter=6),
        _para(f"{words.returned}: <b>{long_date_text(notice.returned_on, lang)}</b>", s["date"]),
        _para(words.title, s["title"]),
        _info_table(notice, lang, width),
        _para(words.because, s["heading"]),
    ]
    texts = problem_texts(notice.problems, lang, past_due_days=notice.past_due_days)
    for number, text in enumerate(texts, start=1):
        story.append(_para(_x(text), s["item"], bulletText=f"{number}."))
    if notice.note and notice.note.strip():
        story.append(_para(words.note, s["note_label"]))
        story.append(_para(_x(notice.note), s["note"]))
    if notice.notes:
        # Told apart from the problems: what the rules settled, which does not stop payment.
        story.append(_para(words.notes, s["heading"]))
        for text in problem_texts(notice.notes, lang, past_due_days=notice.past_due_days):
            story.append(_para(_x(text), s["item"], bulletText="\u2022"))

    story.append(_para(words.how_title, s["heading"]))
    steps: list[Any] = [
        _para(words.fix.format(serial=serial), s["item"], bulletText="1."),
        _para(words.sign, s["item"], bulletText="2."),
        _para(words.barcode, s["item"], bulletText="3."),
    ]
    if notice.return_address.strip():
        steps.append(
            KeepTogether(
                [
                    _para(f"{words.send} {words.mail}", s["item"], bulletText="4."),
                    _para(f"<b>{_x(notice.return_address)}</b>", s["indent"]),
                ]
            )
        )
    else:
        steps.append(_para(f"{words.send} {words.send_no_address}", s["item"], bulletText="4."))
    story += steps
    story.append(_para(words.deadline.format(days=notice.past_due_days), s["deadline"]))

    name = _x(notice.specialist_name)
    phone = _x(notice.specialist_phone)
    if name and phone:
        call = words.call.format(name=name, phone=phone)
    elif phone:
        call = words.call_no_name.format(phone=phone)
    elif name:
        call = words.call_no_phone.format(name=name)
    else:
        call = words.call_plain
    story.append(
        KeepTogether(
            [
                _para(words.questions_title, s["heading"]),
                _para(f"{call} {words.quote.format(serial=serial)}", _BODY),
            ]
        )
    )
    return story


def _page_decoration(serial: str, lang: str, continued: bool) -> Callable[[Any, Any], None]:
    words = notice_words(lang)
    shown = display_serial(serial)

    def draw(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        canvas.line(MARGIN_X, 40, PAGE_W - MARGIN_X, 40)
        canvas.setFillColor(MUTED)
        footer = words.footer.format(serial=shown, language=i18n.language_name(lang))
        fonts.draw_string(canvas, MARGIN_X, 28, footer, "Helvetica", 8)
        if continued:
            continued_text = words.continued.format(serial=shown)
            fonts.draw_string(canvas, MARGIN_X, PAGE_H - 36, continued_text, "Helvetica-Bold", 9)
        canvas.restoreState()

    return draw


def _title(notices: Sequence[ReturnedNotice]) -> str:
    if len(notices) == 1:
        return f"Returned sheet notice {display_serial(notices[0].serial)}"
    return f"Returned sheet notices ({len(notices)} sheets)"


def render_notices(
    notices: Sequence[ReturnedNotice], *, languages: Sequence[str] | None = None
) -> bytes:
    """One PDF (US Letter): for each notice, its pages in each language, in order.

    Each language starts on a new page (English, then Spanish by default); a notice with many
    problems continues on a following page, marked "continued". A provider batch is several
    notices in one PDF. The PDF title names the serial(s) only, never the child.
    """
    if not notices:
        raise ValueError("no notices to render")
    if languages is None:
        languages = i18n.available_languages()
    if not languages:
        raise ValueError("no languages to render")
    for lang in languages:
        _check_lang(lang)

    out = io.BytesIO()
    doc = BaseDocTemplate(
        out,
        pagesize=LETTER,
        leftMargin=MARGIN_X,
        rightMargin=MARGIN_X,
        topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM,
        title=_title(notices),
        author=notices[0].agency_name,
        subject="Attendance sheet returned to the provider",
        creator="Attendance Intake",
        invariant=1,
        pageCompression=1,
    )
    width = PAGE_W - 2 * MARGIN_X
    templates: list[Any] = []
    story: list[Any] = []
    for index, (notice, lang) in enumerate(
        (notice, lang) for notice in notices for lang in languages
    ):
        first, rest = f"s{index}", f"s{index}c"
        for template_id, continued in ((first, False), (rest, True)):
            frame = Frame(
                MARGIN_X,
                MARGIN_BOTTOM,
                width,
                PAGE_H - MARGIN_TOP - MARGIN_BOTTOM,
                leftPadding=0,
                rightPadding=0,
                topPadding=0,
                bottomPadding=0,
                id=f"{template_id}-body",
            )
            templates.append(
                PageTemplate(
                    id=template_id,
                    frames=[frame],
                    onPage=_page_decoration(notice.serial, lang, continued),
                    autoNextPageTemplate=rest,
                )
            )
        if index:
            story += [NextPageTemplate(first), PageBreak()]
        story += _page_story(notice, lang, width)
    doc.addPageTemplates(templates)
    doc.build(story)
    return out.getvalue()
