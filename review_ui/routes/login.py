"""Log in, log out, and the landing redirect."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from attendance.db import record_event, session_scope
from attendance.models import Role
from review_ui.auth import IDLE_TIMEOUT, authenticate, end_session, start_session
from review_ui.web import (
    CSRF,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    AnyViewer,
    current_viewer,
    engine_of,
    home_for,
    render,
)

router = APIRouter(include_in_schema=False)
FAILED = "Wrong username or password."  # the same for an unknown user and a wrong password


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
            error="The form expired. Please try again.",
            status_code=403,
            next_=_safe_next(next) or "",
        )
    address = request.client.host if request.client else "unknown"
    pair = f"{address}|{username.strip().lower()}"
    limiter = request.app.state.login_limiter
    ip_limiter = request.app.state.login_ip_limiter
    wait = max(limiter.blocked(pair), ip_limiter.blocked(address))
    if wait:
        minutes = int(wait // 60) + 1
        response = _login_page(
            request,
            error=f"Too many failed attempts from this computer. Try again in {minutes} min.",
            status_code=429,
            next_=_safe_next(next) or "",
        )
        response.headers["Retry-After"] = str(int(wait))
        return response
    engine = engine_of(request)
    with session_scope(engine) as session:
        user = authenticate(session, username, password)
        if user is None:
            token = None
        else:
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
    if token is None:
        limiter.hit(pair)
        ip_limiter.hit(address)
        return _login_page(request, error=FAILED, status_code=401, next_=_safe_next(next) or "")
    limiter.clear(pair)
    response = RedirectResponse(_safe_next(next) or home_for(role), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", dependencies=[CSRF])
def logout(request: Request) -> Response:
    with session_scope(engine_of(request)) as session:
        end_session(session, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/account")
def account(request: Request, viewer: AnyViewer) -> Response:
    return render(
        request, "account.html", {"idle_minutes": int(IDLE_TIMEOUT.total_seconds() // 60)}
    )
