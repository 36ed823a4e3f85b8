"""A provider in a real browser (Debian's Chromium, headless, Playwright) on a phone-sized
and a desktop window: switches to Spanish, reads why a sheet came back and downloads its
notice, sees when it will be paid, sends two photos from the phone's camera input and sees
what became of each; no provider page scrolls sideways at 390 px.

Screenshots of every provider page in both languages land in `test-output/screenshots/`
(`providers-WIDTH-LANG-PAGE.png`).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from attendance.findings import return_problems
from attendance.models import Certificate, Sheet
from fixtures.phone import letter_photo, sheet_photo
from fixtures.website import PROVIDER_A
from tests import test_ui_browser
from tests.liveserver import running_server
from tests.test_ui_browser import _login, _shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]
chromium = test_ui_browser.browser  # test_ui_browser's `browser` fixture, here as `chromium`

DECEMBER = "2026-12"
REASON = "Zoë's times for the 3rd are written on the 4th's line: please check them."
PROVIDER_PAGES = ("/provider", "/provider/photos", "/print", "/account", "/lookup")


def _returned_sheet(site: Any) -> str:
    """One of provider-a's November sheets, returned by a reviewer with a note: one with open
    problems when there is one, so the notice lists them."""
    with Session(site.engine()) as session:
        sheets = session.exec(
            select(Sheet)
            .join(Certificate, col(Certificate.certificate_id) == col(Sheet.certificate_id))
            .where(Certificate.provider_id == PROVIDER_A, Sheet.month == "2026-11")
            .order_by(col(Sheet.serial))
        ).all()
        with_problems = [s for s in sheets if return_problems(session, s)]
        serial = (with_problems or list(sheets))[0].serial
    site.cli().ok("sheets", "return", serial, "--reason", REASON, "--as", "reviewer")
    return serial


def _no_sideways_scroll(page: Any, width: int, where: str) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{where}: {scroll} px wide in a {width} px window"


def _pdftotext(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1366, 900)])
def test_a_provider_on_a_phone_and_on_a_desktop(
    site: Any,
    tmp_path: Path,
    chromium: Any,
    width: int,
    height: int,
) -> None:
    """GIVEN provider-a with a November sheet returned by a reviewer (its problems and a note),
    the other November sheets received, and December issued
    WHEN provider-a logs in, switches to Spanish, opens the returned sheet's card, downloads
    its notice, and sends two photos at once (its December sheet, filled in; a letter)
    THEN the card lists the reasons and the note as written, the notice is a PDF in English
    and Spanish, received sheets show their expected payment date, and after the intake
    worker has read the photos each has its outcome (the sheet's advance copy; no sheet
    found); the language is remembered and no page scrolls sideways."""
    cli = site.cli()
    cli.ok("sheets", "issue", "--month", DECEMBER)
    returned = _returned_sheet(site)
    december = site.serials(PROVIDER_A, month=DECEMBER)[0]
    printed = tmp_path / "december.pdf"
    cli.ok("sheets", "print", "--serial", december, "-o", str(printed))
    import datetime as dt

    photos = [tmp_path / "IMG_2041.jpg", tmp_path / "IMG_2042.jpg"]
    photos[0].write_bytes(sheet_photo(printed, dt.date(2026, 12, 1), seed=width))
    photos[1].write_bytes(letter_photo(seed=width))
    received = next(s for s in site.serials(PROVIDER_A, month="2026-11") if s != returned)

    with running_server(site, tmp_path) as server:
        context = chromium.new_context(
            viewport={"width": width, "height": height},
            is_mobile=width < 500,
            locale="en-US",
            accept_downloads=True,
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{server.base}/login")
        _no_sideways_scroll(page, width, "/login")
        _shot(page, f"providers-{width}-en-login")
        _login(page, server.base, "provider-a")
        assert page.url.endswith("/provider")
        _no_sideways_scroll(page, width, "/provider (English)")
        _shot(page, f"providers-{width}-en-provider")

        # --- Spanish, remembered ------------------------------------------------------------
        page.click("header nav.langs a[data-lang=es]")
        page.wait_for_load_state("load")
        assert page.get_attribute("html", "lang") == "es"
        assert page.inner_text("h1") == "Mis hojas de asistencia"
        page.goto(f"{server.base}/provider")  # no ?lang=: the cookie remembers
        assert page.get_attribute("html", "lang") == "es"
        _no_sideways_scroll(page, width, "/provider (Spanish)")
        _shot(page, f"providers-{width}-es-provider")

        # --- the returned sheet: reasons, the note as written, the notice --------------------
        card = page.locator(f'li.sheet-card[data-serial="{returned}"]')
        text = card.inner_text()
        assert "Devuelta a usted" in text and "Por qué se la devolvimos" in text
        assert "Nota de la revisión, tal como se escribió:" in text and REASON in text
        with page.expect_download() as download:
            card.locator("a.notice-link").click()
        notice = tmp_path / f"notice-{width}.pdf"
        download.value.save_as(notice)
        words = _pdftotext(notice)
        assert "Attendance sheet returned" in words and "Hoja de asistencia devuelta" in words
        assert REASON in words

        # --- when it will be paid -----------------------------------------------------------
        paid = page.locator(f'li.sheet-card[data-serial="{received}"] .payment').inner_text()
        assert re.fullmatch(r"Pago previsto: \d+ de [a-z]+ de 20\d\d", paid), paid
        waiting = page.locator(f'li.sheet-card[data-serial="{december}"] .payment').inner_text()
        assert waiting.startswith("Si la recibimos a más tardar el "), waiting

        # --- two photos from the phone's camera input -----------------------------------------
        camera = page.locator("#photos")
        assert camera.get_attribute("accept") == "image/*,.pdf"
        assert camera.get_attribute("capture") is not None
        assert camera.get_attribute("multiple") is not None
        camera.set_input_files([str(p) for p in photos])
        with page.expect_navigation():
            page.click("#photo-form button[type=submit]")
        assert re.search(r"/provider/photos\?batch=[\w-]+$", page.url), page.url
        assert page.locator("li.photo-card[data-state=waiting]").count() == 2
        _shot(page, f"providers-{width}-es-photos-waiting")
        cli.ok("intake", "worker", "--drain")
        page.reload()
        states = {
            page.locator("li.photo-card .file-name").nth(i).inner_text(): page.locator(
                "li.photo-card"
            )
            .nth(i)
            .get_attribute("data-state")
            for i in range(page.locator("li.photo-card").count())
        }
        assert states == {"IMG_2041.jpg": "advance_copy", "IMG_2042.jpg": "not_a_sheet"}, states
        outcome = page.locator("li.photo-card[data-state=advance_copy]").inner_text()
        assert re.sub(r"(\w{4})(\w{4})(\w{3})", r"\1-\2-\3", december) in outcome
        assert "copia anticipada" in outcome
        assert (
            "No encontramos el código"
            in page.locator("li.photo-card[data-state=not_a_sheet]").inner_text()
        )
        assert page.locator('meta[http-equiv="refresh"]').count() == 0
        _no_sideways_scroll(page, width, "/provider/photos")
        _shot(page, f"providers-{width}-es-photos")

        # --- every provider page, both languages, no sideways scrolling -----------------------
        for lang in ("es", "en"):
            for path in PROVIDER_PAGES:
                page.goto(f"{server.base}{path}?lang={lang}")
                assert page.get_attribute("html", "lang") == lang, path
                _no_sideways_scroll(page, width, f"{path} ({lang})")
                name = path.strip("/").replace("/", "-")
                _shot(page, f"providers-{width}-{lang}-{name}")
        page.goto(f"{server.base}/no/such/page")
        assert "Not found" in page.inner_text("h1")
        assert not errors, errors
        context.close()
