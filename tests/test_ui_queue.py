"""The review queue's item routes in the web app (claim one item, its crop, accept, correct,
skip) and grouped verification. The review screen itself (one sheet at a time) is
tests/test_ui_screen.py."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from attendance import review_queue
from attendance.models import Event, FieldReading, ReviewItem, SheetFlag
from fixtures.website import login

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def reviewer(client: TestClient) -> tuple[TestClient, str]:
    return client, login(client, "reviewer")


@dataclass(frozen=True)
class Group:
    value: str  # the machine's reading, e.g. 07:25
    size: int

    @property
    def key(self) -> str:
        return f"time:{self.value}"

    @property
    def url(self) -> str:
        return f"/review/groups/time/{self.value}"


@pytest.fixture
def group(site: Any) -> Group:
    """The largest group of open time fields the machine read as the same time (the scans of
    the built site vary a little from build to build, so it is looked up)."""
    with Session(site.engine()) as session:
        found = [
            g for g in review_queue.groups(session) if g.field_kind == "time" and g.machine_value
        ]
    assert found and found[0].count >= 3, found
    assert found[0].machine_value is not None
    return Group(found[0].machine_value, found[0].count)


def other_client(app: Any, username: str) -> tuple[TestClient, str]:
    other = TestClient(app, base_url="http://127.0.0.1")
    return other, login(other, username)


def post(client: TestClient, token: str | None, path: str, body: Any = None) -> Any:
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["X-CSRF-Token"] = token
    return client.post(path, json=body, headers=headers)


def next_item(client: TestClient, token: str, **body: Any) -> dict[str, Any]:
    response = post(client, token, "/review/next", body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def item_row(site: Any, item_id: int) -> ReviewItem:
    with Session(site.engine()) as session:
        item = session.get(ReviewItem, item_id)
        assert item is not None
        return item


def reading_of(site: Any, item_id: int) -> FieldReading:
    with Session(site.engine()) as session:
        item = session.get(ReviewItem, item_id)
        assert item is not None and item.reading_id is not None
        reading = session.get(FieldReading, item.reading_id)
        assert reading is not None
        return reading


def event_count(site: Any) -> int:
    with Session(site.engine()) as session:
        return int(session.exec(select(func.count()).select_from(Event)).one())


def events_for_item(site: Any, item_id: int) -> list[Event]:
    with Session(site.engine()) as session:
        rows = session.exec(select(Event).order_by(col(Event.id))).all()
        return [e for e in rows if e.after_json and f'"item": {item_id}' in e.after_json]


def red_flag_item(site: Any) -> int:
    """An open finding with a red flag in it (a missing signature on the demo's sheets)."""
    with Session(site.engine()) as session:
        item_id = session.exec(
            select(ReviewItem.id)
            .join(
                SheetFlag,
                (col(SheetFlag.sheet_id) == col(ReviewItem.sheet_id))
                & (col(SheetFlag.code) == col(ReviewItem.finding_code)),
            )
            .where(ReviewItem.state == "open", SheetFlag.severity == "red")
        ).first()
        assert item_id is not None
        return item_id


def unidentified_item(site: Any) -> int:
    with Session(site.engine()) as session:
        item_id = session.exec(
            select(ReviewItem.id).where(
                ReviewItem.state == "open", ReviewItem.kind == "unidentified_page"
            )
        ).first()
        assert item_id is not None
        return item_id


# --- the queue page and the next item -----------------------------------------------------------


def test_next_claims_an_item_with_its_evidence(site: Any, reviewer: tuple[TestClient, str]) -> None:
    """GIVEN a reviewer WHEN they ask for the next item THEN it is claimed for them and its
    evidence crop and whole page are PNGs; asking again gives the same item (own claims first)."""
    client, token = reviewer
    data = next_item(client, token)
    item = data["item"]
    assert data["remaining"] > 10
    assert item["evidence_url"] == f"/review/items/{item['id']}/evidence.png"
    assert item["page_url"] == f"/review/items/{item['id']}/page.png"
    assert item_row(site, item["id"]).claimed_by == "reviewer"
    evidence = client.get(item["evidence_url"])
    assert evidence.status_code == 200
    assert evidence.headers["content-type"] == "image/png"
    assert evidence.content.startswith(PNG)
    assert evidence.headers["cache-control"] == "no-store"  # a crop may show a name
    page = client.get(item["page_url"])
    assert page.status_code == 200 and page.content.startswith(PNG)
    image = cv2.imdecode(np.frombuffer(page.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None and image.shape[1] <= 1000
    assert next_item(client, token)["item"]["id"] == item["id"]


def test_field_item_has_its_day_context(group: Group, reviewer: tuple[TestClient, str]) -> None:
    client, token = reviewer
    item = next_item(client, token, group=group.key)["item"]
    assert item["kind"] in ("field", "qa_sample")
    assert item["machine_value"] == group.value
    assert item["version"] >= 1
    assert item["date"] and item["weekday"] and item["authorized"]
    assert item["sheet_url"] == f"/sheets/{item['serial']}"
    crop = client.get(item["evidence_url"])
    assert crop.status_code == 200 and crop.content.startswith(PNG)


def test_unknown_item_is_404(reviewer: tuple[TestClient, str]) -> None:
    client, token = reviewer
    assert client.get("/review/items/999999/evidence.png").status_code == 404
    assert client.get("/review/items/999999/page.png").status_code == 404
    response = post(client, token, "/review/items/999999/accept", {"version": None})
    assert response.status_code == 404
    assert "999999" in response.json()["detail"]


def test_empty_group_answers_no_item(reviewer: tuple[TestClient, str]) -> None:
    client, token = reviewer
    data = next_item(client, token, group="time:23:59")
    assert data["item"] is None
    bad = post(client, token, "/review/next", {"group": "colour:red"})
    assert bad.status_code == 400 and "KIND:VALUE" in bad.json()["detail"]


# --- decisions --------------------------------------------------------------------------------


def test_accept_writes_the_decision(
    group: Group, site: Any, reviewer: tuple[TestClient, str]
) -> None:
    """GIVEN a claimed field item WHEN the reviewer confirms it with its version THEN the item is
    closed, the reviewer's value is the machine's, and an event names the reviewer."""
    client, token = reviewer
    item = next_item(client, token, group=group.key)["item"]
    response = post(
        client, token, f"/review/items/{item['id']}/accept", {"version": item["version"]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["resolution"] == "accepted"
    row = item_row(site, item["id"])
    assert (row.state, row.resolution, row.resolved_by) == ("done", "accepted", "reviewer")
    reading = reading_of(site, item["id"])
    assert reading.reviewed and reading.final_value == group.value == reading.machine_value
    assert reading.reviewed_by == "reviewer"
    events = events_for_item(site, item["id"])
    assert [(e.actor, e.entity, e.action) for e in events] == [("reviewer", "field", "accepted")]


def test_correct_keeps_the_machine_value_beside(
    group: Group, site: Any, reviewer: tuple[TestClient, str]
) -> None:
    """GIVEN a field the machine read as T WHEN the reviewer types 7:35 THEN 07:35 is stored as
    the reviewer's value, the machine's T stays beside it, and a `corrected` event is written."""
    client, token = reviewer
    item = next_item(client, token, group=group.key)["item"]
    response = post(
        client,
        token,
        f"/review/items/{item['id']}/correct",
        {"value": "7:35", "version": item["version"], "reason": None},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "item_id": item["id"],
        "resolution": "corrected",
        "value": "07:35",
        "sheet_status": response.json()["sheet_status"],
    }
    reading = reading_of(site, item["id"])
    assert (reading.machine_value, reading.final_value, reading.reviewed) == (
        group.value,
        "07:35",
        True,
    )
    assert reading.version == item["version"] + 1
    events = events_for_item(site, item["id"])
    assert [(e.actor, e.action) for e in events] == [("reviewer", "corrected")]


def test_dash_marks_the_field_blank(
    group: Group, site: Any, reviewer: tuple[TestClient, str]
) -> None:
    client, token = reviewer
    item = next_item(client, token, group=group.key)["item"]
    response = post(
        client,
        token,
        f"/review/items/{item['id']}/correct",
        {"value": "-", "version": item["version"]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["value"] is None
    reading = reading_of(site, item["id"])
    assert reading.reviewed and reading.final_value is None and reading.machine_value == group.value
    assert item_row(site, item["id"]).resolution == "corrected"


def test_typing_the_same_value_confirms(
    group: Group, site: Any, reviewer: tuple[TestClient, str]
) -> None:
    client, token = reviewer
    item = next_item(client, token, group=group.key)["item"]
    # The machine's own value, typed as a reviewer types it (07:25 as 0725): the group is
    # looked up, so the value is the one this build of the site read.
    response = post(
        client,
        token,
        f"/review/items/{item['id']}/correct",
        {"value": group.value.replace(":", ""), "version": item["version"]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["resolution"] == "accepted"
    assert item_row(site, item["id"]).resolution == "accepted"


def test_invalid_value_is_422_and_nothing_changes(
    group: Group, site: Any, reviewer: tuple[TestClient, str]
) -> None:
    client, token = reviewer
    item = next_item(client, token, group=group.key)["item"]
    before = event_count(site)
    response = post(
        client,
        token,
        f"/review/items/{item['id']}/correct",
        {"value": "25:99", "version": item["version"]},
    )
    assert response.status_code == 422
    assert "not a time" in response.json()["detail"]
    assert item_row(site, item["id"]).state == "open"
    assert not reading_of(site, item["id"]).reviewed
    assert event_count(site) == before


def test_skip_releases_and_next_leaves_it_out(site: Any, reviewer: tuple[TestClient, str]) -> None:
    """GIVEN the reviewer's current item WHEN they skip it THEN it is released (open, no claim)
    and the next item, sent with the skipped id, is another one."""
    client, token = reviewer
    first = next_item(client, token)["item"]
    response = post(client, token, f"/review/items/{first['id']}/skip")
    assert response.status_code == 200, response.text
    row = item_row(site, first["id"])
    assert (row.state, row.claimed_by, row.claim_expires_at) == ("open", None, None)
    second = next_item(client, token, skip=[first["id"]])["item"]
    assert second["id"] != first["id"]
    assert item_row(site, first["id"]).claimed_by is None


def test_stale_version_is_409_and_nothing_written(
    group: Group, site: Any, reviewer: tuple[TestClient, str]
) -> None:
    client, token = reviewer
    item = next_item(client, token, group=group.key)["item"]
    before = event_count(site)
    for action, body in (
        ("accept", {"version": item["version"] - 1}),
        ("correct", {"value": "7:40", "version": item["version"] + 3}),
    ):
        response = post(client, token, f"/review/items/{item['id']}/{action}", body)
        assert response.status_code == 409, response.text
        assert "changed since you loaded it" in response.json()["detail"]
    reading = reading_of(site, item["id"])
    assert not reading.reviewed and reading.version == item["version"]
    assert item_row(site, item["id"]).state == "open"
    assert event_count(site) == before


def test_item_held_by_another_reviewer_is_409(
    group: Group, site: Any, app: Any, reviewer: tuple[TestClient, str]
) -> None:
    """GIVEN reviewer2 holds an item WHEN reviewer tries to accept, correct or skip it THEN 409
    and the item stays reviewer2's, unchanged."""
    client, token = reviewer
    other, other_token = other_client(app, "reviewer2")
    held = next_item(other, other_token, group=group.key)["item"]
    assert item_row(site, held["id"]).claimed_by == "reviewer2"
    before = event_count(site)
    for action, body in (
        ("accept", {"version": held["version"]}),
        ("correct", {"value": "8:00", "version": held["version"]}),
        ("skip", None),
    ):
        response = post(client, token, f"/review/items/{held['id']}/{action}", body)
        assert response.status_code == 409, (action, response.text)
        assert "held by another reviewer" in response.json()["detail"]
    row = item_row(site, held["id"])
    assert (row.state, row.claimed_by) == ("open", "reviewer2")
    assert event_count(site) == before
    # reviewer's own next never hands out reviewer2's item
    mine = next_item(client, token)["item"]
    assert mine["id"] != held["id"]
    assert item_row(site, mine["id"]).claimed_by == "reviewer"
    other.close()


def test_red_flag_needs_a_reason(site: Any, reviewer: tuple[TestClient, str]) -> None:
    client, token = reviewer
    item_id = red_flag_item(site)
    before = event_count(site)
    for body in ({"version": None}, {"version": None, "reason": "   "}, None):
        response = post(client, token, f"/review/items/{item_id}/accept", body)
        assert response.status_code == 422, response.text
        assert "needs a reason" in response.json()["detail"]
    assert item_row(site, item_id).state == "open"
    assert event_count(site) == before
    response = post(
        client, token, f"/review/items/{item_id}/accept", {"reason": "parent called, confirmed"}
    )
    assert response.status_code == 200, response.text
    with Session(site.engine()) as session:
        item = session.get(ReviewItem, item_id)
        assert item is not None and item.finding_code is not None
        flags = session.exec(
            select(SheetFlag).where(
                SheetFlag.sheet_id == item.sheet_id, SheetFlag.code == item.finding_code
            )
        ).all()
        assert flags
        for flag in flags:
            assert (flag.state, flag.note, flag.resolved_by) == (
                "accepted",
                "parent called, confirmed",
                "reviewer",
            )
    events = events_for_item(site, item_id)
    assert [(e.actor, e.entity, e.action) for e in events] == [
        ("reviewer", "flag", "accepted")
    ] * len(flags)


def test_flag_cannot_be_corrected(site: Any, reviewer: tuple[TestClient, str]) -> None:
    client, token = reviewer
    item_id = red_flag_item(site)
    response = post(client, token, f"/review/items/{item_id}/correct", {"value": "7:30"})
    assert response.status_code == 422
    assert "not a field" in response.json()["detail"]


def test_unidentified_page_is_accepted_only_as_not_a_sheet(
    site: Any, reviewer: tuple[TestClient, str]
) -> None:
    client, token = reviewer
    item_id = unidentified_item(site)
    page = client.get(f"/review/items/{item_id}/page.png")
    assert page.status_code == 200 and page.content.startswith(PNG)
    refused = post(client, token, f"/review/items/{item_id}/accept", {"version": None})
    assert refused.status_code == 422
    response = post(client, token, f"/review/items/{item_id}/accept", {"reason": "not a sheet"})
    assert response.status_code == 200, response.text
    assert response.json()["resolution"] == "not_a_sheet"
    row = item_row(site, item_id)
    assert (row.state, row.resolution, row.resolved_by) == ("done", "not_a_sheet", "reviewer")


def test_done_item_cannot_be_decided_again(
    group: Group, site: Any, reviewer: tuple[TestClient, str]
) -> None:
    client, token = reviewer
    item = next_item(client, token, group=group.key)["item"]
    path = f"/review/items/{item['id']}/accept"
    assert post(client, token, path, {"version": item["version"]}).status_code == 200
    again = post(client, token, path, {"version": None})
    assert again.status_code == 409  # a conflict: decided already
    assert "already done" in again.json()["detail"]


# --- who may ----------------------------------------------------------------------------------


def every_route(item_id: int, group: Group) -> list[tuple[str, str, Any]]:
    return [
        ("GET", "/review", None),
        ("GET", "/review/groups", None),
        ("GET", group.url, None),
        ("GET", f"/review/items/{item_id}/evidence.png", None),
        ("GET", f"/review/items/{item_id}/page.png", None),
        ("POST", "/review/next", {}),
        ("POST", f"/review/items/{item_id}/accept", {"version": None}),
        ("POST", f"/review/items/{item_id}/correct", {"value": "7:30"}),
        ("POST", f"/review/items/{item_id}/skip", None),
    ]


@pytest.mark.parametrize("username", ["provider-a", "mailroom"])
def test_other_roles_are_refused_everywhere(
    group: Group, site: Any, client: TestClient, username: str
) -> None:
    item_id = unidentified_item(site)
    token = login(client, username)
    before = event_count(site)
    for method, path, body in every_route(item_id, group):
        response = client.get(path) if method == "GET" else post(client, token, path, body)
        assert response.status_code == 403, (username, path, response.status_code)
    form = client.post(
        "/review/groups/accept",
        data={"csrf_token": token, "group": group.key, "item": [str(item_id)]},
    )
    assert form.status_code == 403
    assert item_row(site, item_id).state == "open"
    assert item_row(site, item_id).claimed_by is None
    assert event_count(site) == before


def test_not_logged_in(client: TestClient) -> None:
    assert post(client, None, "/review/next", {}).status_code == 401
    page = client.get("/review", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_post_without_csrf_is_refused(
    group: Group, site: Any, reviewer: tuple[TestClient, str]
) -> None:
    """GIVEN a logged-in reviewer WHEN a POST comes without (or with a wrong) CSRF token THEN
    403 and nothing changes: no claim, no decision, no event."""
    client, token = reviewer
    item = next_item(client, token, group=group.key)["item"]
    fresh = unidentified_item(site)
    before = event_count(site)
    for path, body in (
        ("/review/next", {}),
        (f"/review/items/{item['id']}/accept", {"version": item["version"]}),
        (f"/review/items/{item['id']}/correct", {"value": "7:30"}),
        (f"/review/items/{item['id']}/skip", None),
        (f"/review/items/{fresh}/accept", {"reason": "not a sheet"}),
    ):
        for sent in (None, "wrong-token"):
            response = post(client, sent, path, body)
            assert response.status_code == 403, (path, sent)
    form = client.post(
        "/review/groups/accept", data={"group": group.key, "item": [str(item["id"])]}
    )
    assert form.status_code == 403
    assert item_row(site, item["id"]).state == "open"
    assert item_row(site, item["id"]).claimed_by == "reviewer"
    assert item_row(site, fresh).claimed_by is None
    assert event_count(site) == before


# --- grouped verification ---------------------------------------------------------------------


def test_groups_page_lists_groups(group: Group, reviewer: tuple[TestClient, str]) -> None:
    client, _ = reviewer
    page = client.get("/review/groups")
    assert page.status_code == 200
    link = f'<a class="group" data-group="{group.key}" href="{group.url}">'
    assert link in page.text
    shown = re.search(
        re.escape(link) + r'[^<]*<strong>([^<]+)</strong><span class="count">(\d+)<', page.text
    )
    assert shown and shown.groups() == (group.value, str(group.size))


def group_tiles(client: TestClient, group: Group) -> list[int]:
    page = client.get(group.url)
    assert page.status_code == 200
    return [int(i) for i in re.findall(r'name="item" value="(\d+)" checked>', page.text)]


def test_group_page_shows_tiles_without_claiming(
    group: Group, site: Any, reviewer: tuple[TestClient, str]
) -> None:
    client, _ = reviewer
    page = client.get(group.url)
    assert '<form id="group-form" method="post" action="/review/groups/accept">' in page.text
    assert f'name="group" value="{group.key}"' in page.text
    ids = group_tiles(client, group)
    assert len(ids) == group.size
    for item_id in ids:
        assert (
            f'<label class="tile"><input type="checkbox" name="item" value="{item_id}" checked>'
            f'<img src="/review/items/{item_id}/evidence.png"'
        ) in page.text
        assert f'name="shown" value="{item_id}"' in page.text
        assert item_row(site, item_id).claimed_by is None  # a GET changes nothing
    assert '<script src="/static/groups.js" defer></script>' in page.text
    assert client.get("/static/groups.js").status_code == 200


def test_group_accept_confirms_ticked_and_leaves_unticked(
    group: Group, site: Any, reviewer: tuple[TestClient, str]
) -> None:
    """GIVEN the crops of a group, all claimed by this reviewer (next with the group) WHEN the
    reviewer unticks two and confirms THEN the ticked ones are accepted (events by reviewer), the
    two stay open and unclaimed for one-by-one review, and the groups page says "N confirmed"."""
    client, token = reviewer
    ids = group_tiles(client, group)
    held = next_item(client, token, group=group.key)["item"]["id"]
    untick = [held, next(i for i in ids if i != held)]
    ticked = [i for i in ids if i not in untick]
    response = client.post(
        "/review/groups/accept",
        data={
            "csrf_token": token,
            "group": group.key,
            "item": [str(i) for i in ticked],
            "shown": [str(i) for i in ids],
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/review/groups?confirmed={len(ticked)}"
    for item_id in ticked:
        row = item_row(site, item_id)
        assert (row.state, row.resolution, row.resolved_by) == ("done", "accepted", "reviewer")
        assert [(e.actor, e.action) for e in events_for_item(site, item_id)] == [
            ("reviewer", "accepted")
        ]
    for item_id in untick:
        row = item_row(site, item_id)
        assert (row.state, row.claimed_by) == ("open", None)
    page = client.get(response.headers["location"])
    assert f"{len(ticked)} confirmed" in page.text
    assert sorted(group_tiles(client, group)) == sorted(untick)


def test_group_accept_is_all_or_none(
    group: Group, site: Any, app: Any, reviewer: tuple[TestClient, str]
) -> None:
    """GIVEN reviewer2 holds one crop of the group WHEN reviewer confirms all of them (from a
    page loaded before) THEN 409, nothing is confirmed, and the page says why."""
    client, token = reviewer
    ids = group_tiles(client, group)
    other, other_token = other_client(app, "reviewer2")
    held = next_item(other, other_token, group=group.key)["item"]["id"]
    before = event_count(site)
    response = client.post(
        "/review/groups/accept",
        data={
            "csrf_token": token,
            "group": group.key,
            "item": [str(i) for i in ids],
            "shown": [str(i) for i in ids],
        },
        follow_redirects=False,
    )
    assert response.status_code == 409
    assert "held by another reviewer" in response.text and "Nothing was confirmed" in response.text
    assert all(item_row(site, i).state == "open" for i in ids)
    assert item_row(site, held).claimed_by == "reviewer2"
    assert event_count(site) == before
    other.close()


def test_group_accept_refuses_an_item_of_another_group(
    group: Group, site: Any, reviewer: tuple[TestClient, str]
) -> None:
    client, token = reviewer
    ids = group_tiles(client, group)
    stranger = red_flag_item(site)
    response = client.post(
        "/review/groups/accept",
        data={"csrf_token": token, "group": group.key, "item": [str(ids[0]), str(stranger)]},
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert "not in the group" in response.text
    assert item_row(site, ids[0]).state == "open" and item_row(site, stranger).state == "open"
