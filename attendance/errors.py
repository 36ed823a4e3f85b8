"""What can go wrong, by kind: each error class carries its kind once, and both the command
line's exit code and the web's HTTP status are derived from it, so the two never disagree.

Messages say why in one line and never carry personal data (a child's or parent's name, a
birth date): they reach terminals, logs and browsers.
"""

from __future__ import annotations

from enum import Enum, IntEnum
from typing import ClassVar

from sqlalchemy.exc import OperationalError

from forms.serial import InvalidSerial


class ExitCode(IntEnum):
    """Stable exit codes of `attend` (documented in the README)."""

    OK = 0
    INTERNAL_ERROR = 1
    USAGE = 2
    INVALID_INPUT = 3
    NOT_FOUND = 4
    FILES_FAILED = 5
    DATABASE = 6
    UNSAFE_CONFIGURATION = 7
    CONFLICT = 8


class ErrorKind(Enum):
    """A category of failure: its exit code and its HTTP status."""

    INVALID_INPUT = (ExitCode.INVALID_INPUT, 422)  # a value or an action that is refused
    NOT_FOUND = (ExitCode.NOT_FOUND, 404)
    DATABASE = (ExitCode.DATABASE, 503)  # not initialised, older schema, unreachable
    UNSAFE_CONFIGURATION = (ExitCode.UNSAFE_CONFIGURATION, 503)
    CONFLICT = (ExitCode.CONFLICT, 409)  # someone else holds it, changed it or decided it

    @property
    def exit_code(self) -> ExitCode:
        return self.value[0]

    @property
    def http_status(self) -> int:
        return int(self.value[1])


class DomainError(Exception):
    """Base of the errors a user can act on; subclasses set `kind`."""

    kind: ClassVar[ErrorKind] = ErrorKind.INVALID_INPUT


def error_kind(error: BaseException) -> ErrorKind | None:
    """The kind of a failure a user can act on, or None for a bug.

    Domain errors carry their kind; the few that come from packages below the domain
    (`forms`) or from the database driver are named here, in one place.
    """
    if isinstance(error, DomainError):
        return error.kind
    if isinstance(error, InvalidSerial):  # forms sits below the domain: it cannot subclass
        return ErrorKind.INVALID_INPUT
    if isinstance(error, OperationalError):
        return ErrorKind.DATABASE
    return None


# --- the review queue's errors -------------------------------------------------------------


class ReviewError(DomainError):
    """A review action that cannot be done; the message says why, without personal data."""


class ItemNotFound(ReviewError, LookupError):
    kind = ErrorKind.NOT_FOUND


class ItemHeld(ReviewError):
    """Another reviewer holds a live claim on the item."""

    kind = ErrorKind.CONFLICT


class VersionConflict(ReviewError):
    """The value changed since the reviewer saw it (someone else saved first)."""

    kind = ErrorKind.CONFLICT


class InvalidValue(ReviewError, ValueError):
    """A typed value that is not one the field takes."""


class NotAllowed(ReviewError):
    """The action does not apply to this item or sheet (e.g. correcting a flag)."""


class AlreadyDone(NotAllowed):
    """The item was decided already (by someone else, or in another window)."""

    kind = ErrorKind.CONFLICT
