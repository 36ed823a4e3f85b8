"""The admin pages: users, certificates and issuing, agency settings. Against the real app
over a real SQLite site (fixtures/website.py)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, col, select

from attendance.models import Certificate, Event, Sheet, User
from fixtures.website import LOGIN_CSRF, PASSWORD, login
from tests.conftest import CERTIFICATES_CSV

NEW_PASSWORD = "a brand new password 42"


def _client(app: Any) -> TestClient:
    return TestClient(app, base_url="http://127.0.0.1")


def _user(site: Any, username: str) -> User | None:
    with Session(site.engine()) as session:
        return session.exec(select(User).where(User.username == username)).first()


def _user_id(site: Any, username: str) -> int:
    user = _user(site, username)
    assert user is not None and user.id is not None
    return user.id


def _count(site: Any, model: Any, *where: Any) -> int:
    with Session(site.engine()) as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())


def _events(site: Any, entity: str, action: str) -> list[Event]:
    with Session(site.engine()) as session:
        statement = (
            select(Event)
            .where(Event.entity == entity, Event.action == action)
            .order_by(col(Event.id))
        )
        return list(session.exec(statement).all())


def _agency(site: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(site.cli().ok("agency", "show", "--json"))
    return data


def _new_user_form(csrf: str, **changes: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf,
        "username": "reviewer3",
        "display_name": "Third Reviewer",
        "role": "reviewer",
        "provider_id": "",
        "password": NEW_PASSWORD,
    }
    form.update(changes)
    return form


def _edit_form(csrf: str, **changes: str) -> dict[str, str]:
    form = {"csrf_token": csrf, "role": "reviewer", "provider_id": "", "active": "on"}
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


# --- pages --------------------------------------------------------------------------------


def test_admin_overview_links_and_counts(client: TestClient) -> None:
    login(client, "admin")
    page = client.get("/admin")
    assert page.status_code == 200
    for href in ("/admin/users", "/admin/certificates", "/admin/agency"):
        assert f'href="{href}"' in page.text
    assert re.search(r'id="certificate-count">8<', page.text)
    assert re.search(r'data-role="reviewer">2<', page.text)
    assert "2026-11" in page.text
    assert 'href="/static/admin.css"' in page.text
    assert "<script>" not in page.text and "style=" not in page.text
    assert client.get("/static/admin.css").status_code == 200


def test_admin_pages_render_for_admin(client: TestClient) -> None:
    login(client, "admin")
    users = client.get("/admin/users")
    assert users.status_code == 200
    assert 'id="add-user-form"' in users.text and "provider-a" in users.text
    certificates = client.get("/admin/certificates")
    assert certificates.status_code == 200
    assert 'id="import-form"' in certificates.text and 'id="issue-form"' in certificates.text
    agency = client.get("/admin/agency")
    assert agency.status_code == 200
    assert 'name="past_due_days"' in agency.text and 'value="30"' in agency.text
    assert 'name="absence_limits.best_interest"' in agency.text
    assert "ATTEND_REVIEW_THRESHOLD" in agency.text and "0.95" in agency.text
    for page in (users, certificates, agency):
        assert "<script>" not in page.text and "style=" not in page.text


# --- users --------------------------------------------------------------------------------


def test_add_user_then_log_in_as_them(site: Any, app: Any, client: TestClient) -> None:
    """GIVEN an admin on the users page
    WHEN they add a reviewer with the form
    THEN the user exists, the creation is logged with the admin as actor,
    and the new user can log in and reach the review pages."""
    csrf = login(client, "admin")
    response = client.post("/admin/users", data=_new_user_form(csrf), follow_redirects=False)
    assert response.status_code == 303
    page = client.get(response.headers["location"])
    assert 'id="users-notice"' in page.text and "reviewer3" in page.text
    user = _user(site, "reviewer3")
    assert user is not None and user.role == "reviewer" and user.active
    assert user.display_name == "Third Reviewer"
    created = _events(site, "user", "created")[-1]
    assert created.actor == "admin" and created.entity_id == str(user.id)
    assert NEW_PASSWORD not in (created.after_json or "")
    with _client(app) as other:
        login(other, "reviewer3", NEW_PASSWORD)
        assert other.get("/account").status_code == 200
        assert other.get("/admin").status_code == 403


def test_add_provider_user_with_provider(site: Any, client: TestClient) -> None:
    csrf = login(client, "admin")
    form = _new_user_form(csrf, username="provider-c", role="provider", provider_id="P-300")
    assert client.post("/admin/users", data=form, follow_redirects=False).status_code == 303
    user = _user(site, "provider-c")
    assert user is not None and user.provider_id == "P-300"


def test_too_short_password_creates_no_user(site: Any, client: TestClient) -> None:
    csrf = login(client, "admin")
    users_before = _count(site, User)
    response = client.post("/admin/users", data=_new_user_form(csrf, password="short pass"))
    assert response.status_code == 400
    assert "at least 12 characters" in response.text
    assert 'value="reviewer3"' in response.text  # the form keeps what was typed...
    assert "short pass" not in response.text  # ...but never the password
    assert _user(site, "reviewer3") is None
    assert _count(site, User) == users_before


def test_provider_user_needs_provider_id(site: Any, client: TestClient) -> None:
    csrf = login(client, "admin")
    response = client.post(
        "/admin/users", data=_new_user_form(csrf, username="provider-x", role="provider")
    )
    assert response.status_code == 400
    assert "needs the provider" in response.text
    assert _user(site, "provider-x") is None
    response = client.post(
        "/admin/users",
        data=_new_user_form(csrf, username="provider-x", role="provider", provider_id="P-999"),
    )
    assert response.status_code == 400
    assert "no provider with id P-999" in response.text
    assert _user(site, "provider-x") is None


def test_taken_username_is_refused(site: Any, client: TestClient) -> None:
    csrf = login(client, "admin")
    response = client.post("/admin/users", data=_new_user_form(csrf, username="Reviewer"))
    assert response.status_code == 400
    assert "taken" in response.text
    assert _count(site, User, User.username == "reviewer") == 1


def test_deactivating_a_user_ends_their_session(site: Any, app: Any, client: TestClient) -> None:
    """GIVEN reviewer2 logged in on a second client
    WHEN the admin unticks reviewer2's active box and saves
    THEN reviewer2's next page goes to the login form, an API call gets 401,
    they cannot log in again, and the change is logged with the admin as actor."""
    csrf = login(client, "admin")
    target = _user_id(site, "reviewer2")
    with _client(app) as other:
        login(other, "reviewer2")
        assert other.get("/account").status_code == 200
        response = client.post(
            f"/admin/users/{target}",
            data={"csrf_token": csrf, "role": "reviewer", "provider_id": ""},
            follow_redirects=False,
        )
        assert response.status_code == 303
        page = other.get("/account", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        assert other.get("/account", headers={"accept": "application/json"}).status_code == 401
        form = other.get("/login").text
        token = LOGIN_CSRF.search(form)
        assert token
        again = other.post(
            "/login",
            data={"username": "reviewer2", "password": PASSWORD, "csrf_token": token.group(1)},
            follow_redirects=False,
        )
        assert again.status_code == 401
    user = _user(site, "reviewer2")
    assert user is not None and not user.active
    updated = _events(site, "user", "updated")[-1]
    assert updated.actor == "admin" and updated.entity_id == str(target)
    assert json.loads(updated.after_json or "{}")["active"] is False


def test_changing_role_and_password(site: Any, app: Any, client: TestClient) -> None:
    """GIVEN the mailroom user
    WHEN the admin makes them a provider user of P-200 with a new password
    THEN they log in with the new password (not the old) and land on the provider page."""
    csrf = login(client, "admin")
    target = _user_id(site, "mailroom")
    form = _edit_form(csrf, role="provider", provider_id="P-200", password=NEW_PASSWORD)
    response = client.post(f"/admin/users/{target}", data=form, follow_redirects=False)
    assert response.status_code == 303
    user = _user(site, "mailroom")
    assert user is not None and user.role == "provider" and user.provider_id == "P-200"
    updated = _events(site, "user", "updated")[-1]
    assert json.loads(updated.after_json or "{}")["password"] == "changed"
    assert NEW_PASSWORD not in (updated.after_json or "")
    with _client(app) as other:
        login(other, "mailroom", NEW_PASSWORD)
        assert other.get("/admin").status_code == 403


def test_edit_with_bad_password_changes_nothing(site: Any, client: TestClient) -> None:
    csrf = login(client, "admin")
    target = _user_id(site, "reviewer2")
    response = client.post(
        f"/admin/users/{target}", data=_edit_form(csrf, role="admin", password="too short")
    )
    assert response.status_code == 400
    assert "at least 12 characters" in response.text
    user = _user(site, "reviewer2")
    assert user is not None and user.role == "reviewer" and user.active


def test_edit_unknown_user_is_404(client: TestClient) -> None:
    csrf = login(client, "admin")
    assert client.post("/admin/users/99999", data=_edit_form(csrf)).status_code == 404


def test_admin_cannot_deactivate_or_demote_themself(site: Any, client: TestClient) -> None:
    csrf = login(client, "admin")
    me = _user_id(site, "admin")
    updates_before = len(_events(site, "user", "updated"))
    deactivate = client.post(
        f"/admin/users/{me}", data={"csrf_token": csrf, "role": "admin", "provider_id": ""}
    )
    assert deactivate.status_code == 400
    assert "cannot deactivate your own account" in deactivate.text
    demote = client.post(f"/admin/users/{me}", data=_edit_form(csrf, role="reviewer"))
    assert demote.status_code == 400
    assert "cannot remove your own admin role" in demote.text
    user = _user(site, "admin")
    assert user is not None and user.active and user.role == "admin"
    assert len(_events(site, "user", "updated")) == updates_before
    assert client.get("/admin").status_code == 200  # still logged in


# --- certificates and issuing ---------------------------------------------------------------


def _upload(client: TestClient, csrf: str, text: str, name: str = "certificates.csv") -> Any:
    return client.post(
        "/admin/certificates",
        data={"csrf_token": csrf},
        files={"file": (name, text.encode("utf-8"), "text/csv")},
    )


def test_certificate_upload_imports(site: Any, client: TestClient) -> None:
    """GIVEN the demo certificates already imported
    WHEN the admin uploads the same file plus one new certificate
    THEN one is created, the rest are unchanged, and the new row is in the database."""
    csrf = login(client, "admin")
    text = CERTIFICATES_CSV.read_text(encoding="utf-8").rstrip("\n") + "\n"
    text += (
        "C-9001,Olivia,Newchild,2022-05-05,Pat Newchild,P-300,Lee Kinship Care,"
        "exempt,2026-12-01,2027-11-30,Mon-Fri 08:00-16:00,40,full_time,,\n"
    )
    before = _count(site, Certificate)
    response = _upload(client, csrf, text, name="Olivia Newchild.csv")
    assert response.status_code == 200, response.text[:500]
    assert re.search(r'id="import-created">1<', response.text)
    assert re.search(r'id="import-unchanged">8<', response.text)
    assert _count(site, Certificate) == before + 1
    with Session(site.engine()) as session:
        added = session.get(Certificate, "C-9001")
        assert added is not None and added.provider_id == "P-300"
    created = _events(site, "certificate", "created")
    assert created and created[-1].actor == "admin"


def test_broken_certificate_csv_imports_nothing(site: Any, client: TestClient) -> None:
    csrf = login(client, "admin")
    text = CERTIFICATES_CSV.read_text(encoding="utf-8").rstrip("\n") + "\n"
    text += (
        "C-9002,Secretname,Hiddenfamily,2022-13-45,Pat Hiddenfamily,P-300,"
        "Lee Kinship Care,exempt,2026-12-01,2027-11-30,"
        "Mon-Fri 08:00-16:00,40,sometimes,,\n"
    )
    before = _count(site, Certificate)
    response = _upload(client, csrf, text)
    assert response.status_code == 400
    assert 'id="import-errors"' in response.text
    assert "nothing imported" in response.text
    assert "child_birth_date" in response.text and "schedule_type" in response.text
    assert re.search(r'<td class="num">10</td>', response.text)  # the line of the bad row
    for private in ("Secretname", "Hiddenfamily", "2022-13-45"):
        assert private not in response.text
    assert _count(site, Certificate) == before
    with Session(site.engine()) as session:
        assert session.get(Certificate, "C-9002") is None


def test_certificate_upload_that_is_not_csv(site: Any, client: TestClient) -> None:
    csrf = login(client, "admin")
    response = client.post(
        "/admin/certificates",
        data={"csrf_token": csrf},
        files={"file": ("x.csv", b"\xff\xfe\x00garbage", "text/csv")},
    )
    assert response.status_code == 400
    assert "not UTF-8" in response.text


def test_issuing_a_month_creates_sheets(site: Any, client: TestClient) -> None:
    """GIVEN no sheets for 2026-12
    WHEN the admin issues 2026-12, then issues it again
    THEN one sheet per active certificate exists, the second run issues none."""
    csrf = login(client, "admin")
    assert _count(site, Sheet, Sheet.month == "2026-12") == 0
    page = client.get("/admin/certificates")
    assert 'value="2026-12"' in page.text  # the next month is suggested
    response = client.post("/admin/sheets/issue", data={"csrf_token": csrf, "month": "2026-12"})
    assert response.status_code == 200
    assert re.search(r'id="issued-count">7<', response.text)
    assert _count(site, Sheet, Sheet.month == "2026-12") == 7
    issued = [e for e in _events(site, "sheet", "issued") if '"2026-12"' in (e.after_json or "")]
    assert len(issued) == 7 and all(e.actor == "admin" for e in issued)
    again = client.post("/admin/sheets/issue", data={"csrf_token": csrf, "month": "2026-12"})
    assert re.search(r'id="issued-count">0<', again.text) and "7 already issued" in again.text
    assert _count(site, Sheet, Sheet.month == "2026-12") == 7


def test_issuing_a_bad_month_is_400(site: Any, client: TestClient) -> None:
    csrf = login(client, "admin")
    sheets = _count(site, Sheet)
    response = client.post("/admin/sheets/issue", data={"csrf_token": csrf, "month": "2026-13"})
    assert response.status_code == 400 and "YYYY-MM" in response.text
    assert _count(site, Sheet) == sheets


# --- agency settings ------------------------------------------------------------------------


def _agency_form(client: TestClient) -> dict[str, str]:
    """Every field of the agency form with its current value (as a browser would send)."""
    page = client.get("/admin/agency").text
    form = dict(re.findall(r'<input name="([^"]+)" id="[^"]+" value="([^"]*)"', page))
    for name, value in re.findall(r'<textarea name="([^"]+)"[^>]*>([^<]*)</textarea>', page):
        form[name] = value
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    form["csrf_token"] = csrf.group(1)
    return form


def test_agency_setting_change_is_stored_and_logged(site: Any, client: TestClient) -> None:
    """GIVEN the default settings (past_due_days 30)
    WHEN the admin submits the whole form with past_due_days 45 and a holiday added
    THEN `attend agency show` has both, one settings event names the admin and only the
    changed keys, and the form shows the new values."""
    login(client, "admin")
    assert _agency(site)["past_due_days"] == 30
    form = _agency_form(client)
    assert set(form) >= {"timezone", "holidays", "qa_sample_rate", "absence_limits.excused"}
    form["past_due_days"] = "45"
    form["holidays"] = "2026-12-25, 2027-01-01"
    response = client.post("/admin/agency", data=form, follow_redirects=False)
    assert response.status_code == 303
    shown = _agency(site)
    assert shown["past_due_days"] == 45
    assert shown["holidays"] == ["2026-12-25", "2027-01-01"]
    assert shown["due_day"] == 5 and shown["absence_limits"]["excused"] is None
    events = _events(site, "agency", "settings_changed")
    assert len(events) == 1 and events[0].actor == "admin"
    assert set(json.loads(events[0].after_json or "{}")) == {"past_due_days", "holidays"}
    page = client.get(response.headers["location"])
    assert 'id="agency-notice"' in page.text
    assert 'name="past_due_days" id="setting-past-due-days" value="45"' in page.text


def test_the_agency_name_is_set_in_admin_and_printed(
    site: Any, client: TestClient, tmp_path: Path
) -> None:
    """GIVEN the agency name from the environment (Test County)
    WHEN the admin names the agency in its settings
    THEN every page shows the new name, and the printed sheets carry it; emptied again, the
    environment's name is back."""
    login(client, "admin")
    assert "Test County" in client.get("/admin").text
    form = _agency_form(client)
    form["agency_name"] = "Riverside County Child Care Subsidy"
    assert client.post("/admin/agency", data=form, follow_redirects=False).status_code == 303
    assert "Riverside County Child Care Subsidy" in client.get("/admin").text
    pdf = tmp_path / "sheets.pdf"
    site.cli().ok("sheets", "print", "--month", "2026-11", "--provider", "P-100", "-o", str(pdf))
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "RIVERSIDE COUNTY CHILD CARE SUBSIDY" in text.upper()
    form["agency_name"] = ""
    assert client.post("/admin/agency", data=form, follow_redirects=False).status_code == 303
    assert "Test County" in client.get("/admin").text


def test_agency_form_without_changes_saves_nothing(site: Any, client: TestClient) -> None:
    login(client, "admin")
    response = client.post("/admin/agency", data=_agency_form(client), follow_redirects=False)
    assert response.status_code == 303
    assert _events(site, "agency", "settings_changed") == []


def test_agency_absence_limit_and_return_address(site: Any, client: TestClient) -> None:
    login(client, "admin")
    form = _agency_form(client)
    form["absence_limits.best_interest"] = "12"
    form["absence_limits.excused"] = "20"
    form["return_address"] = "Child Care Agency\r\n1 Main St\r\nAnytown"
    assert client.post("/admin/agency", data=form, follow_redirects=False).status_code == 303
    shown = _agency(site)
    assert shown["absence_limits"]["best_interest"] == 12
    assert shown["absence_limits"]["excused"] == 20
    assert shown["return_address"] == "Child Care Agency\n1 Main St\nAnytown"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("due_day", "31", "due_day must be a day from 1 to 28"),
        ("past_due_days", "soon", "past_due_days must be a number"),
        ("timezone", "Mars/Olympus", "is not a known time zone"),
        ("holidays", "2026-12-25,christmas", "is not a date YYYY-MM-DD"),
        ("qa_sample_rate", "2", "qa_sample_rate must be a number from 0 to 1"),
    ],
)
def test_invalid_agency_value_saves_nothing(
    site: Any, client: TestClient, key: str, value: str, message: str
) -> None:
    login(client, "admin")
    before = _agency(site)
    form = _agency_form(client)
    form["past_due_days"] = "45" if key != "past_due_days" else value
    form[key] = value
    response = client.post("/admin/agency", data=form)
    assert response.status_code == 400
    field_id = "setting-" + key.replace("_", "-")
    error = re.search(rf'id="{field_id}-error">([^<]*)<', response.text)
    assert error and message in error.group(1)
    assert f'id="{field_id}" value="{value}"' in response.text  # what was typed is kept
    assert _agency(site) == before  # the valid change (past_due_days 45) was not saved either
    assert _events(site, "agency", "settings_changed") == []


# --- access -------------------------------------------------------------------------------

ADMIN_GETS = ["/admin", "/admin/users", "/admin/certificates", "/admin/agency"]
ADMIN_POSTS = ["/admin/users", "/admin/users/1", "/admin/certificates", "/admin/sheets/issue"]


@pytest.mark.parametrize("username", ["reviewer", "mailroom", "provider-a"])
def test_other_roles_get_403_on_every_admin_route(
    site: Any, client: TestClient, username: str
) -> None:
    csrf = login(client, username)
    users_before = _count(site, User)
    for path in ADMIN_GETS:
        assert client.get(path).status_code == 403, path
    for path in [*ADMIN_POSTS, "/admin/agency"]:
        response = client.post(
            path,
            data={
                "csrf_token": csrf,
                "username": "intruder",
                "role": "admin",
                "password": NEW_PASSWORD,
                "month": "2026-12",
                "past_due_days": "99",
                "active": "on",
            },
        )
        assert response.status_code == 403, path
    assert _count(site, User) == users_before
    assert _count(site, Sheet, Sheet.month == "2026-12") == 0
    assert _agency(site)["past_due_days"] == 30


def test_logged_out_admin_routes(client: TestClient) -> None:
    page = client.get("/admin/users", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert client.post("/admin/sheets/issue", data={"month": "2026-12"}).status_code == 401


def test_post_without_csrf_token_is_refused(site: Any, client: TestClient) -> None:
    login(client, "admin")
    target = _user_id(site, "reviewer2")
    attempts = [
        ("/admin/users", _new_user_form("")),
        (f"/admin/users/{target}", {"role": "reviewer"}),  # would deactivate reviewer2
        ("/admin/sheets/issue", {"month": "2026-12"}),
        ("/admin/agency", {"past_due_days": "45"}),
    ]
    for path, data in attempts:
        data = {k: v for k, v in data.items() if k != "csrf_token"}
        assert client.post(path, data=data).status_code == 403, path
        data["csrf_token"] = "not-the-token"
        assert client.post(path, data=data).status_code == 403, path
    upload = client.post(
        "/admin/certificates",
        files={"file": ("c.csv", CERTIFICATES_CSV.read_bytes(), "text/csv")},
    )
    assert upload.status_code == 403
    assert _user(site, "reviewer3") is None
    reviewer2 = _user(site, "reviewer2")
    assert reviewer2 is not None and reviewer2.active
    assert _count(site, Sheet, Sheet.month == "2026-12") == 0
    assert _agency(site)["past_due_days"] == 30
    assert _events(site, "certificate", "updated") == []
