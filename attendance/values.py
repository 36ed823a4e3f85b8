"""Field values as stored and as typed: the machine's, the reviewer's, and which one counts."""

from __future__ import annotations

from typing import Protocol

from attendance.errors import InvalidValue

MARKED = "marked"

SIGNED = "signed"

# A field the reviewer keyed from the whole page (its page could not be registered).
KEYED = "keyed"


class StoredValue(Protocol):
    """What decides a field's value: a `FieldReading`, or its `sheets.FieldValue` columns."""

    @property
    def machine_value(self) -> str | None: ...
    @property
    def final_value(self) -> str | None: ...
    @property
    def reviewed(self) -> bool: ...


def current_value(reading: StoredValue) -> str | None:
    """The value that counts: the reviewer's where there is one, else the machine's."""
    return reading.final_value if reading.reviewed else reading.machine_value


def minutes(value: str | None) -> int | None:
    if not value:
        return None
    hours, mins = value.split(":")
    return int(hours) * 60 + int(mins)


def normalize_value(kind: str, text: str) -> str | None:
    """A reviewer's typed value in the stored form, or InvalidValue saying what is expected.

    time: ``7:30``, ``07:30``, ``0730``, ``7:30 pm``, ``19:30``; ``blank`` or empty for none.
    mark: ``marked`` / ``x`` or ``blank``; signature: ``signed`` or ``blank`` / ``unsigned``.
    """
    raw = text.strip().lower()
    if raw in ("", "blank", "-", "none", "empty"):
        return None
    if kind == "time":
        suffix = None
        for marker in ("am", "pm", "a", "p"):
            if raw.endswith(marker):
                suffix, raw = marker[0], raw[: -len(marker)].strip()
                break
        raw = raw.replace(".", ":")
        if ":" in raw:
            hours_text, _, minutes_text = raw.partition(":")
            well_formed = 1 <= len(hours_text) <= 2 and len(minutes_text) == 2
        else:
            hours_text, minutes_text = raw[:-2], raw[-2:]
            well_formed = len(raw) in (3, 4)
        if not (well_formed and hours_text.isdigit() and minutes_text.isdigit()):
            raise InvalidValue(f"{text!r} is not a time: type HH:MM (24-hour, or with am/pm)")
        hour, minute = int(hours_text), int(minutes_text)
        if suffix is not None:
            if not 1 <= hour <= 12:
                raise InvalidValue(f"{text!r}: with am/pm the hour is 1 to 12")
            hour = hour % 12 + (12 if suffix == "p" else 0)
        if hour > 23 or minute > 59:
            raise InvalidValue(f"{text!r} is not a time of day")
        return f"{hour:02d}:{minute:02d}"
    if kind == "mark":
        if raw in ("marked", "x", "yes", "1", "true"):
            return MARKED
        raise InvalidValue(f"{text!r}: a mark is 'marked' or 'blank'")
    if kind == "signature":
        if raw in ("signed", "yes", "1", "true"):
            return SIGNED
        if raw in ("unsigned", "no", "0", "false"):
            return None
        raise InvalidValue(f"{text!r}: a signature is 'signed' or 'blank'")
    raise InvalidValue(f"fields of kind {kind!r} are not reviewed")
