"""One screen per sheet: `/review` and its JSON routes (claim a sheet, release it, return it,
key a page that could not be registered), over the real app and a site read by the intake."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from attendance import review_queue
from attendance.errors import InvalidValue
from attendance.models import Event, FieldReading, ReviewItem, Sheet, SheetFlag
from fixtures.website import PROVIDER_A, login, unregistered_sheet
from forms.layout import PAGE_HEIGHT_PT, PAGE_WIDTH_PT
from review_ui.routes import screen
from scanner import timefield

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def reviewer(client: TestClient) -> tuple[TestClient, str]:
    return client, login(client, "reviewer")


def post(client: TestClient, token: str | None, path: str, body: Any = None) -> Any:
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["X-CSRF-Token"] = token
    return client.post(path, json=body, headers=headers)


def next_sheet(client: TestClient, token: str, **body: Any) -> dict[str, Any]:
    response = post(client, token, "/review/sheets/next", body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def event_count(site: Any) -> int:
    with Session(site.engine()) as session:
        return int(session.exec(select(func.count()).select_from(Event)).one())


def open_items(site: Any, sheet_id: int) -> list[ReviewItem]:
    with Session(site.engine()) as session:
        return list(
            session.exec(
                select(ReviewItem).where(
                    ReviewItem.sheet_id == sheet_id, ReviewItem.state == "open"
                )
            ).all()
        )


def serial_with(site: Any, code: str, severity: str | None = None) -> str:
    """A sheet with an open finding item of `code` (the built site's scans vary a little, so
    it is looked up)."""
    with Session(site.engine()) as session:
        query = (
            select(Sheet.serial)
            .join(ReviewItem, col(ReviewItem.sheet_id) == col(Sheet.id))
            .join(
                SheetFlag,
                (col(SheetFlag.sheet_id) == col(Sheet.id))
                & (col(SheetFlag.code) == col(ReviewItem.finding_code)),
            )
            .where(ReviewItem.state == "open", ReviewItem.finding_code == code)
        )
        if severity:
            query = query.where(SheetFlag.severity == severity)
        serial = session.exec(query).first()
    assert serial is not None, code
    return serial


def decide_all(client: TestClient, token: str, sheet: dict[str, Any]) -> list[int]:
    """Confirm every field and accept every finding of `sheet` (with a reason), as the screen
    does: each with the version it was shown with. The ids decided."""
    decided = []
    for item in sheet["items"]:
        if item["kind"] in ("field", "qa_sample"):
            body = {"version": item["version"]}
        else:
            body = {"finding_version": item["finding_version"], "reason": "checked"}
        response = post(client, token, f"/review/items/{item['id']}/accept", body)
        if response.status_code == 409:  # settled by an earlier decision (a finding cleared)
            continue
        assert response.status_code == 200, response.text
        decided.append(item["id"])
    return decided


# --- the page ---------------------------------------------------------------------------------


def test_review_page_is_a_sheet_screen_shell(reviewer: tuple[TestClient, str]) -> None:
    client, _ = reviewer
    page = client.get("/review?serial=0000")
    assert page.status_code == 200
    text = page.text
    for hook in (
        '<section id="sheet" data-serial="0000" data-sheet-id="" hidden>',
        '<section id="item" data-item-id="" data-kind="" data-version="" data-ready="false"',
        '<img id="evidence" src="data:,"',
        '<input id="value" autocomplete="off"',
        'id="message" role="status" aria-live="polite"',
        '<svg id="page-boxes" viewBox="0 0 612 792"',
        '<img id="page-image"',
        '<ol id="items"',
        '<section id="return-panel" hidden>',
        '<input id="return-reason"',
        '<script src="/static/queue.js" defer></script>',
        "<kbd>Esc</kbd> clear the box, or skip the sheet",
        "<kbd>!</kbd> return the sheet",
    ):
        assert hook in text, hook
    assert "<script>" not in text and "style=" not in text
    assert re.search(r'<span id="remaining-sheets">\d+</span>', text)
    assert re.search(r'<span id="remaining-decisions">\d+</span>', text)
    assert client.get("/static/queue.js").status_code == 200
    assert client.get("/static/queue.css").status_code == 200


def test_the_reason_codes_are_the_scanners() -> None:
    """The screen says "AM/PM inferred" from the reading's reason: the codes are the ones the
    time reader writes."""
    assert screen.AMPM_INFERRED == timefield.AMBIGUOUS_AMPM
    assert screen.AMPM_BOTH == timefield.BOTH_AMPM_MARKED
    assert {"not_a_time", "low_confidence"} <= set(screen.REASONS)
    assert timefield.NOT_A_TIME == "not_a_time" and timefield.LOW_CONFIDENCE == "low_confidence"


# --- claiming a sheet ---------------------------------------------------------------------------


def test_next_sheet_claims_every_item_top_to_bottom(
    site: Any, reviewer: tuple[TestClient, str]
) -> None:
    """GIVEN the site's queue WHEN a reviewer asks for the next sheet THEN every open item of
    one sheet is claimed for them, in the order they stand on the page, each with its crop, a
    label, and where it is on the page; asking again gives the same sheet."""
    client, token = reviewer
    data = next_sheet(client, token)
    sheet = data["sheet"]
    assert data["stats"]["sheets_needing_review"] >= 7 and data["previous"] is None
    rows = open_items(site, sheet["id"])
    assert {i["id"] for i in sheet["items"]} == {r.id for r in rows}
    assert {r.claimed_by for r in rows} == {"reviewer"}
    with Session(site.engine()) as session:
        views = [review_queue.describe_item(session, i["id"]) for i in sheet["items"]]
    assert views == sorted(views, key=review_queue.page_order)
    assert sheet["registered"] and sheet["page_size"] == [PAGE_WIDTH_PT, PAGE_HEIGHT_PT]
    assert sheet["serial_display"].replace("-", "") == sheet["serial"]
    page = client.get(sheet["page_url"])
    assert page.status_code == 200 and page.content.startswith(PNG)
    for item in sheet["items"]:
        assert item["label"] and item["evidence_url"].startswith(f"/review/items/{item['id']}/")
        for x, y, w, h in item["rects"]:
            assert x >= 0 and y >= 0
            assert x + w <= PAGE_WIDTH_PT and y + h <= PAGE_HEIGHT_PT
        crop = client.get(item["evidence_url"])
        assert crop.status_code == 200 and crop.content.startswith(PNG), item["label"]
        if item["kind"] in ("field", "qa_sample"):
            assert item["rects"] and isinstance(item["version"], int)
        if item["kind"] == "finding":
            assert re.fullmatch(r"[0-9a-f]{16}", item["finding_version"])
            assert item["severity"] in ("red", "yellow") and item["meaning"]
    again = next_sheet(client, token)["sheet"]
    assert again["id"] == sheet["id"]


def test_a_time_item_says_what_the_page_says(site: Any, reviewer: tuple[TestClient, str]) -> None:
    """GIVEN a time field whose AM/PM boxes were both empty (AM/PM inferred) WHEN its sheet is
    opened THEN the item says so, with the time written the 12-hour way."""
    with Session(site.engine()) as session:
        found = session.exec(
            select(Sheet.serial, ReviewItem.id)
            .join(ReviewItem, col(ReviewItem.sheet_id) == col(Sheet.id))
            .join(FieldReading, col(FieldReading.id) == col(ReviewItem.reading_id))
            .where(ReviewItem.state == "open", FieldReading.reason == "ambiguous_ampm")
        ).first()
    assert found is not None, "the site has a time read without a ticked AM/PM"
    serial, item_id = found
    client, token = reviewer
    sheet = next_sheet(client, token, serial=serial)["sheet"]
    assert sheet["serial"] == serial
    item = next(i for i in sheet["items"] if i["id"] == item_id)
    assert item["ampm"] == "inferred" and "AM/PM inferred" in item["reason_text"]
    hours, minutes = (int(p) for p in item["machine_value"].split(":"))
    suffix = "AM" if hours < 12 else "PM"
    assert item["machine_12h"] == f"{hours % 12 or 12}:{minutes:02d} {suffix}"
    assert re.fullmatch(r"\w{3} \w{3} \d{1,2} - time (in|out)", item["label"])


def test_a_finding_shows_its_days_with_the_authorized_hours(
    site: Any, reviewer: tuple[TestClient, str]
) -> None:
    client, token = reviewer
    serial = serial_with(site, "incomplete_pair")
    sheet = next_sheet(client, token, serial=serial)["sheet"]
    item = next(i for i in sheet["items"] if i["flag_code"] == "incomplete_pair")
    assert item["rows"] and len(item["rows"]) == len(item["days"])
    for row in item["rows"]:
        assert re.fullmatch(r"\d{2}:\d{2}-\d{2}:\d{2}(, .*)?|none.*", row["authorized"])
        assert "time" in row["message"] and not row["message"].startswith("Nov")
    assert item["evidence_url"].endswith(f"?v={item['finding_version']}")
    crop = client.get(item["evidence_url"])
    image = cv2.imdecode(np.frombuffer(crop.content, np.uint8), cv2.IMREAD_COLOR)
    # The rows it is about, not the whole page (1700 x 2200 at 200 dpi).
    assert image.shape[0] < 1000 and image.shape[1] < 1000
    signature = next_sheet(client, token, serial=serial_with(site, "parent_signature_missing"))
    found = next(
        i for i in signature["sheet"]["items"] if i["flag_code"] == "parent_signature_missing"
    )
    assert found["severity"] == "red" and found["label"] == "Parent signature missing"
    assert len(found["rects"]) == 1 and found["rects"][0][1] > 700  # the footer's box


def test_asking_for_a_sheet_that_is_done_gives_the_next(
    site: Any, reviewer: tuple[TestClient, str]
) -> None:
    """GIVEN a reviewer working a sheet WHEN every item of it is decided and the screen asks
    for the same sheet THEN it answers the next sheet, and says what became of the first;
    each decision wrote its own event."""
    client, token = reviewer
    first = next_sheet(client, token)["sheet"]
    before = event_count(site)
    decided = decide_all(client, token, first)
    assert decided and event_count(site) >= before + len(decided)
    data = next_sheet(client, token, serial=first["serial"], skip=[])
    while data["sheet"] and data["sheet"]["id"] == first["id"]:  # findings a correction made
        decide_all(client, token, data["sheet"])
        data = next_sheet(client, token, serial=first["serial"])
    assert data["previous"] == {
        "serial": first["serial"],
        "serial_display": first["serial_display"],
        "status": "verified",
    }
    assert data["sheet"] is not None and data["sheet"]["id"] != first["id"]
    assert not open_items(site, first["id"])


def test_a_stale_finding_is_refused(site: Any, reviewer: tuple[TestClient, str]) -> None:
    """GIVEN a finding as the screen showed it WHEN it is accepted with another finding
    version (its days changed since) THEN 409 and nothing is written."""
    client, token = reviewer
    sheet = next_sheet(client, token, serial=serial_with(site, "incomplete_pair"))["sheet"]
    item = next(i for i in sheet["items"] if i["kind"] == "finding")
    before = event_count(site)
    response = post(
        client,
        token,
        f"/review/items/{item['id']}/accept",
        {"finding_version": "0" * 16, "reason": "checked"},
    )
    assert response.status_code == 409
    assert "changed since" in response.json()["detail"]
    assert event_count(site) == before
    with Session(site.engine()) as session:
        row = session.get(ReviewItem, item["id"])
        assert row is not None and row.state == "open"
    response = post(
        client,
        token,
        f"/review/items/{item['id']}/accept",
        {"finding_version": item["finding_version"], "reason": "checked"},
    )
    assert response.status_code == 200, response.text


def test_escape_releases_the_sheet(site: Any, app: Any, reviewer: tuple[TestClient, str]) -> None:
    """GIVEN a claimed sheet WHEN the reviewer releases it THEN its items are nobody's, the
    next sheet (sent with it skipped) is another, and a second reviewer can take it."""
    client, token = reviewer
    first = next_sheet(client, token)["sheet"]
    response = post(client, token, f"/review/sheets/{first['serial']}/release")
    assert response.status_code == 200, response.text
    assert response.json()["released"] == len(first["items"])
    assert {r.claimed_by for r in open_items(site, first["id"])} == {None}
    second = next_sheet(client, token, skip=[first["id"]])["sheet"]
    assert second["id"] != first["id"]
    other = TestClient(app, base_url="http://127.0.0.1")
    other_token = login(other, "reviewer2")
    taken = next_sheet(other, other_token, serial=first["serial"])["sheet"]
    assert taken["id"] == first["id"]
    assert {r.claimed_by for r in open_items(site, first["id"])} == {"reviewer2"}
    # reviewer's screen never hands out a sheet reviewer2 holds
    mine = next_sheet(client, token, serial=first["serial"])
    assert mine["sheet"] is None or mine["sheet"]["id"] != first["id"]
    other.close()


def test_an_unknown_serial_is_404(reviewer: tuple[TestClient, str]) -> None:
    client, token = reviewer
    response = post(client, token, "/review/sheets/next", {"serial": "0000000000A"})
    assert response.status_code == 404
    assert post(client, token, "/review/sheets/0000000000A/release").status_code == 404


# --- returning a sheet ---------------------------------------------------------------------------


def test_a_sheet_is_returned_from_the_screen(site: Any, reviewer: tuple[TestClient, str]) -> None:
    """GIVEN a sheet missing its parent's signature, open on the screen WHEN the reviewer
    returns it THEN it is returned, its items close, the notice is ready, and returning it
    again is refused."""
    client, token = reviewer
    serial = serial_with(site, "parent_signature_missing")
    sheet = next_sheet(client, token, serial=serial)["sheet"]
    assert sheet["returnable"]
    assert any("parent's signature" in p for p in sheet["problems"])
    response = post(client, token, f"/review/sheets/{serial}/return", {"reason": None})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "returned"
    assert response.json()["notice_url"] == f"/sheets/{serial}/notice.pdf"
    assert not open_items(site, sheet["id"])
    notice = client.get(response.json()["notice_url"])
    assert notice.status_code == 200 and notice.content.startswith(b"%PDF")
    again = post(client, token, f"/review/sheets/{serial}/return", {"reason": "x"})
    assert again.status_code == 409 and "already returned" in again.json()["detail"]
    issued = site.serials(PROVIDER_A, status="issued")
    if not issued:
        site.cli().ok("sheets", "issue", "--month", "2026-12")
        issued = site.serials(PROVIDER_A, status="issued", month="2026-12")
    refused = post(client, token, f"/review/sheets/{issued[0]}/return", {"reason": "x"})
    assert refused.status_code == 422 and "cannot be returned" in refused.json()["detail"]


# --- a page that could not be registered ----------------------------------------------------------


def test_parse_keyed_pairs() -> None:
    assert screen.parse_keyed("5.in=7:30 5.out=5:30p, 12.ci=x; parent=signed fee=x") == {
        "day.05.in": "7:30",
        "day.05.out": "5:30p",
        "day.12.absence.child_ill": "x",
        "signature.parent": "signed",
        "family_fee.paid": "x",
    }
    assert screen.parse_keyed("day.02.in=0745 2.absence.unexcused=x") == {
        "day.02.in": "0745",
        "day.02.absence.unexcused": "x",
    }
    for bad, said in (
        ("5.in", "FIELD=VALUE"),
        ("=7", "FIELD=VALUE"),
        ("5.in=7:30 05.in=8:00", "twice"),
        ("  ", "pairs"),
    ):
        with pytest.raises(InvalidValue, match=said):
            screen.parse_keyed(bad)


def test_an_unregistered_page_is_keyed_from_the_screen(
    site: Any, reviewer: tuple[TestClient, str], tmp_path: Path
) -> None:
    """GIVEN a sheet whose page could not be registered WHEN it is opened THEN it is one item,
    the whole page; a wrong pair is refused with nothing written; the typed pairs are stored
    as the reviewer's values (every other field blank) and the rules run on them."""
    serial = unregistered_sheet(site, tmp_path)
    client, token = reviewer
    sheet = next_sheet(client, token, serial=serial)["sheet"]
    assert sheet["serial"] == serial and not sheet["registered"]
    [item] = sheet["items"]
    assert item["kind"] == "unregistered_page" and item["rects"] == []
    assert item["evidence_url"] == item["page_url"]
    image = client.get(item["evidence_url"])
    assert image.status_code == 200 and image.content.startswith(PNG)
    before = event_count(site)
    for bad in ("2.in=25:00", "32.in=7:00", "2.in"):
        response = post(client, token, f"/review/items/{item['id']}/key", {"values": bad})
        assert response.status_code == 422, (bad, response.text)
    assert event_count(site) == before
    response = post(
        client,
        token,
        f"/review/items/{item['id']}/key",
        {"values": "1.in=7:45 1.out=5:00p parent=signed provider=signed"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["resolution"] == "keyed"
    with Session(site.engine()) as session:
        readings = {
            r.field_name: r
            for r in session.exec(
                select(FieldReading)
                .join(Sheet, col(Sheet.id) == col(FieldReading.sheet_id))
                .where(Sheet.serial == serial)
            ).all()
        }
        keyed = session.exec(select(Event).where(Event.action == "keyed")).all()
    assert readings["day.01.in"].final_value == "07:45"
    assert readings["day.01.out"].final_value == "17:00"
    assert readings["signature.parent"].final_value == "signed"
    assert readings["day.02.in"].final_value is None and readings["day.02.in"].reviewed
    assert all(r.machine_value is None for r in readings.values())
    assert [e.actor for e in keyed] == ["reviewer"]


# --- who may ----------------------------------------------------------------------------------


def screen_routes(serial: str, item_id: int) -> list[tuple[str, Any]]:
    return [
        ("/review/sheets/next", {}),
        (f"/review/sheets/{serial}/release", None),
        (f"/review/sheets/{serial}/return", {"reason": "x"}),
        (f"/review/items/{item_id}/key", {"values": "1.in=7:00"}),
    ]


@pytest.mark.parametrize("username", ["provider-a", "mailroom"])
def test_other_roles_are_refused(site: Any, client: TestClient, username: str) -> None:
    serial = serial_with(site, "parent_signature_missing")
    token = login(client, username)
    before = event_count(site)
    assert client.get("/review").status_code == 403
    for path, body in screen_routes(serial, 1):
        response = post(client, token, path, body)
        assert response.status_code == 403, (username, path)
    with Session(site.engine()) as session:
        claimed = session.exec(
            select(func.count())
            .select_from(ReviewItem)
            .where(col(ReviewItem.claimed_by).is_not(None))
        ).one()
    assert claimed == 0 and event_count(site) == before


def test_not_logged_in_and_without_csrf(site: Any, reviewer: tuple[TestClient, str]) -> None:
    """GIVEN the screen's routes WHEN called without a session, or logged in without (or
    with a wrong) CSRF token THEN 401 / 403 and nothing changes: no claim, no return."""
    client, _ = reviewer
    serial = serial_with(site, "parent_signature_missing")
    anonymous = TestClient(client.app, base_url="http://127.0.0.1")
    page = anonymous.get("/review", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    before = event_count(site)
    for path, body in screen_routes(serial, 1):
        assert post(anonymous, None, path, body).status_code == 401, path
        for sent in (None, "wrong-token"):
            assert post(client, sent, path, body).status_code == 403, (path, sent)
    with Session(site.engine()) as session:
        claimed = session.exec(
            select(func.count())
            .select_from(ReviewItem)
            .where(col(ReviewItem.claimed_by).is_not(None))
        ).one()
        status = session.exec(select(Sheet.status).where(Sheet.serial == serial)).one()
    assert claimed == 0 and status != "returned" and event_count(site) == before
    anonymous.close()


def test_what_groups_confirm_drops_off_the_sheet(
    site: Any, reviewer: tuple[TestClient, str]
) -> None:
    """GIVEN a sheet on the reviewer's screen WHEN one of its fields is confirmed on the
    grouped verification page (the fast first pass) THEN the sheet, asked for again, no longer
    has that item, and the rest are still the reviewer's."""
    client, token = reviewer
    sheet = next_sheet(client, token)["sheet"]
    field = next(i for i in sheet["items"] if i["kind"] in ("field", "qa_sample"))
    group = f"{field['field_kind']}:{field['machine_value'] or 'blank'}"
    response = client.post(
        "/review/groups/accept",
        data={"csrf_token": token, "group": group, "item": [str(field["id"])]},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    again = next_sheet(client, token, serial=sheet["serial"])["sheet"]
    assert len(sheet["items"]) > 1 and again is not None and again["id"] == sheet["id"]
    ids = {i["id"] for i in again["items"]}
    assert field["id"] not in ids and ids == {r.id for r in open_items(site, sheet["id"])}
    assert {r.claimed_by for r in open_items(site, sheet["id"])} == {"reviewer"}
