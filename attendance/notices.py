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

from attendance.months import LANGUAGES, month_name
from attendance.safetext import shown
from forms import fonts
from forms.serial import SERIAL_LENGTH, format_serial

OTHER = "other"
BOLD = "Helvetica-Bold"


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
    problems: tuple[Problem, ...]
    note: str | None = None  # the reviewer's reason in their own words
    past_due_days: int = 30  # the agency's `past_due_days`: printed in the deadline sentences


# --- dates -------------------------------------------------------------------------------


def _check_lang(lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r} is not supported (use one of {', '.join(LANGUAGES)})")


def day_text(date: dt.date, lang: str) -> str:
    """``December 3`` / ``3 de diciembre``."""
    name = month_name(date, lang)
    return f"{name} {date.day}" if lang == "en" else f"{date.day} de {name}"


def long_date_text(date: dt.date, lang: str) -> str:
    """``December 3, 2026`` / ``3 de diciembre de 2026``."""
    return (
        f"{day_text(date, lang)}, {date.year}"
        if lang == "en"
        else f"{day_text(date, lang)} de {date.year}"
    )


def month_text(month: dt.date, lang: str) -> str:
    """``November 2026`` / ``noviembre de 2026``."""
    name = month_name(month, lang)
    return f"{name} {month.year}" if lang == "en" else f"{name} de {month.year}"


def _when(date: dt.date, lang: str, weekly: bool) -> str:
    if not weekly:
        return day_text(date, lang)
    return (
        f"the week of {day_text(date, lang)}"
        if lang == "en"
        else f"la semana del {day_text(date, lang)}"
    )


# --- problem sentences -------------------------------------------------------------------

DAY, WEEK, SHEET = "day", "week", "sheet"


@dataclass(frozen=True)
class _Sentence:
    """A code's sentence with a day or week ({when}) and without one, in both languages."""

    kind: str  # DAY, WEEK or SHEET (the date, if any, is not named)
    en_when: str
    en: str
    es_when: str
    es: str


_CHECK_EN = "Check the times. If they are right, call your case specialist."
_CHECK_ES = "Revise las horas. Si son correctas, llame a su especialista de casos."
_LINE_EN = "Check that the times are on the right line. If they are, call your case specialist."
_LINE_ES = "Revise que las horas estén en la línea correcta. Si lo están, llame a su especialista de casos."  # noqa: E501

SENTENCES: dict[str, _Sentence] = {
    "incomplete_pair": _Sentence(
        DAY,
        "On {when}, there is a time in without a time out, or a time out without a time in. "
        "Write both times for that day.",
        "One day has a time in without a time out, or a time out without a time in. "
        "Write both times for each day the child was in care.",
        "El {when} hay una hora de entrada sin hora de salida, o una hora de salida sin hora "
        "de entrada. Escriba las dos horas de ese día.",
        "Un día tiene una hora de entrada sin hora de salida, o una hora de salida sin hora de "
        "entrada. Escriba las dos horas de cada día que el niño estuvo en cuidado.",
    ),
    "out_before_in": _Sentence(
        DAY,
        "On {when}, the time out is earlier than the time in. "
        "Check the times and the AM or PM mark, and correct them.",
        "On one day, the time out is earlier than the time in. "
        "Check the times and the AM or PM marks, and correct them.",
        "El {when}, la hora de salida es antes que la hora de entrada. "
        "Revise las horas y la marca de AM o PM, y corríjalas.",
        "En un día, la hora de salida es antes que la hora de entrada. "
        "Revise las horas y las marcas de AM o PM, y corríjalas.",
    ),
    "time_on_absent_day": _Sentence(
        DAY,
        "On {when}, an absence is marked, but a time is also written. If the child was in "
        "care that day, cross out the absence mark. If not, cross out the time.",
        "One day has an absence marked and a time written. If the child was in care that "
        "day, cross out the absence mark. If not, cross out the time.",
        "El {when} se marcó una ausencia, pero también hay una hora escrita. Si el niño "
        "estuvo en cuidado ese día, tache la marca de ausencia. Si no, tache la hora.",
        "Un día tiene una ausencia marcada y también una hora escrita. Si el niño estuvo en "
        "cuidado ese día, tache la marca de ausencia. Si no, tache la hora.",
    ),
    "absence_without_reason": _Sentence(
        DAY,
        "On {when}, there are no times and no absence reason. If the child was absent, mark "
        "one reason. If the child was in care, write the times.",
        "One day has no times and no absence reason. If the child was absent, mark one "
        "reason. If the child was in care, write the times.",
        "El {when} no hay horas ni motivo de ausencia. Si el niño faltó, marque un motivo. "
        "Si estuvo en cuidado, escriba las horas.",
        "Un día no tiene horas ni motivo de ausencia. Si el niño faltó, marque un motivo. "
        "Si estuvo en cuidado, escriba las horas.",
    ),
    "multiple_absence_codes": _Sentence(
        DAY,
        "On {when}, more than one absence reason is marked. "
        "Keep only one reason and cross out the others.",
        "One day has more than one absence reason marked. "
        "Keep only one reason and cross out the others.",
        "El {when} hay más de un motivo de ausencia marcado. Deje solo uno y tache los demás.",
        "Un día tiene más de un motivo de ausencia marcado. Deje solo uno y tache los demás.",
    ),
    "outside_certificate_period": _Sentence(
        DAY,
        "On {when}, care is written for a day outside the dates of the child's certificate. "
        + _LINE_EN,
        "Care is written for a day outside the dates of the child's certificate. " + _LINE_EN,
        "El {when} hay horas de cuidado en un día fuera de las fechas del certificado del "
        "niño. " + _LINE_ES,
        "Hay horas de cuidado en un día fuera de las fechas del certificado del niño. " + _LINE_ES,
    ),
    "weekday_not_authorized": _Sentence(
        DAY,
        "On {when}, care is written for a day of the week the certificate does not approve. "
        + _LINE_EN,
        "Care is written for a day of the week the certificate does not approve. " + _LINE_EN,
        "El {when} hay horas de cuidado en un día de la semana que el certificado no "
        "autoriza. " + _LINE_ES,
        "Hay horas de cuidado en un día de la semana que el certificado no autoriza. " + _LINE_ES,
    ),
    "outside_authorized_hours": _Sentence(
        DAY,
        "On {when}, care starts earlier or ends later than the approved hours. " + _CHECK_EN,
        "On one day, care starts earlier or ends later than the approved hours. " + _CHECK_EN,
        "El {when}, el cuidado empieza antes o termina después del horario autorizado. "
        + _CHECK_ES,
        "En un día, el cuidado empieza antes o termina después del horario autorizado. "
        + _CHECK_ES,
    ),
    "daily_hours_over": _Sentence(
        DAY,
        "On {when}, the hours of care are more than the approved hours for one day. " + _CHECK_EN,
        "On one day, the hours of care are more than the approved hours for one day. " + _CHECK_EN,
        "El {when}, las horas de cuidado pasan del máximo autorizado por día. " + _CHECK_ES,
        "En un día, las horas de cuidado pasan del máximo autorizado por día. " + _CHECK_ES,
    ),
    "weekly_hours_over": _Sentence(
        WEEK,
        "For {when}, the hours of care are more than the approved hours for one week. " + _CHECK_EN,
        "In one week, the hours of care are more than the approved hours for one week. "
        + _CHECK_EN,
        "En {when}, las horas de cuidado pasan del máximo autorizado por semana. " + _CHECK_ES,
        "En una semana, las horas de cuidado pasan del máximo autorizado por semana. " + _CHECK_ES,
    ),
    "weekly_hours_inconsistent": _Sentence(
        WEEK,
        "For {when}, the hours of care are very different from the child's approved "
        "schedule. " + _CHECK_EN,
        "In one week, the hours of care are very different from the child's approved "
        "schedule. " + _CHECK_EN,
        "En {when}, las horas de cuidado son muy diferentes del horario autorizado del niño. "
        + _CHECK_ES,
        "En una semana, las horas de cuidado son muy diferentes del horario autorizado del "
        "niño. " + _CHECK_ES,
    ),
    "hours_inconsistent": _Sentence(
        SHEET,
        "",
        "This month's hours of care are very different from the child's approved schedule. "
        "Your case specialist may call the parent about it. " + _CHECK_EN,
        "",
        "Las horas de cuidado de este mes son muy diferentes del horario autorizado del niño. "
        "Su especialista de casos puede llamar al padre o la madre. " + _CHECK_ES,
    ),
    "absence_limit_exceeded": _Sentence(
        DAY,
        "On {when}, the absence goes over the number of absence days allowed this fiscal year "
        "(July to June). Check the absence reason. If it is right, call your case specialist.",
        "An absence goes over the number of absence days allowed this fiscal year (July to "
        "June). Check the absence reasons. If they are right, call your case specialist.",
        "El {when}, la ausencia pasa del número de días de ausencia permitidos en este año "
        "fiscal (de julio a junio). Revise el motivo de ausencia. Si es correcto, llame a su "
        "especialista de casos.",
        "Una ausencia pasa del número de días de ausencia permitidos en este año fiscal (de "
        "julio a junio). Revise los motivos de ausencia. Si son correctos, llame a su "
        "especialista de casos.",
    ),
    "absence_not_payable": _Sentence(
        DAY,
        "On {when}, an absence or a closed day is marked. License-exempt providers are not "
        "paid for absences or closed days. If the child was in care that day, write the times.",
        "An absence or a closed day is marked. License-exempt providers are not paid for "
        "absences or closed days. If the child was in care that day, write the times.",
        "El {when} se marcó una ausencia o un día cerrado. A los proveedores exentos de "
        "licencia no se les paga por ausencias ni por días cerrados. Si el niño estuvo en "
        "cuidado ese día, escriba las horas.",
        "Se marcó una ausencia o un día cerrado. A los proveedores exentos de licencia no se "
        "les paga por ausencias ni por días cerrados. Si el niño estuvo en cuidado ese día, "
        "escriba las horas.",
    ),
    "parent_signature_missing": _Sentence(
        SHEET,
        "",
        "The parent did not sign the sheet. "
        "Ask the parent to sign and date it at the bottom of the sheet.",
        "",
        "Falta la firma del padre, madre o tutor. "
        "Pídale que firme y ponga la fecha en la parte de abajo de la hoja.",
    ),
    "provider_signature_missing": _Sentence(
        SHEET,
        "",
        "The provider did not sign the sheet. Sign and date it at the bottom of the sheet.",
        "",
        "Falta la firma del proveedor. Firme y ponga la fecha en la parte de abajo de la hoja.",
    ),
    "late": _Sentence(
        SHEET,
        "",
        "We received this sheet after its due date. "
        "Send your next sheets on time so your payment is not delayed.",
        "",
        "Recibimos esta hoja después de la fecha límite. "
        "Envíe sus próximas hojas a tiempo para que su pago no se retrase.",
    ),
    "past_due": _Sentence(
        SHEET,
        "",
        "We received this sheet more than {days} days after the end of the month, "
        "so it may not be paid. Call your case specialist to ask if it can still be paid.",
        "",
        "Recibimos esta hoja más de {days} días después del fin del mes, así que es "
        "posible que no se pague. Llame a su especialista de casos para saber si todavía se "
        "puede pagar.",
    ),
    "duplicate_scan": _Sentence(
        SHEET,
        "",
        "We received this same sheet more than once. We keep the first copy. "
        "You do not need to send the same sheet twice.",
        "",
        "Recibimos esta misma hoja más de una vez. Nos quedamos con la primera copia. "
        "No es necesario enviar la misma hoja dos veces.",
    ),
    "duplicate_conflict": _Sentence(
        SHEET,
        "",
        "We received two copies of this sheet that do not match. Send back one sheet with "
        "the right information, and tell your case specialist which copy is right.",
        "",
        "Recibimos dos copias de esta hoja que no son iguales. Envíe una sola hoja con la "
        "información correcta y dígale a su especialista de casos cuál es la copia correcta.",
    ),
    "page_not_read": _Sentence(
        SHEET,
        "",
        "We could not read the sheet. It may be torn or too dark, or the barcode may be "
        "covered or damaged. Send the original sheet again, and do not write on or cover "
        "the barcode.",
        "",
        "No pudimos leer la hoja. Puede estar rota o muy oscura, o el código de barras puede "
        "estar tapado o dañado. Envíe otra vez la hoja original y no escriba sobre el código "
        "de barras ni lo tape.",
    ),
    OTHER: _Sentence(
        DAY,
        "On {when}, there is a problem. Call your case specialist to find out what to fix.",
        "There is another problem with this sheet. "
        "Call your case specialist to find out what to fix.",
        "El {when} hay un problema. Llame a su especialista de casos para saber qué debe corregir.",
        "Hay otro problema con esta hoja. "
        "Llame a su especialista de casos para saber qué debe corregir.",
    ),
}

_DETAIL_LABEL = {"en": "Note", "es": "Nota"}


def problem_text(problem: Problem, lang: str, *, past_due_days: int = 30) -> str:
    """One plain-language sentence in 'en' or 'es': what is missing or wrong and what to do.

    Names the day ('December 3' / '3 de diciembre') or, for weekly codes, the week ('the week of
    December 1' / 'la semana del 1 de diciembre') when the problem has a date. An "other"
    problem with a detail is the reviewer's text as is (after the day, if any); for any other
    code the detail is added after the sentence. A code without a sentence of its own (added
    to the flags later) reads as "other".
    """
    _check_lang(lang)
    detail = (problem.detail or "").strip()
    sentence = SENTENCES.get(problem.code, SENTENCES[OTHER])
    if problem.code == OTHER and detail:
        if problem.date is None:
            return detail
        when = day_text(problem.date, lang)
        return f"On {when}: {detail}" if lang == "en" else f"El {when}: {detail}"
    if sentence.kind != SHEET and problem.date is not None:
        template = sentence.en_when if lang == "en" else sentence.es_when
        text = template.format(when=_when(problem.date, lang, sentence.kind == WEEK))
    else:
        text = (sentence.en if lang == "en" else sentence.es).format(days=past_due_days)
    if detail:
        text = f"{text} {_DETAIL_LABEL[lang]}: {detail}"
    return text


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


WORDS = {
    "en": _Words(
        title="Attendance sheet returned",
        returned="Date returned",
        to="To",
        provider_id="Provider ID",
        sheet_number="Sheet number",
        month="Month",
        child="Child",
        because="We cannot pay this sheet yet because:",
        note="Note from the reviewer:",
        how_title="How to send the sheet back",
        fix="Fix each item above on the <b>original</b> sheet. If you lost the sheet, print a "
        "new blank sheet with the same sheet number ({serial}), or ask your case specialist "
        "for one, and copy all the times onto it.",
        sign="The parent and the provider both sign and date the sheet at the bottom.",
        barcode="Do not write on, cover or staple over the barcode (the square code at the top "
        "right of the sheet).",
        send="Send the sheet back to us as soon as possible.",
        mail="Mail it to the address below, or drop it off at our office:",
        send_no_address="Send it the way you send your monthly sheets, or drop it off at our "
        "office.",
        deadline="Sheets we receive more than {days} days after the end of the month "
        "may not be paid.",
        questions_title="Questions?",
        call="Call your case specialist, {name}, at <b>{phone}</b>.",
        call_no_name="Call your case specialist at <b>{phone}</b>.",
        call_no_phone="Call your case specialist, {name}.",
        call_plain="Call your case specialist.",
        quote="Please have the sheet number ready: <b>{serial}</b>.",
        footer="Returned sheet notice \u00b7 Sheet {serial} \u00b7 English",
        continued="Sheet {serial} (continued)",
    ),
    "es": _Words(
        title="Hoja de asistencia devuelta",
        returned="Fecha de devolución",
        to="Para",
        provider_id="Número de proveedor",
        sheet_number="Número de hoja",
        month="Mes",
        child="Niño(a)",
        because="Todavía no podemos pagar esta hoja porque:",
        note="Nota de la revisión:",
        how_title="Cómo devolvernos la hoja",
        fix="Corrija cada punto de arriba en la hoja <b>original</b>. Si perdió la hoja, "
        "imprima una hoja nueva en blanco con el mismo número de hoja ({serial}), o pídale una "
        "a su especialista de casos, y copie en ella todas las horas.",
        sign="El padre, madre o tutor y el proveedor deben firmar y poner la fecha en la parte "
        "de abajo de la hoja.",
        barcode="No escriba sobre el código de barras (el cuadro con el código, arriba a la "
        "derecha de la hoja), no lo tape y no le ponga grapas encima.",
        send="Envíenos la hoja lo antes posible.",
        mail="Envíela por correo a esta dirección o entréguela en nuestra oficina:",
        send_no_address="Envíela como envía sus hojas cada mes, o entréguela en nuestra oficina.",
        deadline="Es posible que no se paguen las hojas que recibamos más de {days} "
        "días después del fin del mes.",
        questions_title="¿Preguntas?",
        call="Llame a su especialista de casos, {name}, al <b>{phone}</b>.",
        call_no_name="Llame a su especialista de casos al <b>{phone}</b>.",
        call_no_phone="Llame a su especialista de casos, {name}.",
        call_plain="Llame a su especialista de casos.",
        quote="Tenga a mano el número de hoja: <b>{serial}</b>.",
        footer="Aviso de hoja devuelta \u00b7 Hoja {serial} \u00b7 Español",
        continued="Hoja {serial} (continuación)",
    ),
}


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


def _x(text: str, font: str = "Helvetica") -> str:
    """Escape text for a Paragraph; keep line breaks; format characters replaced (names);
    runs `font` cannot print set in an embedded font that can (`forms.fonts`)."""
    return "<br/>".join(
        fonts.markup(shown(line.strip()), font) for line in text.strip().splitlines()
    )


def _info_table(notice: ReturnedNotice, lang: str, width: float) -> Table:
    words = WORDS[lang]
    label_w = 96.0
    s = _STYLES
    provider = (
        f"{_x(notice.provider_name, BOLD)}"
        f"<br/><font name='Helvetica' size='10'>{words.provider_id} "
        f"{_x(notice.provider_id)}</font>"
    )
    rows = [
        [Paragraph(words.to, s["label"]), Paragraph(provider, s["value"])],
        [
            Paragraph(words.sheet_number, s["label"]),
            Paragraph(_x(display_serial(notice.serial)), s["serial"]),
        ],
        [
            Paragraph(words.month, s["label"]),
            Paragraph(_x(month_text(notice.month, lang)), s["value"]),
        ],
        [Paragraph(words.child, s["label"]), Paragraph(_x(notice.child_name, BOLD), s["value"])],
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
    words = WORDS[lang]
    s = _STYLES
    serial = _x(display_serial(notice.serial))
    story: list[Any] = [Paragraph(_x(notice.agency_name, BOLD), s["letterhead"])]
    if notice.return_address.strip():
        one_line = " \u00b7 ".join(
            _x(line) for line in notice.return_address.splitlines() if line.strip()
        )
        story.append(Paragraph(one_line, s["address"]))
    story += [
        Spacer(1, 4),
        HRFlowable(width="100%", thickness=1.2, color=INK, spaceBefore=2, spaceAfter=6),
        Paragraph(
            f"{words.returned}: <b>{long_date_text(notice.returned_on, lang)}</b>", s["date"]
        ),
        Paragraph(words.title, s["title"]),
        _info_table(notice, lang, width),
        Paragraph(words.because, s["heading"]),
    ]
    for number, problem in enumerate(notice.problems, start=1):
        story.append(
            Paragraph(
                _x(problem_text(problem, lang, past_due_days=notice.past_due_days)),
                s["item"],
                bulletText=f"{number}.",
            )
        )
    if notice.note and notice.note.strip():
        story.append(Paragraph(words.note, s["note_label"]))
        story.append(Paragraph(_x(notice.note), s["note"]))

    story.append(Paragraph(words.how_title, s["heading"]))
    steps: list[Any] = [
        Paragraph(words.fix.format(serial=serial), s["item"], bulletText="1."),
        Paragraph(words.sign, s["item"], bulletText="2."),
        Paragraph(words.barcode, s["item"], bulletText="3."),
    ]
    if notice.return_address.strip():
        steps.append(
            KeepTogether(
                [
                    Paragraph(f"{words.send} {words.mail}", s["item"], bulletText="4."),
                    Paragraph(f"<b>{_x(notice.return_address, BOLD)}</b>", s["indent"]),
                ]
            )
        )
    else:
        steps.append(Paragraph(f"{words.send} {words.send_no_address}", s["item"], bulletText="4."))
    story += steps
    story.append(Paragraph(words.deadline.format(days=notice.past_due_days), s["deadline"]))

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
                Paragraph(words.questions_title, s["heading"]),
                Paragraph(f"{call} {words.quote.format(serial=serial)}", _BODY),
            ]
        )
    )
    return story


def _page_decoration(serial: str, lang: str, continued: bool) -> Callable[[Any, Any], None]:
    words = WORDS[lang]
    shown = display_serial(serial)

    def draw(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        canvas.line(MARGIN_X, 40, PAGE_W - MARGIN_X, 40)
        canvas.setFillColor(MUTED)
        canvas.setFont("Helvetica", 8)
        canvas.drawString(MARGIN_X, 28, words.footer.format(serial=shown))
        if continued:
            canvas.setFont("Helvetica-Bold", 9)
            canvas.drawString(MARGIN_X, PAGE_H - 36, words.continued.format(serial=shown))
        canvas.restoreState()

    return draw


def _title(notices: Sequence[ReturnedNotice]) -> str:
    if len(notices) == 1:
        return f"Returned sheet notice {display_serial(notices[0].serial)}"
    return f"Returned sheet notices ({len(notices)} sheets)"


def render_notices(
    notices: Sequence[ReturnedNotice], *, languages: Sequence[str] = LANGUAGES
) -> bytes:
    """One PDF (US Letter): for each notice, its pages in each language, in order.

    Each language starts on a new page (English, then Spanish by default); a notice with many
    problems continues on a following page, marked "continued". A provider batch is several
    notices in one PDF. The PDF title names the serial(s) only, never the child.
    """
    if not notices:
        raise ValueError("no notices to render")
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
