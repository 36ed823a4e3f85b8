"""Shared fixtures: a data folder per test, the real CLI in-process, a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from attendance import clock
from attendance.db import make_engine, upgrade_database
from fixtures.attend import CERTIFICATES_CSV, MONTH, Cli, CliResult
from fixtures.postgres import Cluster, PostgresMissing
from forms.layout import Layout

REPO = Path(__file__).resolve().parent.parent
__all__ = ["CERTIFICATES_CSV", "MONTH", "Cli", "CliResult"]

# The tests' "now": a day in time for MONTH's sheets (due 2026-12-07), so no test depends on
# the date it runs on. Every process the tests start gets the same clock through the
# environment (attendance.clock). ATTEND_TEST_NOW runs the whole suite at another instant.
TEST_NOW = dt.datetime(2026, 12, 2, 17, 0, tzinfo=dt.UTC)


def suite_now() -> dt.datetime:
    """The instant the suite runs at (TEST_NOW, or ATTEND_TEST_NOW when set)."""
    given = os.environ.get("ATTEND_TEST_NOW")
    if not given:
        return TEST_NOW
    moment = dt.datetime.fromisoformat(given)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def pytest_configure(config: pytest.Config) -> None:
    """Shift the clock before any fixture or test module runs."""
    clock.set_shift(clock.shift_for(suite_now()))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test that mounts a filesystem says so, rather than failing on a permission error."""
    if item.get_closest_marker("root") and os.geteuid() != 0:
        pytest.fail("this test mounts a filesystem: run it as root (CI does)", pytrace=False)


@pytest.fixture
def clock_at() -> Iterator[Any]:
    """`clock_at(moment)` moves this process's clock (and its children's) to `moment` for
    the rest of the test."""
    saved = clock.current_shift()

    def move(moment: dt.datetime) -> None:
        clock.set_shift(clock.shift_for(moment))

    yield move
    clock.set_shift(saved)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """An initialised, empty data folder."""
    runner = Cli(tmp_path / "attend-data")
    runner.ok("init")
    return runner


def _issue(cli: Cli) -> Cli:
    cli.ok("certificates", "import", str(CERTIFICATES_CSV))
    cli.ok("sheets", "issue", "--month", MONTH)
    return cli


@pytest.fixture
def issued_cli(cli: Cli) -> Cli:
    """Certificates imported from fixtures/ and November 2026 issued."""
    return _issue(cli)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def issued_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    """As `issued_cli`, once on SQLite and once on a fresh PostgreSQL database."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    cli = Cli(tmp_path / "attend-data", url)
    cli.ok("init")
    return _issue(cli)


# Scanner conditions that keep a page's geometry (for readers tested on the canonical image).
SCAN_CONDITIONS: dict[str, list[str]] = {
    "clean": [],
    "noise": ["noise"],
    "blur": ["blur"],
    "jpeg": ["jpeg"],
    "bilevel": ["bilevel300"],
    "blur+noise+jpeg": ["blur", "noise", "jpeg"],
}


@pytest.fixture(scope="session")
def printed_canon(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Layout]:
    """A real printed sheet, rasterized upright by poppler at the canonical 200 dpi, and its
    layout: the canonical image as registration would produce it from a perfect scan."""
    from fixtures.samples import sample_sheet
    from forms.layout import build_layout
    from forms.render import render_sheets
    from scanner.load import load_pages
    from scanner.readings import CANON_DPI

    sheet = sample_sheet("0123456789A", month=dt.date(2026, 11, 1))
    pdf = tmp_path_factory.mktemp("printed") / "sheet.pdf"
    render_sheets([sheet], pdf)
    page = next(iter(load_pages(pdf, dpi=CANON_DPI)))
    return page.image, build_layout(sheet.serial, sheet.month)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'test.sqlite3'}")
    upgrade_database(engine)
    return engine


# --- PostgreSQL: a throwaway cluster started for the test session -------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """URL of a real PostgreSQL server: ATTEND_TEST_POSTGRES_URL, or a temporary cluster
    (`fixtures.postgres.Cluster`, the one the fault tests and `make bench-faults` start)."""
    given = os.environ.get("ATTEND_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    try:
        cluster = Cluster()
    except PostgresMissing as exc:
        pytest.fail(str(exc))
    with cluster:
        yield cluster.url()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the test server for one test."""
    import psycopg

    name = f"attend_test_{int(time.time() * 1000) % 10**9}_{os.getpid()}"
    base = postgres_server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield postgres_server.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The web app's site, built once per test session (see fixtures/website.py)."""
    from fixtures.website import build_site

    root = tmp_path_factory.mktemp("site")
    return build_site(root / "attend-data", root / "work")


@pytest.fixture
def site(built_site: Any, tmp_path: Path) -> Any:
    """A fresh copy of the built site for one test to change as it likes."""
    from fixtures.website import copy_site

    return copy_site(built_site, tmp_path / "site")


@pytest.fixture
def app(site: Any) -> Any:
    return site.app()


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    """A test client (not logged in) over `app`: `fixtures.website.login(client, name)`."""
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client
