from __future__ import annotations

from forms.payload import BarcodePayload, decode_payload, encode_payload
from forms.serial import new_serial


def test_payload_round_trip() -> None:
    payload = BarcodePayload(serial=new_serial(), form="monthly-v1", page=1)
    text = encode_payload(payload)
    assert text.startswith("AI1:") and len(text) < 40
    assert decode_payload(text) == payload


def test_damaged_or_foreign_payloads_are_refused() -> None:
    payload = BarcodePayload(serial=new_serial(), form="monthly-v1", page=1)
    text = encode_payload(payload)
    prefix, serial, form, page, check = text.split(":")
    assert decode_payload(f"{prefix}:{serial}:{form}:2:{check}") is None  # page changed
    assert decode_payload(text[:-1] + ("A" if text[-1] != "A" else "B")) is None
    assert decode_payload("https://example.org/") is None
    assert decode_payload("AI1:" + ":".join(["x"] * 4)) is None
    broken_serial = serial[:-1] + ("0" if serial[-1] != "0" else "1")
    body = f"{prefix}:{broken_serial}:{form}:{page}"
    from forms.payload import _payload_check

    assert decode_payload(f"{body}:{_payload_check(body)}") is None  # serial check char wrong
