"""Evidence images: a field's crop cut from its page's stored canonical image.

The reviewer sees the pixels the machine read (with a margin, so a digit that strays over its
box is visible too); verified digit cells become training data from the same pixels.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import cv2
import numpy as np
from sqlmodel import Session

from attendance import crops, review_queue
from attendance.errors import DomainError, ErrorKind, ItemNotFound
from attendance.flags import FLAG_CODES
from attendance.models import (
    Certificate,
    FieldReading,
    ReviewItem,
    ScannedPage,
    Sheet,
    SheetFlag,
)
from attendance.months import parse_month
from attendance.sheets import source_page
from forms.canon import canon_slice
from forms.layout import FORM_V1, DateField, Layout, Rect, TimeField, build_layout, row_rect
from forms.layout import Field as LayoutField

# Points of page around a field's box shown with it.
EVIDENCE_MARGIN_PT = 6.0


class EvidenceMissing(DomainError, LookupError):
    """The page has no stored canonical image (not registered, or the file was removed)."""

    kind = ErrorKind.NOT_FOUND


@functools.lru_cache(maxsize=64)
def layout_for(serial: str, month: str, form: str = FORM_V1) -> Layout:
    """The sheet's layout in its form revision (frozen, so shared: the review screen asks for
    it per item)."""
    return build_layout(serial, parse_month(month), form=form)


def field_box(field: LayoutField) -> Rect:
    """The rectangle that holds everything a field reads (a time: its cells and AM/PM)."""
    rects: list[Rect]
    if isinstance(field, TimeField):
        rects = [*field.cells, field.am, field.pm]
    elif isinstance(field, DateField):
        rects = list(field.cells)
    else:
        rects = [field.box]
    left = min(r[0] for r in rects)
    top = min(r[1] for r in rects)
    right = max(r[0] + r[2] for r in rects)
    bottom = max(r[1] + r[3] for r in rects)
    return (left, top, right - left, bottom - top)


def load_canon(path: str | None) -> np.ndarray:
    """The stored canonical page image (grey), read-only.

    Decoding the PNG is most of the cost of a crop, and a reviewer's next item is nearly
    always on the same page, so the last few decoded pages are kept (keyed by path, size and
    modification time: a canonical image is written once, named by its content).
    """
    if not path:
        raise EvidenceMissing("the page's canonical image is not stored")
    try:
        stat = Path(path).stat()
    except OSError:
        raise EvidenceMissing("the page's canonical image is not stored") from None
    return _decoded(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _decoded(path: str, _size: int, _mtime_ns: int) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise EvidenceMissing("the page's canonical image cannot be read")
    image.setflags(write=False)  # shared between callers: nobody may draw on it
    return image


def cut(canon: np.ndarray, rect: Rect, *, margin_pt: float = 0.0) -> np.ndarray:
    """`rect` (points) cut from the canonical image, widened by `margin_pt`, clipped."""
    rows, cols = canon_slice(rect, inset_pt=-margin_pt)
    top, bottom = max(0, rows.start), min(canon.shape[0], rows.stop)
    left, right = max(0, cols.start), min(canon.shape[1], cols.stop)
    return canon[top:bottom, left:right]


def png(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise EvidenceMissing("the crop could not be encoded")
    return bytes(encoded.tobytes())


def field_crop_png(
    canon_path: str | None, serial: str, month: str, field_name: str, form: str = FORM_V1
) -> bytes:
    """PNG of one field of the page, with a margin: the evidence a reviewer looks at."""
    field = layout_for(serial, month, form).field(field_name)
    return png(cut(load_canon(canon_path), field_box(field), margin_pt=EVIDENCE_MARGIN_PT))


def digit_cells(canon: np.ndarray, field: TimeField) -> list[np.ndarray]:
    """The four digit cells of a time field, as the model saw them (no margin)."""
    return [cut(canon, rect) for rect in field.cells]


WEEKLY_CODES = crops.WEEKLY_CODES


def finding_image(session: Session, sheet: Sheet, canon: np.ndarray, code: str) -> np.ndarray:
    """The crop of the finding `code` on `sheet`: the rows of its days with their authorized
    hours, its signature box, or the page's header for a finding about the whole sheet."""
    assert sheet.id is not None
    certificate = session.get(Certificate, sheet.certificate_id)
    assert certificate is not None
    flags = review_queue.finding_flags(session, sheet.id, code)
    days = [
        crops.FindingDay(
            day=dt.date.fromisoformat(flag.day),
            authorized=review_queue.authorized_hours(certificate, dt.date.fromisoformat(flag.day)),
            message=flag.message,
        )
        for flag in flags
        if flag.day
    ]
    meaning = FLAG_CODES[code].meaning if code in FLAG_CODES else code
    summary = "; ".join(f.message for f in flags if not f.day) or meaning
    return crops.finding_crop(
        canon,
        layout_for(sheet.serial, sheet.month, sheet.form_version),
        code,
        days,
        summary=summary,
        authorized=certificate.schedule_text,
        hours=lambda day: review_queue.authorized_hours(certificate, day),
    )


def item_rects(session: Session, item_id: int) -> list[Rect]:
    """Where the item is on its sheet's page (points): a field's boxes, a finding's rows or
    signature box; none for a whole page or a finding about the whole sheet."""
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise ItemNotFound(f"no review item {item_id}")
    sheet = session.get(Sheet, item.sheet_id) if item.sheet_id else None
    if sheet is None:
        return []
    if item.reading_id is not None:
        reading = session.get(FieldReading, item.reading_id)
        assert reading is not None
        layout = layout_for(sheet.serial, sheet.month, sheet.form_version)
        return [field_box(layout.field(reading.field_name))]
    if item.finding_code is not None:
        assert sheet.id is not None
        flags = review_queue.finding_flags(session, sheet.id, item.finding_code)
        days = [dt.date.fromisoformat(f.day) for f in flags if f.day]
        return crops.finding_rects(item.finding_code, days)
    return []


def item_evidence_png(session: Session, item_id: int) -> bytes:
    """The image a reviewer judges the item by (`attendance.crops`): a field's crop with its
    boxes and labels drawn, a finding's rows or box, or the whole page (unidentified or
    unregistered pages)."""
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise ItemNotFound(f"no review item {item_id}")
    page = session.get(ScannedPage, item.page_id) if item.page_id else None
    sheet = session.get(Sheet, item.sheet_id) if item.sheet_id else None
    if sheet is not None and page is None:
        page = source_page(session, sheet)
    if page is None:
        raise EvidenceMissing(f"item {item_id} has no page image")
    if item.reading_id is not None and sheet is not None:
        reading = session.get(FieldReading, item.reading_id)
        assert reading is not None
        layout = layout_for(sheet.serial, sheet.month, sheet.form_version)
        return png(crops.field_crop(load_canon(page.canon_path), layout, reading.field_name))
    if item.finding_code is not None and sheet is not None and page.canon_path:
        return png(finding_image(session, sheet, load_canon(page.canon_path), item.finding_code))
    if item.flag_id is not None and sheet is not None and page.canon_path:
        flag = session.get(SheetFlag, item.flag_id)
        assert flag is not None
        canon = load_canon(page.canon_path)
        if flag.day and FLAG_CODES[flag.code].code not in WEEKLY_CODES:
            row = row_rect(dt.date.fromisoformat(flag.day).day)
            return png(cut(canon, row, margin_pt=EVIDENCE_MARGIN_PT))
        return png(canon)
    path = page.canon_path or page.image_path
    if not path or not Path(path).is_file():
        raise EvidenceMissing(f"item {item_id}: the page image is not stored")
    return Path(path).read_bytes()
