"""The web app's security habits (OWASP ASVS level 2): passwords, login, sessions, CSRF,
cookies and headers. Against the real app over a real SQLite site."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from attendance import clock
from attendance.db import session_scope
from attendance.ids import file_part
from attendance.models import Event, IntakeFile, User, WebSession
from fixtures.attend import MONTH
from fixtures.website import LOGIN_CSRF, PASSWORD, login
from review_ui.auth import (
    ABSOLUTE_TIMEOUT,
    IDLE_TIMEOUT,
    PASSWORD_CHECKS_AT_ONCE,
    InvalidUser,
    add_user,
    authenticate,
    check_login,
    load_session,
    password_gate,
    start_session,
)
from review_ui.passwords import common_passwords, password_problem
from review_ui.web import SESSION_COOKIE
from tests.legacy import plant_certificate


def _client(
    app: Any, base_url: str = "http://127.0.0.1", address: str = "testclient"
) -> TestClient:
    return TestClient(app, base_url=base_url, client=(address, 50000))


def _login_form(client: TestClient) -> str:
    found = LOGIN_CSRF.search(client.get("/login").text)
    assert found
    return found.group(1)


def _try_login(client: TestClient, username: str, password: str) -> Any:
    token = _login_form(client)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def test_passwords_are_argon2id_and_never_stored_or_logged(site: Any) -> None:
    engine = site.engine()
    with Session(engine) as session:
        user = session.exec(select(User).where(User.username == "reviewer")).one()
        assert user.password_hash.startswith("$argon2id$")
        events = session.exec(select(Event).where(Event.entity == "user")).all()
    assert events, "creating users is logged"
    assert all(PASSWORD not in (e.after_json or "") for e in events)


def test_password_policy_is_length(site: Any) -> None:
    with session_scope(site.engine()) as session, pytest.raises(InvalidUser, match="12"):
        add_user(session, username="shorty", password="elevenchars", role="reviewer", actor="t")


def test_unknown_user_and_wrong_password_get_the_same_answer(client: TestClient) -> None:
    unknown = _try_login(client, "nobody-here", "whatever whatever")
    wrong = _try_login(client, "reviewer", "wrong password here")
    assert unknown.status_code == wrong.status_code == 401
    strip = re.compile(r'value="[^"]*"')
    assert strip.sub("", unknown.text) == strip.sub("", wrong.text)
    assert "Wrong username or password." in unknown.text
    assert SESSION_COOKIE not in unknown.cookies and SESSION_COOKIE not in wrong.cookies


def test_login_needs_its_form_token(client: TestClient) -> None:
    """A login posted from another site (no form token) is refused: no login CSRF."""
    response = client.post(
        "/login",
        data={"username": "reviewer", "password": PASSWORD, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert SESSION_COOKIE not in response.cookies


def test_login_sets_a_hardened_cookie_and_lands_on_the_roles_page(client: TestClient) -> None:
    response = _try_login(client, "Reviewer", PASSWORD)  # user names are case-insensitive
    assert response.status_code == 303
    assert response.headers["location"] == "/review"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
    )
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie  # plain http on localhost
    assert "Max-Age" not in cookie and "expires" not in cookie.lower()  # a browser session


def test_cookies_are_secure_over_https_and_behind_a_tls_proxy(site: Any) -> None:
    with _client(site.app(), "https://127.0.0.1") as client:
        response = _try_login(client, "reviewer", PASSWORD)
        cookie = next(
            c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
        )
        assert "Secure" in cookie
    # Behind a TLS proxy the app sees http, but the browser sees https: still Secure.
    with _client(site.app(secure_cookies=True)) as client:
        cookie = client.get("/login").headers["set-cookie"]
        assert cookie.startswith("attend_login_csrf=") and "Secure" in cookie


def test_a_fresh_session_id_at_login(app: Any, site: Any) -> None:
    """GIVEN a browser that already holds a session id (planted or from an earlier login)
    WHEN it logs in
    THEN it gets a new id, and the old one no longer works."""
    with _client(app) as client:
        login(client, "reviewer")
        old = client.cookies.get(SESSION_COOKIE)
        assert old
        response = _try_login(client, "reviewer2", PASSWORD)
        new = response.cookies.get(SESSION_COOKIE)
        assert new and new != old
    with _client(app) as attacker:
        attacker.cookies.set(SESSION_COOKIE, old)
        assert attacker.get("/account", follow_redirects=False).status_code == 303
    with Session(site.engine()) as session:
        assert len(session.exec(select(WebSession)).all()) == 1


def test_logout_ends_the_session_on_the_server(app: Any) -> None:
    """GIVEN a logged-in reviewer WHEN they log out THEN a copy of the old cookie is dead."""
    with _client(app) as client:
        csrf = login(client, "reviewer")
        token = client.cookies.get(SESSION_COOKIE)
        assert client.get("/account").status_code == 200
        response = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert response.status_code == 303
    with _client(app) as replay:
        replay.cookies.set(SESSION_COOKIE, token)
        response = replay.get("/account", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")


def test_logout_needs_the_csrf_token(app: Any) -> None:
    with _client(app) as client:
        login(client, "reviewer")
        assert client.post("/logout", data={}).status_code == 403
        assert client.post("/logout", data={"csrf_token": "nope"}).status_code == 403
        assert client.get("/account").status_code == 200  # still logged in


def test_a_cross_site_origin_is_refused_even_with_the_token(app: Any) -> None:
    with _client(app) as client:
        csrf = login(client, "reviewer")
        response = client.post(
            "/logout", data={"csrf_token": csrf}, headers={"Origin": "https://evil.example"}
        )
        assert response.status_code == 403
        assert client.get("/account").status_code == 200


def test_login_rate_limit_never_locks_out_the_real_user(site: Any) -> None:
    """GIVEN someone guessing reviewer's password from one address
    WHEN they pass the limit
    THEN that address is told to wait (429, even with the right password), while the real
    reviewer, from another address, logs in as usual."""
    app = site.app(login_limit=(3, 900.0))
    with _client(app) as attacker:
        for _ in range(3):
            assert _try_login(attacker, "reviewer", "guess guess guess").status_code == 401
        blocked = _try_login(attacker, "reviewer", PASSWORD)
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) > 0
        assert SESSION_COOKIE not in blocked.cookies
        # Other users from the same address are not blocked by reviewer's counter.
        assert _try_login(attacker, "reviewer2", PASSWORD).status_code == 303
    # TestClient's address is "testclient"; the real user comes from elsewhere.
    with _client(app, address="192.0.2.7") as real:
        assert _try_login(real, "reviewer", PASSWORD).status_code == 303


def test_the_per_address_limit_stops_spraying_many_usernames(site: Any) -> None:
    app = site.app(login_ip_limit=(4, 900.0))
    with _client(app) as client:
        for name in ("a1", "a2", "a3", "a4"):
            assert _try_login(client, name, "spray spray spray").status_code == 401
        assert _try_login(client, "reviewer", PASSWORD).status_code == 429


def test_idle_and_absolute_timeouts(site: Any) -> None:
    engine = site.engine()
    with session_scope(engine) as session:
        user = authenticate(session, "reviewer", PASSWORD)
        assert user is not None
        token = start_session(session, user)
    start = clock.now()
    with session_scope(engine) as session:
        assert load_session(session, token, now=start + IDLE_TIMEOUT / 2) is not None
    with session_scope(engine) as session:  # active, but past the absolute limit
        assert load_session(session, token, now=start + ABSOLUTE_TIMEOUT / 2) is None
    with session_scope(engine) as session:
        user = authenticate(session, "reviewer", PASSWORD)
        assert user is not None
        token = start_session(session, user)
    with session_scope(engine) as session:
        assert load_session(session, token, now=start + IDLE_TIMEOUT * 1.5) is None
    with session_scope(engine) as session:  # an expired session is deleted, not just refused
        assert load_session(session, token) is None


def test_every_answer_carries_the_security_headers(client: TestClient) -> None:
    for path in ("/login", "/lookup", "/account", "/static/app.css", "/api/openapi.json"):
        response = client.get(path, follow_redirects=False)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert "default-src 'self'" in response.headers["content-security-policy"], path
        assert response.headers["x-frame-options"] == "DENY", path
    assert client.get("/login").headers["cache-control"] == "no-store"


def test_no_inline_scripts_or_styles_in_templates() -> None:
    """The CSP forbids inline script and style; a template that used them would break."""
    templates = Path(__file__).parents[1] / "review_ui" / "templates"
    for path in templates.rglob("*.html"):
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), path.name
        assert " style=" not in text and "<style" not in text, path.name
        assert not re.search(r"\son[a-z]+=", text), path.name  # onclick= and friends


def test_a_deactivated_user_cannot_log_in(site: Any, client: TestClient) -> None:
    with session_scope(site.engine()) as session:
        user = session.exec(select(User).where(User.username == "reviewer2")).one()
        user.active = False
        session.add(user)
    assert _try_login(client, "reviewer2", PASSWORD).status_code == 401


def test_an_oversized_body_is_refused_before_it_is_read(app: Any) -> None:
    """A body that declares more than the limit gets 413 at once (nothing is parsed)."""
    with _client(app) as client:
        csrf = login(client, "admin")
        response = client.post(
            "/admin/agency",
            content=b"x" * 16,
            headers={
                "X-CSRF-Token": csrf,
                "Content-Length": str(64 * 1024 * 1024),
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        assert response.status_code == 413
        assert "larger than 8 MB" in response.json()["detail"]
        assert response.headers["x-content-type-options"] == "nosniff"


def _multipart(size: int, boundary: str = "b0undary") -> Any:
    """A multipart upload of one `size`-byte file, as a stream of 64 KiB pieces."""
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="scan.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    piece = b"%PDF" + b"x" * (64 * 1024 - 4)
    for _ in range(size // len(piece)):
        yield piece
    yield f"\r\n--{boundary}--\r\n".encode()


def test_body_limits_count_streamed_bytes_per_route(site: Any) -> None:
    """GIVEN the app with a 1 MiB form limit and a 4 MiB upload limit
    WHEN bodies are streamed without a Content-Length (chunked)
    THEN a 2 MiB upload is taken in, a 5 MiB one is refused (413) with nothing queued, and
    2 MiB to another route (the login form) is refused (413)."""
    mib = 1024 * 1024
    app = site.app(body_limits=(1 * mib, 4 * mib))
    with _client(app) as client:
        csrf = login(client, "mailroom")
        headers = {"X-CSRF-Token": csrf, "Content-Type": "multipart/form-data; boundary=b0undary"}
        taken = client.post(
            "/mailroom/upload", content=_multipart(2 * mib), headers=headers, follow_redirects=False
        )
        assert taken.status_code == 303, taken.text[:300]
        with Session(site.engine()) as session:
            queued = len(session.exec(select(IntakeFile)).all())
        refused = client.post("/mailroom/upload", content=_multipart(5 * mib), headers=headers)
        assert refused.status_code == 413
        assert "larger than 4 MB" in refused.text
        with Session(site.engine()) as session:
            assert len(session.exec(select(IntakeFile)).all()) == queued
        form = client.post("/login", content=_multipart(2 * mib), headers=headers)
        assert form.status_code == 413
        assert "larger than 1 MB" in form.text


def test_download_names_are_built_from_clean_ids(site: Any) -> None:
    """GIVEN providers with ids `P"q;x=1` and `P-ü€` (imported before ids were validated)
    WHEN an admin downloads their month's sheets
    THEN the PDF comes (no 500), and Content-Disposition names one plain ASCII file built
    from the cleaned id: no quote or `;` of the id's own gets into the header."""
    for number, provider_id in enumerate(('P"q;x=1', "P-ü€")):
        plant_certificate(site.engine(), f"C-90{number}", provider_id)
    site.cli().ok("sheets", "issue", "--month", MONTH)
    with _client(site.app()) as client:
        login(client, "admin")
        for provider_id in ('P"q;x=1', "P-ü€"):
            response = client.get(f"/print/providers/{quote(provider_id, safe='')}/{MONTH}.pdf")
            assert response.status_code == 200, response.text[:200]
            assert response.content.startswith(b"%PDF")
            header = response.headers["content-disposition"]
            expected = f"sheets-{file_part(provider_id)}-{MONTH}.pdf"
            assert header == f'attachment; filename="{expected}"'
            assert header.count('"') == 2 and header.count(";") == 1


def _format_characters(text: str) -> set[str]:
    import unicodedata

    return {f"U+{ord(c):04X}" for c in text if unicodedata.category(c) == "Cf"}


def test_names_are_shown_without_format_characters(site: Any) -> None:
    """GIVEN a child named with a right-to-left override and an isolate, a user whose display
    name has one, and an upload named `Ava \\u202egnp.exe.pdf` (shown as `Ava fdp.exe.png`)
    WHEN the provider, mailroom and reviewer pages show them
    THEN each format character is a visible U+FFFD, and no page carries one."""
    plant_certificate(site.engine(), "C-9100", "P-100", child=("Mia\u202e", "Lee\u2066x"))
    site.cli().ok("sheets", "issue", "--month", MONTH)
    with session_scope(site.engine()) as session:
        add_user(
            session,
            username="rtl-user",
            password=PASSWORD,
            role="mailroom",
            display_name="Mail\u202eroom",
            actor="test",
        )
    app = site.app()
    with _client(app) as provider:
        login(provider, "provider-a")
        page = provider.get("/provider").text
        assert "Mia\ufffd Lee\ufffdx" in page
        assert not _format_characters(page)
    with _client(app) as mailroom:
        csrf = login(mailroom, "rtl-user")
        upload = mailroom.post(
            "/mailroom/upload",
            data={"csrf_token": csrf},
            files=[("files", ("Ava \u202egnp.exe.pdf", b"not a scan", "application/pdf"))],
            follow_redirects=False,
        )
        assert upload.status_code == 303
        batch = mailroom.get(upload.headers["location"]).text
        assert "Ava \ufffdgnp.exe.pdf" in batch
        assert "Mail\ufffdroom" in batch
        assert not _format_characters(batch)
    with _client(app) as reviewer:
        login(reviewer, "reviewer")
        listing = reviewer.get(f"/sheets?month={MONTH}").text
        assert "Mia\ufffd Lee\ufffdx" in listing
        assert not _format_characters(listing)


# --- failed logins, password checks, the password policy -----------------------------------


def test_failed_logins_are_recorded_without_the_password(
    site: Any, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """GIVEN a wrong password for reviewer and a login as a name nobody has
    WHEN both fail
    THEN reviewer's gets a `login_failed` event with the address, both a log line; neither
    holds the password, and the unknown name is not repeated (it may be a password)."""
    caplog.set_level(logging.WARNING, logger="attend.web")
    assert _try_login(client, "reviewer", "wrong password here").status_code == 401
    assert _try_login(client, "my secret passphrase", "whatever whatever").status_code == 401
    with Session(site.engine()) as session:
        failed = session.exec(select(Event).where(Event.action == "login_failed")).all()
        reviewer = session.exec(select(User).where(User.username == "reviewer")).one()
    assert [(e.entity, e.entity_id, e.actor) for e in failed] == [
        ("user", str(reviewer.id), "reviewer")
    ]
    assert json.loads(failed[0].after_json or "{}") == {
        "address": "testclient",
        "reason": "wrong password",
    }
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("attend.web")]
    assert any("failed login: user reviewer" in line and "testclient" in line for line in lines)
    assert any("failed login: unknown user name, from testclient" in line for line in lines)
    logged = "\n".join(lines) + (failed[0].after_json or "")
    for secret in ("wrong password here", "whatever whatever", "my secret passphrase"):
        assert secret not in logged


def test_password_checks_run_a_few_at_a_time(site: Any) -> None:
    """GIVEN more logins at once than the password gate lets through
    WHEN they all check their password at the same moment
    THEN no more than PASSWORD_CHECKS_AT_ONCE argon2 checks ran at once, and all finished."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    engine = site.engine()
    runs = PASSWORD_CHECKS_AT_ONCE * 4
    start = Barrier(runs)

    def attempt(n: int) -> bool:
        start.wait()
        user = ("reviewer", "nobody")[n % 2]  # a wrong password, and a name nobody has
        return check_login(engine, user, "a wrong password") is None

    password_gate.peak = 0
    with ThreadPoolExecutor(runs) as pool:
        assert all(pool.map(attempt, range(runs)))
    assert password_gate.peak == PASSWORD_CHECKS_AT_ONCE
    assert password_gate.running == 0


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("aaaaaaaaaaaa", "different characters"),
        ("abababababab", "different characters"),
        ("password1234", "most common"),
        ("QwertyUiop12!", "most common"),
        ("1q2w3e4r5t6y", "most common"),
        ("2024 dragon!!", "most common"),
        ("abcdefghijklmn", "run of characters"),
        ("987654321098", "run of characters"),
        ("Supervisor-17", "username"),
        ("supervisor-17 2026", "username"),
    ],
)
def test_easy_passwords_are_refused(site: Any, password: str, says: str) -> None:
    with session_scope(site.engine()) as session, pytest.raises(InvalidUser, match=says):
        add_user(session, username="supervisor-17", password=password, role="admin", actor="t")


def test_long_passphrases_of_any_characters_pass() -> None:
    for password in (PASSWORD, "Tr0ub4dor&3xyz", "pan de muerto 1987", "Nguyễn Thị Ánh 42"):
        assert password_problem(password, "supervisor-17") is None, password
    assert len(common_passwords()) == 5000


# --- changing and resetting a password -------------------------------------------------------


def _change(client: TestClient, csrf: str, current: str, new: str, again: str | None = None) -> Any:
    return client.post(
        "/account/password",
        data={"csrf_token": csrf, "current": current, "new": new, "again": again or new},
        follow_redirects=False,
    )


def test_a_provider_changes_their_password_and_their_other_sessions_end(
    site: Any, app: Any
) -> None:
    """GIVEN provider-a logged in on a phone and on a computer
    WHEN they change their password on the computer (giving the current one)
    THEN the computer gets a fresh session id and stays logged in, the phone is logged out,
    the old password no longer works and the new one does; the change is an event."""
    new = "a fresh passphrase for P-100"
    with _client(app) as phone, _client(app) as computer:
        login(phone, "provider-a")
        csrf = login(computer, "provider-a")
        before = computer.cookies.get(SESSION_COOKIE)
        response = _change(computer, csrf, PASSWORD, new)
        assert response.status_code == 303
        assert response.headers["location"] == "/account?done=password"
        after = response.cookies.get(SESSION_COOKIE)
        assert after and after != before
        page = computer.get(response.headers["location"])
        assert page.status_code == 200 and "logged out everywhere else" in page.text
        assert phone.get("/provider", follow_redirects=False).status_code == 303
    with _client(app) as old_replay:
        old_replay.cookies.set(SESSION_COOKIE, before or "")
        assert old_replay.get("/account", follow_redirects=False).status_code == 303
    with _client(app, address="192.0.2.10") as other:
        assert _try_login(other, "provider-a", PASSWORD).status_code == 401
        assert _try_login(other, "provider-a", new).status_code == 303
    with Session(site.engine()) as session:
        event = session.exec(select(Event).where(Event.action == "password_changed")).one()
        assert event.actor == "provider-a" and new not in (event.after_json or "")
        # The computer's fresh session and `other`'s login; the phone's is gone.
        assert len(session.exec(select(WebSession)).all()) == 2


def test_changing_a_password_needs_the_current_one_and_a_good_new_one(site: Any, app: Any) -> None:
    """A wrong current password (403), two different new ones, or a common one (400) change
    nothing and end no session; wrong current passwords are limited like logins (429)."""
    with _client(app) as client:
        csrf = login(client, "provider-a")
        wrong = _change(client, csrf, "not my password", "another good passphrase 7")
        assert wrong.status_code == 403 and "current password is not right" in wrong.text
        differ = _change(client, csrf, PASSWORD, "another good passphrase 7", "something else 8")
        assert differ.status_code == 400 and "differ" in differ.text
        common = _change(client, csrf, PASSWORD, "password1234")
        assert common.status_code == 400 and "most common" in common.text
        assert client.get("/account").status_code == 200  # still logged in
        for _ in range(4):
            _change(client, csrf, "not my password", "another good passphrase 7")
        limited = _change(client, csrf, PASSWORD, "another good passphrase 7")
        assert limited.status_code == 429
    with _client(app, address="192.0.2.11") as other:
        assert _try_login(other, "provider-a", PASSWORD).status_code == 303  # unchanged


def test_an_admin_resets_a_providers_password_and_ends_their_sessions(app: Any, site: Any) -> None:
    """GIVEN provider-a logged in WHEN an admin sets a new password at /admin/users
    THEN provider-a's session ends and only the new password logs in."""
    new = "reset by the agency 2026"
    with _client(app) as provider, _client(app) as admin:
        login(provider, "provider-a")
        csrf = login(admin, "admin")
        with Session(site.engine()) as session:
            user = session.exec(select(User).where(User.username == "provider-a")).one()
        form = {
            "csrf_token": csrf,
            "role": "provider",
            "provider_id": "P-100",
            "active": "on",
            "password": new,
        }
        response = admin.post(f"/admin/users/{user.id}", data=form, follow_redirects=False)
        assert response.status_code == 303
        assert provider.get("/provider", follow_redirects=False).status_code == 303
    with _client(app, address="192.0.2.12") as other:
        assert _try_login(other, "provider-a", PASSWORD).status_code == 401
        assert _try_login(other, "provider-a", new).status_code == 303


def test_attend_users_set_password(site: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`attend users set-password NAME --password-stdin` resets it (and refuses a common one
    or an unknown user)."""
    import io

    cli = site.cli()
    monkeypatch.setattr("sys.stdin", io.StringIO("password1234\n"))
    refused = cli("users", "set-password", "provider-a", "--password-stdin")
    assert refused.code == 3 and "most common" in refused.err
    monkeypatch.setattr("sys.stdin", io.StringIO("reset from the terminal 9\n"))
    assert cli("users", "set-password", "nobody", "--password-stdin").code == 4
    monkeypatch.setattr("sys.stdin", io.StringIO("reset from the terminal 9\n"))
    done = cli("users", "set-password", "Provider-A", "--password-stdin")
    assert done.code == 0, done.err
    with Session(site.engine()) as session:
        assert authenticate(session, "provider-a", "reset from the terminal 9") is not None
        assert authenticate(session, "provider-a", PASSWORD) is None
