"""Sheet serials: short, typeable, unguessable, with a check character.

A serial is 10 random symbols from Crockford's base-32 alphabet (50 bits) followed by one
Luhn mod-32 check symbol: 11 characters. Luhn mod N catches every single-symbol error and
every transposition of two adjacent symbols, the two mistakes people make when typing.
Crockford's alphabet has no I, L, O or U, so a serial read aloud or by OCR is not ambiguous;
when normalising we map the look-alikes back (O -> 0, I/L -> 1) and drop spaces and hyphens.
"""

from __future__ import annotations

import secrets
from typing import Literal

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_LENGTH = 10
SERIAL_LENGTH = RANDOM_LENGTH + 1
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})

SerialProblem = Literal["bad_length", "bad_chars", "bad_check"]


class InvalidSerial(ValueError):
    """A string that is not a well-formed serial; `reason` says which way, as a code:
    `bad_length`, `bad_chars` (a symbol the alphabet has not) or `bad_check` (mistyped)."""

    def __init__(self, reason: SerialProblem, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def check_symbol(body: str) -> str:
    """Return the Luhn mod-32 check symbol for `body` (already normalised)."""
    factor = 2
    total = 0
    n = len(ALPHABET)
    for char in reversed(body):
        addend = factor * _INDEX[char]
        factor = 1 if factor == 2 else 2
        total += addend // n + addend % n
    return ALPHABET[(n - total % n) % n]


def new_serial() -> str:
    """Return a fresh random serial with its check symbol."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return body + check_symbol(body)


def normalize_serial(text: str) -> str:
    """Return `text` as a canonical serial, or raise InvalidSerial saying what is wrong."""
    candidate = text.strip().upper().translate(_LOOKALIKES)
    if len(candidate) != SERIAL_LENGTH:
        raise InvalidSerial(
            "bad_length", f"a serial has {SERIAL_LENGTH} characters, got {len(candidate)}"
        )
    bad = sorted({c for c in candidate if c not in _INDEX})
    if bad:
        raise InvalidSerial("bad_chars", f"a serial cannot contain {''.join(bad)!r}")
    if check_symbol(candidate[:-1]) != candidate[-1]:
        raise InvalidSerial("bad_check", "check character does not match: the serial is mistyped")
    return candidate


def is_valid_serial(text: str) -> bool:
    """True when `text` normalises to a serial whose check symbol matches."""
    try:
        normalize_serial(text)
    except InvalidSerial:
        return False
    return True


def format_serial(serial: str) -> str:
    """Group a serial for printing and reading aloud: ``ABCD-EFGH-JKM``."""
    return f"{serial[:4]}-{serial[4:8]}-{serial[8:]}"
