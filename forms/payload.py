"""The QR code's payload: serial, form version, page number and a check symbol.

Text form: ``AI1:<serial>:<form>:<page>:<check>``, for example
``AI1:7K2M9QXR4T8:monthly-v1:1:Q``. ``AI1`` names this payload format (version 1).
The check symbol is computed over everything before it, so a payload that was pasted
together from parts, or another product's QR code, is not taken for one of ours.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from forms.serial import ALPHABET, InvalidSerial, normalize_serial

PREFIX = "AI1"


@dataclass(frozen=True)
class BarcodePayload:
    """What a sheet's QR code says."""

    serial: str
    form: str
    page: int


def _payload_check(text: str) -> str:
    return ALPHABET[zlib.crc32(text.encode("ascii")) % len(ALPHABET)]


def encode_payload(payload: BarcodePayload) -> str:
    """Return the QR text for `payload`."""
    body = f"{PREFIX}:{payload.serial}:{payload.form}:{payload.page}"
    return f"{body}:{_payload_check(body)}"


def decode_payload(text: str) -> BarcodePayload | None:
    """Parse QR text; None when it is not a valid Attendance Intake payload."""
    parts = text.strip().split(":")
    if len(parts) != 5 or parts[0] != PREFIX:
        return None
    prefix, serial, form, page, check = parts
    body = f"{prefix}:{serial}:{form}:{page}"
    if not body.isascii() or _payload_check(body) != check:
        return None
    try:
        canonical = normalize_serial(serial)
    except InvalidSerial:
        return None
    if canonical != serial or not page.isdigit() or not form:
        return None
    return BarcodePayload(serial=serial, form=form, page=int(page))
