"""Sheets sent as photos from a provider's phone: into the same intake queue as the
mailroom's scans (claimed, hashed, quarantined with a reason, read exactly once by the real
worker), received only on that provider's own sheets, as submissions or as advance copies
by the agency's setting, each photo's outcome shown to the provider, never whose sheet a
photo of another provider's sheet was."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from attendance.db import session_scope
from fixtures.phone import letter_photo, sheet_photo
from fixtures.website import PROVIDER_A, PROVIDER_B, login
from forms.serial import format_serial

DECEMBER = "2026-12"
DEC_1 = dt.date(2026, 12, 1)
OUTCOME = re.compile(
    r'<li class="photo-card" data-state="([a-z_]+)">.*?<span class="file-name">([^<]*)</span>'
    r".*?<p>(.*?)</p>",
    re.S,
)
TAG = re.compile(r"<[^>]+>")


def rows(site: Any, sql: str, **params: Any) -> list[Any]:
    engine = site.engine()
    try:
        with session_scope(engine) as session:
            return list(session.execute(text(sql), params).all())
    finally:
        engine.dispose()


def _december_photo(site: Any, tmp_path: Path, provider: str, *, seed: int) -> tuple[str, bytes]:
    """A December sheet of `provider`, printed, filled in and photographed: (serial, JPEG)."""
    cli = site.cli()
    cli.ok("sheets", "issue", "--month", DECEMBER)
    serial = site.serials(provider, month=DECEMBER)[seed % 2]
    pdf = tmp_path / f"{serial}.pdf"
    cli.ok("sheets", "print", "--serial", serial, "-o", str(pdf))
    return serial, sheet_photo(pdf, DEC_1, seed=seed)


def _send(client: TestClient, token: str, *photos: tuple[str, bytes]) -> str:
    """POST the photos as the phone's form does; the sending's batch id."""
    response = client.post(
        "/provider/photos",
        data={"csrf_token": token},
        files=[("photos", (name, body, "image/jpeg")) for name, body in photos],
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:400]
    location = response.headers["location"]
    assert location.startswith("/provider/photos?batch=")
    return location.split("=", 1)[1]


def _outcomes(client: TestClient, batch: str, lang: str = "en") -> dict[str, tuple[str, str]]:
    page = client.get(f"/provider/photos?batch={batch}&lang={lang}")
    assert page.status_code == 200
    found = OUTCOME.findall(page.text)
    # The serial stands in a span that does not break across lines: never in the words' tags.
    assert all('<span class="serial-text">' in w for s, _, w in found if s == "received"), found
    return {name: (state, TAG.sub("", words)) for state, name, words in found}


def test_photos_as_submissions(site: Any, client: TestClient, tmp_path: Path) -> None:
    """GIVEN an agency that takes photos as submissions, and provider-a's phone photo of one
    of its December sheets, filled in by hand, and a photo of a letter
    WHEN the provider sends both at once and the intake worker drains the queue
    THEN the sheet is received from the photo (marked as a phone photo, on the provider's page,
    the mailroom's batch and the sheet view), the letter is 'no sheet found', and the same
    photo sent again is recognised and not counted again."""
    site.cli().ok("agency", "set", "phone_photos", "submission")
    serial, photo = _december_photo(site, tmp_path, PROVIDER_A, seed=0)
    token = login(client, "provider-a")
    batch = _send(client, token, ("IMG_0001.jpg", photo), ("IMG_0002.jpg", letter_photo(seed=3)))
    waiting = client.get(f"/provider/photos?batch={batch}")
    assert '<meta http-equiv="refresh" content="5">' in waiting.text
    assert {state for state, _ in _outcomes(client, batch).values()} == {"waiting"}
    arrivals = rows(
        site,
        "SELECT source, provider_id, state FROM intake_files WHERE batch_id = :b ORDER BY id",
        b=batch,
    )
    assert [(a.source, a.provider_id) for a in arrivals] == [("phone", PROVIDER_A)] * 2

    site.cli().ok("intake", "worker", "--drain")

    outcomes = _outcomes(client, batch)
    state, words = outcomes["IMG_0001.jpg"]
    assert state in ("received", "review"), words
    assert format_serial(serial) in words and "December 2026" in words
    assert outcomes["IMG_0002.jpg"][0] == "not_a_sheet"
    (sheet,) = rows(site, "SELECT status, received_via FROM sheets WHERE serial = :s", s=serial)
    assert sheet.status in ("received", "in_review", "verified") and sheet.received_via == "phone"
    card = client.get("/provider?month=2026-12").text
    assert re.search(r"<dt>Received \(phone photo\)</dt><dd>December \d+, 2026</dd>", card)
    spanish = _outcomes(client, batch, "es")
    assert "se recibió con esta foto" in spanish["IMG_0001.jpg"][1]
    assert "No encontramos el código" in spanish["IMG_0002.jpg"][1]

    again = _send(client, token, ("IMG_0001 copy.jpg", photo))
    assert _outcomes(client, again) == {
        "IMG_0001 copy.jpg": (
            "same_photo",
            "You sent this same photo before: it was not counted again.",
        )
    }
    client.post("/logout", data={"csrf_token": token})
    login(client, "mailroom")
    batch_page = client.get(f"/mailroom/batches/{batch}").text
    assert "phone photos from provider P-100" in batch_page
    login(client, "reviewer")
    assert "phone photo" in client.get(f"/sheets/{serial}").text


def test_photos_as_advance_copies(site: Any, client: TestClient, tmp_path: Path) -> None:
    """GIVEN the default setting (photos are advance copies: the program pays on originals)
    WHEN provider-a sends a photo of its sheet and the worker reads it
    THEN the sheet is not received: the photo is kept as its advance copy, the provider sees
    that payment waits for the original; when the original scan arrives, it is received
    from the scan."""
    serial, photo = _december_photo(site, tmp_path, PROVIDER_A, seed=1)
    token = login(client, "provider-a")
    batch = _send(client, token, ("photo.jpg", photo))
    site.cli().ok("intake", "worker", "--drain")
    state, words = _outcomes(client, batch)["photo.jpg"]
    assert state == "advance_copy", words
    assert format_serial(serial) in words and "waits for the original" in words
    (sheet,) = rows(site, "SELECT status, received_via FROM sheets WHERE serial = :s", s=serial)
    assert (sheet.status, sheet.received_via) == ("issued", None)
    card = client.get("/provider?month=2026-12").text
    card = card[card.index(f'data-serial="{serial}"') :]
    assert "Photo received (advance copy)" in card[: card.index("</li>")]
    assert "payment waits for the original" in card[: card.index("</li>")]

    pdf = tmp_path / "original.pdf"
    site.cli().ok("sheets", "print", "--serial", serial, "-o", str(pdf))
    site.cli().ok("intake", "run", str(pdf))
    (sheet,) = rows(site, "SELECT status, received_via FROM sheets WHERE serial = :s", s=serial)
    assert sheet.status != "issued" and sheet.received_via == "scan"


def test_a_photo_of_another_providers_sheet(site: Any, client: TestClient, tmp_path: Path) -> None:
    """GIVEN photos taken as submissions, and a photo of provider-b's sheet
    WHEN provider-a sends it THEN that sheet is not received, provider-a is told it is another
    provider's sheet without its serial, child or provider, and the page waits for a reviewer
    (reason other_provider); provider-b's own view of the sending is the 404 of a sending that
    does not exist, and a non-image is quarantined with its reason."""
    site.cli().ok("agency", "set", "phone_photos", "submission")
    serial, photo = _december_photo(site, tmp_path, PROVIDER_B, seed=0)
    token = login(client, "provider-a")
    batch = _send(client, token, ("theirs.jpg", photo), ("notes.jpg", b"not an image at all"))
    site.cli().ok("intake", "worker", "--drain")
    outcomes = _outcomes(client, batch)
    state, _words = outcomes["theirs.jpg"]
    assert state == "not_yours"
    page = client.get(f"/provider/photos?batch={batch}").text
    assert format_serial(serial) not in page and serial not in page and "P-200" not in page
    assert outcomes["notes.jpg"][0] == "unreadable"
    (sheet,) = rows(site, "SELECT status FROM sheets WHERE serial = :s", s=serial)
    assert sheet.status == "issued"
    (page_row,) = rows(
        site,
        "SELECT p.status, p.reason FROM scanned_pages p JOIN intake_files i ON i.file_id = "
        "p.file_id WHERE i.batch_id = :b",
        b=batch,
    )
    assert (page_row.status, page_row.reason) == ("unidentified", "other_provider")

    client.post("/logout", data={"csrf_token": token})
    login(client, "provider-b")
    theirs = client.get(f"/provider/photos?batch={batch}")
    nothing = client.get("/provider/photos?batch=20990101-000000-0000")
    assert theirs.status_code == nothing.status_code == 404
    assert theirs.text == nothing.text


def test_photos_off(site: Any, client: TestClient) -> None:
    site.cli().ok("agency", "set", "phone_photos", "off")
    token = login(client, "provider-a")
    assert 'id="photo-form"' not in client.get("/provider").text
    response = client.post(
        "/provider/photos",
        data={"csrf_token": token},
        files=[("photos", ("a.jpg", letter_photo(), "image/jpeg"))],
    )
    assert response.status_code == 409
    assert not rows(site, "SELECT id FROM intake_files WHERE source = 'phone'")
