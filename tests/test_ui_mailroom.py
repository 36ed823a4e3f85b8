"""The mailroom pages on a real site: batches, thumbnails, uploads through the real intake queue,
expected vs received, and who may use them."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import text

from attendance.db import session_scope
from fixtures.website import login
from review_ui import drawing
from review_ui.routes import mailroom


def rows(site: Any, sql: str, **params: Any) -> list[Any]:
    engine = site.engine()
    try:
        with session_scope(engine) as session:
            return list(session.execute(text(sql), params).all())
    finally:
        engine.dispose()


def batch_ids(page: str) -> list[str]:
    return re.findall(r'<tr data-batch="([^"]+)">', page)


def test_mailroom_lists_the_demo_batch(site: Any, client: TestClient) -> None:
    login(client, "mailroom")
    page = client.get("/mailroom")
    assert page.status_code == 200
    batches = batch_ids(page.text)
    assert len(batches) == 1 and batches[0].startswith("run-")
    assert f'href="/mailroom/batches/{batches[0]}"' in page.text
    assert '<form id="upload" enctype="multipart/form-data" method="post"' in page.text
    assert 'name="files" multiple accept=".pdf,.tif,.tiff,.jpg,.jpeg,.png"' in page.text
    assert "the intake service reads them" in page.text


def test_expected_vs_received_matches_the_database(site: Any, client: TestClient) -> None:
    """GIVEN the demo month, with one sheet returned and one voided
    WHEN the mailroom looks at expected vs received
    THEN every provider's numbers are those in the database."""
    p100 = site.serials("P-100")
    site.cli().ok("sheets", "return", p100[0], "--reason", "unsigned", "--as", "rev")
    site.cli().ok("sheets", "void", site.serials("P-200")[0], "--reason", "closed", "--as", "rev")
    site.cli().ok("sheets", "issue", "--month", "2026-12")
    login(client, "mailroom")
    page = client.get("/mailroom?month=2026-11").text
    table = page[
        page.index('<table id="expected">') : page.index("</table>", page.index("expected"))
    ]
    shown: dict[str, dict[str, int]] = {}
    for provider, body in re.findall(r'<tr data-provider="([^"]+)">(.*?)</tr>', table, re.S):
        shown[provider] = {
            key: int(re.sub(r"<[^>]+>", "", value))
            for key, value in re.findall(r'data-key="(\w+)">(.*?)</td>', body, re.S)
        }
    expected: dict[str, dict[str, int]] = {}
    for provider, status in rows(
        site,
        "SELECT c.provider_id, s.status FROM sheets s JOIN certificates c "
        "ON c.certificate_id = s.certificate_id WHERE s.month = '2026-11'",
    ):
        counts = expected.setdefault(
            provider, {"issued": 0, "received": 0, "missing": 0, "returned": 0}
        )
        if status == "void":
            continue
        counts["issued"] += 1
        counts["received"] += status != "issued"
        counts["missing"] += status == "issued"
        counts["returned"] += status == "returned"
    shown.pop("total")
    assert shown == expected
    assert shown["P-100"]["returned"] == 1
    assert shown["P-200"]["issued"] == len(site.serials("P-200")) - 1
    # The default month is the one being received (on 2 December: November), not the latest
    # one issued (December, nothing received yet).
    assert "Expected vs received, 2026-11" in client.get("/mailroom").text
    december = client.get("/mailroom?month=2026-12").text
    assert "Expected vs received, 2026-12" in december
    assert 'data-key="received">0<' in december


def test_batch_page_shows_counts_outcomes_and_thumbnails(site: Any, client: TestClient) -> None:
    login(client, "mailroom")
    batch = batch_ids(client.get("/mailroom").text)[0]
    page = client.get(f"/mailroom/batches/{batch}")
    assert page.status_code == 200
    pages = rows(site, "SELECT id, status, serial FROM scanned_pages ORDER BY id")
    identified = [p for p in pages if p.status == "identified"]
    assert f'data-key="identified">{len(identified)}<' in page.text
    assert f'data-key="processed">{len(pages)}<' in page.text
    assert 'data-key="unidentified">1<' in page.text
    for name in ("batch-001.pdf", "batch-002.tif"):  # staff may see original file names
        assert name in page.text
    thumbs = re.findall(r'<img src="/mailroom/pages/(\d+)/thumb.png"', page.text)
    assert sorted(int(t) for t in thumbs) == [p.id for p in pages]
    serial = identified[0].serial
    assert f"received {serial[:4]}-{serial[4:8]}-{serial[8:]}" in page.text
    assert "unidentified (blank_page)" in page.text

    thumb = client.get(f"/mailroom/pages/{thumbs[0]}/thumb.png")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(thumb.content)) as image:
        assert image.format == "PNG" and image.width == drawing.THUMB_WIDTH

    assert client.get("/mailroom/batches/20990101-000000-beef").status_code == 404
    assert client.get("/mailroom/batches/run-20990101").status_code == 404
    assert client.get("/mailroom/pages/999999/thumb.png").status_code == 404


def _printed_sheet(site: Any, tmp_path: Path) -> tuple[str, Path]:
    """A December sheet of P-100, issued and printed (not yet received)."""
    site.cli().ok("sheets", "issue", "--month", "2026-12")
    serial = rows(
        site,
        "SELECT s.serial FROM sheets s JOIN certificates c ON c.certificate_id = s.certificate_id"
        " WHERE s.month = '2026-12' AND c.provider_id = 'P-100' ORDER BY s.serial",
    )[0].serial
    pdf = tmp_path / "printed.pdf"
    site.cli().ok("sheets", "print", "--serial", serial, "-o", str(pdf))
    return serial, pdf


def test_upload_queues_files_and_the_worker_receives_them(
    site: Any, client: TestClient, tmp_path: Path
) -> None:
    """GIVEN a printed December sheet and a junk file named like a PDF
    WHEN the mailroom uploads both, and the intake worker drains the queue
    THEN the junk file is quarantined with its reason, the sheet is received, and the batch
    page shows both; no arrival is left half-written."""
    serial, pdf = _printed_sheet(site, tmp_path)
    token = login(client, "mailroom")
    response = client.post(
        "/mailroom/upload",
        data={"csrf_token": token},
        files=[
            ("files", ("Ava Testperson december.pdf", pdf.read_bytes(), "application/pdf")),
            ("files", ("junk.pdf", b"this is not a scan at all", "application/pdf")),
        ],
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:300]
    location = response.headers["location"]
    batch = location.rsplit("/", 1)[1]
    arrivals = rows(
        site,
        "SELECT original_name, state, reason, source FROM intake_files "
        "WHERE batch_id = :b ORDER BY id",
        b=batch,
    )
    assert [(a.original_name, a.source) for a in arrivals] == [
        ("Ava Testperson december.pdf", "upload"),
        ("junk.pdf", "upload"),
    ]
    assert arrivals[0].state == "queued"
    assert arrivals[1].state == "failed" and arrivals[1].reason
    waiting = client.get(location)
    assert waiting.status_code == 200
    assert "Queued; the intake service reads them" in waiting.text
    assert batch in client.get("/mailroom").text

    site.cli().ok("intake", "worker", "--drain")

    done = client.get(location).text
    assert "Queued; the intake service reads them" not in done
    assert f"received {serial[:4]}-{serial[4:8]}-{serial[8:]}" in done
    quarantine = done[done.index('<table id="quarantine">') :]
    assert "junk.pdf" in quarantine and arrivals[1].reason in quarantine
    assert 'data-key="failed">1<' in done and 'data-key="identified">1<' in done
    sheet = rows(site, "SELECT status, received_at FROM sheets WHERE serial = :s", s=serial)[0]
    assert sheet.received_at is not None and sheet.status != "issued"
    assert rows(site, "SELECT state FROM intake_files WHERE batch_id = :b", b=batch) == [
        ("done",),
        ("failed",),
    ]
    assert rows(site, "SELECT count(*) FROM page_jobs WHERE state != 'done'") == [(0,)]
    processing = site.settings.intake_work_dir / "processing"
    assert not list(processing.iterdir())


def _arrivals(site: Any) -> int:
    return int(rows(site, "SELECT count(*) FROM intake_files")[0][0])


def test_empty_upload_is_refused(site: Any, client: TestClient) -> None:
    token = login(client, "mailroom")
    empty = client.post(
        "/mailroom/upload",
        data={"csrf_token": token},
        files=[("files", ("", b"", "application/octet-stream"))],
    )
    assert empty.status_code == 400
    assert "choose at least one file" in empty.text
    nothing = client.post("/mailroom/upload", data={"csrf_token": token})
    assert nothing.status_code == 400
    assert _arrivals(site) == 0


def test_oversized_upload_is_refused_whole(
    site: Any, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mailroom, "MAX_FILE_BYTES", 1000)
    token = login(client, "mailroom")
    response = client.post(
        "/mailroom/upload",
        data={"csrf_token": token},
        files=[
            ("files", ("small.pdf", b"x" * 10, "application/pdf")),
            ("files", ("big.pdf", b"x" * 2000, "application/pdf")),
        ],
    )
    assert response.status_code == 413
    assert "nothing was uploaded" in response.text
    assert _arrivals(site) == 0


def test_upload_without_csrf_token_stores_nothing(site: Any, client: TestClient) -> None:
    login(client, "mailroom")
    for data in ({}, {"csrf_token": "forged"}):
        response = client.post(
            "/mailroom/upload",
            data=data,
            files=[("files", ("a.pdf", b"%PDF-1.4 junk", "application/pdf"))],
        )
        assert response.status_code == 403
    assert _arrivals(site) == 0
    assert not (site.settings.intake_work_dir / "processing").exists() or not list(
        (site.settings.intake_work_dir / "processing").iterdir()
    )


@pytest.mark.parametrize("username", ["reviewer", "provider-a"])
def test_other_roles_may_not_use_the_mailroom(site: Any, app: Any, username: str) -> None:
    with TestClient(app, base_url="http://127.0.0.1") as other:
        token = login(other, username)
        page_id = rows(site, "SELECT min(id) FROM scanned_pages")[0][0]
        for path in (
            "/mailroom",
            "/mailroom/batches/run-20261123",
            f"/mailroom/pages/{page_id}/thumb.png",
        ):
            assert other.get(path).status_code == 403, path
        response = other.post(
            "/mailroom/upload",
            data={"csrf_token": token},
            files=[("files", ("a.pdf", b"%PDF-1.4 junk", "application/pdf"))],
        )
        assert response.status_code == 403
    assert _arrivals(site) == 0


def test_mailroom_needs_a_login(client: TestClient) -> None:
    response = client.get("/mailroom", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")
