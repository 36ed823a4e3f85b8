"""The provider's own pages, in the provider's language: its sheets (`/provider`) and the
photos it sent from a phone (`/provider/photos`).

Per sheet, what providers phone in about: the status in plain words with its dates, the
reasons a returned sheet came back (and its notice to download), the expected payment date
from the agency's payment calendar (`attendance.payments`), and what to do next.

Photos go into the same intake queue as the mailroom's scans (`intake.queue.accept_upload`,
source `phone`, with the provider's id): the same claim, hash dedupe, quarantine with a
reason, exactly once; the receipt takes only this provider's sheets from them, as
submissions or as advance copies (agency setting `phone_photos`). Each photo's outcome is
shown, never whose sheet a photo of another provider's sheet was.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup, escape
from sqlmodel import Session, col, select
from starlette.datastructures import UploadFile

from attendance import agency_settings, i18n, sheet_actions
from attendance.agency import PHOTOS_OFF, AgencyConfig
from attendance.db import session_scope
from attendance.i18n import N_
from attendance.models import (
    ArrivalState,
    Certificate,
    Event,
    IntakeFile,
    PageStatus,
    Role,
    ScannedPage,
    Sheet,
    SheetStatus,
    utcnow,
)
from attendance.months import parse_month
from attendance.notices import problem_texts
from attendance.payments import expected_payment
from attendance.receipt import ADVANCE_COPY, OTHER_PROVIDER, VIA_PHONE
from attendance.rules import due_date
from attendance.sheets import list_sheets
from forms.serial import format_serial
from intake.queue import accept_upload, new_batch_id
from review_ui.routes.mailroom import intake_dirs
from review_ui.web import (
    CSRF,
    Viewer,
    any_larger_than,
    chosen_files,
    engine_of,
    month_param,
    not_found,
    render,
    request_language,
    require,
    settings_of,
)

router = APIRouter(include_in_schema=False)

ProviderViewer = Annotated[Viewer, require(Role.PROVIDER)]
PHOTO_ACCEPT = "image/*,.pdf"
MAX_PHOTOS = 20  # at most this many files in one sending
MAX_PHOTO_BYTES = 25 * 1024 * 1024  # a phone photo is a few MB
MAX_PHOTOS_BODY = MAX_PHOTOS * MAX_PHOTO_BYTES + 1024 * 1024
RECENT_PHOTOS = 50

# --- words ----------------------------------------------------------------------------------

STATUS_WORDS = {
    SheetStatus.ISSUED.value: (N_("Not received yet"), "yellow"),
    SheetStatus.RECEIVED.value: (N_("Received: being checked"), "blue"),
    SheetStatus.IN_REVIEW.value: (N_("Received: being checked"), "blue"),
    SheetStatus.VERIFIED.value: (N_("Verified"), "green"),
    SheetStatus.EXPORTED.value: (N_("Sent for payment"), "green"),
    SheetStatus.RETURNED.value: (N_("Returned to you"), "red"),
    SheetStatus.VOID.value: (N_("Void: it will not be paid"), "red"),
}
NEXT_STEPS = {
    SheetStatus.ISSUED.value: N_("Mail the signed original sheet to the agency. It is due {due}."),
    SheetStatus.RECEIVED.value: N_(
        "Nothing to do now: we are checking it. If something is missing, it shows here."
    ),
    SheetStatus.IN_REVIEW.value: N_(
        "Nothing to do now: we are checking it. If something is missing, it shows here."
    ),
    SheetStatus.VERIFIED.value: N_("Nothing to do: it is verified and waits for payment."),
    SheetStatus.EXPORTED.value: N_("Nothing to do: it was sent for payment."),
    SheetStatus.RETURNED.value: N_(
        "Fix what is listed here on the original sheet, sign it (you and the parent), and "
        "send it back. The notice says how."
    ),
    SheetStatus.VOID.value: N_(
        "This sheet will not be paid. If you think that is a mistake, call your case specialist."
    ),
}
ADVANCE_NEXT = N_(
    "We have your photo, but payment waits for the original: mail the signed original sheet. "
    "It is due {due}."
)
PHOTO_HINT = N_("Or send photos of the filled sheet from this page (see Send photos).")
DATE_WORDS = {
    "issued": N_("Issued"),
    "advance_copy": N_("Photo received (advance copy)"),
    "received": N_("Received"),
    "received_phone": N_("Received (phone photo)"),
    "verified": N_("Verified"),
    "exported": N_("Sent for payment"),
    "returned": N_("Returned"),
    "void": N_("Void"),
}
PAID_ON = N_("Expected payment: {date}")
PAID_IF = N_("If we receive it by {cutoff}, expected payment: {date}")
PAID_RETURNED = N_("If we receive it back by {cutoff}, expected payment: {date}")
PAST_DUE = N_(
    "It arrived more than {days} days after the end of the month: it may not be paid. Call "
    "your case specialist."
)
PAST_DUE_NOW = N_(
    "It is now more than {days} days after the end of the month: it may not be paid. Call "
    "your case specialist."
)


@dataclass
class SheetCard:
    """One sheet as the provider's page shows it."""

    serial: str
    serial_text: str
    child: str
    month: str
    status: str
    status_words: str
    colour: str
    dates: list[tuple[str, str]] = field(default_factory=list)
    payment: str | None = None
    payment_warning: str | None = None
    next_step: str = ""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reviewer_note: str | None = None
    notice_url: str | None = None
    via: str | None = None


def _status_dates(session: Session, serials: list[str], config: AgencyConfig) -> dict[str, Any]:
    """Per serial, the local date of its latest move into each status (and of its advance
    copies), from the event log."""
    found: dict[str, dict[str, dt.date]] = defaultdict(dict)
    if not serials:
        return found
    for event in session.exec(
        select(Event)
        .where(
            Event.entity == "sheet",
            col(Event.entity_id).in_(serials),
            col(Event.action).in_(("status", "advance_copy")),
        )
        .order_by(col(Event.id))
    ).all():
        day = config.local_date(event.at)
        if event.action == "advance_copy":
            found[event.entity_id]["advance_copy"] = day
            continue
        status = json.loads(event.after_json or "{}").get("status")
        if status in (
            SheetStatus.VERIFIED.value,
            SheetStatus.EXPORTED.value,
            SheetStatus.RETURNED.value,
            SheetStatus.VOID.value,
        ):
            found[event.entity_id][status] = day
    return found


def sheet_cards(
    session: Session,
    provider_id: str,
    *,
    month: str | None,
    lang: str,
    agency_name: str,
    photos_on: bool,
) -> list[SheetCard]:
    """The provider's sheets (of `month`, or all), newest month first, as cards in `lang`."""
    config = agency_settings.load_config(session)
    tr = i18n.translations(lang).gettext
    today = config.local_date(utcnow())
    rows = list_sheets(session, provider_id=provider_id, month=month)
    rows.sort(key=lambda row: (row[0].month, row[1].child_last_name), reverse=False)
    rows.sort(key=lambda row: row[0].month, reverse=True)
    dates = _status_dates(session, [sheet.serial for sheet, _ in rows], config)
    cards = []
    for sheet, certificate in rows:
        first = parse_month(sheet.month)
        words, colour = STATUS_WORDS.get(sheet.status, (sheet.status, ""))
        card = SheetCard(
            serial=sheet.serial,
            serial_text=format_serial(sheet.serial),
            child=f"{certificate.child_first_name} {certificate.child_last_name}",
            month=i18n.month_year(first, lang),
            status=sheet.status,
            status_words=tr(words),
            colour=colour,
            via=sheet.received_via,
        )
        moved = dates.get(sheet.serial, {})
        issued = config.local_date(sheet.issued_at)
        card.dates.append((tr(DATE_WORDS["issued"]), _day(issued, lang)))
        received_on = config.local_date(sheet.received_at) if sheet.received_at else None
        if "advance_copy" in moved and sheet.status == SheetStatus.ISSUED.value:
            card.dates.append((tr(DATE_WORDS["advance_copy"]), _day(moved["advance_copy"], lang)))
        if received_on is not None:
            key = "received_phone" if sheet.received_via == VIA_PHONE else "received"
            card.dates.append((tr(DATE_WORDS[key]), _day(received_on, lang)))
        for status in ("verified", "exported", "returned", "void"):
            if status in moved and _still_counts(sheet.status, status):
                card.dates.append((tr(DATE_WORDS[status]), _day(moved[status], lang)))
        due = i18n.long_date(due_date(first, config), lang)
        if sheet.status == SheetStatus.ISSUED.value and "advance_copy" in moved:
            card.next_step = tr(ADVANCE_NEXT).format(due=due)
        else:
            card.next_step = tr(NEXT_STEPS.get(sheet.status, "")).format(due=due)
            if sheet.status == SheetStatus.ISSUED.value and photos_on:
                card.next_step += " " + tr(PHOTO_HINT)
        _payment(card, sheet, first, received_on, today, config, lang)
        if sheet.status == SheetStatus.RETURNED.value:
            notice = sheet_actions.returned_notice(session, sheet, agency_name=agency_name)
            days = config.past_due_days
            card.problems = problem_texts(notice.problems, lang, past_due_days=days)
            card.notes = problem_texts(notice.notes, lang, past_due_days=days)
            card.reviewer_note = (notice.note or "").strip() or None
            card.notice_url = f"/sheets/{sheet.serial}/notice.pdf"
        cards.append(card)
    return cards


def _still_counts(current: str, status: str) -> bool:
    """A date is shown for a status the sheet is in or passed through on its way to where it
    is now (a sheet received again after a return shows its return too)."""
    later = {
        "verified": {SheetStatus.VERIFIED.value, SheetStatus.EXPORTED.value},
        "exported": {SheetStatus.EXPORTED.value},
        "returned": {
            SheetStatus.RETURNED.value,
            SheetStatus.RECEIVED.value,
            SheetStatus.IN_REVIEW.value,
            SheetStatus.VERIFIED.value,
            SheetStatus.EXPORTED.value,
        },
        "void": {SheetStatus.VOID.value},
    }
    return current in later[status]


def _day(day: dt.date, lang: str) -> str:
    return i18n.long_date(day, lang)


def _payment(
    card: SheetCard,
    sheet: Sheet,
    first: dt.date,
    received_on: dt.date | None,
    today: dt.date,
    config: AgencyConfig,
    lang: str,
) -> None:
    tr = i18n.translations(lang).gettext
    if sheet.status == SheetStatus.VOID.value:
        return
    if sheet.status in (SheetStatus.ISSUED.value, SheetStatus.RETURNED.value):
        expected = expected_payment(first, today, config)
        template = PAID_IF if sheet.status == SheetStatus.ISSUED.value else PAID_RETURNED
        card.payment = tr(template).format(
            cutoff=i18n.long_date(expected.cutoff, lang),
            date=i18n.long_date(expected.paid_on, lang),
        )
        if expected.past_due:
            card.payment_warning = tr(PAST_DUE_NOW).format(days=config.past_due_days)
        return
    assert received_on is not None
    expected = expected_payment(first, received_on, config)
    card.payment = tr(PAID_ON).format(date=i18n.long_date(expected.paid_on, lang))
    if expected.past_due:
        card.payment_warning = tr(PAST_DUE).format(days=config.past_due_days)


def _months(session: Session, provider_id: str) -> list[str]:
    return sorted(
        set(
            session.exec(
                select(Sheet.month)
                .join(Certificate, col(Certificate.certificate_id) == Sheet.certificate_id)
                .where(Certificate.provider_id == provider_id)
            ).all()
        ),
        reverse=True,
    )


@router.get("/provider")
def provider_page(
    request: Request,
    viewer: ProviderViewer,
    month: Annotated[str | None, Query(max_length=7)] = None,
) -> Response:
    if month:
        month = month_param(month)
    lang = request_language(request)
    provider_id = viewer.provider_id
    cards: list[SheetCard] = []
    months: list[str] = []
    with session_scope(engine_of(request)) as session:
        config = agency_settings.load_config(session)
        name = agency_settings.agency_name(session, settings_of(request).agency_name)
        if provider_id:
            months = _months(session, provider_id)
            cards = sheet_cards(
                session,
                provider_id,
                month=month,
                lang=lang,
                agency_name=name,
                photos_on=config.phone_photos != PHOTOS_OFF,
            )
    groups: list[dict[str, Any]] = []
    for card in cards:
        if not groups or groups[-1]["month"] != card.month:
            groups.append({"month": card.month, "cards": []})
        groups[-1]["cards"].append(card)
    return render(
        request,
        "provider.html",
        {
            "groups": groups,
            "months": [(m, i18n.month_year(parse_month(m), lang)) for m in months],
            "month": month,
            "provider_id": provider_id,
            "photos": config.phone_photos,
            "accept": PHOTO_ACCEPT,
            "max_photos": MAX_PHOTOS,
        },
    )


# --- photos ---------------------------------------------------------------------------------

PHOTO_STATES = {
    "waiting": (N_("Being read"), "yellow"),
    "received": (N_("Received"), "green"),
    "advance_copy": (N_("Advance copy kept"), "blue"),
    "review": (N_("Received: a person will read it"), "blue"),
    "already": (N_("Already received"), "yellow"),
    "not_yours": (N_("Not received: another provider's sheet"), "red"),
    "not_a_sheet": (N_("Not received: no sheet found"), "red"),
    "not_ours": (N_("Not received: not one of our sheets"), "red"),
    "unreadable": (N_("Not received: the file could not be read"), "red"),
    "same_photo": (N_("Sent before"), "yellow"),
}
PHOTO_WORDS = {
    "waiting": N_("We are reading it. This page refreshes by itself."),
    "received": N_("Sheet {serial} ({child}, {month}) was received from this photo."),
    "advance_copy": N_(
        "We kept this photo of sheet {serial} ({child}, {month}) as an advance copy. Payment "
        "waits for the original: mail the signed original sheet."
    ),
    "review": N_(
        "Sheet {serial} ({child}, {month}) was received from this photo. The photo was hard to "
        "read, so a person at the agency will read it."
    ),
    "already": N_(
        "Sheet {serial} ({child}, {month}) was already received. This photo was kept, but it "
        "does not count again."
    ),
    "not_yours": N_(
        "This photo shows a sheet of another provider, so it was not received. Send only "
        "your own sheets."
    ),
    "not_a_sheet": N_(
        "We found no sheet code on this photo: it may not be an attendance sheet, or the "
        "square code at the top right is cut off, blurred or in shadow. Take the photo again "
        "with the whole sheet flat and in view, or mail the sheet."
    ),
    "not_ours": N_(
        "The code on this photo is not one of our attendance sheets. Print your sheets from "
        "this site."
    ),
    "unreadable": N_(
        "This file could not be read as a photo ({reason}). Send a photo (JPEG or PNG) or a PDF."
    ),
    "same_photo": N_("You sent this same photo before: it was not counted again."),
}


@dataclass
class PhotoOutcome:
    """What became of one page of one photo a provider sent."""

    name: str
    sent_at: str
    state: str
    words: Markup  # escaped text, the serial in a span that does not break
    label: str
    colour: str
    batch_id: str


def _page_state(page: ScannedPage, sheet: Sheet | None) -> str:
    if page.status == PageStatus.IDENTIFIED.value:
        if page.reason == ADVANCE_COPY:
            return "advance_copy"
        if page.reason is None:
            return "review" if page.needs_review else "received"
        return "already"
    if page.status == PageStatus.DUPLICATE.value:
        return "already"
    if page.status == PageStatus.UNIDENTIFIED.value:
        if page.reason == OTHER_PROVIDER:
            return "not_yours"
        if page.reason in ("unknown_serial", "unknown_form"):
            return "not_ours"
        return "not_a_sheet"
    return "unreadable"


def photo_outcomes(
    session: Session, provider_id: str, *, lang: str, batch_id: str | None = None
) -> list[PhotoOutcome]:
    """The photos `provider_id` sent (newest first; only one sending's with `batch_id`), one
    outcome per page, in `lang`. Only the provider's own sheets are ever named."""
    config = agency_settings.load_config(session)
    tr = i18n.translations(lang).gettext
    query = select(IntakeFile).where(
        IntakeFile.source == VIA_PHONE, IntakeFile.provider_id == provider_id
    )
    if batch_id is not None:
        query = query.where(IntakeFile.batch_id == batch_id)
    arrivals = session.exec(query.order_by(col(IntakeFile.id).desc()).limit(RECENT_PHOTOS)).all()
    # The newest sending first; its photos in the order they were sent.
    arrivals = sorted(arrivals, key=lambda a: (a.batch_id, -(a.id or 0)), reverse=True)
    outcomes = []
    for arrival in arrivals:
        sent = config.local_date(arrival.arrived_at)
        base = {
            "name": arrival.original_name,
            "sent_at": i18n.long_date(sent, lang)
            + " "
            + arrival.arrived_at.astimezone(config.zone).strftime("%H:%M %Z"),
            "batch_id": arrival.batch_id,
        }
        pages: list[tuple[str, dict[str, str]]] = []
        if arrival.state == ArrivalState.DUPLICATE.value:
            pages.append(("same_photo", {}))
        elif arrival.state == ArrivalState.FAILED.value and not _pages_of(session, arrival):
            pages.append(("unreadable", {"reason": arrival.reason or "unreadable"}))
        elif arrival.state in (ArrivalState.CLAIMING.value, ArrivalState.QUEUED.value):
            recorded = _pages_of(session, arrival)
            pages += [_page_words(session, p, provider_id, lang) for p in recorded]
            waiting = (arrival.page_count or 1) - len(recorded)
            pages += [("waiting", {})] * max(waiting, 0)
        else:
            recorded = _pages_of(session, arrival)
            pages += [_page_words(session, p, provider_id, lang) for p in recorded]
        for state, values in pages or [("unreadable", {"reason": arrival.reason or "?"})]:
            label, colour = PHOTO_STATES[state]
            if "serial" in values:  # a serial never breaks across lines
                values["serial"] = Markup('<span class="serial-text">{}</span>').format(
                    values["serial"]
                )
            outcomes.append(
                PhotoOutcome(
                    state=state,
                    words=Markup(escape(tr(PHOTO_WORDS[state]))).format(**values),
                    label=tr(label),
                    colour=colour,
                    **base,
                )
            )
    return outcomes


def _pages_of(session: Session, arrival: IntakeFile) -> list[ScannedPage]:
    if arrival.file_id is None:
        return []
    return list(
        session.exec(
            select(ScannedPage)
            .where(ScannedPage.file_id == arrival.file_id)
            .order_by(col(ScannedPage.page_number))
        ).all()
    )


def _page_words(
    session: Session, page: ScannedPage, provider_id: str, lang: str
) -> tuple[str, dict[str, str]]:
    sheet = session.get(Sheet, page.sheet_id) if page.sheet_id else None
    state = _page_state(page, sheet)
    values: dict[str, str] = {}
    if page.status == PageStatus.FAILED.value:
        values["reason"] = page.reason or "unreadable"
    if sheet is not None:
        certificate = session.get(Certificate, sheet.certificate_id)
        if certificate is None or certificate.provider_id != provider_id:
            # A reviewer placed it on another provider's sheet: never say whose.
            return "not_yours", {}
        values.update(
            serial=format_serial(sheet.serial),
            child=f"{certificate.child_first_name} {certificate.child_last_name}",
            month=i18n.month_year(parse_month(sheet.month), lang),
        )
    elif state in ("received", "advance_copy", "review", "already"):
        state = "not_a_sheet"
    return state, values


@router.get("/provider/photos")
def photos_page(
    request: Request,
    viewer: ProviderViewer,
    batch: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """The photos this provider sent and what became of each; `batch` one sending only (404
    when it is not this provider's, as when it does not exist)."""
    lang = request_language(request)
    with session_scope(engine_of(request)) as session:
        config = agency_settings.load_config(session)
        outcomes = (
            photo_outcomes(session, viewer.provider_id, lang=lang, batch_id=batch)
            if viewer.provider_id
            else []
        )
    if batch is not None and not outcomes:
        raise not_found()
    return render(
        request,
        "photos.html",
        {
            "outcomes": outcomes,
            "batch": batch,
            "waiting": any(o.state == "waiting" for o in outcomes),
            "photos": config.phone_photos,
            "accept": PHOTO_ACCEPT,
            "max_photos": MAX_PHOTOS,
        },
    )


def _store_photos(request: Request, chosen: list[UploadFile], provider_id: str) -> str:
    dirs = intake_dirs(settings_of(request))
    engine = engine_of(request)
    batch_id = new_batch_id()
    for item in chosen:
        item.file.seek(0)
        try:
            accept_upload(
                engine,
                dirs,
                item.file,
                name=item.filename or "photo",
                batch_id=batch_id,
                source=VIA_PHONE,
                provider_id=provider_id,
            )
        except OSError:
            raise HTTPException(
                status_code=503, detail="the photos could not be stored: try again later"
            ) from None
    return batch_id


@router.post("/provider/photos", dependencies=[CSRF])
async def send_photos(request: Request, viewer: ProviderViewer) -> Response:
    """Photos from the form's `photos` field (the phone's camera, several at once)."""
    tr = i18n.translations(request_language(request)).gettext
    with Session(engine_of(request)) as session:
        mode = agency_settings.load_config(session).phone_photos
    if mode == PHOTOS_OFF or not viewer.provider_id:
        raise HTTPException(
            status_code=409, detail=tr(N_("This agency does not take photos of sheets."))
        )
    form = await request.form()
    chosen = chosen_files(form, "photos")
    if not chosen:
        raise HTTPException(status_code=400, detail=tr(N_("Choose or take at least one photo.")))
    if len(chosen) > MAX_PHOTOS:
        raise HTTPException(
            status_code=413,
            detail=tr(N_("Send at most {count} photos at a time.")).format(count=MAX_PHOTOS),
        )
    if any_larger_than(chosen, MAX_PHOTO_BYTES):
        raise HTTPException(
            status_code=413,
            detail=tr(N_("A photo is larger than {mb} MB: nothing was sent.")).format(
                mb=MAX_PHOTO_BYTES // (1024 * 1024)
            ),
        )
    batch_id = await run_in_threadpool(_store_photos, request, chosen, viewer.provider_id)
    return RedirectResponse(f"/provider/photos?batch={batch_id}", status_code=303)
