"""A real site for the web app's tests: the demo's month scanned and read by the real intake,
plus one user of every role. Built once per test session, copied for each test.

Users (password `PASSWORD` for all): admin, mailroom, reviewer, reviewer2 (a second reviewer,
for claims), provider-a (provider P-100: C-1001, C-1002, C-1003), provider-b (provider P-200).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from attendance.db import make_engine, session_scope
from attendance.models import Certificate, Sheet
from attendance.settings import Settings
from fixtures.scanbatch import make_batch
from review_ui.app import create_app
from review_ui.auth import add_user
from tests.conftest import CERTIFICATES_CSV, MONTH, Cli

PASSWORD = "correct horse battery staple"
USERS = {
    "admin": ("admin", None),
    "mailroom": ("mailroom", None),
    "reviewer": ("reviewer", None),
    "reviewer2": ("reviewer", None),
    "provider-a": ("provider", "P-100"),
    "provider-b": ("provider", "P-200"),
}
PROVIDER_A, PROVIDER_B = "P-100", "P-200"


@dataclass(frozen=True)
class Site:
    """One copy of the site's data folder."""

    home: Path
    url: str | None = None  # a PostgreSQL database; None: SQLite in `home`

    @property
    def database_url(self) -> str:
        return self.url or f"sqlite:///{self.home / 'attend.sqlite3'}"

    @property
    def settings(self) -> Settings:
        return Settings(home=self.home, database_url=self.database_url, agency_name="Test County")

    def engine(self) -> Engine:
        return make_engine(self.database_url)

    def cli(self) -> Cli:
        return Cli(self.home, self.url)

    def app(self, **options: object) -> FastAPI:
        return create_app(self.settings, **options)  # type: ignore[arg-type]

    def serials(
        self, provider_id: str, *, status: str | None = None, month: str = MONTH
    ) -> list[str]:
        """The provider's sheet serials of `month` (optionally only those in `status`)."""
        with Session(self.engine()) as session:
            statement = (
                select(Sheet.serial, Sheet.status)
                .join(Certificate, Certificate.certificate_id == Sheet.certificate_id)
                .where(Certificate.provider_id == provider_id, Sheet.month == month)
                .order_by(Sheet.serial)
            )
            return [s for s, st in session.exec(statement).all() if status in (None, st)]


def build_site(home: Path, work: Path, database_url: str | None = None) -> Site:
    """Import, issue, print, fill and scan the month, take it in with the real intake."""
    cli = Cli(home, database_url)
    cli.ok("init")
    cli.ok("certificates", "import", str(CERTIFICATES_CSV))
    cli.ok("sheets", "issue", "--month", MONTH)
    printed = work / "printed"
    cli.ok("sheets", "print", "--month", MONTH, "-o", f"{printed}/")
    inbox = work / "inbox"
    year, month = (int(p) for p in MONTH.split("-"))
    make_batch(sorted(printed.glob("*.pdf")), inbox, fill_month=dt.date(year, month, 1))
    result = cli("intake", "run", str(inbox))
    assert result.code in (0, 5), result.err
    site = Site(home, database_url)
    engine = site.engine()
    with session_scope(engine) as session:
        for username, (role, provider_id) in USERS.items():
            add_user(
                session,
                username=username,
                password=PASSWORD,
                role=role,
                provider_id=provider_id,
                display_name=username.replace("-", " ").title(),
                actor="test",
            )
    engine.dispose()
    return site


def copy_site(built: Site, home: Path) -> Site:
    shutil.copytree(built.home, home)
    return Site(home)


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
LOGIN_CSRF = re.compile(r'id="login-csrf" value="([^"]+)"')


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log `client` in as `username`; returns the session's CSRF token (from the page meta)."""
    form = client.get("/login")
    token = LOGIN_CSRF.search(form.text)
    assert token, "login form without a CSRF token"
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert response.status_code == 303, (response.status_code, response.text[:300])
    page = client.get("/account")
    found = CSRF_META.search(page.text)
    assert found and found.group(1), "no CSRF meta on /account"
    return found.group(1)
