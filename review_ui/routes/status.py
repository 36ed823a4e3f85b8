"""The provider's own sheets (`/provider`) and the public "was my sheet received?" look-up.

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
from sqlmodel import Session, col, select

from attendance import agency_settings
from attendance.db import session_scope
from attendance.models import Certificate, Role, Sheet, SheetStatus
from attendance.months import month_name, parse_month
from attendance.sheets import list_sheets
from forms.serial import InvalidSerial, format_serial, normalize_serial
from review_ui.web import Viewer, engine_of, month_param, render, require

router = APIRouter(include_in_schema=False)

ProviderViewer = Annotated[Viewer, require(Role.PROVIDER)]
Lang = Literal["en", "es"]


TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Was my attendance sheet received?",
        "intro": "Type the sheet number printed at the top of the attendance sheet.",
        "label": "Sheet number",
        "hint": "11 characters, for example ABCD-EFGH-JKM",
        "submit": "Look up",
        "received": "Sheet {serial} was received on {date}.",
        "not_received": "Sheet {serial} has not been received yet.",
        "unknown": "No sheet with that number.",
        "bad_check": "That number is not valid: check the last character.",
        "bad_length": "That number is not valid: a sheet number has 11 characters.",
        "bad_chars": "That number is not valid: it has characters a sheet number never has.",
        "limited": "Too many look-ups from this computer. Try again in {minutes} min.",
        "other_lang": "Español",
        "privacy": "This page shows only whether a sheet arrived, and when.",
    },
    "es": {
        "title": "¿Recibieron mi hoja de asistencia?",
        "intro": "Escriba el número de hoja impreso arriba en la hoja de asistencia.",
        "label": "Número de hoja",
        "hint": "11 caracteres, por ejemplo ABCD-EFGH-JKM",
        "submit": "Buscar",
        "received": "La hoja {serial} se recibió el {date}.",
        "not_received": "La hoja {serial} todavía no se ha recibido.",
        "unknown": "No hay ninguna hoja con ese número.",
        "bad_check": "Ese número no es válido: revise el último carácter.",
        "bad_length": "Ese número no es válido: un número de hoja tiene 11 caracteres.",
        "bad_chars": (
            "Ese número no es válido: tiene caracteres que un número de hoja nunca tiene."
        ),
        "limited": "Demasiadas consultas desde esta computadora. Inténtelo en {minutes} min.",
        "other_lang": "English",
        "privacy": "Esta página solo muestra si una hoja llegó, y cuándo.",
    },
}


def long_date(day: dt.date, lang: str = "en") -> str:
    """`2 December 2026` / `2 de diciembre de 2026`."""
    name = month_name(day, lang)
    if lang == "es":
        return f"{day.day} de {name} de {day.year}"
    return f"{day.day} {name} {day.year}"


def short_date(day: dt.date) -> str:
    """`3 Dec 2026`."""
    return f"{day.day} {month_name(day, 'en')[:3]} {day.year}"


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
        text = TEXT[lang][self.outcome]
        return text.format(
            serial=format_serial(self.serial) if self.serial else "",
            date=long_date(self.received_on, lang) if self.received_on else "",
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
    lang: Lang = "en",
) -> Response:
    words = TEXT[lang]
    other = "es" if lang == "en" else "en"
    context: dict[str, object] = {
        "lang": lang,
        "t": words,
        "other_lang": other,
        "typed": "",
        "result": None,
        "limited": None,
    }
    typed = (serial or "").strip()
    if not typed:
        return render(request, "lookup.html", context)
    wait = check_lookup_limit(request)
    if wait:
        context["limited"] = words["limited"].format(minutes=int(wait // 60) + 1)
        response = render(request, "lookup.html", context, status_code=429)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    with session_scope(engine_of(request)) as session:
        answer = lookup_serial(session, typed)
    context["typed"] = format_serial(answer.serial) if answer.serial else typed
    context["result"] = answer.message(lang)
    context["received"] = answer.received
    return render(request, "lookup.html", context)


# --- the provider's own sheets ---------------------------------------------------------


def plain_status(sheet: Sheet, local_date: dt.date | None) -> tuple[str, str]:
    """The sheet's status in the provider's words, and a badge colour."""
    status = sheet.status
    received = f"received {short_date(local_date)}" if local_date else "received"
    if status == SheetStatus.ISSUED:
        return "not received yet", "yellow"
    if status in (SheetStatus.RECEIVED, SheetStatus.IN_REVIEW):
        return f"{received} — being checked", ""
    if status == SheetStatus.VERIFIED:
        return "verified", "green"
    if status == SheetStatus.EXPORTED:
        return "verified and sent for payment", "green"
    if status == SheetStatus.RETURNED:
        return "returned: see the notice", "red"
    if status == SheetStatus.VOID:
        return "void: it will not be paid", "red"
    return status, ""


@router.get("/provider")
def provider_page(
    request: Request,
    viewer: ProviderViewer,
    month: Annotated[str | None, Query(max_length=7)] = None,
) -> Response:
    if month:
        month = month_param(month)
    provider_id = viewer.provider_id
    groups: list[dict[str, object]] = []
    months: list[str] = []
    if provider_id:
        with session_scope(engine_of(request)) as session:
            config = agency_settings.load_config(session)
            months = sorted(
                set(
                    session.exec(
                        select(Sheet.month)
                        .join(Certificate, col(Certificate.certificate_id) == Sheet.certificate_id)
                        .where(Certificate.provider_id == provider_id)
                    ).all()
                ),
                reverse=True,
            )
            by_month: dict[str, list[dict[str, object]]] = {}
            for sheet, certificate in list_sheets(session, provider_id=provider_id, month=month):
                local = config.local_date(sheet.received_at) if sheet.received_at else None
                words, colour = plain_status(sheet, local)
                by_month.setdefault(sheet.month, []).append(
                    {
                        "serial": sheet.serial,
                        "serial_text": format_serial(sheet.serial),
                        "child": f"{certificate.child_first_name} {certificate.child_last_name}",
                        "month": sheet.month,
                        "status": words,
                        "colour": colour,
                        "raw_status": sheet.status,
                    }
                )
        for key in sorted(by_month, reverse=True):
            first = parse_month(key)
            groups.append(
                {
                    "month": key,
                    "title": f"{month_name(first, 'en')} {first.year}",
                    "rows": by_month[key],
                }
            )
    return render(
        request,
        "provider.html",
        {"groups": groups, "months": months, "month": month, "provider_id": provider_id},
    )
