"""The authorization matrix: every route of the app × every role (and no login) × a sheet or
provider of one's own and another's.

`POLICY` names the roles each route serves. The routes come from the app's own route list
(`app.routes`, through `route_table`), not from the route modules, so a route added any way
at all is in it; one the app has and this table does not is a failure, so a new route cannot
ship without saying who may use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from attendance.models import ReviewItem, ScannedPage, User
from fixtures.website import PROVIDER_A, PROVIDER_B, login
from review_ui.app import route_table

ADMIN, MAILROOM, REVIEWER, PROVIDER = "admin", "mailroom", "reviewer", "provider"
STAFF = {ADMIN, MAILROOM, REVIEWER}
REVIEWERS = {ADMIN, REVIEWER}
MAILROOMS = {ADMIN, MAILROOM}
EVERYONE = STAFF | {PROVIDER}
PUBLIC = "public"

# (method, path) -> roles allowed, or PUBLIC (anyone, logged in or not).
POLICY: dict[tuple[str, str], set[str] | str] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): EVERYONE,
    ("GET", "/account"): EVERYONE,
    ("GET", "/lookup"): PUBLIC,
    ("GET", "/api/lookup/{serial}"): PUBLIC,
    ("GET", "/api/openapi.json"): PUBLIC,
    ("GET", "/static/{path}"): PUBLIC,
    ("POST", "/account/password"): EVERYONE,
    # the review screen (one sheet at a time), the queue's item routes, groups
    ("GET", "/review"): REVIEWERS,
    ("POST", "/review/sheets/next"): REVIEWERS,
    ("POST", "/review/sheets/{serial}/release"): REVIEWERS,
    ("POST", "/review/sheets/{serial}/return"): REVIEWERS,
    ("POST", "/review/items/{item_id}/key"): REVIEWERS,
    ("POST", "/review/next"): REVIEWERS,
    ("GET", "/review/items/{item_id}/evidence.png"): REVIEWERS,
    ("GET", "/review/items/{item_id}/page.png"): REVIEWERS,
    ("POST", "/review/items/{item_id}/accept"): REVIEWERS,
    ("POST", "/review/items/{item_id}/correct"): REVIEWERS,
    ("POST", "/review/items/{item_id}/skip"): REVIEWERS,
    ("GET", "/review/groups"): REVIEWERS,
    ("GET", "/review/groups/{kind}/{value}"): REVIEWERS,
    ("POST", "/review/groups/accept"): REVIEWERS,
    # unidentified pages and the sheet view
    ("GET", "/review/pages"): REVIEWERS,
    ("GET", "/review/pages/{item_id}"): REVIEWERS,
    ("GET", "/review/pages/{item_id}/image.png"): REVIEWERS,
    ("POST", "/review/pages/{item_id}/identify"): REVIEWERS,
    ("POST", "/review/pages/{item_id}/not-a-sheet"): REVIEWERS,
    ("GET", "/sheets"): REVIEWERS,
    ("GET", "/sheets/{serial}"): REVIEWERS,
    ("GET", "/sheets/{serial}/page.png"): REVIEWERS,
    # a returned sheet's notice: reviewers, and the provider for its own sheet
    ("GET", "/sheets/{serial}/notice.pdf"): REVIEWERS | {PROVIDER},
    ("POST", "/sheets/{serial}/return"): REVIEWERS,
    # mailroom
    ("GET", "/mailroom"): MAILROOMS,
    ("GET", "/mailroom/batches/{batch_id}"): MAILROOMS,
    ("GET", "/mailroom/pages/{page_id}/thumb.png"): MAILROOMS,
    ("POST", "/mailroom/upload"): MAILROOMS,
    # printing: staff for anyone, a provider for its own
    ("GET", "/print"): EVERYONE,
    ("GET", "/print/providers/{provider_id}/{month}.pdf"): EVERYONE,
    ("GET", "/print/sheets/{serial}.pdf"): EVERYONE,
    # the provider's own pages: its sheets, the photos it sent from a phone
    ("GET", "/provider"): {PROVIDER},
    ("GET", "/provider/photos"): {PROVIDER},
    ("POST", "/provider/photos"): {PROVIDER},
    # admin
    ("GET", "/admin"): {ADMIN},
    ("GET", "/admin/users"): {ADMIN},
    ("POST", "/admin/users"): {ADMIN},
    ("POST", "/admin/users/{user_id}"): {ADMIN},
    ("GET", "/admin/certificates"): {ADMIN},
    ("POST", "/admin/certificates"): {ADMIN},
    ("POST", "/admin/sheets/issue"): {ADMIN},
    ("GET", "/admin/agency"): {ADMIN},
    ("POST", "/admin/agency"): {ADMIN},
    # JSON API
    ("GET", "/api/sheets/{serial}"): EVERYONE,
    ("GET", "/api/providers/{provider_id}/sheets"): EVERYONE,
    ("GET", "/api/export"): REVIEWERS,
}

# Routes whose path names a sheet or a provider: a provider may use them for its own only.
OWNED = re.compile(r"\{(serial|provider_id)\}")


def _routes(app: Any) -> list[tuple[str, str]]:
    return route_table(app)


def _unlisted(routes: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(routes without a policy row, policy rows without a route)."""
    return sorted(set(routes) - set(POLICY)), sorted(set(POLICY) - set(routes))


@pytest.fixture
def clients(app: Any) -> Iterator[dict[str, tuple[TestClient, str]]]:
    """A logged-in client per role (provider = provider-a), and one not logged in."""
    made: dict[str, tuple[TestClient, str]] = {}
    users = {ADMIN: "admin", MAILROOM: "mailroom", REVIEWER: "reviewer", PROVIDER: "provider-a"}
    try:
        for role, username in users.items():
            client = TestClient(app, base_url="http://127.0.0.1")
            made[role] = (client, login(client, username))
        made["anonymous"] = (TestClient(app, base_url="http://127.0.0.1"), "")
        yield made
    finally:
        for client, _ in made.values():
            client.close()


def _values(site: Any, *, own: bool, batch: str) -> dict[str, str]:
    """Real values for every path parameter; `own` picks provider-a's sheet and provider."""
    engine = site.engine()
    with Session(engine) as session:
        field = session.exec(
            select(ReviewItem).where(ReviewItem.kind == "field", ReviewItem.state == "open")
        ).first()
        unidentified = session.exec(
            select(ReviewItem).where(ReviewItem.kind == "unidentified_page")
        ).first()
        page = session.exec(select(ScannedPage).where(col(ScannedPage.canon_path).is_not(None)))
        page_row = page.first()
        user = session.exec(select(User).where(User.username == "reviewer2")).one()
        group = session.exec(
            select(ReviewItem.field_kind, ReviewItem.machine_value).where(
                ReviewItem.kind == "field", col(ReviewItem.machine_value).is_not(None)
            )
        ).first()
    assert field and unidentified and page_row and group
    provider = PROVIDER_A if own else PROVIDER_B
    return {
        "serial": site.serials(provider)[0],
        "provider_id": provider,
        "month": "2026-11",
        "item_id": str(field.id),
        "page_id": str(page_row.id),
        "batch_id": batch,
        "user_id": str(user.id),
        "kind": str(group[0]),
        "value": str(group[1]),
        "path": "app.css",
    }


def _path(template: str, values: dict[str, str], *, unidentified: str) -> str:
    if template.startswith("/review/pages/{item_id}"):
        values = {**values, "item_id": unidentified}
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


def _call(client: TestClient, csrf: str, method: str, path: str) -> Any:
    if method == "GET":
        return client.get(path, follow_redirects=False)
    # A valid CSRF token: this test is about roles, not forgery (see test_ui_security).
    return client.request(
        method, path, headers={"X-CSRF-Token": csrf} if csrf else {}, follow_redirects=False
    )


def test_every_route_is_in_the_policy(app: Any) -> None:
    missing, stale = _unlisted(_routes(app))
    assert not missing, f"routes without a policy: {missing}"
    assert not stale, f"policy rows for routes that do not exist: {stale}"


def test_a_route_without_a_policy_row_is_caught(site: Any) -> None:
    """GIVEN the app with one more route, added straight to the app (not through a route
    module) WHEN the routes are checked against the policy THEN that route is missing."""
    app = site.app()
    app.add_api_route("/debug/users", lambda: {"users": []}, methods=["GET"])
    app.add_route("/debug/raw", lambda request: None, methods=["POST"])
    missing, stale = _unlisted(_routes(app))
    assert missing == [("GET", "/debug/users"), ("POST", "/debug/raw")]
    assert not stale


def test_the_matrix(site: Any, app: Any, clients: dict[str, tuple[TestClient, str]]) -> None:
    """Every route × role × own/other: refused with 403 (401 or a login redirect without a
    session) unless the policy allows it; a provider gets 404 for another provider's sheet or
    provider, exactly as for one that does not exist. Every image answered is no-store (page
    images and crops show children's names)."""
    with Session(site.engine()) as session:
        unidentified = session.exec(
            select(ReviewItem.id).where(ReviewItem.kind == "unidentified_page")
        ).first()
    assert unidentified is not None
    admin, _ = clients[ADMIN]
    batch = re.search(r'data-batch="([^"]+)"', admin.get("/mailroom").text)
    assert batch, "the mailroom lists the site's batch"
    failures: list[str] = []
    checked = images = 0
    # Logging out ends the session the other rows need: last.
    ordered = sorted(_routes(app), key=lambda r: r == ("POST", "/logout"))
    for method, template in ordered:
        policy = POLICY[(method, template)]
        owned = bool(OWNED.search(template))
        for own in (True, False) if owned else (True,):
            path = _path(
                template,
                _values(site, own=own, batch=batch.group(1)),
                unidentified=str(unidentified),
            )
            for role, (client, csrf) in clients.items():
                response = _call(client, csrf, method, path)
                status = response.status_code
                checked += 1
                if status == 200 and response.headers["content-type"].startswith("image/"):
                    images += 1
                    if response.headers.get("cache-control") != "no-store":
                        failures.append(f"{method} {path} as {role}: image not no-store")
                where = f"{method} {path} as {role} ({'own' if own else 'other'}): {status}"
                if policy == PUBLIC:
                    if status in (401, 403):
                        failures.append(where + " refused a public route")
                    continue
                assert isinstance(policy, set)
                if role == "anonymous":
                    login_redirect = status == 303 and response.headers["location"].startswith(
                        "/login"
                    )
                    if not (status == 401 or login_redirect):
                        failures.append(where + " without login")
                elif role not in policy:
                    if status != 403:
                        failures.append(where + " should be 403")
                elif role == PROVIDER and owned and not own:
                    if status != 404:
                        failures.append(where + " should be 404 (another provider's)")
                elif status in (401, 403):
                    failures.append(where + " refused an allowed role")
    assert not failures, "\n".join(failures)
    assert checked > 200
    assert images >= 5  # page images, crops and thumbnails were seen, all no-store


def test_another_providers_sheet_looks_exactly_like_a_missing_one(
    site: Any, clients: dict[str, tuple[TestClient, str]]
) -> None:
    client, _ = clients[PROVIDER]
    other = site.serials(PROVIDER_B)[0]
    missing = "0000000000" + "0"
    for template in ("/api/sheets/{}", "/print/sheets/{}.pdf"):
        theirs = client.get(template.format(other))
        nothing = client.get(template.format(missing))
        assert theirs.status_code == nothing.status_code == 404
        assert theirs.text == nothing.text
