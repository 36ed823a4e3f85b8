"""What the program writes from outside data, made safe: CSV cells a spreadsheet would run as
formulas, ids validated at import, file names built from ids, names with format characters.

Bad ids are planted straight in the database where a test needs them (tests/legacy.py): the
import refuses them now, but a database filled by an older version may hold them.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from attendance.db import make_engine
from attendance.export import CSV_COLUMNS, PAYMENT_COLUMNS
from attendance.ids import UnsafePath, content_disposition, file_in, file_part, id_problem
from attendance.safetext import shown, spreadsheet_cell
from fixtures.attend import CERTIFICATES_CSV, MONTH, Cli
from tests.legacy import plant_certificate

HOSTILE = {
    # certificate id -> provider id
    '=HYPERLINK("http://x","click")': "@SUM(A1)",
    "+1+1": "-2+3",
    "\t=1": "\r=2",
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _engine(cli: Cli) -> object:
    return make_engine(f"sqlite:///{cli.home / 'attend.sqlite3'}")


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_csv_exports_neutralise_cells_that_start_like_a_formula(issued_cli: Cli) -> None:
    """GIVEN certificates and providers whose ids start with `=`, `+`, `-`, `@`, tab or CR
    (imported before ids were validated)
    WHEN the month is exported as csv and as payments
    THEN every such cell starts with `'` (a spreadsheet shows it as text), the columns are
    the contract's, and the numbers the program writes are still plain numbers."""
    engine = _engine(issued_cli)
    for certificate_id, provider_id in HOSTILE.items():
        plant_certificate(engine, certificate_id, provider_id)  # type: ignore[arg-type]
    issued_cli.ok("sheets", "issue", "--month", MONTH)
    for fmt, columns in (("csv", CSV_COLUMNS), ("payments", PAYMENT_COLUMNS)):
        rows = _rows(issued_cli.ok("export", "--month", MONTH, "--format", fmt))
        assert rows[0] == columns
        index = {name: rows[0].index(name) for name in ("certificate_id", "provider_id")}
        seen = {(r[index["certificate_id"]], r[index["provider_id"]]) for r in rows[1:]}
        for certificate_id, provider_id in HOSTILE.items():
            expected = (spreadsheet_cell(certificate_id), spreadsheet_cell(provider_id))
            assert expected in seen, fmt
            assert expected[0].startswith("'") and expected[1].startswith("'")
        for row in rows[1:]:
            assert len(row) == len(columns)
            for name, cell in zip(columns, row, strict=True):
                assert not cell.startswith(FORMULA_START), (fmt, name, cell)
        if fmt == "payments":
            hours = rows[0].index("certified_hours")
            assert all(float(row[hours]) >= 0 for row in rows[1:])


def test_a_number_is_written_as_a_number_and_text_is_neutralised() -> None:
    """Numbers the program writes are data (a negative number stays one); text is text."""
    assert spreadsheet_cell(-1.5) == "-1.5"
    assert spreadsheet_cell(-3) == "-3"
    assert spreadsheet_cell(True) == "true"
    assert spreadsheet_cell(None) == ""
    assert spreadsheet_cell("7:35") == "7:35"
    assert spreadsheet_cell("-1.5") == "'-1.5"  # text that looks like a number is still text
    for start in ("=", "+", "-", "@", "\t"):
        assert spreadsheet_cell(start + "cmd") == "'" + start + "cmd"
    assert spreadsheet_cell("\r=cmd") == "'\n=cmd"  # a CR inside a cell: quoted as a line feed
    assert spreadsheet_cell("a\r\nb") == "a\nb"


def _certificates(tmp_path: Path, changes: dict[int, dict[str, str]]) -> Path:
    """fixtures/certificates.csv with some rows' columns changed (row 0 is the first row)."""
    with CERTIFICATES_CSV.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    for number, values in changes.items():
        rows[number].update(values)
    path = tmp_path / "certificates.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize(
    ("column", "value", "says"),
    [
        ("certificate_id", '=HYPERLINK("http://x","click")', "not allowed (character 1)"),
        ("certificate_id", "@SUM(A1)", "not allowed (character 1)"),
        ("provider_id", "../../admin", "starts with '.'"),
        ("provider_id", 'P"q;x=1', "not allowed (character 2)"),
        ("provider_id", "P-ü€", "not allowed (character 3)"),
        ("provider_id", "-P100", "starts with '-'"),
        ("certificate_id", "C" * 65, "65 characters long"),
        ("certificate_id", "Ava Testperson", "not allowed (character 4)"),  # shifted column
    ],
)
def test_a_bad_id_is_a_row_error_and_nothing_is_imported(
    cli: Cli, tmp_path: Path, column: str, value: str, says: str
) -> None:
    path = _certificates(tmp_path, {1: {column: value}})
    result = cli("certificates", "import", str(path))
    assert result.code == 3, result.err
    assert f"line 3, {column}: " in result.err and says in result.err
    assert "letters (A-Z, a-z), digits, '.', '_' or '-'" in result.err
    assert value not in result.err  # never echoed (it may be a name in the wrong column)
    assert "Ava" not in result.err and "Testperson" not in result.err
    assert cli.ok("sheets", "list", "--month", MONTH, "--json").strip() == "[]"


def test_good_ids_of_every_allowed_shape_are_imported(cli: Cli, tmp_path: Path) -> None:
    path = _certificates(
        tmp_path,
        {0: {"certificate_id": "2026.17_a-B"}, 1: {"certificate_id": "_x" + "9" * 62}},
    )
    cli.ok("certificates", "import", str(path))
    assert id_problem("P-100") is None and id_problem("a") is None


def test_sheets_print_never_writes_outside_its_folder(issued_cli: Cli, tmp_path: Path) -> None:
    """GIVEN a provider id `../../../outside` (imported before ids were validated) and, in
    the output folder, a folder named so that the old file name would climb out of it
    WHEN `attend sheets print -o DIR/` writes one PDF per provider
    THEN every PDF is inside DIR, named from a cleaned id (with a hash of the original), and
    nothing is written beside DIR."""
    plant_certificate(_engine(issued_cli), "C-9001", "../../../outside")  # type: ignore[arg-type]
    issued_cli.ok("sheets", "issue", "--month", MONTH)
    out = tmp_path / "a" / "out"
    (out / f"sheets-{MONTH}-..").mkdir(parents=True)
    before = {p for p in tmp_path.rglob("*") if out not in p.parents and p != out}
    printed = issued_cli.ok("sheets", "print", "--month", MONTH, "-o", f"{out}/")
    after = {p for p in tmp_path.rglob("*") if out not in p.parents and p != out}
    assert after == before, sorted(map(str, after - before))
    names = sorted(p.name for p in out.glob("*.pdf"))
    legacy = f"sheets-{MONTH}-{file_part('../../../outside')}.pdf"
    assert legacy in names and f"sheets-{MONTH}-P-100.pdf" in names
    assert legacy.startswith(f"sheets-{MONTH}-_._.._.._outside-")
    assert str(out / legacy) in printed


def test_file_in_refuses_a_name_that_leaves_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    assert file_in(folder, "sheets-2026-11-P-100.pdf") == folder / "sheets-2026-11-P-100.pdf"
    for name in ("../x.pdf", "a/b.pdf", "..", ".", "", "x\x00.pdf", "a\\b.pdf"):
        with pytest.raises(UnsafePath):
            file_in(folder, name)
    # A symlink already in the folder, pointing out of it, is not written through.
    (folder / "sheets-2026-11-P-1.pdf").symlink_to(tmp_path / "elsewhere.pdf")
    with pytest.raises(UnsafePath, match="would leave"):
        file_in(folder, "sheets-2026-11-P-1.pdf")


def test_file_part_keeps_clean_ids_and_tells_cleaned_ones_apart() -> None:
    assert file_part("P-100") == "P-100"
    assert file_part("P/1") != file_part("P_1") == "P_1"
    for hostile in ("../../admin", 'P"q;x=1', "P-ü€", ".hidden", "-x", ""):
        cleaned = file_part(hostile)
        assert id_problem(cleaned) is None, (hostile, cleaned)


def test_content_disposition_is_plain_ascii_with_the_real_name_in_filename_star() -> None:
    assert content_disposition("sheet-ABC.pdf") == 'attachment; filename="sheet-ABC.pdf"'
    value = content_disposition("aviso-señal.pdf")
    assert value == (
        "attachment; filename=\"aviso-se_al.pdf\"; filename*=UTF-8''aviso-se%C3%B1al.pdf"
    )
    value.encode("latin-1")  # a header value the server can send
    hostile = content_disposition('P"q;x=1.pdf')
    assert hostile.count('"') == 2 and "x=1.pdf" not in hostile.split("filename*")[0]


def test_shown_replaces_format_characters_but_the_joiners() -> None:
    assert shown("Ava \u202egnp.exe") == "Ava \ufffdgnp.exe"
    for format_character in ("\u200b", "\u200e", "\u2066", "\u2069", "\ufeff", "\u061c", "\xad"):
        assert shown(f"a{format_character}b") == "a\ufffdb"
    assert shown("Zoë 李小龍 Nguyễn") == "Zoë 李小龍 Nguyễn"
    assert shown("\u0645\u0647\u200c\u0633\u0627") == "\u0645\u0647\u200c\u0633\u0627"  # ZWNJ kept
    assert shown("x" * 600 + "\u202e") == "x" * 600 + "\ufffd"


def test_printed_sheets_and_notices_carry_no_format_characters(issued_cli: Cli) -> None:
    """The record a sheet is printed from, and a notice's text, have U+FFFD for a format
    character in a child's name."""
    from sqlmodel import Session, select

    from attendance.models import Certificate, Sheet
    from attendance.notices import _x
    from attendance.sheets import sheet_print

    engine = _engine(issued_cli)
    plant_certificate(engine, "C-9100", "P-100", child=("Mia\u202e", "Lee"))  # type: ignore[arg-type]
    issued_cli.ok("sheets", "issue", "--month", MONTH)
    with Session(engine) as session:  # type: ignore[arg-type]
        certificate = session.get(Certificate, "C-9100")
        assert certificate is not None
        sheet = session.exec(select(Sheet).where(Sheet.certificate_id == "C-9100")).one()
        printed = sheet_print(session, sheet, certificate, agency_name="Agency\u200b")
    assert printed.child_name == "Mia\ufffd Lee"
    assert printed.agency_name == "Agency\ufffd"
    assert _x("Mia\u202e Lee") == "Mia\ufffd Lee"
