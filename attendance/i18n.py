"""The words providers read, in their language: gettext catalogs and dates from CLDR.

Every sentence a provider reads (the web pages for providers, the public look-up, the
returned-sheet notice) is written in English in the code and templates and translated
through one gettext catalog per language: `attendance/locale/LANG/LC_MESSAGES/attend.po`.
`attendance/locale/attend.pot` is the template a translator starts from (`make catalogs`
extracts it again and updates every catalog). A language is available when its catalog
exists: a third language is a new `.po` file, not a code change.

Catalogs are compiled in memory from the `.po` files the first time a language is used
(Babel), so there is no compiled file to forget to rebuild. Fuzzy and empty entries are not
used: their English shows. `tests/test_i18n.py` fails when a catalog lacks a string the code
or templates use, or when its placeholders differ from the English.

Dates are written from Babel's CLDR data (never the machine's locale): `December 3, 2026` /
`3 de diciembre de 2026`.
"""

from __future__ import annotations

import datetime as dt
import functools
import gettext as _gettext
import io
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_skeleton
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "attend"
SOURCE_LANGUAGE = "en"


def N_(message: str) -> str:
    """Mark `message` for the catalog without translating it here (it is translated where it
    is shown, in the reader's language)."""
    return message


def catalog_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def available_languages() -> tuple[str, ...]:
    """English, then every language with a catalog, in the order of their codes."""
    found = sorted(
        path.parent.parent.name
        for path in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")
        if path.parent.parent.name != SOURCE_LANGUAGE
    )
    return (SOURCE_LANGUAGE, *found)


class UnknownLanguage(ValueError):
    """A language code without a catalog."""


def check_language(lang: str) -> None:
    if lang not in available_languages():
        raise UnknownLanguage(
            f"language {lang!r} is not supported (use one of {', '.join(available_languages())})"
        )


@functools.cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The compiled catalog of `lang` (English: none, the messages are English)."""
    check_language(lang)
    if lang == SOURCE_LANGUAGE:
        return _gettext.NullTranslations()
    with catalog_path(lang).open("rb") as handle:
        catalog = read_po(handle, locale=lang, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return _gettext.GNUTranslations(compiled)


def gettext(lang: str, message: str) -> str:
    """`message` (English) in `lang`."""
    return translations(lang).gettext(message)


def ngettext(lang: str, singular: str, plural: str, n: int) -> str:
    return translations(lang).ngettext(singular, plural, n)


def language_name(lang: str) -> str:
    """The language's own name, capitalised: `English`, `Español`."""
    name = Locale.parse(lang).get_display_name(lang) or lang
    return name[:1].upper() + name[1:]


def best_language(accept_language: str) -> str | None:
    """The first available language in an Accept-Language header (`es-MX,es;q=0.9,en`)."""
    weighted = []
    for position, part in enumerate(accept_language.split(",")):
        code, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        weighted.append((-quality, position, code.strip().lower().split("-")[0]))
    for _q, _p, code in sorted(weighted):
        if code in available_languages():
            return code
    return None


# --- dates --------------------------------------------------------------------------------


def long_date(date: dt.date, lang: str) -> str:
    """`December 3, 2026` / `3 de diciembre de 2026`."""
    return format_date(date, "long", locale=lang)


def day_month(date: dt.date, lang: str) -> str:
    """`December 3` / `3 de diciembre`."""
    return format_skeleton("MMMMd", date, locale=lang)


def short_date(date: dt.date, lang: str) -> str:
    """`Dec 3, 2026` / `3 dic 2026`."""
    return format_skeleton("yMMMd", date, locale=lang)


def month_year(month: dt.date, lang: str) -> str:
    """`November 2026` / `noviembre de 2026`."""
    return format_skeleton("yMMMM", month, locale=lang)


def month_name(date: dt.date, lang: str) -> str:
    """`November` / `noviembre` (as it stands in a date)."""
    check_language(lang)
    return str(Locale.parse(lang).months["format"]["wide"][date.month])
