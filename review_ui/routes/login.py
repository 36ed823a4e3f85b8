"""Log in, log out, and the landing redirect."""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from attendance.db import record_event, session_scope
from attendance.i18n import N_
from attendance.models import Role, User
from review_ui.auth import (
    IDLE_TIMEOUT,
    MAX_PASSWORD,
    MIN_PASSWORD,
    InvalidUser,
    PasswordChecksBusy,
    WrongPassword,
    change_own_password,
    check_login,
    end_session,
    record_failed_login,
    start_session,
)
from review_ui.web import (
    CSRF,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    AnyViewer,
    current_viewer,
    engine_of,
    home_for,
    render,
    translator,
)

router = APIRouter(include_in_schema=False)
log = logging.getLogger("attend.web.login")
FAILED = N_("Wrong username or password.")  # the same for an unknown user and a wrong password
BUSY = N_("The server is busy. Please try again in a minute.")


def _secure(request: Request) -> bool:
    return bool(request.app.state.secure_cookies) or request.url.scheme == "https"


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (no scheme, no host, no `//`)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return None


def _login_page(request: Request, *, error: str | None, status_code: int, next_: str) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        {"error": error, "login_csrf": token, "next": next_},
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/login",
    )
    return response


@router.get("/")
def home(request: Request) -> Response:
    viewer = current_viewer(request)
    if viewer is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(home_for(viewer.role), status_code=303)


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    return _login_page(request, error=None, status_code=200, next_=_safe_next(next) or "")


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    sent_cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not sent_cookie or not hmac.compare_digest(sent_cookie, csrf_token):
        return _login_page(
            request,
            error=translator(request)(N_("The form expired. Please try again.")),
            status_code=403,
            next_=_safe_next(next) or "",
        )
    address = request.client.host if request.client else "unknown"
    pair = f"{address}|{username.strip().lower()}"
    limiter = request.app.state.login_limiter
    ip_limiter = request.app.state.login_ip_limiter
    wait = max(limiter.blocked(pair), ip_limiter.blocked(address))
    if wait:
        log.warning("login refused: too many failed logins from %s", address)
        minutes = int(wait // 60) + 1
        response = _login_page(
            request,
            error=translator(request)(
                N_("Too many failed attempts from this computer. Try again in {minutes} min.")
            ).format(minutes=minutes),
            status_code=429,
            next_=_safe_next(next) or "",
        )
        response.headers["Retry-After"] = str(int(wait))
        return response
    try:
        token, role = _log_in(request, username, password, address)
    except PasswordChecksBusy:
        response = _login_page(
            request,
            error=translator(request)(BUSY),
            status_code=503,
            next_=_safe_next(next) or "",
        )
        response.headers["Retry-After"] = "30"
        return response
    if token is None:
        limiter.hit(pair)
        ip_limiter.hit(address)
        return _login_page(
            request,
            error=translator(request)(FAILED),
            status_code=401,
            next_=_safe_next(next) or "",
        )
    limiter.clear(pair)
    response = RedirectResponse(_safe_next(next) or home_for(role), status_code=303)
    _set_session_cookie(request, response, token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def _set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )


def _log_in(
    request: Request, username: str, password: str, address: str
) -> tuple[str | None, Role]:
    """(a new session's token, the user's role), or (None, _) with the failure recorded."""
    role = Role.PROVIDER
    engine = engine_of(request)
    checked = check_login(engine, username, password)  # argon2 outside any transaction
    with session_scope(engine) as session:
        user = session.get(User, checked.user_id) if checked else None
        # Still active, and the password not changed since it was checked.
        if (
            checked is None
            or user is None
            or not user.active
            or user.password_hash != checked.checked_hash
        ):
            token = None
            record_failed_login(session, username, address)
        else:
            if checked.new_hash:
                user.password_hash = checked.new_hash
                session.add(user)
            # A fresh session id at every login (no fixation): the old one, if any, ends.
            end_session(session, request.cookies.get(SESSION_COOKIE))
            token = start_session(session, user)
            record_event(
                session,
                actor=user.username,
                entity="user",
                entity_id=str(user.id),
                action="logged_in",
            )
            role = Role(user.role)
    return token, role


@router.post("/logout", dependencies=[CSRF])
def logout(request: Request) -> Response:
    with session_scope(engine_of(request)) as session:
        end_session(session, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


ACCOUNT_NOTICES = {"password": N_("Password changed. You were logged out everywhere else.")}


def _account_page(
    request: Request,
    *,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "account.html",
        {
            "idle_minutes": int(IDLE_TIMEOUT.total_seconds() // 60),
            "notice": notice,
            "error": error,
            "min_password": MIN_PASSWORD,
            "max_password": MAX_PASSWORD,
        },
        status_code=status_code,
    )


@router.get("/account")
def account(request: Request, viewer: AnyViewer, done: str | None = None) -> Response:
    notice = ACCOUNT_NOTICES.get(done or "")
    return _account_page(request, notice=translator(request)(notice) if notice else None)


@router.post("/account/password", dependencies=[CSRF])
def change_password(
    request: Request,
    viewer: AnyViewer,
    current: Annotated[str, Form(max_length=256)],
    new: Annotated[str, Form(max_length=256)],
    again: Annotated[str, Form(max_length=256)],
) -> Response:
    """Any user changes their own password: the current one is needed (a session left open
    is not enough), wrong ones count like failed logins, and every other session ends."""
    tr = translator(request)
    address = request.client.host if request.client else "unknown"
    key = f"account|{viewer.user_id}"
    limiter = request.app.state.login_limiter
    wait = limiter.blocked(key)
    if wait:
        minutes = int(wait // 60) + 1
        response = _account_page(
            request,
            error=tr(N_("Too many wrong passwords. Try again in {minutes} min.")).format(
                minutes=minutes
            ),
            status_code=429,
        )
        response.headers["Retry-After"] = str(int(wait))
        return response
    if new != again:
        return _account_page(
            request, error=tr(N_("The two new passwords differ.")), status_code=400
        )
    try:
        token = change_own_password(engine_of(request), viewer.user_id, current=current, new=new)
    except WrongPassword as error:
        limiter.hit(key)
        log.warning(
            "password change refused: wrong current password, user id %s, from %s",
            viewer.user_id,
            address,
        )
        return _account_page(request, error=tr(str(error)), status_code=403)
    except InvalidUser as error:
        # Password rules and the like are in the catalog; a message that is not shows as is.
        return _account_page(request, error=tr(str(error)), status_code=400)
    except PasswordChecksBusy:
        response = _account_page(request, error=tr(BUSY), status_code=503)
        response.headers["Retry-After"] = "30"
        return response
    limiter.clear(key)
    response = RedirectResponse("/account?done=password", status_code=303)
    _set_session_cookie(request, response, token)
    return response
