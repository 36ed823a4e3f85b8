"""Request body limits that count the bytes actually received, chunked bodies included.

A `Content-Length` header is only a claim: a chunked body has none, and form parsing reads
the whole body before any route (or its login check) runs. `BodyLimit` wraps the ASGI
`receive` channel, under every route, so nothing - the login check, the CSRF check, form
parsing, an upload - can read more than the limit: a body declared too big is refused
before a byte of it is read, one that streams past the limit is refused at the chunk that
crosses it. The server discards the rest of the body without keeping it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MB = 1024 * 1024


class BodyTooLarge(HTTPException):
    """The request body is over its limit (413).

    A FastAPI HTTPException, so that FastAPI's body parsing passes it on untouched (it turns
    any other error while reading into a 400) and the app's own handler answers it.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=too_large_message(limit))


def too_large_message(limit: int) -> str:
    """`the request is larger than 8 MB`."""
    size = f"{limit // MB} MB" if limit >= MB else f"{limit} bytes"
    return f"the request is larger than {size}"


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


class BodyLimit:
    """ASGI middleware: at most `default` bytes of request body, or `by_path[path]`."""

    def __init__(self, app: ASGIApp, *, default: int, by_path: Mapping[str, int]) -> None:
        self.app = app
        self.default = default
        self.by_path = dict(by_path)

    def limit_for(self, path: str) -> int:
        """The body limit of a request path."""
        return self.by_path.get(path, self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return

        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            # Normally the app's HTTPException handler has answered already; this is for a
            # reader outside it (a middleware).
            if started:
                raise
            await _refuse(send, limit)


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps({"detail": too_large_message(limit)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
