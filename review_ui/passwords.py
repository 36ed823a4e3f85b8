"""Which passwords are refused, beyond their length (ASVS 2.1.7, NIST SP 800-63B 5.1.1.2).

A password is refused when, ignoring case:
- it is one of the 5,000 most common passwords (`common-passwords.txt`, shipped with the
  program: nothing is fetched), or is one of them, or the username, with only digits,
  punctuation or spaces around it (`password123!`, `2024 dragon`, `reviewer2026`);
- it is the username;
- it repeats a few characters (fewer than 4 different ones: `aaaaaaaaaaaa`, `abababababab`);
- it is a run (`abcdefghijkl`, `987654321098`: each character one after or one before the
  last, digits wrapping from 9 to 0).

No composition rule (ASVS 2.1.9): a long passphrase of any characters passes.
"""

from __future__ import annotations

import itertools
import string
from functools import lru_cache
from pathlib import Path

from attendance.i18n import N_

COMMON_LIST = Path(__file__).with_name("common-passwords.txt")
_AROUND = string.digits + string.punctuation + string.whitespace
MIN_DISTINCT = 4


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lowercased."""
    lines = COMMON_LIST.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def _is_run(text: str) -> bool:
    if len(text) < 3:
        return False

    def step(a: str, b: str) -> int:
        if a.isdigit() and b.isdigit():
            return (int(b) - int(a)) % 10
        return ord(b) - ord(a)

    steps = {step(a, b) for a, b in itertools.pairwise(text)}
    return steps in ({1}, {-1}, {9})


def password_problem(password: str, username: str | None = None) -> str | None:
    """Why `password` is too easy to guess, or None (its length is checked elsewhere)."""
    folded = password.casefold()
    name = (username or "").strip().casefold()
    core = folded.strip(_AROUND)
    if name and (folded.strip() == name or core in (name, name.strip(_AROUND))):
        return N_("a password must not be the username")
    common = common_passwords()
    if folded in common or core in common:
        return N_("this password is one of the most common ones: choose another")
    if len(set(folded)) < MIN_DISTINCT:
        return N_("a password needs more than a few different characters")
    if _is_run(folded) or (len(core) >= 3 and len(core) * 2 >= len(folded) and _is_run(core)):
        return N_("a password must not be a run of characters like abcdef or 123456")
    return None
