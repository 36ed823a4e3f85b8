"""Names in any script on printed sheets and notices: the PDF's standard fonts where they
cover the text, embedded TrueType fonts with wide coverage where they do not.

reportlab's standard fonts (Helvetica, Courier) know only the Windows Latin-1 characters: a
name like `李小龍` or `Nguyễn` would print as black boxes. Text is cut into runs; a run the
standard font can print stays in it (so an English or Spanish sheet looks exactly as before),
and any other run is drawn in the first font that has all its characters, embedded as a
subset: Debian's DejaVu Sans (Latin with every diacritic, Vietnamese, Greek, Cyrillic), the
Noto Sans script fonts (Armenian, Georgian, Ethiopic, Thai, Cherokee and others), and Droid
Sans Fallback for Chinese, Japanese and Korean (Noto's CJK fonts have PostScript outlines,
which reportlab cannot embed; Droid Sans Fallback is their TrueType predecessor).

Scripts that need shaping or right-to-left ordering (Arabic, Hebrew, Indic scripts) are
drawn with a covering font when one is installed, but without shaping.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, unescape

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

log = logging.getLogger(__name__)

FONT_DIRS = (Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts/opentype"))

# The standard fonts this project draws with, and the TrueType file (under FONT_DIRS) of the
# same style each falls back to first.
_STYLE_OF = {
    "Helvetica": "regular",
    "Helvetica-Bold": "bold",
    "Helvetica-Oblique": "italic",
    "Helvetica-BoldOblique": "bold",
    "Courier": "mono",
    "Courier-Bold": "mono-bold",
}
_FALLBACKS: dict[str, tuple[str, ...]] = {
    "regular": ("dejavu/DejaVuSans.ttf", "noto/NotoSans-Regular.ttf"),
    "bold": ("dejavu/DejaVuSans-Bold.ttf", "noto/NotoSans-Bold.ttf"),
    "italic": ("dejavu/DejaVuSans-Oblique.ttf", "noto/NotoSans-Italic.ttf"),
    "mono": ("dejavu/DejaVuSansMono.ttf",),
    "mono-bold": ("dejavu/DejaVuSansMono-Bold.ttf",),
}
# Scripts DejaVu lacks, in every style (a bold face where Noto has one).
_SCRIPT_FONTS = tuple(
    f"noto/NotoSans{script}-{{weight}}.ttf"
    for script in (
        "Armenian",
        "Georgian",
        "Ethiopic",
        "Thai",
        "Lao",
        "Khmer",
        "Cherokee",
        "Hebrew",
        "Arabic",
        "Devanagari",
        "Bengali",
        "Gurmukhi",
        "Gujarati",
        "Tamil",
        "Telugu",
        "Kannada",
        "Malayalam",
        "Sinhala",
        "Myanmar",
        "Tagalog",
    )
)
# Chinese and Japanese (Droid Sans Fallback), then Korean (Nanum Gothic).
_CJK = ("droid/DroidSansFallbackFull.ttf", "nanum/NanumGothic.ttf")
_CJK_BOLD = (
    "droid/DroidSansFallbackFull.ttf",
    "nanum/NanumGothicBold.ttf",
    "nanum/NanumGothic.ttf",
)


@dataclass(frozen=True)
class _Face:
    name: str  # as registered with reportlab
    covers: frozenset[int]


def _standard_covers(char: str) -> bool:
    """Whether a standard PDF font prints `char` (they use the WinAnsi encoding)."""
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


@functools.cache
def _face(relative: str) -> _Face | None:
    """The font file registered with reportlab (once), or None when it is not installed."""
    for folder in FONT_DIRS:
        path = folder / relative
        if path.is_file():
            name = "AI-" + path.stem
            try:
                font = TTFont(name, str(path))
            except TTFError as exc:  # e.g. PostScript outlines
                log.warning("font %s cannot be embedded: %s", path, exc)
                return None
            pdfmetrics.registerFont(font)
            return _Face(name, frozenset(font.face.charToGlyph))
    return None


def _chain(font: str) -> tuple[str, ...]:
    """The files tried, in order, for text the standard font `font` cannot print."""
    style = _STYLE_OF.get(font, "regular")
    weight = "Bold" if "bold" in style else "Regular"
    # A script without a bold face is drawn regular.
    weights = ("Bold", "Regular") if weight == "Bold" else ("Regular",)
    scripts = tuple(s.format(weight=w) for s in _SCRIPT_FONTS for w in weights)
    cjk = _CJK_BOLD if weight == "Bold" else _CJK
    return _FALLBACKS[style] + _FALLBACKS["regular"] + scripts + cjk


def _fallback_for(text: str, font: str) -> str | None:
    """The first fallback font of `font` that has every character of `text` (spaces aside)."""
    needed = {ord(c) for c in text if not c.isspace()}
    for relative in _chain(font):
        face = _face(relative)
        if face is not None and needed <= face.covers:
            return face.name
    return None


def runs(text: str, font: str) -> list[tuple[str, str]]:
    """`text` (NFC) as (font name, run) pairs, each run in a font that has its characters.

    Text the standard `font` prints stays in it (one run). Otherwise the whole line goes in
    the first fallback font that has all of it (`Nguyễn Thị Ánh` all in DejaVu Sans, not
    Helvetica with a few DejaVu letters), else word by word (`Zoë` in DejaVu Sans, `李小龍`
    in Droid Sans Fallback), so a word neither changes its look half-way nor comes apart
    when the PDF's text is extracted. A character no installed font has stays in `font`
    (the gap shows as that font's box).
    """
    text = unicodedata.normalize("NFC", text)
    if all(_standard_covers(c) for c in text):
        return [(font, text)] if text else []
    whole = _fallback_for(text, font)
    if whole is not None:
        return [(whole, text)]
    out: list[tuple[str, str]] = []

    def add(name: str, piece: str) -> None:
        if out and out[-1][0] == name:
            out[-1] = (name, out[-1][1] + piece)
        else:
            out.append((name, piece))

    for word in re.split(r"(\s+)", text):
        if not word:
            continue
        if word.isspace():
            add(out[-1][0] if out else font, word)
            continue
        chosen = _fallback_for(word, font)
        if chosen is not None:
            add(chosen, word)
            continue
        for char in word:  # a word in several scripts: character by character
            add(_fallback_for(char, font) or font, char)
    return out


def string_width(text: str, font: str, size: float) -> float:
    """The width of `text` as `draw_string` draws it."""
    return float(sum(pdfmetrics.stringWidth(run, name, size) for name, run in runs(text, font)))


def draw_string(
    canvas: Any, x: float, y: float, text: str, font: str, size: float, align: str = "left"
) -> None:
    """Draw one line at baseline `y`, each run in a font that has its characters."""
    pieces = runs(text, font)
    width = sum(pdfmetrics.stringWidth(run, name, size) for name, run in pieces)
    if align == "center":
        x -= width / 2
    elif align == "right":
        x -= width
    for name, run in pieces:
        canvas.setFont(name, size)
        canvas.drawString(x, y, run)
        x += pdfmetrics.stringWidth(run, name, size)


def markup(text: str, font: str) -> str:
    """`text` escaped for a reportlab Paragraph, runs the standard `font` cannot print wrapped
    in `<font face=...>` tags."""
    parts = []
    for name, run in runs(text, font):
        piece = escape(run)
        parts.append(piece if name == font else f'<font face="{name}">{piece}</font>')
    return "".join(parts)


_TAG = re.compile(r"(<[^>]*>)")
_FONT_ATTR = re.compile(r"""(?:name|face)\s*=\s*['"]([^'"]+)['"]""")
_BOLD_OF = {"Helvetica": "Helvetica-Bold", "Courier": "Courier-Bold"}


def rich(xml: str, font: str) -> str:
    """Paragraph markup (text already escaped, with `<b>`, `<br/>` and `<font>` tags) with the
    runs of its text that the current standard font cannot print wrapped in a font that can;
    `font` is the paragraph style's font. Tags are kept as they are."""
    stack = [font]
    out = []
    for piece in _TAG.split(xml):
        if not piece:
            continue
        if piece.startswith("<"):
            out.append(piece)
            tag = piece.strip("<>/ ").split()[0].lower() if piece.strip("<>/ ") else ""
            if piece.startswith("</"):
                if tag in ("b", "font", "strong") and len(stack) > 1:
                    stack.pop()
            elif not piece.endswith("/>"):
                if tag in ("b", "strong"):
                    stack.append(_BOLD_OF.get(stack[-1], stack[-1]))
                elif tag == "font":
                    found = _FONT_ATTR.search(piece)
                    stack.append(found.group(1) if found else stack[-1])
            continue
        current = stack[-1]
        if current not in _STYLE_OF:  # an embedded font chosen already
            out.append(piece)
            continue
        text = unescape(piece)
        out.append(markup(text, current))
    return "".join(out)
