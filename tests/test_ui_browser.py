"""The web app in a real browser: Debian's Chromium, headless, driven by Playwright, against
`attend review serve` on localhost over a site scanned and read by the real intake.

Screenshots of every page the test visits are saved in `test-output/screenshots/`.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from attendance.models import Event, FieldReading, ReviewItem, ScannedFile, ScannedPage
from fixtures.scanbatch import write_image
from fixtures.website import PASSWORD, PROVIDER_A, PROVIDER_B
from forms.layout import barcode_rect, serial_text_rect
from scanner.load import load_pages
from scanner.simulate import simulate_scan
from tests.conftest import REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = REPO / "test-output" / "screenshots"
# Chromium on a closed network: no background connections, no sandbox (root in CI).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NEXT_MONTH = "2026-12"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _torn_sheet(site: Any, tmp_path: Path) -> str:
    """Two December sheets of one provider scanned together, one with its QR code and printed
    serial torn off (so the other tells which provider and month it is likely from); the torn
    one's serial."""
    cli = site.cli()
    cli.ok("sheets", "issue", "--month", NEXT_MONTH)
    torn_serial, whole_serial = site.serials(PROVIDER_A, month=NEXT_MONTH)[:2]
    images = []
    for serial in (torn_serial, whole_serial):
        pdf = tmp_path / f"{serial}.pdf"
        cli.ok("sheets", "print", "--serial", serial, "-o", str(pdf))
        images.append(next(iter(load_pages(pdf, dpi=200))).image.copy())
    torn = images[0]
    scale = 200 / 72
    for x, y, w, h in (barcode_rect(), serial_text_rect()):
        torn[
            int((y - 4) * scale) : int((y + h + 4) * scale),
            int((x - 4) * scale) : int((x + w + 4) * scale),
        ] = 255
    scans = [tmp_path / "torn.png", tmp_path / "whole.png"]
    write_image(simulate_scan(torn, rotate=180, seed=11), scans[0], 200)
    write_image(simulate_scan(images[1], rotate=0, seed=12), scans[1], 200)
    result = cli("intake", "run", *map(str, scans))
    assert result.code in (0, 5), result.err
    return torn_serial


@pytest.fixture
def server(site: Any, tmp_path: Path) -> Iterator[tuple[str, Any, str]]:
    """`attend review serve` on a free localhost port: (base URL, site, torn sheet serial)."""
    serial = _torn_sheet(site, tmp_path)
    port = _free_port()
    env = {**os.environ, "ATTEND_HOME": str(site.home), "ATTEND_AGENCY_NAME": "Test County"}
    env.pop("ATTEND_DATABASE_URL", None)
    attend = Path(sys.executable).with_name("attend")
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [str(attend), "review", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"{base}/login", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
            if process.poll() is not None:
                pytest.fail(f"server exited: {(tmp_path / 'server.log').read_text()}")
        else:
            pytest.fail("server did not start")
        yield base, site, serial
    finally:
        process.terminate()
        process.wait(10)
        log.close()
    # Nothing the server logged names a child (the fixtures' first names are unique words).
    logged = (tmp_path / "server.log").read_text()
    for name in ("Ava", "Noah", "Mia", "Leo", "Testperson", "Samplekid", "Placeholder"):
        assert not re.search(rf"\b{name}\b", logged), f"{name} in the server log"


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run scripts/setup.sh --dev")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


def _shot(page: Any, name: str) -> None:
    """A full-page screenshot once every image on the page has loaded."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate(
        "document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')"
    )
    page.wait_for_function(
        "() => Array.from(document.images).every(i => i.complete)", timeout=30_000
    )
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _login(page: Any, base: str, username: str) -> None:
    """Log in with the keyboard only."""
    page.goto(f"{base}/login")
    page.wait_for_selector("input[name=username]:focus")  # the username box has autofocus
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state("load")
    assert "/login" not in page.url, page.content()[:500]


def _item_id(page: Any) -> str:
    return str(page.get_attribute("#item", "data-item-id"))


def _wait_next(page: Any, before: str) -> None:
    page.wait_for_function(
        "(before) => { const i = document.querySelector('#item');"
        " return document.querySelector('#empty') || (i && i.dataset.itemId !== before); }",
        arg=before,
    )


def test_reviewers_mailroom_and_providers_in_a_browser(server: Any, browser: Any) -> None:
    """GIVEN the site served on localhost, with a torn December sheet among the scans
    WHEN a reviewer works five queue items with the keyboard only (correcting one), confirms
    a group, and identifies the torn page; a provider looks at their sheets; anyone uses the
    public look-up; staff open the mailroom, sheet view and admin pages
    THEN each action is stored with the reviewer's name, the page is read as its sheet, the
    provider sees only their own sheets, and the look-up answers in English and Spanish."""
    base, site, torn_serial = server
    engine = site.engine()
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # --- five queue items, keyboard only ------------------------------------------------
    _login(page, base, "reviewer")
    assert page.url.endswith("/review")
    page.wait_for_selector("#item")
    _shot(page, "01-review-queue")
    corrected: str | None = None
    done = 0
    for step in range(12):
        if done >= 5:
            break
        item = _item_id(page)
        kind = page.get_attribute("#item", "data-kind")
        assert page.evaluate("document.activeElement.id") == "value", "focus is on the value"
        if kind in ("field", "qa_sample") and corrected is None and step >= 1:
            page.keyboard.type("7:35")
            page.keyboard.press("Enter")
            corrected = item
        elif kind in ("field", "qa_sample"):
            page.keyboard.press("Enter")
        elif kind == "flag":
            page.keyboard.type("checked against the certificate")
            page.keyboard.press("Enter")
        else:  # pages are identified on their own screen: skip
            page.keyboard.press("Escape")
            _wait_next(page, item)
            continue
        _wait_next(page, item)
        done += 1
        if done == 1:
            _shot(page, "02-review-after-first")
    assert done == 5 and corrected is not None
    assert not errors, errors
    with Session(engine) as session:
        decided = session.exec(select(ReviewItem).where(ReviewItem.resolved_by == "reviewer")).all()
        assert len(decided) >= 5
        fixed = session.get(ReviewItem, int(corrected))
        assert fixed is not None and fixed.reading_id is not None
        reading = session.get(FieldReading, fixed.reading_id)
        assert reading is not None and reading.reviewed and reading.reviewed_by == "reviewer"
        assert reading.final_value == "07:35"

    # One key marks blank; Escape skips.
    item = _item_id(page)
    if page.get_attribute("#item", "data-kind") in ("field", "qa_sample"):
        page.keyboard.press("-")
        _wait_next(page, item)
        assert "blank" in page.inner_text("#message").lower()
    item = _item_id(page)
    page.keyboard.press("Escape")
    _wait_next(page, item)
    assert "skip" in page.inner_text("#message").lower()

    # --- a group: untick one, confirm the rest with one key ---------------------------------
    page.goto(f"{base}/review/groups")
    _shot(page, "03-groups")
    group = page.locator("a.group").first
    group.click()
    page.wait_for_selector("#group-form")
    tiles = page.locator("#group-form input[name=item]")
    shown = tiles.count()
    assert shown >= 2
    _shot(page, "04-group-grid")
    unticked = tiles.nth(0).get_attribute("value")
    tiles.nth(0).focus()
    page.keyboard.press("Space")
    assert not tiles.nth(0).is_checked()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/review/groups\?confirmed=\d+"))
    confirmed = int(page.url.rsplit("=", 1)[1])
    assert confirmed == shown - 1
    with Session(engine) as session:
        left = session.get(ReviewItem, int(str(unticked)))
        assert left is not None and left.state == "open"

    # --- the torn page: identified by its serial ---------------------------------------------
    page.goto(f"{base}/review/pages")
    _shot(page, "05-unidentified-pages")
    with Session(engine) as session:
        torn_item = session.exec(
            select(ReviewItem.id)
            .join(ScannedPage, col(ScannedPage.id) == col(ReviewItem.page_id))
            .join(ScannedFile, col(ScannedFile.id) == col(ScannedPage.file_id))
            .where(ReviewItem.kind == "unidentified_page", ScannedFile.original_name == "torn.png")
        ).one()
    page.locator(f"a[href='/review/pages/{torn_item}']").first.click()
    page.wait_for_selector("#serial")
    _shot(page, "06-unidentified-page")
    # Scanned upside down: the header is read (and the page shown) the right way up.
    header = page.inner_text("#header-text").upper()
    assert "ATTENDANCE" in header or "MONTHLY" in header, header
    assert page.locator(f"button.suggestion[value='{torn_serial}']").count() == 1
    page.fill("#serial", torn_serial)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/sheets/{torn_serial}"))
    page.wait_for_selector("#sheet-image")
    _shot(page, "07-sheet-view")
    with Session(engine) as session:
        identified = session.exec(
            select(Event).where(col(Event.actor) == "reviewer", Event.action == "identified")
        ).all()
    assert len(identified) == 1
    status = site.cli().ok("status", torn_serial)
    assert "not received" not in status, status
    context.close()

    # --- a provider sees only their own sheets --------------------------------------------
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    _login(page, base, "provider-a")
    assert page.url.endswith("/provider")
    _shot(page, "08-provider-status")
    rows = page.locator("table#sheets tr[data-serial]")
    shown_serials = {rows.nth(i).get_attribute("data-serial") for i in range(rows.count())}
    assert set(site.serials(PROVIDER_A, month="2026-11")) <= shown_serials
    assert not shown_serials & set(site.serials(PROVIDER_B))
    other = site.serials(PROVIDER_B)[0]
    response = page.goto(f"{base}/print/sheets/{other}.pdf")
    assert response is not None and response.status == 404
    context.close()

    # --- the public look-up, English and Spanish ------------------------------------------------
    context = browser.new_context()
    page = context.new_page()
    received = site.serials(PROVIDER_A, month="2026-11")[0]
    page.goto(f"{base}/lookup")
    page.fill("#serial", received)
    page.keyboard.press("Enter")
    page.wait_for_selector("#result")
    assert "received" in page.inner_text("#result").lower()
    _shot(page, "09-lookup")
    waiting = site.serials(PROVIDER_B, month=NEXT_MONTH)[0]
    page.goto(f"{base}/lookup?lang=es&serial={waiting}")
    assert page.get_attribute("html", "lang") == "es"
    assert "no " in page.inner_text("#result").lower()
    _shot(page, "10-lookup-es")
    text = page.content()
    assert "Leo" not in text and "Placeholder" not in text
    context.close()

    # --- staff pages: mailroom, admin ------------------------------------------------------
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    _login(page, base, "admin")
    for path, name in (
        ("/mailroom", "11-mailroom"),
        ("/admin", "12-admin"),
        ("/admin/users", "13-admin-users"),
        ("/admin/agency", "14-admin-agency"),
        ("/sheets", "15-sheets"),
        ("/print", "16-print"),
    ):
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == 200, path
        _shot(page, name)
    batch = page.goto(f"{base}/mailroom")
    assert batch is not None
    link = page.locator("a[href^='/mailroom/batches/']").first
    link.click()
    page.wait_for_load_state("load")
    _shot(page, "17-batch-report")
    assert not errors, errors
    context.close()
