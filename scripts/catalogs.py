"""The translators' files: extract every provider-facing string into the catalog template
(`attendance/locale/attend.pot`) and merge it into each language's catalog (`make catalogs`).

Strings are found in Python (`N_("...")`, `tr("...")`, `ntr("...", "...", n)` in
`attendance/` and `review_ui/`) and in the web templates (`{% trans %}` blocks and `_()`).
A new string shows up in each `.po` file with an empty translation, for a translator to fill
(`tests/test_i18n.py` fails until every catalog has it). A third language: copy the template
to `attendance/locale/LANG/LC_MESSAGES/attend.po` and translate it.

    .venv/bin/python scripts/catalogs.py           # write the template, update every catalog
    .venv/bin/python scripts/catalogs.py --check   # exit 1 if the template is out of date
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

REPO = Path(__file__).resolve().parent.parent
LOCALE_DIR = REPO / "attendance" / "locale"
TEMPLATE = LOCALE_DIR / "attend.pot"
DOMAIN = "attend"

PYTHON_KEYWORDS = {"N_": None, "tr": None, "ntr": (1, 2)}
# Jinja2's i18n extension: `{% trans %}` compiles to gettext/ngettext calls; `_()` in
# expressions. Whitespace inside trans blocks is trimmed, as the app's environment does.
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "trimmed": "true"}


def extract() -> Catalog:
    """Every message the code and the templates use, with where each is used."""
    catalog = Catalog(project="Attendance Intake", domain=DOMAIN, charset="utf-8")
    found: list[tuple[str, int, str | tuple[str, ...]]] = []
    for package in ("attendance", "review_ui"):
        for filename, lineno, message, _comments, _context in extract_from_dir(
            REPO / package,
            method_map=[("**.py", "python")],
            keywords=PYTHON_KEYWORDS,
        ):
            found.append((f"{package}/{filename}", lineno, message))
    for filename, lineno, message, _comments, _context in extract_from_dir(
        REPO / "review_ui" / "templates",
        method_map=[("**.html", "jinja2")],
        options_map={"**.html": JINJA_OPTIONS},
    ):
        found.append((f"review_ui/templates/{filename}", lineno, message))
    for where, lineno, message in found:
        catalog.add(message, locations=[(where, lineno)])
    return catalog


_PLACEHOLDER = re.compile(r"\{[a-z_]+\}|%\([a-z_]+\)s|</?[a-z]+>")


def catalog_problems(catalog: Catalog, template: Catalog) -> list[str]:
    """What a language's catalog lacks against the template: messages missing, untranslated
    or fuzzy (their English would show), and translations whose placeholders (`{serial}`,
    `%(name)s`) or tags (`<b>`) differ from the English."""
    problems = []
    for message in template:
        if not message.id:
            continue
        key = message.id
        found = catalog.get(key)
        label = key if isinstance(key, str) else key[0]
        if found is None:
            problems.append(f"missing: {label!r}")
            continue
        strings = found.string if isinstance(found.string, tuple) else (found.string,)
        if not all(strings) or found.fuzzy:
            problems.append(f"not translated: {label!r}")
            continue
        ids = key if isinstance(key, tuple) else (key,)
        wanted = sorted(_PLACEHOLDER.findall(ids[-1]))
        for string in strings:
            if sorted(_PLACEHOLDER.findall(string)) != wanted:
                problems.append(f"placeholders differ: {label!r} -> {string!r}")
    return problems


def _write(catalog: Catalog, path: Path) -> None:
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, sort_output=False, include_lineno=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())


def _without_dates(text: bytes) -> bytes:
    return b"\n".join(
        line for line in text.splitlines() if not line.startswith(b'"POT-Creation-Date')
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the template")
    args = parser.parse_args(argv)
    template = extract()
    buffer = io.BytesIO()
    write_po(buffer, template, width=100, sort_output=False, include_lineno=False)
    if args.check:
        current = TEMPLATE.read_bytes() if TEMPLATE.is_file() else b""
        if _without_dates(current) != _without_dates(buffer.getvalue()):
            print(f"{TEMPLATE.relative_to(REPO)} is out of date: run scripts/catalogs.py")
            return 1
        return 0
    _write(template, TEMPLATE)
    for po in sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=po.parent.parent.name, domain=DOMAIN)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        _write(catalog, po)
        missing = sum(1 for m in catalog if m.id and (not m.string or m.fuzzy))
        print(f"{po.relative_to(REPO)}: {len(catalog) - 1} messages, {missing} to translate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
