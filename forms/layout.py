"""The monthly sheet's layout as data: one source of truth for printing and for reading.

Every box a person writes in, every fiducial and the QR code has a rectangle here, in PDF
points (1/72 in) measured from the page's TOP-LEFT corner with y growing downward, the way a
scanned image is addressed. ``forms.render`` draws from these rectangles and the scanner cuts
fields from them, so the two can never drift apart. ``Layout.to_json`` is a public contract.

Row geometry depends only on the day number, never on the month's length: day 17 sits at the
same place on a February sheet as on a December one, so one template serves every month.

Two revisions of the form exist, each with its own geometry (`FormGeometry`); a sheet keeps
the revision it was issued in for life, so a printed ``monthly-v1`` sheet reads as v1 forever:

- ``monthly-v1``: the first form. Targets 0.3 in from the paper's corners.
- ``monthly-v2`` (`CURRENT_FORM`, what new sheets are issued as): targets 0.5 in from the
  corners, so a copier's skew and enlargement no longer carry them off the scan; the serial
  printed in OCR-B (a font made for machine reading); English and Spanish labels; the rows
  0.5 pt closer (17.8 pt) to make room for them. Cell widths, the time groups' x positions,
  the mark boxes and the field names are the same as v1.
"""

from __future__ import annotations

import calendar
import datetime
from dataclasses import dataclass
from typing import Any

FORM_V1 = "monthly-v1"
FORM_V2 = "monthly-v2"
FORMS = (FORM_V1, FORM_V2)
"""Every form revision ever printed; a page of any of them is read."""
CURRENT_FORM = FORM_V2
"""The revision new sheets are issued as."""
PAGE_WIDTH_PT = 612.0
PAGE_HEIGHT_PT = 792.0
MM = 72.0 / 25.4

Rect = tuple[float, float, float, float]
"""x, y, width, height in points from the page's top-left corner, y downward."""

# The module constants below are monthly-v1's (see `FormGeometry` for every revision).
# Printers cannot reach closer than about 0.25 in to the paper's edge; 0.3 in keeps the
# fiducials whole even on a printer that shifts the page a little.
MARGIN = 21.6
FIDUCIAL_SIZE = 18.0
CONTENT_LEFT = MARGIN
CONTENT_RIGHT = PAGE_WIDTH_PT - MARGIN

# QR: 70 pt (0.97 in) including the 4-module quiet zone, left of the top-right fiducial.
QR_SIZE = 70.0
QR_GAP = 4.0
SERIAL_TEXT_H = 15.0

# Column header band and day rows.
COLUMN_HEADER_TOP = 112.0
COLUMN_HEADER_H = 20.0
ROW_TOP = 133.0
ROW_PITCH = 18.3
MAX_DAYS = 31

# Digit cells: 14.5 x 17.1 pt is 5.1 x 6.0 mm, the smallest box most people write a legible
# digit in without touching the border.
CELL_W = 14.5
CELL_H = 17.1
CELL_GAP = 2.0  # between the two digits of the hour (and of the minutes)
COLON_GAP = 8.0  # between hours and minutes: room for a printed colon
MARK_SIZE = 11.5
AMPM_GAP_BEFORE = 5.0
AMPM_GAP_BETWEEN = 3.0

DATE_COLUMN_X = CONTENT_LEFT
DATE_COLUMN_W = 58.0
TIME_IN_X = 84.0
TIME_OUT_X = 197.0
ABSENCE_LEFT = 306.0
ABSENCE_COLUMN_W = (CONTENT_RIGHT - ABSENCE_LEFT) / 7

# Footer.
ATTESTATION_TOP = 705.0
SIGNATURE_TOP = 728.0
SIGNATURE_H = 23.0
SIGNATURE_LABEL_W = 40.0
SIGNATURE_BOX_W = 127.0
DATE_PAIR_GAP = 6.0  # between MM, DD and YY: room for a printed slash
DATE_CELL_GAP = 1.5
FOOTER_LINE_TOP = 755.0


@dataclass(frozen=True)
class AbsenceCode:
    """One reason a child was absent, with the short code printed over its column."""

    code: str
    short: str
    label: str


ABSENCE_CODES: tuple[AbsenceCode, ...] = (
    AbsenceCode("child_ill", "CI", "Excused: child ill"),
    AbsenceCode("parent_ill_appointment", "PA", "Excused: parent ill or appointment"),
    AbsenceCode("family_emergency", "FE", "Excused: family emergency"),
    AbsenceCode("court_ordered_visit", "CV", "Excused: court-ordered visitation"),
    AbsenceCode("best_interest", "BI", "Best-interest day"),
    AbsenceCode("unexcused", "UX", "Unexcused absence"),
    AbsenceCode("provider_closed", "PC", "Provider closed (non-operational day)"),
)


@dataclass(frozen=True)
class TimeField:
    """A handwritten time: four digit cells (H H : M M) and AM / PM mark boxes."""

    name: str
    date: datetime.date
    cells: tuple[Rect, Rect, Rect, Rect]
    am: Rect
    pm: Rect


@dataclass(frozen=True)
class MarkField:
    """A box that is either marked or left empty (an absence reason, family fee paid)."""

    name: str
    date: datetime.date | None
    code: str
    box: Rect


@dataclass(frozen=True)
class SignatureField:
    """A box that should hold a signature's ink."""

    name: str
    box: Rect


@dataclass(frozen=True)
class DateField:
    """Six digit cells M M D D Y Y for a handwritten date."""

    name: str
    cells: tuple[Rect, ...]


Field = TimeField | MarkField | SignatureField | DateField


def _r(x: float, y: float, w: float, h: float) -> Rect:
    # Rounded once here so that JSON (2 decimals) round-trips the layout exactly.
    return (round(x, 2), round(y, 2), round(w, 2), round(h, 2))


def _rect_json(rect: Rect) -> list[float]:
    return [float(v) for v in rect]


def _rect_from_json(value: Any) -> Rect:
    x, y, w, h = (float(v) for v in value)
    return (x, y, w, h)


def _field_json(field: Field) -> dict[str, Any]:
    if isinstance(field, TimeField):
        return {
            "name": field.name,
            "kind": "time",
            "date": field.date.isoformat(),
            "cells": [_rect_json(c) for c in field.cells],
            "am": _rect_json(field.am),
            "pm": _rect_json(field.pm),
        }
    if isinstance(field, MarkField):
        return {
            "name": field.name,
            "kind": "mark",
            "date": field.date.isoformat() if field.date else None,
            "code": field.code,
            "box": _rect_json(field.box),
        }
    if isinstance(field, SignatureField):
        return {"name": field.name, "kind": "signature", "box": _rect_json(field.box)}
    return {"name": field.name, "kind": "date", "cells": [_rect_json(c) for c in field.cells]}


def _field_from_json(data: dict[str, Any]) -> Field:
    kind = data["kind"]
    if kind == "time":
        c0, c1, c2, c3 = (_rect_from_json(c) for c in data["cells"])
        return TimeField(
            name=data["name"],
            date=datetime.date.fromisoformat(data["date"]),
            cells=(c0, c1, c2, c3),
            am=_rect_from_json(data["am"]),
            pm=_rect_from_json(data["pm"]),
        )
    if kind == "mark":
        date = data["date"]
        return MarkField(
            name=data["name"],
            date=datetime.date.fromisoformat(date) if date is not None else None,
            code=data["code"],
            box=_rect_from_json(data["box"]),
        )
    if kind == "signature":
        return SignatureField(name=data["name"], box=_rect_from_json(data["box"]))
    if kind == "date":
        return DateField(name=data["name"], cells=tuple(_rect_from_json(c) for c in data["cells"]))
    raise ValueError(f"unknown field kind {kind!r}")


@dataclass(frozen=True)
class Layout:
    """Where everything is on one sheet (one serial, one month)."""

    form: str
    serial: str
    month: datetime.date
    page_width_pt: float
    page_height_pt: float
    barcode: Rect
    serial_text: Rect
    fiducials: tuple[Rect, Rect, Rect, Rect]
    fields: tuple[Field, ...]

    def to_json(self) -> dict[str, Any]:
        """The public JSON form (see the module docstring); `from_json` reverses it."""
        return {
            "form": self.form,
            "serial": self.serial,
            "month": f"{self.month.year:04d}-{self.month.month:02d}",
            "page": {"width_pt": self.page_width_pt, "height_pt": self.page_height_pt},
            "barcode": _rect_json(self.barcode),
            "serial_text": _rect_json(self.serial_text),
            "fiducials": [_rect_json(f) for f in self.fiducials],
            "fields": [_field_json(f) for f in self.fields],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Layout:
        """Rebuild a layout from `to_json` output."""
        year, month = (int(part) for part in data["month"].split("-"))
        f0, f1, f2, f3 = (_rect_from_json(f) for f in data["fiducials"])
        return cls(
            form=data["form"],
            serial=data["serial"],
            month=datetime.date(year, month, 1),
            page_width_pt=float(data["page"]["width_pt"]),
            page_height_pt=float(data["page"]["height_pt"]),
            barcode=_rect_from_json(data["barcode"]),
            serial_text=_rect_from_json(data["serial_text"]),
            fiducials=(f0, f1, f2, f3),
            fields=tuple(_field_from_json(f) for f in data["fields"]),
        )

    def field(self, name: str) -> Field:
        """The field called `name`; KeyError when the layout has none."""
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        raise KeyError(name)


@dataclass(frozen=True)
class FormGeometry:
    """Where a form revision puts things, in points from the page's top-left corner.

    Everything `build_layout` and `forms.render` place comes from here; what is not here
    (page size, cell width, mark size, the time groups' x positions) is the same on every
    revision.
    """

    form: str
    margin: float  # fiducial targets' inset from the paper's edges
    content_left: float
    content_right: float
    serial_below_qr: float  # gap between the QR code and the printed serial
    serial_width: float
    column_header_top: float
    column_header_h: float
    row_top: float
    row_pitch: float
    cell_h: float
    attestation_top: float
    signature_top: float
    signature_label_w: float
    signature_box_w: float
    signature_left: float  # where the signature blocks start and end (between targets)
    signature_right: float
    footer_line_top: float

    @property
    def absence_column_w(self) -> float:
        """Width of one absence column (seven share the space right of the times)."""
        return (self.content_right - ABSENCE_LEFT) / len(ABSENCE_CODES)


V1 = FormGeometry(
    form=FORM_V1,
    margin=MARGIN,
    content_left=CONTENT_LEFT,
    content_right=CONTENT_RIGHT,
    serial_below_qr=1.5,
    serial_width=90.0,
    column_header_top=COLUMN_HEADER_TOP,
    column_header_h=COLUMN_HEADER_H,
    row_top=ROW_TOP,
    row_pitch=ROW_PITCH,
    cell_h=CELL_H,
    attestation_top=ATTESTATION_TOP,
    signature_top=SIGNATURE_TOP,
    signature_label_w=SIGNATURE_LABEL_W,
    signature_box_w=SIGNATURE_BOX_W,
    signature_left=CONTENT_LEFT,
    signature_right=CONTENT_RIGHT,
    footer_line_top=FOOTER_LINE_TOP,
)

# monthly-v2: targets 0.5 in from the corners (a 5 degree skew of a same-size scan moves a
# corner ~0.3 in, a 2 % enlargement another 0.1 in); the bottom targets share their band with
# the signatures, which therefore sit between them.
V2 = FormGeometry(
    form=FORM_V2,
    margin=36.0,
    content_left=36.0,
    content_right=PAGE_WIDTH_PT - 36.0,
    serial_below_qr=1.5,
    serial_width=100.0,
    column_header_top=124.0,
    column_header_h=22.0,
    row_top=147.0,
    row_pitch=17.8,
    cell_h=16.6,
    attestation_top=700.5,
    signature_top=732.0,
    signature_label_w=38.0,
    signature_box_w=90.0,
    signature_left=36.0 + FIDUCIAL_SIZE + 6.0,
    signature_right=PAGE_WIDTH_PT - 36.0 - FIDUCIAL_SIZE - 6.0,
    footer_line_top=758.0,
)

GEOMETRIES: dict[str, FormGeometry] = {FORM_V1: V1, FORM_V2: V2}


class UnknownForm(ValueError):
    """A form revision this program does not know (a newer program's sheet, or none of ours)."""


def geometry(form: str) -> FormGeometry:
    """The geometry of form revision `form`; UnknownForm when there is no such revision."""
    try:
        return GEOMETRIES[form]
    except KeyError:
        raise UnknownForm(f"unknown form {form!r} (known: {', '.join(FORMS)})") from None


def row_rect(day: int, g: FormGeometry = V1) -> Rect:
    """The full-width band of day `day` (1..31); the same on every month's sheet."""
    if not 1 <= day <= MAX_DAYS:
        raise ValueError(f"day must be 1..{MAX_DAYS}, got {day}")
    y = g.row_top + (day - 1) * g.row_pitch
    return _r(g.content_left, y, g.content_right - g.content_left, g.row_pitch)


def time_cells(
    x: float, row_y: float, g: FormGeometry = V1
) -> tuple[tuple[Rect, Rect, Rect, Rect], Rect, Rect]:
    """Digit cells (H H : M M) and the AM and PM boxes of a time group starting at `x`."""
    cy = row_y + (g.row_pitch - g.cell_h) / 2
    h1 = x
    h2 = h1 + CELL_W + CELL_GAP
    m1 = h2 + CELL_W + COLON_GAP
    m2 = m1 + CELL_W + CELL_GAP
    cells = (
        _r(h1, cy, CELL_W, g.cell_h),
        _r(h2, cy, CELL_W, g.cell_h),
        _r(m1, cy, CELL_W, g.cell_h),
        _r(m2, cy, CELL_W, g.cell_h),
    )
    my = row_y + (g.row_pitch - MARK_SIZE) / 2
    am_x = m2 + CELL_W + AMPM_GAP_BEFORE
    pm_x = am_x + MARK_SIZE + AMPM_GAP_BETWEEN
    return cells, _r(am_x, my, MARK_SIZE, MARK_SIZE), _r(pm_x, my, MARK_SIZE, MARK_SIZE)


def absence_column_center(index: int, g: FormGeometry = V1) -> float:
    """The x centre of absence column `index` (the order of ABSENCE_CODES)."""
    return ABSENCE_LEFT + (index + 0.5) * g.absence_column_w


def _absence_box(index: int, row_y: float, g: FormGeometry) -> Rect:
    cx = absence_column_center(index, g)
    return _r(cx - MARK_SIZE / 2, row_y + (g.row_pitch - MARK_SIZE) / 2, MARK_SIZE, MARK_SIZE)


def date_cells(x: float, y: float, g: FormGeometry = V1) -> tuple[Rect, ...]:
    """Six digit cells M M / D D / Y Y starting at `x`, top at `y`."""
    cells: list[Rect] = []
    for pair in range(3):
        for digit in range(2):
            cx = x + pair * (2 * CELL_W + DATE_CELL_GAP + DATE_PAIR_GAP)
            cx += digit * (CELL_W + DATE_CELL_GAP)
            cells.append(_r(cx, y, CELL_W, g.cell_h))
    return tuple(cells)


DATE_CELLS_W = 6 * CELL_W + 3 * DATE_CELL_GAP + 2 * DATE_PAIR_GAP


@dataclass(frozen=True)
class SignatureBlock:
    """Footer geometry of one signer: where the label goes, the box, and the date cells."""

    label: Rect
    box: Rect
    date_cells: tuple[Rect, ...]


def signature_blocks(g: FormGeometry = V1) -> tuple[SignatureBlock, SignatureBlock]:
    """Parent (left) and provider (right) signature geometry."""
    half_w = g.signature_label_w + 2 + g.signature_box_w + 6 + DATE_CELLS_W
    spacing = g.signature_right - g.signature_left - 2 * half_w
    blocks: list[SignatureBlock] = []
    for i in range(2):
        x = g.signature_left + i * (half_w + spacing)
        box_x = x + g.signature_label_w + 2
        cells_x = box_x + g.signature_box_w + 6
        blocks.append(
            SignatureBlock(
                label=_r(x, g.signature_top, g.signature_label_w, SIGNATURE_H),
                box=_r(box_x, g.signature_top, g.signature_box_w, SIGNATURE_H),
                date_cells=date_cells(cells_x, g.signature_top + SIGNATURE_H - g.cell_h, g),
            )
        )
    return blocks[0], blocks[1]


def family_fee_box(g: FormGeometry = V1) -> Rect:
    """The family-fee mark box, at the right end of the attestation."""
    return _r(g.content_right - MARK_SIZE - 3, g.attestation_top + 4, MARK_SIZE, MARK_SIZE)


FAMILY_FEE_BOX: Rect = family_fee_box(V1)


def fiducial_rects(g: FormGeometry = V1) -> tuple[Rect, Rect, Rect, Rect]:
    """The four targets: top left, top right, bottom right, bottom left."""
    left = g.margin
    right = PAGE_WIDTH_PT - g.margin - FIDUCIAL_SIZE
    top = g.margin
    bottom = PAGE_HEIGHT_PT - g.margin - FIDUCIAL_SIZE
    s = FIDUCIAL_SIZE
    return (
        _r(left, top, s, s),
        _r(right, top, s, s),
        _r(right, bottom, s, s),
        _r(left, bottom, s, s),
    )


def barcode_rect(g: FormGeometry = V1) -> Rect:
    """The QR symbol with its quiet zone: top right, left of the top-right fiducial."""
    x = PAGE_WIDTH_PT - g.margin - FIDUCIAL_SIZE - QR_GAP - QR_SIZE
    return _r(x, g.margin, QR_SIZE, QR_SIZE)


def serial_text_rect(g: FormGeometry = V1) -> Rect:
    """Where the human-readable serial goes: centred under the QR code."""
    x, y, w, h = barcode_rect(g)
    width = g.serial_width
    return _r(x + w / 2 - width / 2, y + h + g.serial_below_qr, width, SERIAL_TEXT_H)


def days_in_month(month: datetime.date) -> list[datetime.date]:
    """Every date of `month`'s month, in order."""
    count = calendar.monthrange(month.year, month.month)[1]
    return [datetime.date(month.year, month.month, d) for d in range(1, count + 1)]


def build_layout(serial: str, month: datetime.date, *, form: str = FORM_V1) -> Layout:
    """The layout of the sheet `serial` for the month containing `month`, in revision `form`
    (``monthly-v1`` unless said: every sheet printed before v2). UnknownForm for no revision
    this program knows."""
    g = geometry(form)
    fields: list[Field] = []
    for date in days_in_month(month):
        _, row_y, _, _ = row_rect(date.day, g)
        prefix = f"day.{date.day:02d}"
        for direction, x in (("in", TIME_IN_X), ("out", TIME_OUT_X)):
            cells, am, pm = time_cells(x, row_y, g)
            fields.append(TimeField(f"{prefix}.{direction}", date, cells, am, pm))
        for index, absence in enumerate(ABSENCE_CODES):
            fields.append(
                MarkField(
                    name=f"{prefix}.absence.{absence.code}",
                    date=date,
                    code=absence.code,
                    box=_absence_box(index, row_y, g),
                )
            )
    parent, provider = signature_blocks(g)
    for who, block in (("parent", parent), ("provider", provider)):
        fields.append(SignatureField(f"signature.{who}", block.box))
        fields.append(DateField(f"signature.{who}.date", block.date_cells))
    fields.append(MarkField("family_fee.paid", None, "family_fee_paid", family_fee_box(g)))
    return Layout(
        form=g.form,
        serial=serial,
        month=month.replace(day=1),
        page_width_pt=PAGE_WIDTH_PT,
        page_height_pt=PAGE_HEIGHT_PT,
        barcode=barcode_rect(g),
        serial_text=serial_text_rect(g),
        fiducials=fiducial_rects(g),
        fields=tuple(fields),
    )
