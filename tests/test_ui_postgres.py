"""The web app over PostgreSQL: the same site built by the real intake into a fresh database,
worked through the app by two reviewers at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from attendance.models import FieldReading, ReviewItem
from fixtures.website import PROVIDER_A, PROVIDER_B, Site, build_site, login

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
JSON = {"Accept": "application/json"}


@pytest.fixture
def pg_site(postgres_url: str, tmp_path: Path) -> Site:
    return build_site(tmp_path / "attend-data", tmp_path / "work", postgres_url)


@pytest.fixture
def two_reviewers(pg_site: Site) -> Iterator[tuple[tuple[TestClient, str], ...]]:
    app = pg_site.app()
    clients = [TestClient(app, base_url="http://127.0.0.1") for _ in range(2)]
    try:
        names = ("reviewer", "reviewer2")
        yield tuple((c, login(c, name)) for c, name in zip(clients, names, strict=True))
    finally:
        for client in clients:
            client.close()


def _next(client: TestClient, csrf: str, skip: list[int] | None = None) -> dict[str, Any]:
    response = client.post(
        "/review/next", json={"skip": skip or []}, headers={**JSON, "X-CSRF-Token": csrf}
    )
    assert response.status_code == 200, response.text
    item: dict[str, Any] = response.json()["item"]
    assert item is not None
    return item


def test_two_reviewers_work_the_queue_on_postgres(
    pg_site: Site, two_reviewers: tuple[tuple[TestClient, str], ...]
) -> None:
    """GIVEN two reviewers logged in over a PostgreSQL site
    WHEN both ask for their next item, one corrects a field and the other tries a stale save
    THEN they never get the same item, the correction is stored beside the machine's value,
    and the stale save is a 409 that writes nothing."""
    (first, csrf1), (second, csrf2) = two_reviewers
    a, b = _next(first, csrf1), _next(second, csrf2)
    assert a["id"] != b["id"]
    held = first.post(
        f"/review/items/{b['id']}/accept",
        json={"version": b["version"], "reason": "mine?"},
        headers={**JSON, "X-CSRF-Token": csrf1},
    )
    assert held.status_code == 409
    # Work until a field item comes up, and correct it.
    skipped: list[int] = []
    for _ in range(400):
        if a["kind"] in ("field", "qa_sample") and a["field_kind"] == "time":
            break
        first.post(f"/review/items/{a['id']}/skip", headers={**JSON, "X-CSRF-Token": csrf1})
        skipped.append(a["id"])
        a = _next(first, csrf1, skipped)
    else:
        pytest.fail("no time field in the queue")
    value = "06:05" if a["machine_value"] != "06:05" else "06:10"
    saved = first.post(
        f"/review/items/{a['id']}/correct",
        json={"value": value, "version": a["version"]},
        headers={**JSON, "X-CSRF-Token": csrf1},
    )
    assert saved.status_code == 200, saved.text
    stale = first.post(
        f"/review/items/{a['id']}/correct",
        json={"value": "07:00", "version": a["version"]},
        headers={**JSON, "X-CSRF-Token": csrf1},
    )
    assert stale.status_code == 409, stale.text
    with Session(pg_site.engine()) as session:
        item = session.get(ReviewItem, a["id"])
        assert item is not None and item.state != "open" and item.resolved_by == "reviewer"
        assert item.reading_id is not None
        reading = session.get(FieldReading, item.reading_id)
        assert reading is not None
        assert reading.final_value == value and reading.machine_value == a["machine_value"]


def test_a_provider_sees_only_its_own_sheets_on_postgres(pg_site: Site) -> None:
    app = pg_site.app()
    with TestClient(app, base_url="http://127.0.0.1") as client:
        login(client, "provider-a")
        page = client.get("/provider").text
        assert all(s in page for s in pg_site.serials(PROVIDER_A))
        assert not any(s in page for s in pg_site.serials(PROVIDER_B))
        other = pg_site.serials(PROVIDER_B)[0]
        assert client.get(f"/api/sheets/{other}").status_code == 404
    with TestClient(app, base_url="http://127.0.0.1") as public:
        answer = public.get(f"/api/lookup/{pg_site.serials(PROVIDER_B)[0]}").json()
        assert answer["received"] is True and answer["received_on"]
    with Session(pg_site.engine()) as session:
        assert session.exec(select(ReviewItem)).first() is not None


def _sheet(client: TestClient, csrf: str, **body: Any) -> dict[str, Any] | None:
    response = client.post("/review/sheets/next", json=body, headers={**JSON, "X-CSRF-Token": csrf})
    assert response.status_code == 200, response.text
    sheet: dict[str, Any] | None = response.json()["sheet"]
    return sheet


def test_two_reviewers_get_different_sheets_on_postgres(
    pg_site: Site, two_reviewers: tuple[tuple[TestClient, str], ...]
) -> None:
    """GIVEN two reviewers on the review screen over a PostgreSQL site
    WHEN both ask for a sheet, the second asks for the first one's sheet, then the first
    decides every item of it
    THEN they hold different sheets, the second is never handed the first one's, and the first
    sheet ends verified with every decision in the first reviewer's name."""
    (first, csrf1), (second, csrf2) = two_reviewers
    mine, theirs = _sheet(first, csrf1), _sheet(second, csrf2)
    assert mine is not None and theirs is not None and mine["id"] != theirs["id"]
    asked = _sheet(second, csrf2, serial=mine["serial"])
    assert asked is not None and asked["id"] == theirs["id"]
    headers = {**JSON, "X-CSRF-Token": csrf1}
    for _ in range(10):
        for item in mine["items"]:
            if item["kind"] in ("field", "qa_sample"):
                body: dict[str, Any] = {"version": item["version"]}
            else:
                body = {"finding_version": item["finding_version"], "reason": "checked"}
            response = first.post(f"/review/items/{item['id']}/accept", json=body, headers=headers)
            assert response.status_code in (200, 409), response.text
        again = _sheet(first, csrf1, serial=mine["serial"])
        if again is None or again["id"] != mine["id"]:
            break
        mine = again
    with Session(pg_site.engine()) as session:
        items = session.exec(select(ReviewItem).where(ReviewItem.sheet_id == mine["id"])).all()
        assert items and all(i.state == "done" for i in items)
        assert {i.resolved_by for i in items} == {"reviewer"}
