"""Print-ready PDF of monthly attendance sheets, drawn from `forms.layout` rectangles.

Boxes people write in are printed in a light drop-out red: a scanner in greyscale sees them
as pale (grey value about 190) while pen ink is dark, so the reader can threshold the
printed boxes away and keep only the handwriting. Printed text stays black and never enters
a box, for the same reason.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.colors import Color, black, white
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from forms import fonts
from forms import layout as L
from forms.layout import ABSENCE_CODES, FORM_VERSION, Layout, MarkField, Rect, TimeField
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


@dataclass(frozen=True)
class SheetPrint:
    """Everything printed on one child's sheet for one month."""

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


def render_sheets(sheets: Sequence[SheetPrint], out: str | Path | BinaryIO) -> None:
    """Write one US Letter page per sheet, in order, as a PDF to `out` (path or binary file)."""
    if not sheets:
        raise ValueError("no sheets to render")
    target: str | BinaryIO = str(out) if isinstance(out, Path) else out
    canvas = Canvas(
        target,
        pagesize=(L.PAGE_WIDTH_PT, L.PAGE_HEIGHT_PT),
        invariant=1,
        pageCompression=1,
    )
    canvas.setTitle("Monthly Child Care Attendance Record")
    canvas.setAuthor(sheets[0].agency_name)
    canvas.setCreator(f"Attendance Intake {FORM_VERSION}")
    for sheet in sheets:
        _draw_sheet(canvas, sheet, L.build_layout(sheet.serial, sheet.month))
        canvas.showPage()
    canvas.save()


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


def _draw_sheet(canvas: Canvas, sheet: SheetPrint, layout: Layout) -> None:
    for rect in layout.fiducials:
        _draw_fiducial(canvas, rect)
    _draw_qr(canvas, sheet, layout)
    _draw_header(canvas, sheet)
    _draw_column_header(canvas)
    _draw_rows(canvas, sheet, layout)
    _draw_footer(canvas, sheet, layout)


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
    value = encode_payload(BarcodePayload(sheet.serial, FORM_VERSION, 1))
    widget = QrCodeWidget(value, barLevel=QR_LEVEL, barBorder=4, barWidth=w, barHeight=h)
    drawing = Drawing(w, h)
    drawing.add(widget)
    renderPDF.draw(drawing, canvas, x, _y(y + h))

    sx, sy, sw, sh = layout.serial_text
    _text(
        canvas,
        format_serial(sheet.serial),
        sx + sw / 2,
        sy + sh - 3.5,
        font="Courier-Bold",
        size=11.5,
        align="center",
        max_width=sw,
    )


def _fmt_date(date: datetime.date) -> str:
    return f"{date.month:02d}/{date.day:02d}/{date.year}"


def _draw_header(canvas: Canvas, sheet: SheetPrint) -> None:
    left = L.MARGIN + L.FIDUCIAL_SIZE + 6
    qr_left = L.barcode_rect()[0]
    _text(
        canvas,
        sheet.agency_name.upper(),
        left,
        31,
        font="Helvetica-Bold",
        size=8.5,
        color=MUTED,
        max_width=qr_left - left - 8,
    )
    _text(
        canvas,
        "Monthly Child Care Attendance Record",
        left,
        49,
        font="Helvetica-Bold",
        size=15,
    )
    title_w = stringWidth("Monthly Child Care Attendance Record", "Helvetica-Bold", 15)
    _text(
        canvas,
        month_title(sheet.month),
        left + title_w + 10,
        49,
        font="Helvetica-Bold",
        size=15,
        color=Color(0.65, 0.1, 0.05),
        max_width=qr_left - left - title_w - 18,
    )

    hours = "not set" if sheet.weekly_hours is None else f"{sheet.weekly_hours:g} hours"
    period = f"{_fmt_date(sheet.period_start)} \u2013 {_fmt_date(sheet.period_end)}"
    columns = (
        (
            L.CONTENT_LEFT,
            (
                ("Child", sheet.child_name),
                ("Parent", sheet.parent_name),
                ("Certificate ID", sheet.certificate_id),
                ("Cert. period", period),
                ("Case specialist", f"{sheet.specialist_name}, {sheet.specialist_phone}"),
            ),
        ),
        (
            INFO_COLUMN_2_X,
            (
                ("Provider", sheet.provider_name),
                ("Provider ID", sheet.provider_id),
                ("Auth. schedule", sheet.schedule_text),
                ("Weekly hours", hours),
                ("Schedule type", sheet.schedule_type),
            ),
        ),
    )
    for x, items in columns:
        for row, (label, value) in enumerate(items):
            baseline = INFO_FIRST_BASELINE + row * INFO_LEADING
            _text(canvas, label, x, baseline, size=6.5, color=MUTED)
            _text(
                canvas,
                value,
                x + INFO_LABEL_W,
                baseline,
                font="Helvetica-Bold",
                size=8,
                max_width=INFO_VALUE_W,
            )
            # A faint rule under each value makes the block read like a form, not a letter.
            canvas.setStrokeColor(RULE)
            canvas.setLineWidth(0.3)
            rule_y = _y(baseline + 2.2)
            canvas.line(x + INFO_LABEL_W, rule_y, x + INFO_LABEL_W + INFO_VALUE_W, rule_y)

    legend_x = INFO_COLUMN_2_X + INFO_LABEL_W + INFO_VALUE_W + 6
    legend_w = L.serial_text_rect()[0] - legend_x - 3
    _text(canvas, "Absence codes", legend_x, 59, font="Helvetica-Bold", size=6.5)
    for i, absence in enumerate(ABSENCE_CODES):
        baseline = 66.5 + i * 6.6
        _text(canvas, absence.short, legend_x, baseline, font="Helvetica-Bold", size=6)
        _text(canvas, absence.label, legend_x + 12, baseline, size=5.8, max_width=legend_w - 12)


def _time_header(canvas: Canvas, x: float, title: str) -> None:
    cells, am, pm = L.time_cells(x, L.ROW_TOP)
    group_left = cells[0][0]
    group_right = pm[0] + pm[2]
    _text(
        canvas,
        title,
        (group_left + group_right) / 2,
        L.COLUMN_HEADER_TOP + 8,
        font="Helvetica-Bold",
        size=7.5,
        align="center",
    )
    line2 = L.COLUMN_HEADER_TOP + 17.5
    for cell, letter in zip(cells, "HHMM", strict=True):
        _text(canvas, letter, cell[0] + cell[2] / 2, line2, size=6, color=MUTED, align="center")
    colon_x = (cells[1][0] + cells[1][2] + cells[2][0]) / 2
    _text(canvas, ":", colon_x, line2, size=6, color=MUTED, align="center")
    for box, label in ((am, "AM"), (pm, "PM")):
        _text(canvas, label, box[0] + box[2] / 2, line2, size=5.5, color=MUTED, align="center")


def _draw_column_header(canvas: Canvas) -> None:
    top = L.COLUMN_HEADER_TOP
    _text(canvas, "Date", L.DATE_COLUMN_X + 2, top + 12.5, font="Helvetica-Bold", size=7.5)
    _time_header(canvas, L.TIME_IN_X, "Time in")
    _time_header(canvas, L.TIME_OUT_X, "Time out")
    _text(
        canvas,
        "If absent, mark ONE reason",
        (L.ABSENCE_LEFT + L.CONTENT_RIGHT) / 2,
        top + 8,
        font="Helvetica-Bold",
        size=7.5,
        align="center",
    )
    for i, absence in enumerate(ABSENCE_CODES):
        _text(
            canvas,
            absence.short,
            L.absence_column_center(i),
            top + 17.5,
            font="Helvetica-Bold",
            size=7,
            align="center",
        )
    canvas.setStrokeColor(black)
    canvas.setLineWidth(0.8)
    rule = _y(L.ROW_TOP - 1.5)
    canvas.line(L.CONTENT_LEFT, rule, L.CONTENT_RIGHT, rule)


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


def _draw_rows(canvas: Canvas, sheet: SheetPrint, layout: Layout) -> None:
    days = L.days_in_month(layout.month)
    for date in days:
        row = L.row_rect(date.day)
        x, y, w, h = row
        note = _day_note(sheet, date)
        if note is not None:
            _hatch(canvas, row)
        elif date.weekday() >= 5:
            # Weekends get a faint band so the weeks are easy to follow down the page.
            canvas.setFillColor(Color(0.965, 0.965, 0.965))
            canvas.rect(x, _y(y + h), w, h, stroke=0, fill=1)
        weekday = WEEKDAY_NAMES[date.weekday()]
        if note is None:
            _text(canvas, weekday, x + 2, y + 12.2, font="Helvetica-Bold", size=8)
            _text(canvas, f"{date.day:02d}", x + 22, y + 12.2, font="Helvetica-Bold", size=8)
        else:
            _text(canvas, weekday, x + 2, y + 8.6, font="Helvetica-Bold", size=8)
            _text(canvas, f"{date.day:02d}", x + 22, y + 8.6, font="Helvetica-Bold", size=8)
            _text(canvas, note, x + 2, y + 15.6, font="Helvetica-Oblique", size=5.2, color=MUTED)
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.4)
        canvas.line(x, _y(y + h), x + w, _y(y + h))

    if len(days) < L.MAX_DAYS:
        # Say so in the first unused row, so nobody wonders whether a row was cut off.
        _, y, _, _ = L.row_rect(len(days) + 1)
        _text(
            canvas,
            f"End of {month_title(layout.month)} \u2014 {len(days)} days",
            (L.CONTENT_LEFT + L.CONTENT_RIGHT) / 2,
            y + 12,
            font="Helvetica-Oblique",
            size=7,
            color=MUTED,
            align="center",
        )

    # Faint vertical rules between the column groups, full table height.
    table_top = L.ROW_TOP
    table_bottom = L.ROW_TOP + len(days) * L.ROW_PITCH
    canvas.setStrokeColor(RULE)
    canvas.setLineWidth(0.4)
    for gx in (L.TIME_IN_X - 3, L.TIME_OUT_X - 6, L.ABSENCE_LEFT - 4):
        canvas.line(gx, _y(table_top), gx, _y(table_bottom))

    for field in layout.fields:
        if isinstance(field, TimeField):
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
        elif isinstance(field, MarkField) and field.date is not None:
            _box(canvas, field.box)


def _draw_footer(canvas: Canvas, sheet: SheetPrint, layout: Layout) -> None:
    fee = layout.field("family_fee.paid")
    assert isinstance(fee, MarkField)
    fee_label = "Family fee paid this month"
    fee_label_w = stringWidth(fee_label, "Helvetica-Bold", 7)
    attest_w = fee.box[0] - 10 - fee_label_w - 16 - L.CONTENT_LEFT
    lines = simpleSplit(ATTESTATION, "Helvetica-Bold", 7, attest_w)
    for i, line in enumerate(lines[:2]):
        _text(
            canvas,
            line,
            L.CONTENT_LEFT,
            L.ATTESTATION_TOP + 7 + i * 8.5,
            font="Helvetica-Bold",
            size=7,
        )
    _text(
        canvas,
        fee_label,
        fee.box[0] - 5,
        fee.box[1] + fee.box[3] - 3,
        font="Helvetica-Bold",
        size=7,
        align="right",
    )
    _box(canvas, fee.box)

    parent, provider = L.signature_blocks()
    for block, who in ((parent, "Parent"), (provider, "Provider")):
        lx, ly, lw, _ = block.label
        _text(canvas, who, lx, ly + 9, font="Helvetica-Bold", size=7, max_width=lw)
        _text(canvas, "signature", lx, ly + 16, size=6.5, max_width=lw)
        _text(canvas, "and date", lx, ly + 22, size=6.5, color=MUTED, max_width=lw)
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

    left = L.MARGIN + L.FIDUCIAL_SIZE + 6
    right = L.PAGE_WIDTH_PT - L.MARGIN - L.FIDUCIAL_SIZE - 6
    baseline = L.FOOTER_LINE_TOP + 9
    _text(canvas, DO_NOT_SCALE, left, baseline, font="Helvetica-Bold", size=7.5)
    _text(
        canvas,
        f"Form {FORM_VERSION} \u00b7 Sheet {format_serial(sheet.serial)} \u00b7 Page 1 of 1",
        right,
        baseline,
        size=6.5,
        color=MUTED,
        align="right",
    )
