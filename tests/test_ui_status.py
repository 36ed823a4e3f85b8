"""The provider's status page, printing, the public look-up and the JSON API on a real site:
each provider sees only its own sheets, the public sees only received-or-not."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import subprocess
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from attendance.agency import AgencyConfig
from fixtures.website import login
from forms.serial import ALPHABET, format_serial, new_serial
from tests.conftest import CERTIFICATES_CSV, MONTH, suite_now

RESULT = re.compile(r'<p id="result"[^>]*>([^<]*)</p>')


def first_names(provider_id: str | None = None) -> list[str]:
    with CERTIFICATES_CSV.open(newline="") as handle:
        return [
            row["child_first_name"]
            for row in csv.DictReader(handle)
            if provider_id in (None, row["provider_id"])
        ]


def pdf_pages(content: bytes, tmp_path: Path) -> int:
    path = tmp_path / "out.pdf"
    path.write_bytes(content)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    found = re.search(r"^Pages:\s+(\d+)", info.stdout, re.M)
    assert found, info.stdout
    return int(found.group(1))


def mistyped(serial: str) -> str:
    """`serial` with a wrong check character."""
    wrong = next(c for c in ALPHABET if c != serial[-1])
    return serial[:-1] + wrong


def unissued_serial(site: Any) -> str:
    taken = set(site.serials("P-100") + site.serials("P-200") + site.serials("P-300"))
    while (serial := new_serial()) in taken:
        pass
    return serial


def client_for(app: Any, username: str) -> TestClient:
    other = TestClient(app, base_url="http://127.0.0.1")
    login(other, username)
    return other


def test_provider_page_lists_only_its_own_sheets(site: Any, app: Any) -> None:
    site.cli().ok("sheets", "issue", "--month", "2026-12")
    with client_for(app, "provider-a") as provider:
        page = provider.get("/provider")
    assert page.status_code == 200
    table = page.text[page.text.index('<div id="sheets">') :]
    shown = re.findall(r'<li class="sheet-card" data-serial="([A-Z0-9]+)"', table)
    november = site.serials("P-100")
    assert set(november) <= set(shown)
    assert not set(site.serials("P-200")) & set(shown)
    assert not set(site.serials("P-200")) & set(re.findall(r"[0-9A-Z]{11}", page.text))
    for name in first_names("P-100"):
        assert name in page.text
    for name in first_names("P-200"):
        assert name not in page.text
    # Newest month first; November's sheets are being checked, December's not received.
    assert table.index("December 2026") < table.index("November 2026")
    assert re.search(r"<dt>Received</dt><dd>December \d+, 2026</dd>", table)
    assert "Received: being checked" in table and "Not received yet" in table
    assert "in_review" not in re.sub(r'data-status="[a-z_]+"', "", table)
    # Serials grouped, never broken: 7K2M-9QXR-4T8.
    assert all(
        re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{3}", s)
        for s in re.findall(r'<span class="serial-text">([^<]+)</span>', table)
    )
    only_november = provider_page(app, "/provider?month=2026-11")
    assert sorted(re.findall(r'class="sheet-card" data-serial="([A-Z0-9]+)"', only_november)) == (
        november
    )


def provider_page(app: Any, path: str) -> str:
    with client_for(app, "provider-a") as provider:
        response = provider.get(path)
    assert response.status_code == 200
    return response.text


def test_provider_page_is_for_providers_only(app: Any) -> None:
    with client_for(app, "reviewer") as reviewer:
        assert reviewer.get("/provider").status_code == 403


def test_other_providers_sheet_is_the_same_404_as_no_sheet(site: Any, app: Any) -> None:
    """GIVEN provider-a logged in
    WHEN it asks the API and the print routes for provider-b's sheet, and for a serial never
    issued
    THEN both answers are the same 404."""
    theirs = site.serials("P-200")[0]
    nobody = unissued_serial(site)
    mine = site.serials("P-100")[0]
    with client_for(app, "provider-a") as provider:
        for template in ("/api/sheets/{}", "/print/sheets/{}.pdf"):
            other = provider.get(template.format(theirs))
            missing = provider.get(template.format(nobody))
            assert other.status_code == missing.status_code == 404
            assert other.text == missing.text
            assert provider.get(template.format(mine)).status_code == 200
        other = provider.get(f"/api/providers/P-200/sheets?month={MONTH}")
        missing = provider.get(f"/api/providers/P-999/sheets?month={MONTH}")
        assert other.status_code == missing.status_code == 404
        assert other.json() == missing.json()
        other = provider.get(f"/print/providers/P-200/{MONTH}.pdf")
        missing = provider.get(f"/print/providers/P-999/{MONTH}.pdf")
        assert other.status_code == missing.status_code == 404
        assert other.text == missing.text
        mine_json = provider.get(f"/api/providers/P-100/sheets?month={MONTH}").json()
    assert sorted(s["serial"] for s in mine_json) == site.serials("P-100")


def test_sheet_status_api_has_no_child_name(site: Any, app: Any) -> None:
    serial = site.serials("P-100")[0]
    with client_for(app, "reviewer") as reviewer:
        response = reviewer.get(f"/api/sheets/{format_serial(serial)}")
        assert reviewer.get("/api/providers/P-100/sheets?month=2026-13").status_code == 422
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {
        "serial",
        "certificate_id",
        "provider_id",
        "month",
        "status",
        "received_at",
        "received_via",
        "expected_payment",
    }
    assert data["serial"] == serial and data["provider_id"] == "P-100"
    # Received on 2 December (the test's clock): paid on December 20.
    assert data["received_via"] == "scan" and data["expected_payment"] == "2026-12-20"
    assert data["month"] == MONTH and data["received_at"]
    for name in first_names():
        assert name not in response.text


def test_print_pdfs_have_one_sheet_per_child(site: Any, app: Any, tmp_path: Path) -> None:
    serials = site.serials("P-100")
    with client_for(app, "provider-a") as provider:
        page = provider.get("/print")
        assert page.status_code == 200
        assert sorted(re.findall(r'class="sheet-card" data-serial="([A-Z0-9]+)"', page.text)) == (
            serials
        )
        assert "P-200" not in page.text
        one = provider.get(f"/print/sheets/{serials[0]}.pdf")
        month = provider.get(f"/print/providers/P-100/{MONTH}.pdf")
    assert one.status_code == 200 and one.content.startswith(b"%PDF")
    assert one.headers["content-type"] == "application/pdf"
    assert one.headers["content-disposition"] == f'attachment; filename="sheet-{serials[0]}.pdf"'
    per_sheet = pdf_pages(one.content, tmp_path)
    assert month.status_code == 200
    assert (
        month.headers["content-disposition"] == f'attachment; filename="sheets-P-100-{MONTH}.pdf"'
    )
    assert pdf_pages(month.content, tmp_path) == per_sheet * len(serials)
    with client_for(app, "mailroom") as staff:
        chooser = staff.get(f"/print?provider=P-200&month={MONTH}")
        assert sorted(
            re.findall(r'class="sheet-card" data-serial="([A-Z0-9]+)"', chooser.text)
        ) == (site.serials("P-200"))
        theirs = staff.get(f"/print/providers/P-200/{MONTH}.pdf")
        assert pdf_pages(theirs.content, tmp_path) == per_sheet * len(site.serials("P-200"))
        none = staff.get("/print/providers/P-100/2030-01.pdf")
        assert none.status_code == 404
        assert staff.get("/print/providers/P-100/2030-13.pdf").status_code == 422


def test_public_lookup_answers_in_english_and_spanish(site: Any, client: TestClient) -> None:
    """GIVEN November received and December issued, not received
    WHEN anyone (not logged in) looks serials up in English and in Spanish
    THEN the answer is received (with the day) / not yet / unknown / invalid, and nothing
    else about the sheet or the child is shown."""
    site.cli().ok("sheets", "issue", "--month", "2026-12")
    received = site.serials("P-100")[0]
    december = next(s for s in _all_serials(site) if s not in _all_november(site))
    nobody = unissued_serial(site)
    day = received_day(site, received)
    english = f"{day:%B} {day.day}, {day.year}"
    spanish = f"{day.day} de {SPANISH_MONTHS[day.month - 1]} de {day.year}"
    answers = {
        "en": {
            received: rf"^Sheet {format_serial(received)} was received on {english}\.$",
            december: rf"^Sheet {format_serial(december)} has not been received yet\.$",
            nobody: r"^No sheet with that number\.$",
            mistyped(received): r"^That number is not valid: check the last character\.$",
        },
        "es": {
            received: (rf"^La hoja {format_serial(received)} se recibió el {spanish}\.$"),
            december: rf"^La hoja {format_serial(december)} todavía no se ha recibido\.$",
            nobody: r"^No hay ninguna hoja con ese número\.$",
            mistyped(received): r"^Ese número no es válido: revise el último carácter\.$",
        },
    }
    names = first_names()
    for lang, expected in answers.items():
        form = client.get(f"/lookup?lang={lang}")
        assert form.status_code == 200
        assert f'<html lang="{lang}">' in form.text
        assert '<input id="serial" name="serial"' in form.text
        other = "es" if lang == "en" else "en"
        assert f'href="/lookup?lang={other}"' in form.text
        for serial, pattern in expected.items():
            page = client.get("/lookup", params={"serial": serial.lower(), "lang": lang})
            assert page.status_code == 200
            found = RESULT.search(page.text)
            assert found, page.text[-500:]
            assert re.match(pattern, found.group(1)), (lang, found.group(1))
            for name in names:
                assert name not in page.text
            assert "P-100" not in page.text and "in_review" not in page.text
    spanish = client.get("/lookup?lang=es").text
    assert "Número de hoja" in spanish and "Buscar" in spanish
    # The last choice is remembered (a cookie); a language without a catalog changes nothing.
    french = client.get("/lookup?lang=fr", headers={"Accept-Language": "fr"})
    assert french.status_code == 200 and '<html lang="es">' in french.text
    client.cookies.clear()
    french = client.get("/lookup?lang=fr", headers={"Accept-Language": "fr"})
    assert '<html lang="en">' in french.text
    assert '<html lang="es">' in client.get("/lookup", headers={"Accept-Language": "es-MX"}).text


SPANISH_MONTHS = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
]


def received_day(site: Any, serial: str) -> dt.date:
    """The agency's local day the sheet was received (from the database)."""
    from sqlmodel import Session, select

    from attendance import agency_settings
    from attendance.models import Sheet

    with Session(site.engine()) as session:
        sheet = session.exec(select(Sheet).where(Sheet.serial == serial)).one()
        assert sheet.received_at is not None
        return agency_settings.load_config(session).local_date(sheet.received_at)


def _all_serials(site: Any) -> list[str]:
    from sqlmodel import Session, select

    from attendance.models import Sheet

    with Session(site.engine()) as session:
        return list(session.exec(select(Sheet.serial).order_by(Sheet.serial)).all())


def _all_november(site: Any) -> set[str]:
    return set(site.serials("P-100") + site.serials("P-200") + site.serials("P-300"))


def test_lookup_api(site: Any, client: TestClient) -> None:
    received = site.serials("P-200")[0]
    answer = client.get(f"/api/lookup/{format_serial(received)}")
    assert answer.status_code == 200
    data = answer.json()
    assert data["serial"] == received and data["received"] is True
    # Received when the test site was scanned: the suite's day in the agency's time zone.
    assert data["received_on"] == AgencyConfig().local_date(suite_now()).isoformat()
    assert set(data) == {"serial", "received", "received_on"}
    assert client.get(f"/api/lookup/{unissued_serial(site)}").status_code == 404
    bad = client.get(f"/api/lookup/{mistyped(received)}")
    assert bad.status_code == 422 and "last character" in bad.json()["detail"]


def test_lookup_is_rate_limited(site: Any) -> None:
    """GIVEN an app allowing 3 look-ups a minute per address
    WHEN one address makes a 4th, on the page and then on the API
    THEN it gets 429 with Retry-After."""
    serial = site.serials("P-100")[0]
    with TestClient(site.app(lookup_limit=(3, 60.0)), base_url="http://127.0.0.1") as client:
        for _ in range(3):
            assert client.get("/lookup", params={"serial": serial}).status_code == 200
        limited = client.get("/lookup", params={"serial": serial})
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) > 0
        assert "Too many look-ups" in limited.text
        assert client.get(f"/api/lookup/{serial}").status_code == 429
        # The empty form is not a look-up: it still shows.
        assert client.get("/lookup").status_code == 200
        spanish = client.get("/lookup", params={"serial": serial, "lang": "es"})
        assert spanish.status_code == 429 and "Demasiadas consultas" in spanish.text


def test_openapi_documents_the_api(client: TestClient) -> None:
    schema = client.get("/api/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/lookup/{serial}",
        "/api/sheets/{serial}",
        "/api/providers/{provider_id}/sheets",
        "/api/export",
    ):
        assert path in paths
    assert not any(p.startswith(("/mailroom", "/print", "/provider", "/lookup")) for p in paths)
    schemas = schema.json()["components"]["schemas"]
    assert {"SheetStatusOut", "LookupResult"} <= set(schemas)


def test_export_for_reviewers_only(site: Any, app: Any) -> None:
    with client_for(app, "reviewer") as reviewer:
        response = reviewer.get(f"/api/export?month={MONTH}")
        bad = reviewer.get("/api/export?month=November")
    assert response.status_code == 200
    data = response.json()
    assert sorted(s["serial"] for s in data["sheets"]) == sorted(_all_november(site))
    cli_json = site.cli().ok("export", "--month", MONTH, "--format", "json")
    assert data == json.loads(cli_json)
    assert bad.status_code == 422 and "YYYY-MM" in bad.json()["detail"]
    for username in ("provider-a", "mailroom"):
        with client_for(app, username) as other:
            assert other.get(f"/api/export?month={MONTH}").status_code == 403


def test_a_provider_gets_its_own_notice_never_another_providers(site: Any, app: Any) -> None:
    """GIVEN a sheet of provider-a and one of provider-b, both returned
    WHEN provider-a asks for both notices, and for a serial never issued
    THEN its own is the notice (a PDF), provider-b's is the same 404 as the missing one, and
    provider-b's expected payment date appears nowhere provider-a can look."""
    mine, theirs = site.serials("P-100")[0], site.serials("P-200")[0]
    for serial in (mine, theirs):
        site.cli().ok("sheets", "return", serial, "--reason", "please sign", "--as", "reviewer")
    nobody = unissued_serial(site)
    with client_for(app, "provider-a") as provider:
        own = provider.get(f"/sheets/{mine}/notice.pdf")
        other = provider.get(f"/sheets/{theirs}/notice.pdf")
        missing = provider.get(f"/sheets/{nobody}/notice.pdf")
        page = provider.get("/provider").text
        api = provider.get(f"/api/sheets/{theirs}")
    assert own.status_code == 200 and own.content.startswith(b"%PDF")
    assert own.headers["content-disposition"] == f'attachment; filename="notice-{mine}.pdf"'
    assert other.status_code == missing.status_code == 404
    assert other.text == missing.text
    assert theirs not in page and format_serial(theirs) not in page
    assert api.status_code == 404
