"""Users, passwords (argon2id), server-side sessions and rate limits for the web app.

Nothing here knows about HTTP: the routes in `review_ui/web.py` turn these into cookies and
answers. Only a session token's SHA-256 is stored, so a copy of the database logs nobody in.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete
from sqlmodel import Session, col, select

from attendance.db import record_event
from attendance.errors import DomainError
from attendance.models import Provider, Role, User, WebSession, utcnow

# ASVS 3.3: a session ends after this long without a request, and this long after login.
IDLE_TIMEOUT = dt.timedelta(minutes=30)
ABSOLUTE_TIMEOUT = dt.timedelta(hours=12)
# A session's last-seen time is written at most this often (a write per request would make
# every page view a write on SQLite's single writer).
TOUCH_EVERY = dt.timedelta(seconds=60)

MIN_PASSWORD = 12  # ASVS 2.1.1
MAX_PASSWORD = 128
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")

# argon2-cffi's defaults are argon2id with RFC 9106's low-memory profile.
_hasher = PasswordHasher()
_dummy_hash: str | None = None


class InvalidUser(DomainError, ValueError):
    """A user that cannot be created or changed as asked; the message says why."""


def hash_password(password: str) -> str:
    """The argon2id PHC string for a password that meets the length policy."""
    check_password_policy(password)
    return _hasher.hash(password)


def check_password_policy(password: str) -> None:
    """Length only (ASVS 2.1): 12 to 128 characters, any characters, no composition rules."""
    if len(password) < MIN_PASSWORD:
        raise InvalidUser(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidUser(f"a password has at most {MAX_PASSWORD} characters")


def normalize_username(username: str) -> str:
    return username.strip().lower()


def add_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    provider_id: str | None = None,
    display_name: str = "",
    actor: str,
) -> User:
    """Create a user (logged as an event, without the password)."""
    name = normalize_username(username)
    if not USERNAME.match(name):
        raise InvalidUser(
            "a username is 2 to 64 characters: letters, digits, and . _ @ - (not first)"
        )
    try:
        role_value = Role(role).value
    except ValueError:
        raise InvalidUser(
            f"unknown role {role!r}: one of {', '.join(r.value for r in Role)}"
        ) from None
    if role_value == Role.PROVIDER.value:
        if not provider_id:
            raise InvalidUser("a provider user needs the provider's id (--provider)")
        if session.get(Provider, provider_id) is None:
            raise InvalidUser(f"no provider with id {provider_id}")
    elif provider_id:
        raise InvalidUser("only a provider user is tied to a provider")
    if session.exec(select(User).where(User.username == name)).first() is not None:
        raise InvalidUser(f"the username {name} is taken")
    user = User(
        username=name,
        password_hash=hash_password(password),
        role=role_value,
        provider_id=provider_id or None,
        display_name=display_name.strip(),
    )
    session.add(user)
    session.flush()
    record_event(
        session,
        actor=actor,
        entity="user",
        entity_id=str(user.id),
        action="created",
        after={"username": name, "role": role_value, "provider_id": user.provider_id},
    )
    return user


def update_user(
    session: Session,
    user: User,
    *,
    actor: str,
    role: str | None = None,
    provider_id: str | None = None,
    active: bool | None = None,
    password: str | None = None,
) -> None:
    """Change a user's role, provider, active flag or password; ends its sessions."""
    before = {"role": user.role, "provider_id": user.provider_id, "active": user.active}
    if role is not None:
        try:
            user.role = Role(role).value
        except ValueError:
            raise InvalidUser(f"unknown role {role!r}") from None
        user.provider_id = provider_id or None
        if user.role == Role.PROVIDER.value:
            if not user.provider_id or session.get(Provider, user.provider_id) is None:
                raise InvalidUser("a provider user needs an existing provider id")
        elif user.provider_id:
            raise InvalidUser("only a provider user is tied to a provider")
    if active is not None:
        user.active = active
    if password is not None:
        user.password_hash = hash_password(password)
    user.updated_at = utcnow()
    session.add(user)
    assert user.id is not None
    end_user_sessions(session, user.id)
    after = {"role": user.role, "provider_id": user.provider_id, "active": user.active}
    if password is not None:
        after["password"] = "changed"
    record_event(
        session,
        actor=actor,
        entity="user",
        entity_id=str(user.id),
        action="updated",
        before=before,
        after=after,
    )


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this name and password, else None (same work either way)."""
    global _dummy_hash
    user = session.exec(select(User).where(User.username == normalize_username(username))).first()
    if user is None or not user.active:
        # Verify against a throwaway hash so an unknown name takes as long as a wrong password.
        if _dummy_hash is None:
            _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
        with contextlib.suppress(VerificationError):
            _hasher.verify(_dummy_hash, password)
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        session.add(user)
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user: User) -> str:
    """A new session for `user`; returns the token for the cookie (never stored)."""
    assert user.id is not None
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_sha256=_token_hash(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
        )
    )
    return token


@dataclass(frozen=True)
class LiveSession:
    user: User
    csrf_token: str
    token_sha256: str


def load_session(
    session: Session, token: str | None, *, now: dt.datetime | None = None
) -> LiveSession | None:
    """The live session for a cookie's token; an expired one is deleted and gives None."""
    if not token or len(token) > 128:
        return None
    now = now or utcnow()
    digest = _token_hash(token)
    row = session.get(WebSession, digest)
    if row is None:
        return None
    created, seen = row.created_at, row.last_seen_at
    user = session.get(User, row.user_id)
    if (
        user is None
        or not user.active
        or now - seen > IDLE_TIMEOUT
        or now - created > ABSOLUTE_TIMEOUT
    ):
        session.delete(row)
        return None
    if now - seen > TOUCH_EVERY:
        row.last_seen_at = now
        session.add(row)
    return LiveSession(user=user, csrf_token=row.csrf_token, token_sha256=digest)


def end_session(session: Session, token: str | None) -> None:
    """Log out: the session row is deleted, so the old cookie is worthless."""
    if token:
        session.execute(
            delete(WebSession).where(col(WebSession.token_sha256) == _token_hash(token))
        )


def end_user_sessions(session: Session, user_id: int) -> None:
    session.execute(delete(WebSession).where(col(WebSession.user_id) == user_id))


class RateLimiter:
    """At most `limit` hits per key in a sliding window of `window_s` seconds (in memory).

    One per server process: `attend review serve` runs one process, so the counts are whole.
    """

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] > self.window_s:
            hits.popleft()
        return hits

    def blocked(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when it may now."""
        now = time.monotonic()
        with self._lock:
            hits = self._recent(key, now)
            if len(hits) < self.limit:
                return 0.0
            return max(1.0, self.window_s - (now - hits[0]))

    def hit(self, key: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent(key, now).append(now)
            if len(self._hits) > 50_000:  # forget idle keys so memory stays bounded
                for stale in [k for k, v in self._hits.items() if not v]:
                    del self._hits[stale]

    def clear(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)
