"""Text from outside made safe where it ends up: a spreadsheet cell, or a name on a page.

- `spreadsheet_cell`: agencies open the CSV exports in Excel or LibreOffice, which run a cell
  that starts with `=`, `+`, `-` or `@` (or a tab or carriage return before one) as a
  formula: `=HYPERLINK(...)` in a certificate id would be a live link. Such a text cell gets
  a leading `'` (OWASP, "CSV Injection"), which the spreadsheet shows as text (and a CR in
  it becomes a line feed, so the cell is quoted and the row stays whole). Numbers the
  program itself writes (hours, counts, confidences, page numbers) are written as numbers,
  never prefixed: a negative number is data, and a number cannot be a formula.
- `shown`: Unicode format characters (category Cf: the bidirectional overrides and isolates
  such as U+202E, zero-width spaces, word joiners, the BOM, soft hyphens, tag characters)
  are invisible and can reorder what is shown: `Ava \u202egnp.exe` reads as `Ava exe.png`.
  Where a name is shown, each is replaced by U+FFFD, so the trick is visible. The two
  joiners (U+200C, U+200D) stay: Persian, Indic and other scripts need them to spell names,
  and they cannot reorder text.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
REPLACEMENT = "\ufffd"
KEPT_FORMAT = frozenset({"\u200c", "\u200d"})  # zero-width non-joiner and joiner


def spreadsheet_text(text: str) -> str:
    """A text cell a spreadsheet shows as text: `'` in front when it starts like a formula.

    A carriage return inside the cell becomes a line feed: Python's csv writer (before 3.12,
    with `\n` line ends) does not quote a field over a lone CR, which a spreadsheet would
    then take for the end of the row.
    """
    if text.startswith(FORMULA_START):
        text = "'" + text
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def spreadsheet_cell(value: object) -> str:
    """One CSV cell: empty for None, `true`/`false`, a number as written, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return spreadsheet_text(str(value))


@lru_cache(maxsize=4096)
def _shown(text: str) -> str:
    return "".join(
        REPLACEMENT if unicodedata.category(c) == "Cf" and c not in KEPT_FORMAT else c for c in text
    )


def shown(text: str) -> str:
    """`text` with its format characters (but the two joiners) replaced by U+FFFD."""
    if text.isascii():
        return text
    return _shown(text) if len(text) <= 512 else _shown.__wrapped__(text)
