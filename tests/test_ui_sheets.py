"""The sheet view and the unidentified pages in the web app, on the real site
(fixtures/website.py)."""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import Session, col, func, select

from attendance.models import (
    Certificate,
    Event,
    ItemKind,
    ItemState,
    ReviewItem,
    ScannedPage,
    Sheet,
    SheetStatus,
)
from fixtures.scanbatch import tear_off_identity, write_image
from fixtures.website import PROVIDER_A, login
from forms.serial import format_serial
from scanner.load import load_pages
from scanner.simulate import simulate_scan

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _mistyped(serial: str) -> str:
    return serial[:-1] + ("A" if serial[-1] != "A" else "B")


def _events(site: Any) -> int:
    with Session(site.engine()) as session:
        return int(session.exec(select(func.count(col(Event.id)))).one())


def _sheet(site: Any, serial: str) -> Sheet:
    with Session(site.engine()) as session:
        sheet = session.exec(select(Sheet).where(Sheet.serial == serial)).one()
        session.expunge(sheet)
        return sheet


def _child_names(site: Any, provider_id: str) -> list[str]:
    with Session(site.engine()) as session:
        return [
            f"{c.child_first_name} {c.child_last_name}"
            for c in session.exec(
                select(Certificate).where(Certificate.provider_id == provider_id)
            ).all()
        ]


def _unidentified_items(site: Any) -> list[ReviewItem]:
    with Session(site.engine()) as session:
        items = session.exec(
            select(ReviewItem).where(
                ReviewItem.kind == ItemKind.UNIDENTIFIED_PAGE.value,
                ReviewItem.state == ItemState.OPEN.value,
            )
        ).all()
        for item in items:
            session.expunge(item)
        return list(items)


def _item(site: Any, item_id: int) -> ReviewItem:
    with Session(site.engine()) as session:
        item = session.get(ReviewItem, item_id)
        assert item is not None
        session.expunge(item)
        return item


def _sheet_with_open_fields(site: Any) -> str:
    """A sheet of the site with an open field item (orange) and auto-accepted fields."""
    with Session(site.engine()) as session:
        serial = session.exec(
            select(Sheet.serial)
            .join(ReviewItem, col(ReviewItem.sheet_id) == col(Sheet.id))
            .where(ReviewItem.kind == ItemKind.FIELD.value, ReviewItem.state == "open")
            .order_by(col(Sheet.serial))
        ).first()
    assert serial is not None
    return serial


# --- the sheet list and the sheet view --------------------------------------------------------


def test_sheet_list_filters_and_goes_to_a_typed_serial(site: Any, client: TestClient) -> None:
    """GIVEN the site's seven sheets
    WHEN a reviewer lists, filters and types a serial (dashes, lower case)
    THEN all sheets are listed with their provider; the provider filter narrows; a typed
    serial opens its sheet; a mistyped one is refused with a plain message."""
    login(client, "reviewer")
    page = client.get("/sheets")
    assert page.status_code == 200
    all_serials = site.serials("P-100") + site.serials("P-200")
    for serial in all_serials:
        assert f'href="/sheets/{serial}"' in page.text
    narrowed = client.get("/sheets", params={"provider": PROVIDER_A})
    assert all(f'href="/sheets/{s}"' in narrowed.text for s in site.serials(PROVIDER_A))
    assert not any(f'href="/sheets/{s}"' in narrowed.text for s in site.serials("P-200"))
    serial = site.serials(PROVIDER_A)[0]
    typed = format_serial(serial).lower()
    found = client.get("/sheets", params={"serial": typed}, follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == f"/sheets/{serial}"
    wrong = client.get("/sheets", params={"serial": _mistyped(serial)})
    assert wrong.status_code == 400 and "mistyped" in wrong.text


def test_sheet_view_shows_status_flags_history_and_the_image(site: Any, client: TestClient) -> None:
    login(client, "reviewer")
    serial = _sheet_with_open_fields(site)
    page = client.get(f"/sheets/{serial}")
    assert page.status_code == 200
    text = page.text
    assert 'id="sheet-status"' in text and "in review" in text
    assert f'<img id="sheet-image" src="/sheets/{serial}/page.png"' in text
    assert 'id="legend"' in text and "Needs review" in text
    # Flags with their severity badges (blank signatures and hour rules on the demo sheets).
    assert re.search(r'<span class="badge (red|yellow)">', text)
    assert "open-flags" in text
    # The history: issued, received, status, flags, from the events table.
    history = text[text.index('id="event-table"') :]
    for action in ("sheet issued", "sheet received", "sheet status", "sheet flags"):
        assert action in history
    # Reviewers see the child's name on the page.
    with Session(site.engine()) as session:
        sheet = session.exec(select(Sheet).where(Sheet.serial == serial)).one()
        certificate = session.get(Certificate, sheet.certificate_id)
        assert certificate is not None
    assert certificate.child_last_name in text


def test_page_image_has_field_boxes_coloured_by_state(site: Any, client: TestClient) -> None:
    login(client, "reviewer")
    serial = _sheet_with_open_fields(site)
    response = client.get(f"/sheets/{serial}/page.png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "no-store"  # the page shows names
    image = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB")).astype(int)
    height, width, _ = image.shape
    assert width == 1100 and 1350 < height < 1500  # a letter page, 11 x 8.5
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    green = (g > r + 60) & (g > b + 60)
    orange = (r > 200) & (g > 90) & (g < 170) & (b < 60)
    assert green.sum() > 100, "auto-accepted fields are outlined in green"
    assert orange.sum() > 100, "fields with an open item are orange"


def test_unknown_or_mistyped_serial_is_not_found(site: Any, client: TestClient) -> None:
    login(client, "reviewer")
    serial = site.serials(PROVIDER_A)[0]
    for path in (f"/sheets/{_mistyped(serial)}", f"/sheets/{_mistyped(serial)}/page.png"):
        assert client.get(path).status_code == 404
    assert client.get("/sheets/0000000000Z").status_code == 404
    assert client.get("/review/pages/999999").status_code == 404


@pytest.mark.parametrize("username", ["mailroom", "provider-a"])
def test_only_reviewers_and_admins_see_sheets_and_pages(
    site: Any, client: TestClient, username: str
) -> None:
    token = login(client, username)
    serial = site.serials(PROVIDER_A)[0]
    item = _unidentified_items(site)[0]
    for path in (
        "/sheets",
        f"/sheets/{serial}",
        f"/sheets/{serial}/page.png",
        "/review/pages",
        f"/review/pages/{item.id}",
        f"/review/pages/{item.id}/image.png",
    ):
        assert client.get(path).status_code == 403, path
    # A notice: the provider for its own sheet (there is none until it is returned), never
    # the mailroom.
    notice = client.get(f"/sheets/{serial}/notice.pdf").status_code
    assert notice == (409 if username == "provider-a" else 403)
    before = _events(site)
    refused = client.post(f"/sheets/{serial}/return", data={"reason": "no", "csrf_token": token})
    assert refused.status_code == 403
    refused = client.post(
        f"/review/pages/{item.id}/not-a-sheet", data={"reason": "x", "csrf_token": token}
    )
    assert refused.status_code == 403
    assert _events(site) == before and _sheet(site, serial).status == "in_review"


def test_admin_sees_the_sheet_view(site: Any, client: TestClient) -> None:
    login(client, "admin")
    serial = site.serials(PROVIDER_A)[0]
    assert client.get(f"/sheets/{serial}").status_code == 200
    assert client.get(f"/sheets/{serial}/page.png").status_code == 200


# --- returning a sheet ----------------------------------------------------------------------


def test_return_a_sheet_writes_the_event_and_gives_a_notice(
    site: Any, client: TestClient, tmp_path: Path
) -> None:
    """GIVEN a sheet in review with open flags
    WHEN a reviewer returns it with a reason, then downloads the notice
    THEN the sheet is returned, its open items closed, the event names the reviewer; the
    notice is a PDF in English and Spanish naming the serial, and its file name has no
    child's name; a second return is refused (409)."""
    token = login(client, "reviewer")
    serial = site.serials(PROVIDER_A)[0]
    assert client.get(f"/sheets/{serial}/notice.pdf").status_code == 409
    no_token = client.post(f"/sheets/{serial}/return", data={"reason": "Please sign."})
    assert no_token.status_code == 403 and _sheet(site, serial).status == "in_review"

    done = client.post(
        f"/sheets/{serial}/return",
        data={"reason": "Please sign.", "csrf_token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"].startswith(f"/sheets/{serial}")
    sheet = _sheet(site, serial)
    assert sheet.status == SheetStatus.RETURNED.value
    with Session(site.engine()) as session:
        event = session.exec(
            select(Event).where(Event.entity_id == serial, Event.action == "returned")
        ).one()
        assert event.actor == "reviewer"
        assert json.loads(event.after_json or "{}")["reason"] == "Please sign."
        left = session.exec(
            select(ReviewItem).where(ReviewItem.sheet_id == sheet.id, ReviewItem.state == "open")
        ).all()
        assert left == []
    view = client.get(f"/sheets/{serial}")
    assert "returned" in view.text and f'href="/sheets/{serial}/notice.pdf"' in view.text
    assert "sheet returned" in view.text  # the history shows it

    notice = client.get(f"/sheets/{serial}/notice.pdf")
    assert notice.status_code == 200
    assert notice.headers["content-type"] == "application/pdf"
    assert notice.content.startswith(b"%PDF")
    disposition = notice.headers["content-disposition"]
    assert f'filename="notice-{serial}.pdf"' in disposition
    for name in _child_names(site, PROVIDER_A):
        for part in name.split():
            assert part not in disposition
    pdf = tmp_path / "notice.pdf"
    pdf.write_bytes(notice.content)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert format_serial(serial) in text or serial in text
    assert "firma" in text.lower()

    again = client.post(f"/sheets/{serial}/return", data={"reason": "again", "csrf_token": token})
    assert again.status_code == 409 and "already returned" in again.text


# --- unidentified pages -----------------------------------------------------------------------


def test_the_blank_page_is_listed_and_cannot_be_identified(site: Any, client: TestClient) -> None:
    """GIVEN the demo batch's blank separator page, queued as unidentified
    WHEN a reviewer opens it and types a mistyped serial, then a real sheet's serial
    THEN the list shows it with its file name; the page shows its image and says OCR found no
    text; the mistyped serial is refused (400) and the blank page cannot be registered to the
    sheet (409): nothing changed either time."""
    token = login(client, "reviewer")
    [item] = _unidentified_items(site)
    listing = client.get("/review/pages")
    assert listing.status_code == 200
    assert f'href="/review/pages/{item.id}"' in listing.text
    assert "batch-001.pdf" in listing.text
    page = client.get(f"/review/pages/{item.id}")
    assert page.status_code == 200
    assert f'<img id="page-image" src="/review/pages/{item.id}/image.png"' in page.text
    assert '<input id="serial" name="serial"' in page.text and "autofocus" in page.text
    assert "No printed text was found" in page.text
    image = client.get(f"/review/pages/{item.id}/image.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).width == 1000

    serial = site.serials(PROVIDER_A)[0]
    before = _events(site)
    wrong = client.post(
        f"/review/pages/{item.id}/identify",
        data={"serial": format_serial(_mistyped(serial)), "csrf_token": token},
    )
    assert wrong.status_code == 400
    assert "check character is wrong" in wrong.text
    unknown = client.post(
        f"/review/pages/{item.id}/identify", data={"serial": "0000000000", "csrf_token": token}
    )
    assert unknown.status_code == 400
    blank = client.post(
        f"/review/pages/{item.id}/identify", data={"serial": serial, "csrf_token": token}
    )
    assert blank.status_code == 409 and "Nothing was changed" in blank.text
    assert _events(site) == before
    assert _item(site, item.id or 0).state == ItemState.OPEN.value
    with Session(site.engine()) as session:
        row = session.get(ScannedPage, item.page_id)
        assert row is not None and row.status == "unidentified" and row.sheet_id is None


def test_not_a_sheet_needs_a_reason_and_closes_the_item(site: Any, client: TestClient) -> None:
    token = login(client, "reviewer")
    [item] = _unidentified_items(site)
    empty = client.post(
        f"/review/pages/{item.id}/not-a-sheet", data={"reason": "  ", "csrf_token": token}
    )
    assert empty.status_code == 400 and _item(site, item.id or 0).state == "open"
    done = client.post(
        f"/review/pages/{item.id}/not-a-sheet",
        data={"reason": "blank separator page", "csrf_token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/review/pages"
    closed = _item(site, item.id or 0)
    assert closed.state == ItemState.DONE.value
    assert closed.resolution == "not_a_sheet" and closed.resolved_by == "reviewer"
    with Session(site.engine()) as session:
        event = session.exec(select(Event).where(Event.action == "not_a_sheet")).one()
        assert event.actor == "reviewer" and "blank separator" in (event.after_json or "")
    assert f'href="/review/pages/{item.id}"' not in client.get("/review/pages").text
    # The page now says it was handled; a second decision is refused.
    assert "already handled" in client.get(f"/review/pages/{item.id}").text
    again = client.post(
        f"/review/pages/{item.id}/not-a-sheet", data={"reason": "x", "csrf_token": token}
    )
    assert again.status_code == 409


def test_another_reviewers_claim_is_respected(site: Any, client: TestClient) -> None:
    """GIVEN reviewer2 holds the unidentified page's item (claimed in the queue)
    WHEN reviewer says it is not a sheet
    THEN it is refused with a conflict and the item stays open."""
    from attendance import review_queue

    [item] = _unidentified_items(site)
    assert item.id is not None
    got = review_queue.claim_items(site.engine(), reviewer="reviewer2", limit=500)
    assert item.id in got
    token = login(client, "reviewer")
    held = client.post(
        f"/review/pages/{item.id}/not-a-sheet", data={"reason": "blank", "csrf_token": token}
    )
    assert held.status_code == 409 and "held by another reviewer" in held.text
    assert _item(site, item.id).state == "open"


def test_a_torn_sheet_is_identified_in_the_browser(
    site: Any, client: TestClient, tmp_path: Path
) -> None:
    """GIVEN December's sheets issued, and two of provider P-100's scanned: one whole, one with
    its QR code and printed serial covered with white (so intake cannot tell which it is)
    WHEN a reviewer opens the unidentified page and picks its sheet among the suggestions
    THEN the header read by OCR is shown; the sheet is received and read (in review or
    verified), the item is done by the reviewer, and the page event names the reviewer."""
    cli = site.cli()
    cli.ok("sheets", "issue", "--month", "2026-12")
    with Session(site.engine()) as session:
        torn_serial, whole_serial = session.exec(
            select(Sheet.serial)
            .join(Certificate, col(Certificate.certificate_id) == col(Sheet.certificate_id))
            .where(Certificate.provider_id == PROVIDER_A, Sheet.month == "2026-12")
            .order_by(col(Sheet.serial))
        ).all()[:2]
    scans = []
    for serial, wipe, seed in ((torn_serial, True, 3), (whole_serial, False, 4)):
        pdf = tmp_path / f"{serial}.pdf"
        cli.ok("sheets", "print", "--serial", serial, "-o", str(pdf))
        raster = next(iter(load_pages(pdf, dpi=200))).image.copy()
        if wipe:
            raster = tear_off_identity(raster, 200)
        scan = tmp_path / f"scan-{seed}.png"
        write_image(simulate_scan(raster, rotate=0, seed=seed), scan, 200)
        scans.append(str(scan))
    result = cli("intake", "run", *scans)
    assert result.code in (0, 5), result.err
    items = sorted(_unidentified_items(site), key=lambda i: i.id or 0)
    item = items[-1]
    assert item.id is not None

    token = login(client, "reviewer")
    listing = client.get("/review/pages")
    assert f'href="/review/pages/{item.id}"' in listing.text
    page = client.get(f"/review/pages/{item.id}")
    assert page.status_code == 200
    assert f'<button type="submit" class="suggestion" name="serial" value="{torn_serial}"' in (
        page.text
    )
    assert "2026-12" in page.text and PROVIDER_A in page.text
    header = page.text[page.text.index('id="header-text"') :]
    assert '<pre class="ocr">' in header and "attendance" in header.lower()

    # A suggestion button sends its serial after the (empty) typed box.
    done = client.post(
        f"/review/pages/{item.id}/identify",
        data={"serial": ["", torn_serial], "csrf_token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text[:500]
    assert done.headers["location"].startswith(f"/sheets/{torn_serial}")
    sheet = _sheet(site, torn_serial)
    assert sheet.received_at is not None
    assert sheet.status in ("received", "in_review", "verified")
    closed = _item(site, item.id)
    assert closed.state == "done" and closed.resolution == "identified"
    assert closed.resolved_by == "reviewer"
    with Session(site.engine()) as session:
        event = session.exec(select(Event).where(Event.action == "identified")).one()
        assert event.actor == "reviewer" and torn_serial in (event.after_json or "")
    view = client.get(f"/sheets/{torn_serial}")
    assert view.status_code == 200 and 'id="sheet-image"' in view.text
    assert "page identified" in view.text  # the record page's event is in the history
    assert client.get(f"/sheets/{torn_serial}/page.png").status_code == 200
