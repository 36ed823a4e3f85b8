"""The audit's small things, checked on the real site: every control has a label, unknown
paths get an HTML page (JSON only under /api/), a focus ring with 3:1 contrast, one time zone
(the agency's, named), sheet statuses in words, the mailroom on the month being received."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from fastapi.testclient import TestClient

from fixtures.website import login
from tests.conftest import REPO

PAGES = {
    "admin": [
        "/admin",
        "/admin/users",
        "/admin/agency",
        "/admin/certificates",
        "/mailroom",
        "/sheets",
        "/print",
        "/account",
        "/review/groups",
        "/review/pages",
    ],
    "provider-a": ["/provider", "/provider/photos", "/print", "/account"],
    None: ["/login", "/lookup"],
}


class Controls(HTMLParser):
    """Form controls and what names them: labels (for= or around), aria-label(ledby)."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()
        self.open_labels = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "label":
            self.open_labels += 1
            if found.get("for"):
                self.label_for.add(str(found["for"]))
        elif tag in ("input", "select", "textarea"):
            if tag == "input" and found.get("type") in ("hidden", "submit", "button"):
                return
            self.controls.append({**found, "_tag": tag, "_in_label": str(self.open_labels)})

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.open_labels -= 1

    def unlabelled(self) -> list[str]:
        missing = []
        for c in self.controls:
            named = (
                c.get("aria-label")
                or c.get("aria-labelledby")
                or c["_in_label"] != "0"
                or (c.get("id") and c["id"] in self.label_for)
            )
            if not named:
                missing.append(f"<{c['_tag']} name={c.get('name')} id={c.get('id')}>")
        return missing


def test_every_control_has_a_label(site: Any, app: Any) -> None:
    """Every input, select and textarea on the staff, provider and public pages has a label
    (12 selects on /admin/users had none)."""
    problems = []
    for user, paths in PAGES.items():
        with TestClient(app, base_url="http://127.0.0.1") as client:
            if user:
                login(client, user)
            for path in paths:
                page = client.get(path)
                assert page.status_code == 200, (path, page.status_code)
                parser = Controls()
                parser.feed(page.text)
                assert parser.controls or path in ("/admin", "/review/groups", "/review/pages")
                problems += [f"{path}: {c}" for c in parser.unlabelled()]
    assert not problems, "\n".join(problems)


def test_unknown_paths_get_an_html_page(client: TestClient) -> None:
    page = client.get("/no/such/page", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in page.text
    spanish = client.get("/no/such/page", headers={"Accept-Language": "es"})
    assert "<h1>No se encontró</h1>" in spanish.text
    api = client.get("/api/no/such/thing")
    assert api.status_code == 404 and api.headers["content-type"] == "application/json"


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_focus_ring_has_3_to_1_contrast() -> None:
    """WCAG 2.2 (1.4.11, 2.4.13): the focus ring against the page's white and background; on
    the dark header its white halo."""
    css = (REPO / "review_ui" / "static" / "app.css").read_text()
    focus = re.search(r"--focus:\s*(#[0-9a-fA-F]{6})", css)
    background = re.search(r"--bg:\s*(#[0-9a-fA-F]{6})", css)
    header = re.search(r"header\.top \{[^}]*background:\s*(#[0-9a-fA-F]{6})", css)
    assert focus and background and header
    assert _contrast(focus.group(1), "#ffffff") >= 3
    assert _contrast(focus.group(1), background.group(1)) >= 3
    assert re.search(r":focus-visible \{[^}]*box-shadow: 0 0 0 \d+px #fff", css)
    assert _contrast("#ffffff", header.group(1)) >= 3


def test_one_time_zone_named_and_statuses_in_words(site: Any, client: TestClient) -> None:
    """The mailroom's batches and the sheet list show the agency's local time with its zone
    named, never UTC; statuses are words (`in review`), never codes (`in_review`); the
    mailroom opens on the month being received (November, on 2 December), not the newest
    issued month (December)."""
    site.cli().ok("sheets", "issue", "--month", "2026-12")
    login(client, "admin")
    mailroom = client.get("/mailroom").text
    assert "UTC" not in mailroom
    assert re.search(r"<td>2026-12-0\d \d\d:\d\d PST</td>", mailroom), mailroom[-2000:]
    assert "Expected vs received, 2026-11" in mailroom
    batch = re.search(r'data-batch="([^"]+)"', mailroom)
    assert batch
    report = client.get(f"/mailroom/batches/{batch.group(1)}").text
    assert "UTC" not in report and re.search(r"\d\d:\d\d PST\.", report)
    sheets = client.get("/sheets").text
    assert "in_review" not in re.sub(r'(value|class|data-[a-z]+)="[^"]*"', "", sheets)
    assert "in review" in sheets
    assert "PST" in sheets
