"""Print-ready PDF of monthly attendance sheets, drawn from `forms.layout` rectangles.

Boxes people write in are printed in a light drop-out red: a scanner in greyscale sees them
as pale (grey value about 190) while pen ink is dark, so the reader can threshold the
printed boxes away and keep only the handwriting. Printed text stays black and never enters
a box, for the same reason.

Each sheet is drawn in its own form revision (`SheetPrint.form`, ``forms.layout.FORMS``):
``monthly-v1`` exactly as it was always printed, ``monthly-v2`` with its own geometry, the
serial in OCR-B (Debian's ``fonts-ocr-b``, drawn as a 1200 dpi bitmap: the font is CFF, which
reportlab cannot embed) and English / Spanish labels. `render_structure` draws only what every
sheet of a revision prints (targets, rules, boxes, fixed text): the scanner registers pages
against it.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageDraw, ImageFont
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.colors import Color, black, white
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from forms import fonts
from forms import layout as L
from forms.layout import (
    ABSENCE_CODES,
    FORM_V1,
    FORM_V2,
    FormGeometry,
    Layout,
    MarkField,
    Rect,
    TimeField,
)
from forms.payload import BarcodePayload, encode_payload
from forms.serial import format_serial

# Greyscale value of DROPOUT is 0.299*245 + 0.587*170 + 0.114*160 = 191 of 255.
DROPOUT = Color(245 / 255, 170 / 255, 160 / 255)
RULE = Color(0.72, 0.72, 0.72)
MUTED = Color(0.3, 0.3, 0.3)
TINT = Color(0.93, 0.93, 0.93)
HATCH = Color(0.8, 0.8, 0.8)
BOX_LINE_WIDTH = 0.8
QR_LEVEL = "Q"  # 25 % of the symbol may be lost to a staple hole or a pen stroke

MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
ATTESTATION = (
    "I declare under penalty of perjury that the information on this record is accurate and "
    "that the times shown are the actual times the child entered and left care."
)
INFO_COLUMN_2_X = 200.0
INFO_LABEL_W = 48.0
INFO_VALUE_W = 124.0
INFO_FIRST_BASELINE = 63.0
INFO_LEADING = 10.4
DO_NOT_SCALE = "DO NOT SCALE WHEN PRINTING \u2014 print at 100% / actual size"

OCR_B_FONT = Path("/usr/share/fonts/opentype/ocr-b/OCRB.otf")
"""The serial's font on monthly-v2 sheets (Debian's fonts-ocr-b; scripts/setup.sh installs it)."""
SERIAL_FONT_PT = {FORM_V1: 11.5, FORM_V2: 10.5}
"""Size of the printed serial: Courier-Bold on v1, OCR-B on v2 (0.723 em a glyph)."""
OCR_B_ADVANCE_EM = 0.723
_SERIAL_BITMAP_DPI = 1200
_SERIAL_BASELINE_UP = 3.5  # the serial's baseline, above the bottom of its box


@dataclass(frozen=True)
class Words:
    """The printed words of one form revision (v2: English / Spanish)."""

    title: str
    subtitle: str | None
    info_labels: tuple[str, ...]  # Child .. Case specialist, then Provider .. Schedule type
    absence_title: str
    absence_labels: tuple[str, ...]
    date: str
    time_in: str
    time_out: str
    absent: str
    attestation: tuple[str, ...]
    fee: str
    signers: tuple[tuple[str, str, str], tuple[str, str, str]]  # who, signature, and date
    do_not_scale: str


TITLE = "Monthly Child Care Attendance Record"
WORDS: dict[str, Words] = {
    FORM_V1: Words(
        title=TITLE,
        subtitle=None,
        info_labels=(
            "Child",
            "Parent",
            "Certificate ID",
            "Cert. period",
            "Case specialist",
            "Provider",
            "Provider ID",
            "Auth. schedule",
            "Weekly hours",
            "Schedule type",
        ),
        absence_title="Absence codes",
        absence_labels=tuple(a.label for a in ABSENCE_CODES),
        date="Date",
        time_in="Time in",
        time_out="Time out",
        absent="If absent, mark ONE reason",
        attestation=(ATTESTATION,),
        fee="Family fee paid this month",
        signers=(("Parent", "signature", "and date"), ("Provider", "signature", "and date")),
        do_not_scale=DO_NOT_SCALE,
    ),
    FORM_V2: Words(
        title=TITLE,
        subtitle="Registro mensual de asistencia al cuidado infantil",
        info_labels=(
            "Child / Ni\u00f1o(a)",
            "Parent / Padre",
            "Certificate / Cert.",
            "Period / Per\u00edodo",
            "Specialist / Especialista",
            "Provider / Proveedor",
            "Provider ID / N.\u00ba",
            "Schedule / Horario",
            "Weekly hours / Horas",
            "Type / Tipo",
        ),
        absence_title="Absence codes / C\u00f3digos de ausencia",
        absence_labels=(
            "Child ill / Ni\u00f1o(a) enfermo(a)",
            "Parent ill, appointment / Padre enfermo, cita",
            "Family emergency / Emergencia familiar",
            "Court-ordered visit / Visita ordenada por el juez",
            "Best-interest day / D\u00eda de inter\u00e9s superior",
            "Unexcused / Ausencia injustificada",
            "Provider closed / Proveedor cerrado",
        ),
        date="Date / Fecha",
        time_in="Time in / Entrada",
        time_out="Time out / Salida",
        absent="If absent, mark ONE reason / Si falt\u00f3, marque UNA raz\u00f3n",
        attestation=(
            ATTESTATION,
            "Declaro bajo pena de perjurio que la informaci\u00f3n de este registro es correcta y "
            "que las horas indicadas son las horas reales en que el ni\u00f1o entr\u00f3 y "
            "sali\u00f3 del cuidado.",
        ),
        fee="Family fee paid / Cuota familiar pagada",
        signers=(
            ("Parent / Padre", "signature / firma", "and date / fecha"),
            ("Provider / Prov.", "signature / firma", "and date / fecha"),
        ),
        do_not_scale="DO NOT SCALE \u2014 print at 100% / NO AJUSTAR \u2014 imprima al 100%",
    ),
}


@dataclass(frozen=True)
class _Header:
    """Where the header's lines go (baselines, points from the top)."""

    agency: float
    title: float
    subtitle: float
    info_first: float
    info_leading: float
    label_w: float
    value_w: float
    column_2: float
    legend_title: float
    legend_first: float
    legend_leading: float


_HEADERS = {
    FORM_V1: _Header(31, 49, 0, INFO_FIRST_BASELINE, INFO_LEADING, INFO_LABEL_W, INFO_VALUE_W,
                     INFO_COLUMN_2_X, 59, 66.5, 6.6),
    FORM_V2: _Header(45, 61, 70, 80.5, 9.3, 52.0, 108.0, 202.0, 77, 84, 5.6),
}  # fmt: skip


@dataclass(frozen=True)
class SheetPrint:
    """Everything printed on one child's sheet for one month, in form revision `form`."""

    serial: str
    month: datetime.date
    agency_name: str
    child_name: str
    certificate_id: str
    provider_id: str
    provider_name: str
    parent_name: str
    schedule_text: str
    weekly_hours: float | None
    schedule_type: str
    specialist_name: str
    specialist_phone: str
    period_start: datetime.date
    period_end: datetime.date
    authorized_weekdays: frozenset[int]  # 0 = Monday ... 6 = Sunday
    form: str = FORM_V1


def render_sheets(sheets: Sequence[SheetPrint], out: str | Path | BinaryIO) -> None:
    """Write one US Letter page per sheet, in order, as a PDF to `out` (path or binary file).

    UnknownForm for a sheet of no known revision; FileNotFoundError (naming the package)
    for a monthly-v2 sheet when the OCR-B font is not installed.
    """
    if not sheets:
        raise ValueError("no sheets to render")
    canvas = _canvas(out, sheets[0].agency_name, sheets[0].form)
    for sheet in sheets:
        layout = L.build_layout(sheet.serial, sheet.month, form=sheet.form)
        _draw_sheet(canvas, sheet, layout)
        canvas.showPage()
    canvas.save()


def render_structure(form: str, out: str | Path | BinaryIO) -> None:
    """One page with only what every `form` sheet prints, whoever and whenever it is for.

    The targets, the header's fixed words, the column headers, the boxes and rules of days
    1-28, the footer; no QR code, serial, names, month, weekdays or hatching.
    """
    layout = L.build_layout(_STRUCTURE_SERIAL, datetime.date(2026, 2, 1), form=form)
    canvas = _canvas(out, "", form)
    _draw_sheet(canvas, None, layout)
    canvas.showPage()
    canvas.save()


_STRUCTURE_SERIAL = "00000000000"


def _canvas(out: str | Path | BinaryIO, author: str, form: str) -> Canvas:
    target: str | BinaryIO = str(out) if isinstance(out, Path) else out
    canvas = Canvas(
        target,
        pagesize=(L.PAGE_WIDTH_PT, L.PAGE_HEIGHT_PT),
        invariant=1,
        pageCompression=1,
    )
    canvas.setTitle(TITLE)
    canvas.setAuthor(author)
    canvas.setCreator(f"Attendance Intake {form}")
    return canvas


def month_title(month: datetime.date) -> str:
    """``November 2026``, independent of the machine's locale."""
    return f"{MONTH_NAMES[month.month - 1]} {month.year}"


# --- coordinates -------------------------------------------------------------------------


def _y(top: float) -> float:
    """A top-down y (layout) as reportlab's bottom-up y."""
    return L.PAGE_HEIGHT_PT - top


def _box(
    canvas: Canvas, rect: Rect, *, stroke: Color = DROPOUT, fill: Color | None = white
) -> None:
    x, y, w, h = rect
    canvas.setStrokeColor(stroke)
    canvas.setLineWidth(BOX_LINE_WIDTH)
    if fill is not None:
        canvas.setFillColor(fill)
    canvas.rect(x, _y(y + h), w, h, stroke=1, fill=1 if fill is not None else 0)


def _text(
    canvas: Canvas,
    text: str,
    x: float,
    baseline: float,
    *,
    font: str = "Helvetica",
    size: float = 8.0,
    color: Color = black,
    align: str = "left",
    max_width: float | None = None,
) -> None:
    """Draw one line; shrink (down to 70 %) then cut with an ellipsis to stay in `max_width`.

    Names in any script: characters the standard `font` lacks are drawn in an embedded font
    that has them (`forms.fonts`)."""
    if max_width is not None:
        floor = size * 0.7
        while size > floor and fonts.string_width(text, font, size) > max_width:
            size -= 0.25
        if fonts.string_width(text, font, size) > max_width:
            while text and fonts.string_width(text + "\u2026", font, size) > max_width:
                text = text[:-1]
            text += "\u2026"
    canvas.setFillColor(color)
    fonts.draw_string(canvas, x, _y(baseline), text, font, size, align)


# --- page parts --------------------------------------------------------------------------


def _draw_sheet(canvas: Canvas, sheet: SheetPrint | None, layout: Layout) -> None:
    """The whole sheet; with `sheet` None only what every sheet of the revision prints."""
    g = L.geometry(layout.form)
    words = WORDS[layout.form]
    for rect in layout.fiducials:
        _draw_fiducial(canvas, rect)
    if sheet is not None:
        _draw_qr(canvas, sheet, layout)
    _draw_header(canvas, sheet, g, words)
    _draw_column_header(canvas, g, words)
    _draw_rows(canvas, sheet, layout, g)
    _draw_footer(canvas, sheet, layout, g, words)


def _draw_fiducial(canvas: Canvas, rect: Rect) -> None:
    # Concentric squares: black 18, white 10, black 5. Square corners and a hole are easy to
    # find by template matching and do not look like anything a pen makes.
    x, y, w, h = rect
    canvas.setLineWidth(0)
    for scale, colour in ((1.0, black), (10 / 18, white), (5 / 18, black)):
        sw, sh = w * scale, h * scale
        canvas.setFillColor(colour)
        canvas.rect(x + (w - sw) / 2, _y(y + (h + sh) / 2), sw, sh, stroke=0, fill=1)


def _draw_qr(canvas: Canvas, sheet: SheetPrint, layout: Layout) -> None:
    x, y, w, h = layout.barcode
    canvas.setFillColor(white)
    canvas.rect(x, _y(y + h), w, h, stroke=0, fill=1)
    value = encode_payload(BarcodePayload(sheet.serial, layout.form, 1))
    widget = QrCodeWidget(value, barLevel=QR_LEVEL, barBorder=4, barWidth=w, barHeight=h)
    drawing = Drawing(w, h)
    drawing.add(widget)
    renderPDF.draw(drawing, canvas, x, _y(y + h))

    sx, sy, sw, sh = layout.serial_text
    text = format_serial(sheet.serial)
    if layout.form == FORM_V1:
        _text(
            canvas,
            text,
            sx + sw / 2,
            sy + sh - _SERIAL_BASELINE_UP,
            font="Courier-Bold",
            size=SERIAL_FONT_PT[FORM_V1],
            align="center",
            max_width=sw,
        )
        return
    bitmap = serial_bitmap(text, (sw, sh))
    canvas.drawImage(ImageReader(bitmap), sx, _y(sy + sh), width=sw, height=sh)


def serial_bitmap(text: str, size_pt: tuple[float, float]) -> Image.Image:
    """`text` in OCR-B, centred on its baseline in a white box of `size_pt`, as 1-bit pixels."""
    if not OCR_B_FONT.is_file():
        raise FileNotFoundError(
            "monthly-v2 sheets print their serial in OCR-B: install Debian's fonts-ocr-b "
            "(scripts/setup.sh does)"
        )
    scale = _SERIAL_BITMAP_DPI / 72
    width, height = round(size_pt[0] * scale), round(size_pt[1] * scale)
    image = Image.new("L", (width, height), 255)
    font = _ocr_b(round(SERIAL_FONT_PT[FORM_V2] * scale))
    draw = ImageDraw.Draw(image)
    baseline = height - _SERIAL_BASELINE_UP * scale
    draw.text((width / 2, baseline), text, font=font, fill=0, anchor="ms")
    return image.point(lambda v: 255 if v >= 128 else 0).convert("1")


@lru_cache(maxsize=2)
def _ocr_b(size_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(OCR_B_FONT), size_px)


def _fmt_date(date: datetime.date) -> str:
    return f"{date.month:02d}/{date.day:02d}/{date.year}"


def _draw_header(canvas: Canvas, sheet: SheetPrint | None, g: FormGeometry, words: Words) -> None:
    h = _HEADERS[g.form]
    left = g.margin + L.FIDUCIAL_SIZE + 6
    qr_left = L.barcode_rect(g)[0]
    title_size = 15.0 if g.form == FORM_V1 else 14.0
    _text(canvas, words.title, left, h.title, font="Helvetica-Bold", size=title_size)
    if words.subtitle is not None:
        _text(canvas, words.subtitle, left, h.subtitle, font="Helvetica-Oblique", size=7.5)
    if sheet is not None:
        _text(
            canvas,
            sheet.agency_name.upper(),
            left,
            h.agency,
            font="Helvetica-Bold",
            size=8.5,
            color=MUTED,
            max_width=qr_left - left - 8,
        )
        title_w = stringWidth(words.title, "Helvetica-Bold", title_size)
        _text(
            canvas,
            month_title(sheet.month),
            left + title_w + 10,
            h.title,
            font="Helvetica-Bold",
            size=title_size,
            color=Color(0.65, 0.1, 0.05),
            max_width=qr_left - left - title_w - 18,
        )

    values: tuple[str, ...] = ("",) * 10
    if sheet is not None:
        hours = "not set" if sheet.weekly_hours is None else f"{sheet.weekly_hours:g} hours"
        period = f"{_fmt_date(sheet.period_start)} \u2013 {_fmt_date(sheet.period_end)}"
        values = (
            sheet.child_name,
            sheet.parent_name,
            sheet.certificate_id,
            period,
            f"{sheet.specialist_name}, {sheet.specialist_phone}",
            sheet.provider_name,
            sheet.provider_id,
            sheet.schedule_text,
            hours,
            sheet.schedule_type,
        )
    label_size = 6.5 if g.form == FORM_V1 else 5.6
    for column, x in enumerate((g.content_left, h.column_2)):
        for row in range(5):
            index = column * 5 + row
            baseline = h.info_first + row * h.info_leading
            _text(
                canvas,
                words.info_labels[index],
                x,
                baseline,
                size=label_size,
                color=MUTED,
                max_width=h.label_w - 2,
            )
            if values[index]:
                _text(
                    canvas,
                    values[index],
                    x + h.label_w,
                    baseline,
                    font="Helvetica-Bold",
                    size=8,
                    max_width=h.value_w,
                )
            # A faint rule under each value makes the block read like a form, not a letter.
            canvas.setStrokeColor(RULE)
            canvas.setLineWidth(0.3)
            rule_y = _y(baseline + 2.2)
            canvas.line(x + h.label_w, rule_y, x + h.label_w + h.value_w, rule_y)

    legend_x = h.column_2 + h.label_w + h.value_w + 6
    legend_right = L.serial_text_rect(g)[0] if g.form == FORM_V1 else qr_left
    legend_w = legend_right - legend_x - 3
    _text(
        canvas,
        words.absence_title,
        legend_x,
        h.legend_title,
        font="Helvetica-Bold",
        size=6.5,
        max_width=legend_w,
    )
    label_size = 5.8 if g.form == FORM_V1 else 5.0
    for i, absence in enumerate(ABSENCE_CODES):
        baseline = h.legend_first + i * h.legend_leading
        _text(canvas, absence.short, legend_x, baseline, font="Helvetica-Bold", size=6)
        _text(
            canvas,
            words.absence_labels[i],
            legend_x + 12,
            baseline,
            size=label_size,
            max_width=legend_w - 12,
        )


def _time_header(canvas: Canvas, x: float, title: str, g: FormGeometry) -> None:
    cells, am, pm = L.time_cells(x, g.row_top, g)
    group_left = cells[0][0]
    group_right = pm[0] + pm[2]
    top = g.column_header_top
    _text(
        canvas,
        title,
        (group_left + group_right) / 2,
        top + 8,
        font="Helvetica-Bold",
        size=7.5,
        align="center",
        max_width=group_right - group_left + 6,
    )
    line2 = top + g.column_header_h - 2.5
    for cell, letter in zip(cells, "HHMM", strict=True):
        _text(canvas, letter, cell[0] + cell[2] / 2, line2, size=6, color=MUTED, align="center")
    colon_x = (cells[1][0] + cells[1][2] + cells[2][0]) / 2
    _text(canvas, ":", colon_x, line2, size=6, color=MUTED, align="center")
    for box, label in ((am, "AM"), (pm, "PM")):
        _text(canvas, label, box[0] + box[2] / 2, line2, size=5.5, color=MUTED, align="center")


def _draw_column_header(canvas: Canvas, g: FormGeometry, words: Words) -> None:
    top = g.column_header_top
    line2 = top + g.column_header_h - 2.5
    _text(
        canvas,
        words.date,
        L.DATE_COLUMN_X + 2 if g.form == FORM_V1 else g.content_left + 2,
        top + 12.5,
        font="Helvetica-Bold",
        size=7.5 if g.form == FORM_V1 else 6.5,
        max_width=L.TIME_IN_X - 6 - g.content_left,
    )
    _time_header(canvas, L.TIME_IN_X, words.time_in, g)
    _time_header(canvas, L.TIME_OUT_X, words.time_out, g)
    _text(
        canvas,
        words.absent,
        (L.ABSENCE_LEFT + g.content_right) / 2,
        top + 8,
        font="Helvetica-Bold",
        size=7.5,
        align="center",
        max_width=g.content_right - L.ABSENCE_LEFT,
    )
    for i, absence in enumerate(ABSENCE_CODES):
        _text(
            canvas,
            absence.short,
            L.absence_column_center(i, g),
            line2,
            font="Helvetica-Bold",
            size=7,
            align="center",
        )
    canvas.setStrokeColor(black)
    canvas.setLineWidth(0.8)
    rule = _y(g.row_top - 1.5)
    canvas.line(g.content_left, rule, g.content_right, rule)


def _day_note(sheet: SheetPrint, date: datetime.date) -> str | None:
    if not sheet.period_start <= date <= sheet.period_end:
        return "outside certificate"
    if date.weekday() not in sheet.authorized_weekdays:
        return "not authorized"
    return None


def _hatch(canvas: Canvas, rect: Rect) -> None:
    x, y, w, h = rect
    canvas.saveState()
    canvas.setFillColor(TINT)
    canvas.rect(x, _y(y + h), w, h, stroke=0, fill=1)
    path = canvas.beginPath()
    path.rect(x, _y(y + h), w, h)
    canvas.clipPath(path, stroke=0, fill=0)
    canvas.setStrokeColor(HATCH)
    canvas.setLineWidth(0.5)
    step = 6.0
    offset = -h
    while offset < w:
        canvas.line(x + offset, _y(y + h), x + offset + h, _y(y))
        offset += step
    canvas.restoreState()


# The structure page draws the days every month has.
_STRUCTURE_DAYS = 28


def _draw_rows(canvas: Canvas, sheet: SheetPrint | None, layout: Layout, g: FormGeometry) -> None:
    days = L.days_in_month(layout.month)
    if sheet is None:
        days = days[:_STRUCTURE_DAYS]
    # The day's words sit higher when a note goes under them.
    high, low = (12.2, 8.6) if g.form == FORM_V1 else (11.9, 8.4)
    for date in days:
        row = L.row_rect(date.day, g)
        x, y, w, h = row
        if sheet is not None:
            note = _day_note(sheet, date)
            if note is not None:
                _hatch(canvas, row)
            elif date.weekday() >= 5:
                # Weekends get a faint band so the weeks are easy to follow down the page.
                canvas.setFillColor(Color(0.965, 0.965, 0.965))
                canvas.rect(x, _y(y + h), w, h, stroke=0, fill=1)
            weekday = WEEKDAY_NAMES[date.weekday()]
            base = high if note is None else low
            _text(canvas, weekday, x + 2, y + base, font="Helvetica-Bold", size=8)
            _text(canvas, f"{date.day:02d}", x + 22, y + base, font="Helvetica-Bold", size=8)
            if note is not None:
                _text(
                    canvas,
                    note,
                    x + 2,
                    y + h - 2.7,
                    font="Helvetica-Oblique",
                    size=5.2,
                    color=MUTED,
                )
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.4)
        canvas.line(x, _y(y + h), x + w, _y(y + h))

    if sheet is not None and len(days) < L.MAX_DAYS:
        # Say so in the first unused row, so nobody wonders whether a row was cut off.
        _, y, _, _ = L.row_rect(len(days) + 1, g)
        _text(
            canvas,
            f"End of {month_title(layout.month)} \u2014 {len(days)} days",
            (g.content_left + g.content_right) / 2,
            y + 12,
            font="Helvetica-Oblique",
            size=7,
            color=MUTED,
            align="center",
        )

    # Faint vertical rules between the column groups, full table height.
    table_top = g.row_top
    table_bottom = g.row_top + len(days) * g.row_pitch
    canvas.setStrokeColor(RULE)
    canvas.setLineWidth(0.4)
    for gx in (L.TIME_IN_X - 3, L.TIME_OUT_X - 6, L.ABSENCE_LEFT - 4):
        canvas.line(gx, _y(table_top), gx, _y(table_bottom))

    shown = {d for d in days}
    for field in layout.fields:
        if isinstance(field, TimeField) and field.date in shown:
            for cell in field.cells:
                _box(canvas, cell)
            _box(canvas, field.am)
            _box(canvas, field.pm)
            left, mid = field.cells[1], field.cells[2]
            colon_x = (left[0] + left[2] + mid[0]) / 2
            _text(
                canvas,
                ":",
                colon_x,
                left[1] + left[3] * 0.72,
                font="Helvetica-Bold",
                size=14,
                color=DROPOUT,
                align="center",
            )
        elif isinstance(field, MarkField) and field.date in shown:
            _box(canvas, field.box)


def _draw_footer(
    canvas: Canvas, sheet: SheetPrint | None, layout: Layout, g: FormGeometry, words: Words
) -> None:
    fee = layout.field("family_fee.paid")
    assert isinstance(fee, MarkField)
    size = 7.0 if g.form == FORM_V1 else 6.0
    leading = 8.5 if g.form == FORM_V1 else 6.9
    fee_label_w = stringWidth(words.fee, "Helvetica-Bold", size)
    attest_w = fee.box[0] - 10 - fee_label_w - 16 - g.content_left
    lines: list[str] = []
    for paragraph in words.attestation:
        lines += simpleSplit(paragraph, "Helvetica-Bold", size, attest_w)[:2]
    for i, line in enumerate(lines):
        _text(
            canvas,
            line,
            g.content_left,
            g.attestation_top + size + i * leading,
            font="Helvetica-Bold",
            size=size,
        )
    _text(
        canvas,
        words.fee,
        fee.box[0] - 5,
        fee.box[1] + fee.box[3] - 3,
        font="Helvetica-Bold",
        size=size,
        align="right",
    )
    _box(canvas, fee.box)

    parent, provider = L.signature_blocks(g)
    for block, (who, signature, and_date) in zip((parent, provider), words.signers, strict=True):
        lx, ly, lw, _ = block.label
        _text(canvas, who, lx, ly + 9, font="Helvetica-Bold", size=7, max_width=lw)
        _text(canvas, signature, lx, ly + 16, size=6.5, max_width=lw)
        _text(canvas, and_date, lx, ly + 22, size=6.5, color=MUTED, max_width=lw)
        _box(canvas, block.box)
        cells = block.date_cells
        for cell in cells:
            _box(canvas, cell)
        for pair, guide in enumerate(("MM", "DD", "YY")):
            a, b = cells[2 * pair], cells[2 * pair + 1]
            centre = (a[0] + b[0] + b[2]) / 2
            _text(canvas, guide, centre, a[1] - 1.2, size=4.8, color=MUTED, align="center")
        for pair in range(2):
            a, b = cells[2 * pair + 1], cells[2 * pair + 2]
            _text(
                canvas,
                "/",
                (a[0] + a[2] + b[0]) / 2,
                a[1] + a[3] * 0.72,
                font="Helvetica-Bold",
                size=10,
                color=DROPOUT,
                align="center",
            )

    if g.form == FORM_V1:
        left = g.margin + L.FIDUCIAL_SIZE + 6
        right = L.PAGE_WIDTH_PT - g.margin - L.FIDUCIAL_SIZE - 6
    else:
        left, right = g.content_left, g.content_right
    baseline = g.footer_line_top + 9
    _text(canvas, words.do_not_scale, left, baseline, font="Helvetica-Bold", size=7.5)
    if sheet is not None:
        _text(
            canvas,
            f"Form {layout.form} \u00b7 Sheet {format_serial(sheet.serial)} \u00b7 Page 1 of 1",
            right,
            baseline,
            size=6.5,
            color=MUTED,
            align="right",
        )
