"""The web app: `create_app(settings)` builds it; `attend review serve` runs it with uvicorn."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import fastapi.routing
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Mount, Route

from attendance.db import make_engine, require_current_schema
from attendance.errors import DomainError
from attendance.settings import Settings
from review_ui.auth import RateLimiter
from review_ui.bodylimit import BodyLimit
from review_ui.routes import (
    admin,
    api,
    login,
    mailroom,
    printing,
    provider,
    queue,
    screen,
    sheets,
    status,
)
from review_ui.web import HERE, Forbidden, LoginRequired, login_redirect, render

log = logging.getLogger("attend.web")

ROUTE_MODULES = (login, screen, queue, sheets, mailroom, printing, status, provider, admin, api)


def route_table(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) `app` answers, from its own route list (HEAD left out): routes of
    the route modules, routes FastAPI adds (the OpenAPI schema), routes added to the app
    directly, and a mounted folder as `GET /static/{path}`. A route of a kind this does not
    know is listed as `("?", path)`, so a policy check cannot overlook it."""
    # FastAPI 0.16x keeps an included router as one lazy entry of `app.routes`;
    # `iter_route_contexts` (what its OpenAPI generation uses) expands it. Older versions
    # list every route in `app.routes` itself.
    expand = getattr(fastapi.routing, "iter_route_contexts", None)
    entries: list[Any] = list(expand(app.routes)) if expand else list(app.routes)
    found: list[tuple[str, str]] = []
    for entry in entries:
        route = getattr(entry, "original_route", entry)
        path = str(getattr(entry, "path", None) or getattr(route, "path", route))
        methods = getattr(entry, "methods", None)
        if isinstance(route, Mount):
            found.append(("GET", path + "/{path}"))
        elif isinstance(route, APIRoute | Route) and methods:
            found += [(m, path) for m in sorted(methods) if m != "HEAD"]
        else:
            found.append(("?", path))
    return sorted(found)


# The largest request body the app reads: a browser upload of a scan batch (each file at most
# 200 MB, checked by the mailroom route) may be this big; every other form is far smaller.
MAX_UPLOAD_BODY = 1024 * 1024 * 1024
MAX_FORM_BODY = 8 * 1024 * 1024
UPLOAD_PATHS = ("/mailroom/upload",)
# A provider's photos from a phone: a few at a time, each a few MB (routes/provider.py).
PHOTO_PATHS = ("/provider/photos",)

# Content Security Policy: nothing from other sites, no inline script or style.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get(
        "accept", ""
    )


def create_app(
    settings: Settings,
    *,
    secure_cookies: bool = False,
    login_limit: tuple[int, float] = (5, 900.0),
    login_ip_limit: tuple[int, float] = (50, 900.0),
    lookup_limit: tuple[int, float] = (30, 60.0),
    body_limits: tuple[int, int] = (MAX_FORM_BODY, MAX_UPLOAD_BODY),
) -> FastAPI:
    """The app over the database in `settings` (which must be at the current schema).

    `secure_cookies` marks cookies Secure even when the app sees plain http (behind a TLS
    proxy); a request that arrives over https gets Secure cookies anyway. `body_limits`:
    the largest request body in bytes, for forms and for the mailroom's upload.
    """
    engine = make_engine(settings.database_url)
    require_current_schema(engine)
    app = FastAPI(
        title="Attendance Intake",
        version="1",
        description="Status look-up and export for child-care attendance sheets. "
        "Authenticate by logging in at /login (session cookie); the same roles apply "
        "as on the pages. State-changing calls need the X-CSRF-Token header.",
        docs_url=None,  # the Swagger page loads scripts from a CDN; the schema is enough
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.secure_cookies = secure_cookies
    # Failed logins per (address, username): the real user on another address is never
    # locked out. Failed logins per address: one address cannot try every username.
    app.state.login_limiter = RateLimiter(*login_limit)
    app.state.login_ip_limiter = RateLimiter(*login_ip_limit)
    app.state.lookup_limiter = RateLimiter(*lookup_limit)

    # Body limits count the bytes received (a chunked body has no Content-Length), under
    # every route: the login and CSRF checks and form parsing read at most the limit.
    # Added before the headers middleware, so that it runs inside it: a 413 gets the headers.
    form_limit, upload_limit = body_limits
    by_path = dict.fromkeys(UPLOAD_PATHS, upload_limit)
    by_path.update(dict.fromkeys(PHOTO_PATHS, min(upload_limit, provider.MAX_PHOTOS_BODY)))
    app.add_middleware(BodyLimit, default=form_limit, by_path=by_path)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        if not request.url.path.startswith("/static/"):
            headers.setdefault("Cache-Control", "no-store")
        if request.url.scheme == "https":
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    @app.exception_handler(LoginRequired)
    async def on_login_required(request: Request, _exc: LoginRequired) -> Response:
        if _wants_json(request) or request.method != "GET":
            return JSONResponse({"detail": "log in first"}, status_code=401)
        return login_redirect(request)

    @app.exception_handler(Forbidden)
    async def on_forbidden(request: Request, _exc: Forbidden) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": "not allowed for your role"}, status_code=403)
        return render(
            request, "error.html", {"status": 403, "message": "forbidden"}, status_code=403
        )

    # Starlette's own 404 (no route matched) and 405 are its HTTPException, not FastAPI's
    # subclass: handled here too, so an unknown path gets the HTML page (JSON under /api/).
    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        if _wants_json(request):
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        return render(
            request,
            "error.html",
            {"status": exc.status_code, "message": str(exc.detail)},
            status_code=exc.status_code,
        )

    @app.exception_handler(DomainError)
    async def on_domain_error(request: Request, exc: DomainError) -> Response:
        # The kind gives the status, as it gives the command line its exit code; the
        # message carries no personal data (attendance.errors).
        status = exc.kind.http_status
        if _wants_json(request):
            return JSONResponse({"detail": str(exc)}, status_code=status)
        return render(
            request, "error.html", {"status": status, "message": str(exc)}, status_code=status
        )

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        # Say which input was wrong, never echo its value (it may be a child's name).
        fields = sorted({".".join(str(p) for p in e.get("loc", ())[1:]) for e in exc.errors()})
        message = "invalid input: " + ", ".join(f for f in fields if f)
        if _wants_json(request):
            return JSONResponse({"detail": message}, status_code=422)
        return render(request, "error.html", {"status": 422, "message": message}, status_code=422)

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in ROUTE_MODULES:
        app.include_router(module.router)
    return app


class UnsafeProxySetting(ValueError):
    """A `--forwarded-allow-ips` value that would let clients choose their own address."""


def forwarded_allow_ips(text: str, *, behind_https: bool) -> list[str]:
    """The proxy addresses whose X-Forwarded-For and -Proto are trusted, from a comma list.

    Empty: none (the default). Each item is an IP address or a network (`10.0.0.0/24`).
    Raises ValueError for an item that is neither, and UnsafeProxySetting for `*`, a network
    that takes in every address, or a list without `--behind-https`.
    """
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        return []
    if not behind_https:
        raise UnsafeProxySetting(
            "--forwarded-allow-ips needs --behind-https: forwarded headers are trusted only "
            "from the https proxy in front of the app"
        )
    trusted = []
    for item in items:
        if item == "*":
            raise UnsafeProxySetting(
                "--forwarded-allow-ips '*' would let any client pick its own address (and "
                "escape the login and look-up limits): name the proxy's address"
            )
        try:
            network = ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(
                f"--forwarded-allow-ips: {item!r} is not an IP address or network"
            ) from None
        if network.prefixlen == 0:
            raise UnsafeProxySetting(
                f"--forwarded-allow-ips: {item} takes in every address: name the proxy's address"
            )
        trusted.append(str(network) if "/" in item else str(network.network_address))
    return trusted


def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    secure_cookies: bool,
    trusted_proxies: Sequence[str] = (),
) -> None:
    """Run the app with uvicorn until interrupted (one process: rate limits live in memory).

    X-Forwarded-For and X-Forwarded-Proto are believed only from `trusted_proxies` (see
    `forwarded_allow_ips`). uvicorn's own default believes them from 127.0.0.1 (or from
    FORWARDED_ALLOW_IPS): a client on this machine, or any client behind a local proxy that
    passes the header on, could then name a fresh address with every request and never be
    rate limited, and the access log would show the made-up address.
    """
    import uvicorn

    app = create_app(settings, secure_cookies=secure_cookies)
    proxies = list(trusted_proxies)
    config: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies,
    }
    uvicorn.run(app, **config)
