"""Users, passwords (argon2id), server-side sessions and rate limits for the web app.

Nothing here knows about HTTP: the routes in `review_ui/web.py` turn these into cookies and
answers. Only a session token's SHA-256 is stored, so a copy of the database logs nobody in.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from attendance.db import record_event, session_scope
from attendance.errors import DomainError
from attendance.i18n import N_
from attendance.models import Provider, Role, User, WebSession, utcnow
from review_ui.passwords import password_problem

log = logging.getLogger("attend.web.auth")

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

# Each argon2 hash or check takes 64 MiB for its duration: a burst of logins would take that
# for every server thread at once (40), so only this many run at a time; the others wait, at
# most PASSWORD_CHECK_WAIT_S, then the login is answered "busy".
PASSWORD_CHECKS_AT_ONCE = max(2, min(4, os.cpu_count() or 2))
PASSWORD_CHECK_WAIT_S = 30.0


class InvalidUser(DomainError, ValueError):
    """A user that cannot be created or changed as asked; the message says why."""


class WrongPassword(InvalidUser):
    """The current password given to change it is not the user's."""


class PasswordChecksBusy(RuntimeError):
    """Too many password checks waiting: try again shortly (the server answers 503)."""


class PasswordGate:
    """At most `limit` password hashes or checks at a time (a bounded semaphore).

    `running` and `peak` count the checks in progress and the most at once, for the server's
    own view of its load (and the tests).
    """

    def __init__(self, limit: int, wait_s: float) -> None:
        self.limit = limit
        self.wait_s = wait_s
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self.running = 0
        self.peak = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        if not self._slots.acquire(timeout=self.wait_s):
            raise PasswordChecksBusy("too many logins at once; try again in a minute")
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            yield
        finally:
            with self._lock:
                self.running -= 1
            self._slots.release()


password_gate = PasswordGate(PASSWORD_CHECKS_AT_ONCE, PASSWORD_CHECK_WAIT_S)


def hash_password(password: str, username: str | None = None) -> str:
    """The argon2id PHC string for a password that meets the policy."""
    check_password_policy(password, username)
    with password_gate.slot():
        return _hasher.hash(password)


def check_password_policy(password: str, username: str | None = None) -> None:
    """12 to 128 characters, any characters, no composition rules (ASVS 2.1); not common,
    not the username, not a repeat or a run (`review_ui/passwords.py`)."""
    if len(password) < MIN_PASSWORD:
        raise InvalidUser(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidUser(f"a password has at most {MAX_PASSWORD} characters")
    problem = password_problem(password, username)
    if problem:
        raise InvalidUser(problem)


def _verify(password_hash: str, password: str) -> bool:
    with password_gate.slot():
        try:
            return bool(_hasher.verify(password_hash, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


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
        password_hash=hash_password(password, name),
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
        user.password_hash = hash_password(password, user.username)
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


def _dummy_verify(password: str) -> None:
    """Verify against a throwaway hash, so an unknown name takes as long as a wrong password."""
    global _dummy_hash
    if _dummy_hash is None:
        with password_gate.slot():
            _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
    _verify(_dummy_hash, password)


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this name and password, else None (same work either way).

    Checks the password inside the caller's transaction; the web app's login uses
    `check_login`, which holds none while argon2 runs.
    """
    user = session.exec(select(User).where(User.username == normalize_username(username))).first()
    if user is None or not user.active:
        _dummy_verify(password)
        return None
    if not _verify(user.password_hash, password):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        with password_gate.slot():
            user.password_hash = _hasher.hash(password)
        session.add(user)
    return user


@dataclass(frozen=True)
class LoginCheck:
    """A password that matched: whose, and its new hash if the stored one is outdated."""

    user_id: int
    checked_hash: str
    new_hash: str | None


def _stored_hash(engine: Engine, username: str) -> tuple[int, str, bool] | None:
    with Session(engine) as session:
        row = session.exec(
            select(User.id, User.password_hash, User.active).where(
                User.username == normalize_username(username)
            )
        ).first()
    if row is None or row[0] is None:
        return None
    return row[0], row[1], row[2]


def check_login(engine: Engine, username: str, password: str) -> LoginCheck | None:
    """Whether `password` is the active user `username`'s (same work either way).

    The user is read in a short transaction and the argon2 check (64 MiB, a good part of a
    second) runs outside any: on SQLite every transaction holds the database's write lock,
    so a check inside one would make every other login, and every write, wait for it.
    The caller starts the session, and stores `new_hash` if there is one, in its own
    transaction, after checking the hash is still `checked_hash`.
    """
    stored = _stored_hash(engine, username)
    if stored is None or not stored[2]:
        _dummy_verify(password)
        return None
    user_id, password_hash, _ = stored
    if not _verify(password_hash, password):
        return None
    new_hash = None
    if _hasher.check_needs_rehash(password_hash):
        with password_gate.slot():
            new_hash = _hasher.hash(password)
    return LoginCheck(user_id, password_hash, new_hash)


def record_failed_login(session: Session, username: str, address: str) -> None:
    """A failed login, for the audit: an event on the user (if the name is one) and a log
    line. Never the password; an unknown name is not repeated either (it may be a password
    typed into the wrong box)."""
    user = session.exec(select(User).where(User.username == normalize_username(username))).first()
    if user is None:
        log.warning("failed login: unknown user name, from %s", address)
        return
    reason = "inactive user" if not user.active else "wrong password"
    log.warning(
        "failed login: user %s (id %s), %s, from %s", user.username, user.id, reason, address
    )
    record_event(
        session,
        actor=user.username,
        entity="user",
        entity_id=str(user.id),
        action="login_failed",
        after={"address": address, "reason": reason},
    )


def change_own_password(engine: Engine, user_id: int, *, current: str, new: str) -> str:
    """A user changes their own password: `current` must be right. Every session of the user
    ends (a stolen one too); returns the token of a fresh one for this browser.

    The argon2 work runs outside any transaction (see `check_login`)."""
    with Session(engine) as session:
        user = session.get(User, user_id)
        if user is None or not user.active:
            raise InvalidUser("no such user")
        username, old_hash = user.username, user.password_hash
    if not _verify(old_hash, current):
        raise WrongPassword(N_("the current password is not right"))
    if new == current:
        raise InvalidUser(N_("the new password is the same as the current one"))
    new_hash = hash_password(new, username)
    with session_scope(engine) as session:
        user = session.get(User, user_id)
        if user is None or user.password_hash != old_hash:
            raise InvalidUser(N_("the password was changed meanwhile: log in again"))
        user.password_hash = new_hash
        user.updated_at = utcnow()
        session.add(user)
        end_user_sessions(session, user_id)
        record_event(
            session,
            actor=username,
            entity="user",
            entity_id=str(user_id),
            action="password_changed",
            after={"password": "changed", "sessions": "ended"},
        )
        session.flush()
        return start_session(session, user)


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
