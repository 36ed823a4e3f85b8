"""What every route shares: who is asking, role checks, CSRF, templates, sheet visibility.

Routes never trust the browser: each one names the roles it serves with `require(...)`, every
POST passes `check_csrf`, and a sheet is looked up through `visible_sheet`, which gives a
provider the same 404 for another provider's sheet as for one that does not exist.
"""

from __future__ import annotations

import hmac
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from markupsafe import Markup
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.datastructures import FormData, UploadFile

from attendance import i18n
from attendance.agency_settings import agency_name
from attendance.db import session_scope
from attendance.i18n import N_
from attendance.models import Certificate, Role, ScannedPage, Sheet
from attendance.months import InvalidMonth, month_key, parse_month
from attendance.safetext import shown
from attendance.settings import Settings
from attendance.sheets import InvalidSerial, SheetNotFound, find_sheet
from review_ui.auth import load_session

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))


def _shown(value: Any) -> Any:
    """Every value a template prints: format characters (U+202E and the like) replaced, so
    a name (a child's, a user's, an uploaded file's) cannot hide or reorder text."""
    if isinstance(value, str):
        cleaned = shown(value)
        if cleaned != value:
            return Markup(cleaned) if isinstance(value, Markup) else cleaned
    return value


TEMPLATES.env.finalize = _shown
SESSION_COOKIE = "attend_session"
LOGIN_CSRF_COOKIE = "attend_login_csrf"
LANG_COOKIE = "attend_lang"
LANG_COOKIE_AGE = 365 * 24 * 3600

# Pages a provider or the public reads: in the reader's language (`?lang=`, remembered in a
# cookie; else the browser's Accept-Language). Staff pages are in English.
READER_PAGES = frozenset(
    {
        "provider.html",
        "photos.html",
        "print.html",
        "account.html",
        "login.html",
        "lookup.html",
        "error.html",
    }
)


@pass_context
def _template_gettext(context: Any, message: str) -> str:
    return i18n.gettext(context.get("lang", i18n.SOURCE_LANGUAGE), message)


@pass_context
def _template_ngettext(context: Any, singular: str, plural: str, n: int) -> str:
    return i18n.ngettext(context.get("lang", i18n.SOURCE_LANGUAGE), singular, plural, n)


# Sheet statuses in words, never as codes (`in_review`): in the page's language.
SHEET_STATUS_WORDS = {
    "issued": N_("not received yet"),
    "received": N_("received"),
    "in_review": N_("in review"),
    "verified": N_("verified"),
    "exported": N_("sent for payment"),
    "returned": N_("returned"),
    "void": N_("void"),
}


@pass_context
def _status_words(context: Any, status: str) -> str:
    words = SHEET_STATUS_WORDS.get(status)
    if words is None:
        return status.replace("_", " ")
    return i18n.gettext(context.get("lang", i18n.SOURCE_LANGUAGE), words)


TEMPLATES.env.filters["status_words"] = _status_words

ROLE_WORDS = {
    "admin": N_("administrator"),
    "mailroom": N_("mailroom"),
    "reviewer": N_("reviewer"),
    "provider": N_("provider"),
}


@pass_context
def _role_words(context: Any, role: str) -> str:
    words = ROLE_WORDS.get(role, role)
    return i18n.gettext(context.get("lang", i18n.SOURCE_LANGUAGE), words)


@pass_context
def _month_words(context: Any, month: str) -> str:
    """`2026-11` as `November 2026` / `noviembre de 2026`."""
    try:
        first = parse_month(month)
    except InvalidMonth:
        return month
    return i18n.month_year(first, context.get("lang", i18n.SOURCE_LANGUAGE))


TEMPLATES.env.filters["role_words"] = _role_words
TEMPLATES.env.filters["month_words"] = _month_words

# Jinja2's i18n extension: `{% trans %}` blocks and `_()` look up the page's `lang` in the
# catalogs (attendance/i18n.py); whitespace inside trans blocks is trimmed, as extraction
# (scripts/catalogs.py) trims it.
TEMPLATES.env.add_extension("jinja2.ext.i18n")
TEMPLATES.env.policies["ext.i18n.trimmed"] = True
TEMPLATES.env.install_gettext_callables(  # type: ignore[attr-defined]
    _template_gettext, _template_ngettext, newstyle=True
)

STAFF = (Role.ADMIN, Role.MAILROOM, Role.REVIEWER)
REVIEWERS = (Role.ADMIN, Role.REVIEWER)
MAILROOM = (Role.ADMIN, Role.MAILROOM)
ADMINS = (Role.ADMIN,)
EVERYONE = (Role.ADMIN, Role.MAILROOM, Role.REVIEWER, Role.PROVIDER)


@dataclass(frozen=True)
class Viewer:
    """The logged-in user making this request."""

    user_id: int
    username: str
    role: Role
    provider_id: str | None
    display_name: str
    csrf_token: str

    @property
    def actor(self) -> str:
        """The name written into events and review decisions."""
        return self.username

    def is_staff(self) -> bool:
        return self.role in STAFF


class LoginRequired(Exception):
    """No live session: a page redirects to the login form, the API answers 401."""


class Forbidden(Exception):
    """Logged in, but this role may not use this route (403)."""


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def current_viewer(request: Request) -> Viewer | None:
    """The viewer for this request's session cookie, or None (cached on the request)."""
    if hasattr(request.state, "viewer"):
        cached: Viewer | None = request.state.viewer
        return cached
    token = request.cookies.get(SESSION_COOKIE)
    viewer: Viewer | None = None
    if token:
        with session_scope(engine_of(request)) as session:
            live = load_session(session, token)
            if live is not None:
                user = live.user
                assert user.id is not None
                viewer = Viewer(
                    user_id=user.id,
                    username=user.username,
                    role=Role(user.role),
                    provider_id=user.provider_id,
                    display_name=user.display_name or user.username,
                    csrf_token=live.csrf_token,
                )
    request.state.viewer = viewer
    return viewer


def require(*roles: Role) -> Any:
    """A dependency: the viewer, if logged in with one of `roles` (checked on the server)."""
    allowed = frozenset(roles)

    def dependency(request: Request) -> Viewer:
        viewer = current_viewer(request)
        if viewer is None:
            raise LoginRequired()
        if viewer.role not in allowed:
            raise Forbidden()
        return viewer

    return Depends(dependency)


async def check_csrf(request: Request) -> None:
    """Refuse a state change without this session's CSRF token (form field or header).

    Also refuses a request whose Origin is another site (defence in depth; SameSite=Lax
    cookies already keep most cross-site posts out).
    """
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = request.headers.get("host", "")
        if urlsplit(origin).netloc != host:
            raise HTTPException(status_code=403, detail="cross-site request refused")
    viewer = current_viewer(request)
    if viewer is None:
        raise LoginRequired()
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get("csrf_token")
            sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, viewer.csrf_token):
        raise HTTPException(
            status_code=403, detail="the form has expired or did not come from this site"
        )


CSRF = Depends(check_csrf)

# Route parameters: `viewer: ReviewerViewer` lets in admins and reviewers, and so on.
AnyViewer = Annotated[Viewer, require(*EVERYONE)]
StaffViewer = Annotated[Viewer, require(*STAFF)]
ReviewerViewer = Annotated[Viewer, require(*REVIEWERS)]
MailroomViewer = Annotated[Viewer, require(*MAILROOM)]
AdminViewer = Annotated[Viewer, require(*ADMINS)]


def stored_page_image(settings: Settings, page: ScannedPage) -> Path | None:
    """The image kept of a scanned page, the registered (canonical) one first, else the
    preview: looked up in this site's store by its (hash-only) name, else where recorded."""
    for stored in (page.canon_path, page.image_path):
        if not stored:
            continue
        recorded = Path(stored)
        for candidate in (settings.store_dir / "pages" / recorded.name, recorded):
            if candidate.is_file():
                return candidate
    return None


def month_param(text: str) -> str:
    """A month given in a URL, as YYYY-MM, or a 422 saying what a month looks like (the typed
    text is not echoed back)."""
    try:
        return month_key(parse_month(text))
    except InvalidMonth:
        raise HTTPException(
            status_code=422, detail="month must be YYYY-MM, for example 2026-11"
        ) from None


def agency_name_of(request: Request) -> str:
    """The agency's name: its stored setting, else ATTEND_AGENCY_NAME."""
    with Session(engine_of(request)) as session:
        return agency_name(session, settings_of(request).agency_name)


def request_language(request: Request) -> str:
    """The reader's language: `?lang=` on this request, else the one remembered in the
    language cookie, else the browser's first available choice, else English."""
    available = i18n.available_languages()
    for chosen in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if chosen in available:
            return chosen
    return i18n.best_language(request.headers.get("accept-language", "")) or (i18n.SOURCE_LANGUAGE)


def translator(request: Request) -> Callable[[str], str]:
    """`tr(message)`: an English message in the reader's language (for words a route
    writes into a reader page: errors, outcomes)."""
    lang = request_language(request)
    return lambda message: i18n.gettext(lang, message)


def _language_links(request: Request, lang: str) -> list[dict[str, str]]:
    """The language switch: this page in each other language (`?lang=` kept with the rest of
    the query)."""
    links = []
    for code in i18n.available_languages():
        if code == lang:
            continue
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
        url = request.url.path + "?" + urlencode([*query, ("lang", code)])
        links.append({"code": code, "name": i18n.language_name(code), "url": url})
    return links


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """A page from `templates/`, with the viewer and its CSRF token in the context; a reader
    page (`READER_PAGES`) in the reader's language, with the language switch."""
    viewer = current_viewer(request)
    reader_page = template in READER_PAGES
    lang = request_language(request) if reader_page else i18n.SOURCE_LANGUAGE
    values: dict[str, Any] = {
        "viewer": viewer,
        "csrf_token": viewer.csrf_token if viewer else "",
        "agency_name": agency_name_of(request),
        "lang": lang,
        # (Not on error pages: they must read the same for any path, see visible_sheet.)
        "languages": (
            _language_links(request, lang) if reader_page and template != "error.html" else []
        ),
    }
    values.update(context or {})
    response: HTMLResponse = TEMPLATES.TemplateResponse(
        request, template, values, status_code=status_code
    )
    if reader_page and request.query_params.get("lang") == lang:
        # The choice is remembered: a preference of this browser, nothing on the server.
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=LANG_COOKIE_AGE,
            httponly=True,
            samesite="lax",
            secure=bool(request.app.state.secure_cookies) or request.url.scheme == "https",
        )
    return response


def not_found() -> HTTPException:
    return HTTPException(status_code=404, detail="not found")


def visible_sheet(session: Session, viewer: Viewer, serial: str) -> tuple[Sheet, Certificate]:
    """The sheet and certificate for `serial` if this viewer may see it; 404 otherwise.

    A provider gets the same 404 for another provider's sheet as for a sheet that does not
    exist or a mistyped serial, so a serial cannot be probed for who it belongs to.
    """
    try:
        sheet = find_sheet(session, serial)
    except (InvalidSerial, SheetNotFound):
        raise not_found() from None
    certificate = session.get(Certificate, sheet.certificate_id)
    if certificate is None:
        raise not_found()
    if viewer.role == Role.PROVIDER and certificate.provider_id != viewer.provider_id:
        raise not_found()
    if viewer.role not in EVERYONE:
        raise not_found()
    return sheet, certificate


def visible_provider(viewer: Viewer, provider_id: str) -> None:
    """404 unless staff, or the provider user of `provider_id`."""
    if viewer.role == Role.PROVIDER and provider_id != viewer.provider_id:
        raise not_found()


def login_redirect(request: Request) -> Response:
    from fastapi.responses import RedirectResponse

    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def home_for(role: Role) -> str:
    """Where a role lands after login."""
    return {
        Role.ADMIN: "/admin",
        Role.MAILROOM: "/mailroom",
        Role.REVIEWER: "/review",
        Role.PROVIDER: "/provider",
    }[role]


def chosen_files(form: FormData, field: str) -> list[UploadFile]:
    """The files a form's `field` carries (a browser sends an empty part when none was chosen)."""
    return [
        item
        for item in form.getlist(field)
        if isinstance(item, UploadFile) and (item.filename or (item.size or 0) > 0)
    ]


def any_larger_than(files: list[UploadFile], limit: int) -> bool:
    """Whether any of `files` holds more than `limit` bytes (measured when not declared)."""
    for item in files:
        size = item.size
        if size is None:
            item.file.seek(0, io.SEEK_END)
            size = item.file.tell()
        if size > limit:
            return True
    return False
