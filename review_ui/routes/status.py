"""The public "was my sheet received?" look-up, in the reader's language.

The look-up needs no login, so it says only whether a sheet with that number was received,
and on which day (in the agency's timezone): never a name, a provider or a review status.
It is rate-limited per client address (`app.state.lookup_limiter`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlmodel import Session, select

from attendance import agency_settings, i18n
from attendance.db import session_scope
from attendance.i18n import N_
from attendance.models import Sheet
from forms.serial import InvalidSerial, format_serial, normalize_serial
from review_ui.web import engine_of, render, request_language

router = APIRouter(include_in_schema=False)


# The look-up's answers: English message ids, translated from the catalogs (attendance/i18n).
OUTCOMES = {
    "received": N_("Sheet {serial} was received on {date}."),
    "not_received": N_("Sheet {serial} has not been received yet."),
    "unknown": N_("No sheet with that number."),
    "bad_check": N_("That number is not valid: check the last character."),
    "bad_length": N_("That number is not valid: a sheet number has 11 characters."),
    "bad_chars": N_("That number is not valid: it has characters a sheet number never has."),
}
LIMITED = N_("Too many look-ups from this computer. Try again in {minutes} min.")


@dataclass(frozen=True)
class LookupAnswer:
    """What the public may learn about a typed serial."""

    outcome: Literal["received", "not_received", "unknown", "bad_check", "bad_length", "bad_chars"]
    serial: str | None = None
    received_on: dt.date | None = None

    @property
    def received(self) -> bool:
        return self.outcome == "received"

    def message(self, lang: str) -> str:
        return i18n.gettext(lang, OUTCOMES[self.outcome]).format(
            serial=format_serial(self.serial) if self.serial else "",
            date=i18n.long_date(self.received_on, lang) if self.received_on else "",
        )


def lookup_serial(session: Session, typed: str) -> LookupAnswer:
    """Received or not, and on which local day: nothing else about the sheet."""
    try:
        serial = normalize_serial(typed)
    except InvalidSerial as exc:
        return LookupAnswer(exc.reason)
    sheet = session.exec(select(Sheet).where(Sheet.serial == serial)).first()
    if sheet is None:
        return LookupAnswer("unknown")
    if sheet.received_at is None:
        return LookupAnswer("not_received", serial)
    day = agency_settings.load_config(session).local_date(sheet.received_at)
    return LookupAnswer("received", serial, day)


def client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def check_lookup_limit(request: Request) -> float:
    """Seconds to wait if this address is over the look-up limit (else counts this one)."""
    limiter = request.app.state.lookup_limiter
    key = client_key(request)
    wait = float(limiter.blocked(key))
    if not wait:
        limiter.hit(key)
    return wait


@router.get("/lookup")
def lookup(
    request: Request,
    serial: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    lang = request_language(request)
    context: dict[str, object] = {"typed": "", "result": None, "limited": None}
    typed = (serial or "").strip()
    if not typed:
        return render(request, "lookup.html", context)
    wait = check_lookup_limit(request)
    if wait:
        context["limited"] = i18n.gettext(lang, LIMITED).format(minutes=int(wait // 60) + 1)
        response = render(request, "lookup.html", context, status_code=429)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    with session_scope(engine_of(request)) as session:
        answer = lookup_serial(session, typed)
    context["typed"] = format_serial(answer.serial) if answer.serial else typed
    context["result"] = answer.message(lang)
    context["received"] = answer.received
    return render(request, "lookup.html", context)
