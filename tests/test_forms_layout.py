"""The sheet layout as data: JSON contract, geometry rules, month independence."""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

import pytest

from forms.layout import (
    ABSENCE_CODES,
    CURRENT_FORM,
    FORM_V1,
    FORM_V2,
    MM,
    PAGE_HEIGHT_PT,
    PAGE_WIDTH_PT,
    DateField,
    Layout,
    MarkField,
    Rect,
    SignatureField,
    TimeField,
    UnknownForm,
    build_layout,
)

SERIAL = "7K2M9QXR4T8"
NOV_2026 = datetime.date(2026, 11, 1)
INCH = 72.0
PRINTABLE_INSET = 0.25 * INCH


def all_rects(layout: Layout) -> list[tuple[str, Rect]]:
    """Every rectangle on the sheet, named for error messages."""
    rects: list[tuple[str, Rect]] = [
        ("barcode", layout.barcode),
        ("serial_text", layout.serial_text),
    ]
    rects += [(f"fiducial.{i}", r) for i, r in enumerate(layout.fiducials)]
    for field in layout.fields:
        if isinstance(field, TimeField):
            rects += [(f"{field.name}.cell{i}", c) for i, c in enumerate(field.cells)]
            rects += [(f"{field.name}.am", field.am), (f"{field.name}.pm", field.pm)]
        elif isinstance(field, DateField):
            rects += [(f"{field.name}.cell{i}", c) for i, c in enumerate(field.cells)]
        else:
            rects.append((field.name, field.box))
    return rects


def digit_cells(layout: Layout) -> list[Rect]:
    cells: list[Rect] = []
    for field in layout.fields:
        if isinstance(field, TimeField | DateField):
            cells += field.cells
    return cells


def overlaps(a: Rect, b: Rect) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def is_rect_json(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 4
        and all(isinstance(v, float) and round(v, 2) == v for v in value)
    )


def test_json_round_trips_exactly() -> None:
    """GIVEN a layout WHEN it goes through JSON text and back THEN nothing changes."""
    layout = build_layout(SERIAL, datetime.date(2026, 12, 17))
    text = json.dumps(layout.to_json())
    again = Layout.from_json(json.loads(text))
    assert again == layout
    assert json.dumps(again.to_json()) == text


def test_json_contract_shape() -> None:
    data = build_layout(SERIAL, NOV_2026).to_json()
    assert set(data) == {
        "form",
        "serial",
        "month",
        "page",
        "barcode",
        "serial_text",
        "fiducials",
        "fields",
    }
    assert data["form"] == FORM_V1 == "monthly-v1"
    assert data["serial"] == SERIAL
    assert data["month"] == "2026-11"
    assert data["page"] == {"width_pt": 612, "height_pt": 792}
    assert is_rect_json(data["barcode"]) and is_rect_json(data["serial_text"])
    assert len(data["fiducials"]) == 4 and all(is_rect_json(r) for r in data["fiducials"])

    names = [f["name"] for f in data["fields"]]
    expected: list[str] = []
    for day in range(1, 31):
        expected += [f"day.{day:02d}.in", f"day.{day:02d}.out"]
        expected += [f"day.{day:02d}.absence.{a.code}" for a in ABSENCE_CODES]
    expected += [
        "signature.parent",
        "signature.parent.date",
        "signature.provider",
        "signature.provider.date",
        "family_fee.paid",
    ]
    assert names == expected

    for field in data["fields"]:
        kind = field["kind"]
        if kind == "time":
            assert set(field) == {"name", "kind", "date", "cells", "am", "pm"}
            assert re.fullmatch(r"day\.\d\d\.(in|out)", field["name"])
            assert field["date"] == f"2026-11-{field['name'][4:6]}"
            assert len(field["cells"]) == 4 and all(is_rect_json(c) for c in field["cells"])
            assert is_rect_json(field["am"]) and is_rect_json(field["pm"])
        elif kind == "mark":
            assert set(field) == {"name", "kind", "date", "code", "box"}
            assert is_rect_json(field["box"])
            if field["name"] == "family_fee.paid":
                assert field["date"] is None and field["code"] == "family_fee_paid"
            else:
                assert field["name"].endswith(f".absence.{field['code']}")
                assert field["date"] == f"2026-11-{field['name'][4:6]}"
        elif kind == "signature":
            assert set(field) == {"name", "kind", "box"} and is_rect_json(field["box"])
        else:
            assert kind == "date"
            assert set(field) == {"name", "kind", "cells"}
            assert len(field["cells"]) == 6 and all(is_rect_json(c) for c in field["cells"])


def test_absence_codes_are_the_published_ones() -> None:
    assert [(a.code, a.short) for a in ABSENCE_CODES] == [
        ("child_ill", "CI"),
        ("parent_ill_appointment", "PA"),
        ("family_emergency", "FE"),
        ("court_ordered_visit", "CV"),
        ("best_interest", "BI"),
        ("unexcused", "UX"),
        ("provider_closed", "PC"),
    ]
    assert ABSENCE_CODES[-1].label == "Provider closed (non-operational day)"


def test_field_lookup() -> None:
    layout = build_layout(SERIAL, NOV_2026)
    field = layout.field("day.07.absence.best_interest")
    assert isinstance(field, MarkField)
    assert field.date == datetime.date(2026, 11, 7) and field.code == "best_interest"
    assert isinstance(layout.field("signature.provider"), SignatureField)
    with pytest.raises(KeyError):
        layout.field("day.31.in")  # November has 30 days


def test_digit_cells_are_big_enough_to_write_in() -> None:
    layout = build_layout(SERIAL, datetime.date(2026, 12, 1))
    cells = digit_cells(layout)
    assert len(cells) == 31 * 2 * 4 + 2 * 6
    for _, _, w, h in cells:
        assert w >= 5 * MM and h >= 6 * MM


def test_time_field_reads_left_to_right_with_colon_gap_and_am_pm() -> None:
    for field in build_layout(SERIAL, NOV_2026).fields:
        if not isinstance(field, TimeField):
            continue
        _, h2, m1, m2 = field.cells
        right = [c[0] + c[2] for c in field.cells]
        assert right[0] < h2[0] and right[2] < m2[0]
        colon_gap = m1[0] - right[1]
        assert colon_gap >= 2 * MM > h2[0] - right[0]
        assert field.am[0] > right[3] and field.pm[0] > field.am[0] + field.am[2]
        assert len({c[1] for c in field.cells}) == 1


def test_no_rectangles_overlap() -> None:
    rects = sorted(all_rects(build_layout(SERIAL, datetime.date(2026, 12, 1))), key=lambda r: r[1])
    for i, (name_a, a) in enumerate(rects):
        for name_b, b in rects[i + 1 :]:
            if b[0] >= a[0] + a[2]:
                break  # sorted by x: nothing further right can touch `a`
            assert not overlaps(a, b), f"{name_a} overlaps {name_b}"


def test_everything_is_inside_the_printable_area() -> None:
    for name, (x, y, w, h) in all_rects(build_layout(SERIAL, datetime.date(2026, 12, 1))):
        assert x >= PRINTABLE_INSET and y >= PRINTABLE_INSET, name
        assert x + w <= PAGE_WIDTH_PT - PRINTABLE_INSET, name
        assert y + h <= PAGE_HEIGHT_PT - PRINTABLE_INSET, name


def test_fiducials_sit_in_the_corners_in_order() -> None:
    tl, tr, br, bl = build_layout(SERIAL, NOV_2026).fiducials
    inset = 0.3 * INCH
    assert (tl[0], tl[1]) == pytest.approx((inset, inset), abs=1)
    assert (tr[0] + tr[2], tr[1]) == pytest.approx((PAGE_WIDTH_PT - inset, inset), abs=1)
    assert (br[0] + br[2], br[1] + br[3]) == pytest.approx(
        (PAGE_WIDTH_PT - inset, PAGE_HEIGHT_PT - inset), abs=1
    )
    assert (bl[0], bl[1] + bl[3]) == pytest.approx((inset, PAGE_HEIGHT_PT - inset), abs=1)


def test_qr_is_top_right_and_about_an_inch() -> None:
    layout = build_layout(SERIAL, NOV_2026)
    x, y, w, h = layout.barcode
    assert w == h and 0.85 * INCH <= w <= 1.0 * INCH
    assert x > PAGE_WIDTH_PT / 2 and y < 0.5 * INCH
    sx, sy, sw, _ = layout.serial_text
    assert sy >= y + h and sx < x + w / 2 < sx + sw  # centred under the symbol


@pytest.mark.parametrize(
    ("month", "days"),
    [
        (datetime.date(2026, 2, 1), 28),
        (datetime.date(2028, 2, 14), 29),
        (datetime.date(2026, 11, 30), 30),
        (datetime.date(2026, 12, 1), 31),
    ],
)
def test_one_row_per_day_of_the_month(month: datetime.date, days: int) -> None:
    layout = build_layout(SERIAL, month)
    assert layout.month == month.replace(day=1)
    times = [f for f in layout.fields if isinstance(f, TimeField)]
    assert len(times) == 2 * days
    assert times[-1].date == datetime.date(month.year, month.month, days)
    absences = [f for f in layout.fields if isinstance(f, MarkField) and f.date is not None]
    assert len(absences) == 7 * days


def test_row_geometry_does_not_depend_on_the_month() -> None:
    """GIVEN sheets for a 28-, 29-, 30- and 31-day month THEN day N's boxes are in one place."""

    def geometry(layout: Layout) -> dict[str, Any]:
        data = layout.to_json()
        return {f["name"]: {k: v for k, v in f.items() if k != "date"} for f in data["fields"]}

    months = [datetime.date(2026, 2, 1), datetime.date(2028, 2, 1), NOV_2026]
    reference = geometry(build_layout(SERIAL, datetime.date(2026, 12, 1)))
    for month in months:
        for name, field in geometry(build_layout(SERIAL, month)).items():
            assert field == reference[name], name


# --- monthly-v2 ------------------------------------------------------------------------------


def test_v2_has_v1s_fields_in_v1s_order_and_names_its_form() -> None:
    """GIVEN the same sheet in both revisions WHEN laid out THEN v2 names its form, keeps
    every field name, kind and order of v1 (a v1 reader of the JSON reads v2), and round
    trips through JSON exactly; an unknown revision is refused by name."""
    v1 = build_layout(SERIAL, NOV_2026, form=FORM_V1)
    v2 = build_layout(SERIAL, NOV_2026, form=FORM_V2)
    assert (v1.form, v2.form) == ("monthly-v1", "monthly-v2") and CURRENT_FORM == FORM_V2
    assert [(f.name, type(f)) for f in v1.fields] == [(f.name, type(f)) for f in v2.fields]
    data = v2.to_json()
    assert data["form"] == "monthly-v2"
    assert data.keys() == v1.to_json().keys()
    assert Layout.from_json(json.loads(json.dumps(data))) == v2
    with pytest.raises(UnknownForm, match="monthly-v9"):
        build_layout(SERIAL, NOV_2026, form="monthly-v9")


def test_v2_targets_are_half_an_inch_from_the_corners() -> None:
    tl, tr, br, bl = build_layout(SERIAL, NOV_2026, form=FORM_V2).fiducials
    assert (tl[0], tl[1]) == (0.5 * INCH, 0.5 * INCH)
    assert (tr[0] + tr[2], tr[1]) == (PAGE_WIDTH_PT - 0.5 * INCH, 0.5 * INCH)
    assert (br[0] + br[2], br[1] + br[3]) == (PAGE_WIDTH_PT - 0.5 * INCH, PAGE_HEIGHT_PT - 36)
    assert (bl[0], bl[1] + bl[3]) == (0.5 * INCH, PAGE_HEIGHT_PT - 0.5 * INCH)


def test_v2_rectangles_do_not_overlap_and_stay_printable() -> None:
    rects = all_rects(build_layout(SERIAL, datetime.date(2026, 12, 1), form=FORM_V2))
    for name, (x, y, w, h) in rects:
        assert x >= PRINTABLE_INSET and y >= PRINTABLE_INSET, name
        assert x + w <= PAGE_WIDTH_PT - PRINTABLE_INSET, name
        assert y + h <= PAGE_HEIGHT_PT - PRINTABLE_INSET, name
    ordered = sorted(rects, key=lambda r: r[1][1])
    for i, (name, rect) in enumerate(ordered):
        for other, other_rect in ordered[i + 1 :]:
            if other_rect[1] > rect[1] + rect[3]:
                break
            assert not overlaps(rect, other_rect), (name, other)
