"""Certificate and provider ids: what one may be, and the file names built from them.

An id comes from the agency's system (the certificates CSV) and ends up in URLs, file names,
`Content-Disposition` headers and CSV exports, so it is held to a small alphabet at import:
1 to 64 characters, ASCII letters, digits, `.`, `_` and `-`, not starting with `.` or `-`
(`C-1001`, `P_200`, `2026.17`).

Data imported before that rule existed may hold any id, so whatever builds a file name from
an id goes through `file_part` (a clean id as it is; anything else made clean, with a short
hash of the original so two ids never share a name), and a file is written only through
`file_in`, which refuses a name that would leave its folder.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import quote

from attendance.errors import DomainError, ErrorKind

ID_MAX = 64
ID_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")
ID_RULE = "1 to 64 letters (A-Z, a-z), digits, '.', '_' or '-', not starting with '.' or '-'"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class UnsafePath(DomainError, ValueError):
    """A file name that is not one plain name inside its folder."""

    kind = ErrorKind.UNSAFE_CONFIGURATION


def id_problem(text: str) -> str | None:
    """Why `text` is not a valid id (without repeating it), or None when it is one."""
    if ID_PATTERN.fullmatch(text):
        return None
    if not text:
        return "is empty"
    if len(text) > ID_MAX:
        return f"is {len(text)} characters long; an id is {ID_RULE}"
    if text[0] in ".-":
        return f"starts with {text[0]!r}; an id is {ID_RULE}"
    position = next(i for i, c in enumerate(text, 1) if _UNSAFE.match(c))
    return f"has a character that is not allowed (character {position}); an id is {ID_RULE}"


def is_clean_id(text: str) -> bool:
    return ID_PATTERN.fullmatch(text) is not None


def file_part(text: str) -> str:
    """`text` as part of a file name: a clean id as it is, anything else cleaned.

    Characters outside the id alphabet become `_`, a leading `.` or `-` too, and a short
    hash of the original is added so that `P/1` and `P_1` never share a file.
    """
    if is_clean_id(text):
        return text
    cleaned = _UNSAFE.sub("_", text[:ID_MAX])
    if cleaned[:1] in (".", "-", ""):
        cleaned = "_" + cleaned[1:]
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{cleaned}-{digest}"


def file_in(folder: Path, name: str) -> Path:
    """`folder / name`, after checking that `name` is one plain name that stays in `folder`.

    Checked when the file is written, whatever the name was built from: no separator, not
    `.` or `..`, no NUL, and (after resolving symlinks) directly inside `folder`.
    """
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or Path(name).name != name
    ):
        raise UnsafePath(f"refusing to write {name!r}: not a plain file name")
    target = folder / name
    if target.resolve().parent != folder.resolve():
        raise UnsafePath(f"refusing to write {name!r}: it would leave {folder}")
    return target


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """A `Content-Disposition` value naming `filename` safely (RFC 6266).

    `filename=` gets a plain ASCII name (anything else becomes `_`); when that changed the
    name, `filename*=UTF-8''...` carries the real one, percent-encoded, for browsers.
    """
    plain = _UNSAFE.sub("_", filename) or "download"
    value = f'{disposition}; filename="{plain}"'
    if plain != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value
