"""Crops a reviewer can trust: the pixels the machine read, with what the scan may have lost
drawn back over them.

A bilevel (Group 4) scan loses the form's pale print: the digit cells, the AM/PM tick boxes
and their printed "AM" and "PM" vanish, and a reviewer cannot tell a ticked AM from a ticked
PM. So every crop draws the layout's box outlines over the image and labels what the boxes
are (AM and PM beside the tick boxes, the absence codes over their columns), and names what it
shows (the day and the column) in a title band. Pure image work: numpy and OpenCV over the
stored canonical image, boxes from `forms.layout`; the caller supplies the texts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from forms.canon import CANON_PX_PER_PT
from forms.layout import (
    ABSENCE_CODES,
    ABSENCE_LEFT,
    COLUMN_HEADER_TOP,
    CONTENT_LEFT,
    CONTENT_RIGHT,
    MARGIN,
    Layout,
    MarkField,
    Rect,
    SignatureField,
    TimeField,
    row_rect,
    signature_blocks,
)

# BGR colours: the layout's boxes in blue, the box the item is about in orange (they read
# apart for most colour-blind viewers too: the target is also drawn thicker).
OUTLINE = (190, 110, 30)
TARGET = (0, 120, 240)
INK = (25, 25, 25)
MUTED = (90, 90, 90)
WHITE = (255, 255, 255)
FONT = cv2.FONT_HERSHEY_DUPLEX

FIELD_MARGIN_PT = 6.0  # page shown around a field's boxes (a digit may stray over its box)
TIME_ZOOM = 2  # a time's cells are small: shown at twice the scan's pixels (not smoothed)
TITLE_SCALE = 0.75
LABEL_SCALE = 0.8
TEXT_SCALE = 0.65
MAX_FINDING_ROWS = 8  # days shown in one finding's crop; the screen lists them all

# Where each kind of finding is on the page: the times of its days (date, time in, time
# out), the whole row of its days (it concerns the absence marks too), or a signature box.
TIME_CODES = frozenset(
    {
        "incomplete_pair",
        "out_before_in",
        "outside_certificate_period",
        "weekday_not_authorized",
        "outside_authorized_hours",
        "daily_hours_over",
        "weekly_hours_over",
        "weekly_hours_inconsistent",
    }
)
WEEKLY_CODES = frozenset({"weekly_hours_over", "weekly_hours_inconsistent"})
SIGNATURE_CODES = {
    "parent_signature_missing": "signature.parent",
    "provider_signature_missing": "signature.provider",
}
TIMES_RIGHT = ABSENCE_LEFT - 3.0  # the right edge of the time-out column's tick boxes


@dataclass(frozen=True)
class Window:
    """Where a cut lies on the canonical page: its top-left canonical pixel and its zoom."""

    left: int
    top: int
    zoom: int = 1

    def box(self, rect: Rect) -> tuple[int, int, int, int]:
        """`rect` (points) as (left, top, right, bottom) pixels of the zoomed cut."""
        x, y, w, h = rect
        s = CANON_PX_PER_PT
        return (
            (round(x * s) - self.left) * self.zoom,
            (round(y * s) - self.top) * self.zoom,
            (round((x + w) * s) - self.left) * self.zoom,
            (round((y + h) * s) - self.top) * self.zoom,
        )


def union(rects: Sequence[Rect]) -> Rect:
    """The smallest rectangle holding all of `rects`."""
    left = min(r[0] for r in rects)
    top = min(r[1] for r in rects)
    right = max(r[0] + r[2] for r in rects)
    bottom = max(r[1] + r[3] for r in rects)
    return (left, top, right - left, bottom - top)


def window(
    canon: np.ndarray, rect: Rect, *, margin_pt: float = 0.0, zoom: int = 1
) -> tuple[np.ndarray, Window]:
    """`rect` widened by `margin_pt`, cut from the canonical page (clipped to it), as a colour
    image enlarged `zoom` times without smoothing, and where it lies."""
    x, y, w, h = rect
    s = CANON_PX_PER_PT
    top = max(0, round((y - margin_pt) * s))
    bottom = min(canon.shape[0], round((y + h + margin_pt) * s))
    left = max(0, round((x - margin_pt) * s))
    right = min(canon.shape[1], round((x + w + margin_pt) * s))
    cut = canon[top:bottom, left:right]
    colour = cv2.cvtColor(cut, cv2.COLOR_GRAY2BGR) if cut.ndim == 2 else cut.copy()
    if zoom != 1:
        colour = cv2.resize(
            colour, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST
        )  # the scanned pixels as they are: nothing smoothed into or out of a stroke
    return colour, Window(left, top, zoom)


def fade_outside(image: np.ndarray, box: tuple[int, int, int, int], keep: float = 0.45) -> None:
    """Lighten everything outside `box` (the margin around a field): a stray stroke stays
    visible, the neighbouring rows' boxes do not compete with the field's own."""
    left, top, right, bottom = box
    mask = np.ones(image.shape[:2], bool)
    mask[max(0, top) : max(0, bottom), max(0, left) : max(0, right)] = False
    image[mask] = (255 - (255 - image[mask].astype(np.float32)) * keep).astype(np.uint8)


def outline(
    image: np.ndarray,
    box: tuple[int, int, int, int],
    colour: tuple[int, int, int],
    thickness: int = 2,
) -> None:
    left, top, right, bottom = box
    cv2.rectangle(image, (left, top), (right, bottom), colour, thickness)


def ascii_text(text: str) -> str:
    """The text in the characters the drawing font has (dashes and quotes made plain)."""
    plain = text.replace("\u2013", "-").replace("\u2014", "-").replace("\u2019", "'")
    return plain.encode("ascii", "replace").decode("ascii")


def text_width(text: str, scale: float, thickness: int = 1) -> int:
    (width, _), _ = cv2.getTextSize(ascii_text(text), FONT, scale, thickness)
    return int(width)


def put_text(
    image: np.ndarray,
    text: str,
    x: int,
    baseline: int,
    *,
    scale: float = TEXT_SCALE,
    colour: tuple[int, int, int] = INK,
    thickness: int = 1,
    centre: bool = False,
) -> None:
    if centre:
        x -= text_width(text, scale, thickness) // 2
    cv2.putText(image, ascii_text(text), (x, baseline), FONT, scale, colour, thickness, cv2.LINE_AA)


def wrap(text: str, width: int, scale: float = TEXT_SCALE) -> list[str]:
    """`text` broken into lines that fit `width` pixels."""
    lines: list[str] = []
    line = ""
    for word in ascii_text(text).split():
        candidate = f"{line} {word}".strip()
        if line and text_width(candidate, scale) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines


def line_height(scale: float) -> int:
    return round(34 * scale) + 8


def text_band(
    width: int,
    lines: Sequence[str],
    *,
    scale: float = TEXT_SCALE,
    colour: tuple[int, int, int] = INK,
    thickness: int = 1,
) -> np.ndarray:
    """White band `width` wide with `lines`, each wrapped to fit."""
    wrapped = [part for line in lines for part in wrap(line, width - 16, scale)]
    step = line_height(scale)
    band = np.full((step * len(wrapped) + 8, width, 3), 255, np.uint8)
    for index, line in enumerate(wrapped):
        put_text(band, line, 8, step * (index + 1), scale=scale, colour=colour, thickness=thickness)
    return band


def stack(parts: Sequence[np.ndarray]) -> np.ndarray:
    """Images one above the other, left-aligned on white."""
    width = max(part.shape[1] for part in parts)
    padded = [
        cv2.copyMakeBorder(part, 0, 0, 0, width - part.shape[1], cv2.BORDER_CONSTANT, value=WHITE)
        for part in parts
    ]
    return np.vstack(padded)


def framed(image: np.ndarray) -> np.ndarray:
    """A thin grey frame, so a crop's edge shows on a white screen."""
    return cv2.copyMakeBorder(image, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=(170, 170, 170))


def day_text(day: dt.date) -> str:
    """`Tue Nov 17`."""
    return f"{day:%a %b} {day.day}"


def absence_label(code: str) -> str:
    """`CI (Excused: child ill)` for an absence code."""
    for absence in ABSENCE_CODES:
        if absence.code == code:
            return f"{absence.short} ({absence.label})"
    return code


def field_title(field: TimeField | MarkField | SignatureField) -> str:
    """What a field is, as a reviewer names it: `Tue Nov 17 - time out`."""
    if isinstance(field, TimeField):
        direction = "time in" if field.name.endswith(".in") else "time out"
        return f"{day_text(field.date)} - {direction}"
    if isinstance(field, MarkField):
        if field.date is None:
            return "Family fee paid this month"
        return f"{day_text(field.date)} - absence {absence_label(field.code)}"
    who = "Parent" if field.name.endswith("parent") else "Provider"
    return f"{who} signature"


def _ampm_labels(
    image: np.ndarray, win: Window, field: TimeField, baseline: int, scale: float
) -> None:
    for rect, text in ((field.am, "AM"), (field.pm, "PM")):
        left, _, right, _ = win.box(rect)
        put_text(image, text, (left + right) // 2, baseline, scale=scale, thickness=2, centre=True)


def time_crop(canon: np.ndarray, field: TimeField, *, title: str | None = None) -> np.ndarray:
    """A time's four cells and both tick boxes, enlarged, with their outlines drawn over the
    scan and "AM" and "PM" drawn under the tick boxes."""
    image, win = window(
        canon, union([*field.cells, field.am, field.pm]), margin_pt=FIELD_MARGIN_PT, zoom=TIME_ZOOM
    )
    left, top, right, bottom = win.box(union([*field.cells, field.am, field.pm]))
    fade_outside(image, (left - 4, top - 4, right + 4, bottom + 4))
    for rect in (*field.cells, field.am, field.pm):
        outline(image, win.box(rect), OUTLINE, 2)
    band = np.full((line_height(LABEL_SCALE) + 6, image.shape[1], 3), 255, np.uint8)
    _ampm_labels(band, win, field, line_height(LABEL_SCALE) - 4, LABEL_SCALE)
    head = text_band(image.shape[1], [title or field_title(field)], scale=TITLE_SCALE)
    return framed(stack([head, image, band]))


def mark_crop(canon: np.ndarray, layout: Layout, field: MarkField) -> np.ndarray:
    """A mark with its neighbours: a day's absence mark shows the day's seven absence boxes
    under their codes, the one it is about outlined in orange, and names its day and column."""
    if field.date is None:
        image, win = window(canon, field.box, margin_pt=FIELD_MARGIN_PT, zoom=TIME_ZOOM)
        left, top, right, bottom = win.box(field.box)
        outline(image, (left - 5, top - 5, right + 5, bottom + 5), TARGET, 3)
        head = text_band(max(image.shape[1], 420), [field_title(field)], scale=TITLE_SCALE)
        return framed(stack([head, image]))
    _, row_y, _, row_h = row_rect(field.date.day)
    area = (ABSENCE_LEFT - 6, row_y, CONTENT_RIGHT - ABSENCE_LEFT + 6, row_h)
    image, win = window(canon, area, margin_pt=3.0)
    band = np.full((line_height(LABEL_SCALE) + 4, image.shape[1], 3), 255, np.uint8)
    for other in layout.fields:
        if not (isinstance(other, MarkField) and other.date == field.date):
            continue
        target = other.name == field.name
        left, top, right, bottom = win.box(other.box)
        if target:  # drawn just outside the box: a tick on its edge stays visible
            outline(image, (left - 5, top - 5, right + 5, bottom + 5), TARGET, 3)
        else:
            outline(image, (left, top, right, bottom), OUTLINE, 2)
        short = next((a.short for a in ABSENCE_CODES if a.code == other.code), other.code)
        put_text(
            band,
            short,
            (left + right) // 2,
            line_height(LABEL_SCALE) - 4,
            scale=LABEL_SCALE,
            colour=TARGET if target else INK,
            thickness=2,
            centre=True,
        )
    head = text_band(image.shape[1], [field_title(field)], scale=TITLE_SCALE)
    return framed(stack([head, band, image]))


def signature_crop(
    canon: np.ndarray, field: SignatureField, *, title: str | None = None, notes: Sequence[str] = ()
) -> np.ndarray:
    """A signature box with its outline drawn, named, and any notes under it."""
    image, win = window(canon, field.box, margin_pt=FIELD_MARGIN_PT)
    outline(image, win.box(field.box), OUTLINE, 2)
    width = max(image.shape[1], 480)
    parts = [text_band(width, [title or field_title(field)], scale=TITLE_SCALE), image]
    if notes:
        parts.append(text_band(width, notes))
    return framed(stack(parts))


def field_crop(canon: np.ndarray, layout: Layout, name: str) -> np.ndarray:
    """The crop a reviewer judges the field `name` by."""
    field = layout.field(name)
    if isinstance(field, TimeField):
        return time_crop(canon, field)
    if isinstance(field, MarkField):
        return mark_crop(canon, layout, field)
    if isinstance(field, SignatureField):
        return signature_crop(canon, field)
    raise KeyError(name)


@dataclass(frozen=True)
class FindingDay:
    """One day of a finding: the date, its authorized hours (text) and what the rule said."""

    day: dt.date
    authorized: str
    message: str


def finding_span(code: str) -> tuple[float, float]:
    """The part of a day's row a finding is about (left and right, points)."""
    if code in TIME_CODES:
        return CONTENT_LEFT, TIMES_RIGHT
    return CONTENT_LEFT, CONTENT_RIGHT


def finding_days(code: str, days: Sequence[dt.date]) -> list[dt.date]:
    """The days whose rows a finding shows: its days, or a weekly finding's whole week."""
    if code not in WEEKLY_CODES:
        return list(days)
    shown: list[dt.date] = []
    for first in days:
        for offset in range(7):
            day = first + dt.timedelta(days=offset)
            if day.month == first.month and day not in shown:
                shown.append(day)
    return shown


def finding_rects(code: str, days: Sequence[dt.date]) -> list[Rect]:
    """Where a finding is on the page (points): its days' rows, or its signature box; none
    for a finding about the whole sheet."""
    if code in SIGNATURE_CODES:
        parent, provider = signature_blocks()
        return [parent.box if code == "parent_signature_missing" else provider.box]
    left, right = finding_span(code)
    rects = []
    for day in finding_days(code, days):
        _, y, _, h = row_rect(day.day)
        rects.append((left, y, right - left, h))
    return rects


def _column_heads(
    width: int, win: Window, layout: Layout, day: dt.date, right: float
) -> np.ndarray:
    """Labels over a row's columns: Date, Time in / out with AM and PM over the tick boxes,
    and the absence codes (those inside the shown part of the row)."""
    step = line_height(LABEL_SCALE)
    band = np.full((2 * step + 4, width, 3), 255, np.uint8)
    put_text(band, "Date", 8, 2 * step - 4, scale=LABEL_SCALE)
    for field in layout.fields:
        if isinstance(field, TimeField) and field.date == day:
            left, _, _, _ = win.box(field.cells[0])
            label = "Time in" if field.name.endswith(".in") else "Time out"
            put_text(band, label, left, step - 6, scale=LABEL_SCALE)
            _ampm_labels(band, win, field, 2 * step - 4, LABEL_SCALE * 0.8)
        elif isinstance(field, MarkField) and field.date == day and field.box[0] < right:
            left, _, box_right, _ = win.box(field.box)
            short = next((a.short for a in ABSENCE_CODES if a.code == field.code), "")
            put_text(
                band,
                short,
                (left + box_right) // 2,
                2 * step - 4,
                scale=LABEL_SCALE,
                thickness=2,
                centre=True,
            )
    return band


def finding_crop(
    canon: np.ndarray,
    layout: Layout,
    code: str,
    days: Sequence[FindingDay],
    *,
    summary: str,
    authorized: str,
    hours: Callable[[dt.date], str] | None = None,
) -> np.ndarray:
    """A finding as large as a field's crop: the rows of its days (the times, or the whole
    row when it concerns the absence marks), each under a line with its date and authorized
    hours and what the rule found; its signature box; or, for the whole sheet, the page's
    header with the finding and the certificate's authorized hours written under it.
    `hours` gives the authorized hours of a day shown without a day of its own (the other
    days of a weekly finding's week)."""
    if code in SIGNATURE_CODES:
        field = layout.field(SIGNATURE_CODES[code])
        assert isinstance(field, SignatureField)
        return signature_crop(canon, field, notes=[summary])
    by_day = {d.day: d for d in days}
    shown = finding_days(code, [d.day for d in days])
    if not shown:
        top = (CONTENT_LEFT, MARGIN, CONTENT_RIGHT - CONTENT_LEFT, COLUMN_HEADER_TOP - MARGIN)
        image, _ = window(canon, top)
        notes = [summary, f"Authorized: {authorized}"]
        return framed(stack([text_band(image.shape[1], notes), image]))
    left, right = finding_span(code)
    parts: list[np.ndarray] = []
    for index, day in enumerate(shown[:MAX_FINDING_ROWS]):
        _, y, _, h = row_rect(day.day)
        image, win = window(canon, (left, y, right - left, h), margin_pt=2.0)
        for field in layout.fields:
            if isinstance(field, TimeField) and field.date == day:
                for rect in (*field.cells, field.am, field.pm):
                    outline(image, win.box(rect), OUTLINE, 2)
            elif isinstance(field, MarkField) and field.date == day and field.box[0] < right:
                outline(image, win.box(field.box), OUTLINE, 2)
        if index == 0:
            parts.append(_column_heads(image.shape[1], win, layout, day, right))
        found = by_day.get(day)
        allowed = found.authorized if found else hours(day) if hours else authorized
        lines = [f"{day_text(day)} - authorized {allowed}"]
        if found:
            # "Nov 5: a time in is written..." -> the part after the date
            lines.append(found.message.split(": ", 1)[-1])
        parts.append(text_band(image.shape[1], lines))
        parts.append(image)
    if len(shown) > MAX_FINDING_ROWS:
        more = len(shown) - MAX_FINDING_ROWS
        parts.append(text_band(parts[0].shape[1], [f"... and {more} more days (see the list)"]))
    return framed(stack(parts))
