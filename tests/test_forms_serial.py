from __future__ import annotations

import itertools

import pytest

from forms.serial import (
    ALPHABET,
    SERIAL_LENGTH,
    InvalidSerial,
    check_symbol,
    format_serial,
    is_valid_serial,
    new_serial,
    normalize_serial,
)


def test_new_serials_are_short_unique_and_valid() -> None:
    serials = {new_serial() for _ in range(20_000)}
    assert len(serials) == 20_000
    for serial in itertools.islice(serials, 500):
        assert len(serial) == SERIAL_LENGTH <= 12
        assert set(serial) <= set(ALPHABET)
        assert normalize_serial(serial) == serial


def test_serials_are_not_sequential() -> None:
    """Knowing one serial says nothing about the next: no shared prefix run."""
    serials = [new_serial() for _ in range(200)]
    shared = sum(a[:4] == b[:4] for a, b in itertools.pairwise(serials))
    assert shared <= 2  # 1 in 32**4 by chance


def test_every_single_symbol_mistake_is_rejected() -> None:
    serial = new_serial()
    for position in range(SERIAL_LENGTH):
        for symbol in ALPHABET:
            if symbol == serial[position]:
                continue
            typo = serial[:position] + symbol + serial[position + 1 :]
            assert not is_valid_serial(typo), typo


def test_adjacent_transpositions_are_rejected() -> None:
    caught = missed = 0
    for _ in range(300):
        serial = new_serial()
        for i in range(SERIAL_LENGTH - 1):
            if serial[i] == serial[i + 1]:
                continue
            swapped = serial[:i] + serial[i + 1] + serial[i] + serial[i + 2 :]
            if is_valid_serial(swapped):
                missed += 1
            else:
                caught += 1
    # Luhn mod N misses only swaps of two specific symbol pairs (like 0<->V here).
    assert missed / (caught + missed) < 0.01


def test_typing_forgiveness_and_messages() -> None:
    serial = "0" + new_serial()[1:]
    body = serial[:-1]
    serial = body + check_symbol(body)
    typed = format_serial(serial).lower().replace("0", "o")
    assert normalize_serial(typed) == serial
    with pytest.raises(InvalidSerial, match="11 characters"):
        normalize_serial("ABC")
    with pytest.raises(InvalidSerial, match="cannot contain"):
        normalize_serial("ABCDEFGHJK!")
    with pytest.raises(InvalidSerial, match="mistyped"):
        normalize_serial(body + ALPHABET[(ALPHABET.index(serial[-1]) + 1) % 32])
