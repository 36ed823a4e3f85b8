"""Crops a reviewer can trust (attendance.crops): on a bilevel scan that lost the form's pale
print, a time's crop still shows its boxes and says which tick box is AM and which is PM; a
mark names its day and column; a finding shows its rows with the authorized hours written in.
Read back with tesseract, the way a person would read them."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import cv2
import numpy as np
import pytest

from attendance import crops
from fixtures.fill import degrade_in_place
from forms.canon import CANON_PX_PER_PT
from forms.layout import (
    CONTENT_LEFT,
    CONTENT_RIGHT,
    Layout,
    MarkField,
    Rect,
    TimeField,
    row_rect,
    signature_blocks,
)
from scanner.tesseract import ocr_text


@pytest.fixture(scope="module")
def bilevel(printed_canon: tuple[Any, Layout]) -> tuple[np.ndarray, Layout]:
    """The printed sheet as a 1-bit (Group 4) scan leaves it: the pale print is gone."""
    page, layout = printed_canon
    return degrade_in_place(page, 200, np.random.default_rng(7), ["bilevel300"]), layout


def grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def border_ink(canon: np.ndarray, rect: Rect) -> float:
    """Share of dark pixels on the printed outline of `rect` in the canonical page."""
    s = CANON_PX_PER_PT
    left, top = round(rect[0] * s), round(rect[1] * s)
    right, bottom = round((rect[0] + rect[2]) * s), round((rect[1] + rect[3]) * s)
    edges = np.concatenate(
        [
            canon[top - 1 : top + 2, left:right].ravel(),
            canon[bottom - 2 : bottom + 1, left:right].ravel(),
            canon[top:bottom, left - 1 : left + 2].ravel(),
            canon[top:bottom, right - 2 : right + 1].ravel(),
        ]
    )
    return float((edges < 128).mean())


def text_of(image: np.ndarray, psm: int = 6) -> str:
    """What tesseract reads in a crop, the blue box outlines left out (they are not text)."""
    drawn = np.abs(image.astype(int) - np.array(crops.OUTLINE)).sum(axis=2) < 120
    page = grey(image)
    page[drawn] = 255
    return ocr_text(page, psm=psm, dpi=200)


def squash(text: str) -> str:
    """Text compared the way a person reads it: case, spaces and punctuation aside (the OCR
    of drawn text puts a space before a bracket, reads CI as Cl)."""
    return re.sub(r"[^a-z0-9]", "", text.lower().replace("cl", "ci"))


def has_colour(image: np.ndarray, box: tuple[int, int, int, int], colour: tuple[int, ...]) -> int:
    """Pixels of `colour` (within a little) inside `box` of a crop."""
    left, top, right, bottom = box
    part = image[max(0, top) : bottom, max(0, left) : right].astype(int)
    return int((np.abs(part - np.array(colour)).sum(axis=2) < 60).sum())


def test_a_time_crop_draws_its_boxes_and_am_pm(bilevel: tuple[np.ndarray, Layout]) -> None:
    """GIVEN a bilevel scan on which the AM and PM boxes vanished WHEN a time's crop is made
    THEN the boxes are drawn over it, "AM" and "PM" are written under the tick boxes (and
    nothing under the digit cells), and the crop names its day and column."""
    canon, layout = bilevel
    field = layout.field("day.17.out")
    assert isinstance(field, TimeField)
    assert border_ink(canon, field.am) < 0.2 and border_ink(canon, field.pm) < 0.2
    image = crops.time_crop(canon, field)
    band_h = crops.line_height(crops.LABEL_SCALE) + 6
    band = grey(image)[-band_h - 1 : -1]
    assert squash(ocr_text(band, psm=7, dpi=200)) == "ampm"
    # Where the crop lies on the page: the same window the crop was cut with.
    _, win = crops.window(
        canon,
        crops.union([*field.cells, field.am, field.pm]),
        margin_pt=crops.FIELD_MARGIN_PT,
        zoom=crops.TIME_ZOOM,
    )
    for rect, text in ((field.am, "AM"), (field.pm, "PM")):
        left, _, right, _ = win.box(rect)
        under = band[:, left + 1 : right + 1]  # +1: the crop's frame
        assert (under < 128).sum() > 40, f"no ink under the {text} box"
        assert squash(ocr_text(under, psm=8, dpi=200)) == text.lower()
    cells_left, _, _, _ = win.box(field.cells[0])
    cells_right = win.box(field.cells[3])[2]
    assert (band[:, cells_left:cells_right] < 128).sum() == 0, "nothing under the digits"
    # The outlines are drawn where the print was lost (under the title band and the frame).
    title = grey(image)[: crops.line_height(crops.TITLE_SCALE) + 8]
    assert squash(ocr_text(title, psm=7, dpi=200)) == squash("Tue Nov 17 - time out")
    title_rows = crops.line_height(crops.TITLE_SCALE) + 8 + 1
    for rect in (field.am, field.pm, *field.cells):
        left, top, right, _ = win.box(rect)
        edge = (left + 1, title_rows + top - 2, right + 1, title_rows + top + 3)
        assert has_colour(image, edge, crops.OUTLINE) > (right - left) // 2


def test_a_mark_crop_names_its_day_and_column(bilevel: tuple[np.ndarray, Layout]) -> None:
    canon, layout = bilevel
    field = layout.field("day.17.absence.parent_ill_appointment")
    assert isinstance(field, MarkField)
    image = crops.mark_crop(canon, layout, field)
    lines = text_of(image).splitlines()
    assert squash(lines[0]) == squash(
        "Tue Nov 17 - absence PA (Excused: parent ill or appointment)"
    )
    assert squash(lines[1]) == "cipafecvbiuxpc"
    # Fits a screen: a row of boxes, not a page; the box it is about outlined in orange.
    assert image.shape[1] < 900 and image.shape[0] < 250
    assert has_colour(image, (0, 0, image.shape[1], image.shape[0]), crops.TARGET) > 100
    fee = crops.mark_crop(canon, layout, layout.field("family_fee.paid"))  # type: ignore[arg-type]
    assert squash("Family fee paid this month") in squash(text_of(fee))


def test_a_finding_crop_shows_its_rows_with_the_authorized_hours(
    bilevel: tuple[np.ndarray, Layout],
) -> None:
    """GIVEN an incomplete pair on Nov 5 and Nov 12 WHEN its crop is made THEN it shows those
    two rows' times, each under its date, authorized hours and what the rule found, with the
    column labels written (the scan lost the printed ones)."""
    canon, layout = bilevel
    days = [
        crops.FindingDay(dt.date(2026, 11, 5), "07:30-17:30", "Nov 5: a time in is written"),
        crops.FindingDay(dt.date(2026, 11, 12), "none", "Nov 12: a time out is written"),
    ]
    image = crops.finding_crop(
        canon, layout, "incomplete_pair", days, summary="x", authorized="Mon-Fri 07:30-17:30"
    )
    text = squash(text_of(image))
    assert text.startswith(squash("Time in Time out Date AM PM AM PM"))
    assert squash("Thu Nov 5 - authorized 07:30-17:30 a time in is written Thu 05") in text
    assert squash("Thu Nov 12 - authorized none a time out is written Thu 12") in text
    # The times' part of the rows, as wide as a screen allows: not the page.
    width = round((crops.TIMES_RIGHT - CONTENT_LEFT) * CANON_PX_PER_PT)
    assert width - 5 <= image.shape[1] - 2 <= width + 15
    assert image.shape[0] < 500


def test_a_weekly_and_an_absence_finding_show_whole_rows(
    bilevel: tuple[np.ndarray, Layout],
) -> None:
    canon, layout = bilevel
    week = crops.finding_crop(
        canon,
        layout,
        "weekly_hours_over",
        [crops.FindingDay(dt.date(2026, 11, 23), "07:30-17:30", "week of Nov 23: 46 hours")],
        summary="x",
        authorized="x",
        hours=lambda day: "none" if day.weekday() >= 5 else "07:30-17:30",
    )
    text = squash(text_of(week))
    for day in ("Mon Nov 23", "Tue Nov 24", "Sat Nov 28", "Sun Nov 29"):
        assert squash(day) in text, day
    assert squash("Mon Nov 30") not in text  # the week of Nov 23 ends on the 29th
    # Each day of the week with its own authorized hours (the rule's day has its message).
    assert squash("Mon Nov 23 - authorized 07:30-17:30 46 hours") in text
    assert squash("Sat Nov 28 - authorized none") in text
    absence = crops.finding_crop(
        canon,
        layout,
        "absence_limit_exceeded",
        [crops.FindingDay(dt.date(2026, 11, 3), "07:30-17:30", "Nov 3: over the limit")],
        summary="x",
        authorized="x",
    )
    assert absence.shape[1] >= round((CONTENT_RIGHT - CONTENT_LEFT) * CANON_PX_PER_PT)
    assert "cipafecvbiuxpc" in squash(text_of(absence))


def test_where_a_finding_is_on_the_page() -> None:
    nov = [dt.date(2026, 11, 5), dt.date(2026, 11, 12)]
    rects = crops.finding_rects("incomplete_pair", nov)
    assert [r[1] for r in rects] == [row_rect(5)[1], row_rect(12)[1]]
    assert all(r[0] == CONTENT_LEFT and r[0] + r[2] == crops.TIMES_RIGHT for r in rects)
    assert crops.finding_rects("parent_signature_missing", []) == [signature_blocks()[0].box]
    assert crops.finding_rects("provider_signature_missing", []) == [signature_blocks()[1].box]
    assert crops.finding_rects("past_due", []) == []
    assert len(crops.finding_rects("weekly_hours_over", [dt.date(2026, 11, 30)])) == 1
    whole = crops.finding_rects("time_on_absent_day", nov[:1])[0]
    assert whole[0] + whole[2] == CONTENT_RIGHT
