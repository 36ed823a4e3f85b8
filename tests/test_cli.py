"""The command line's contract: commands, JSON shapes, and one readable line per error."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from forms.serial import ALPHABET, format_serial
from tests.conftest import CERTIFICATES_CSV, MONTH, Cli

REPO = Path(__file__).resolve().parent.parent


def _serials(cli: Cli) -> list[str]:
    return [r["serial"] for r in json.loads(cli.ok("sheets", "list", "--month", MONTH, "--json"))]


def _pdf_pages(path: Path) -> int:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    return int(
        next(line for line in info.stdout.splitlines() if line.startswith("Pages:")).split()[1]
    )


def test_console_script_help_lists_the_commands() -> None:
    attend = Path(sys.executable).parent / "attend"
    result = subprocess.run([str(attend), "--help"], capture_output=True, text=True, check=True)
    for command in ("init", "certificates", "sheets", "intake", "status", "export"):
        assert command in result.stdout
    assert "ATTEND_HOME" in result.stdout and "ATTEND_DATABASE_URL" in result.stdout


def test_commands_refuse_an_uninitialised_database(tmp_path: Path) -> None:
    result = Cli(tmp_path / "nothing")("sheets", "list", "--month", MONTH)
    assert result.code == 6
    assert result.err.strip() == "attend: the database is not initialised: run `attend init`"


def test_sheets_issue_only_active_certificates_and_is_idempotent(cli: Cli) -> None:
    cli.ok("certificates", "import", str(CERTIFICATES_CSV))
    assert cli.ok("sheets", "issue", "--month", MONTH).strip() == (
        f"{MONTH}: 7 sheets issued, 0 already issued"
    )
    assert cli.ok("sheets", "issue", "--month", MONTH).strip() == (
        f"{MONTH}: 0 sheets issued, 7 already issued"
    )
    rows = json.loads(cli.ok("sheets", "list", "--month", MONTH, "--json"))
    # C-2003 starts in December; C-1003 ends mid-November and still gets its sheet.
    assert sorted(r["certificate_id"] for r in rows) == [
        "C-1001",
        "C-1002",
        "C-1003",
        "C-2001",
        "C-2002",
        "C-3001",
        "C-3002",
    ]
    for row in rows:
        assert {"serial", "certificate_id", "provider_id", "month", "status"} <= row.keys()
        assert row["status"] == "issued" and row["month"] == MONTH
    cli.ok("sheets", "issue", "--month", "2026-12")
    december = json.loads(cli.ok("sheets", "list", "--month", "2026-12", "--json"))
    assert "C-2003" in {r["certificate_id"] for r in december}
    assert "C-1003" not in {r["certificate_id"] for r in december}


def test_bad_csv_reports_lines_and_imports_nothing(cli: Cli, tmp_path: Path) -> None:
    lines = CERTIFICATES_CSV.read_text().splitlines()
    lines[2] = lines[2].replace("2026-09-01", "2026-09-31")
    lines[4] = lines[4].replace("Mon-Thu 06:30-15:00", "Mon-Thu 6am-3pm")
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    result = cli("certificates", "import", str(bad))
    assert result.code == 3
    assert "line 3, start_date: '2026-09-31' is not a date" in result.err
    assert "line 5, schedule: unknown schedule syntax" in result.err
    assert result.err.strip().endswith("2 problem(s) in the certificates file; nothing imported")
    cli.ok("sheets", "issue", "--month", MONTH)
    assert json.loads(cli.ok("sheets", "list", "--month", MONTH, "--json")) == []
    missing = cli("certificates", "import", str(tmp_path / "nope.csv"))
    assert (missing.code, missing.err.strip()) == (
        4,
        f"attend: no such file: {tmp_path / 'nope.csv'}",
    )


def test_status_by_serial_and_by_certificate(issued_cli: Cli) -> None:
    serial = _serials(issued_cli)[0]
    line = issued_cli.ok("status", format_serial(serial).lower())
    assert (
        line.startswith(format_serial(serial)) and "issued" in line and "not received yet" in line
    )
    data = json.loads(issued_cli.ok("status", serial, "--json"))
    assert data["serial"] == serial and data["status"] == "issued" and data["received_at"] is None
    by_certificate = issued_cli.ok("status", "--certificate", "C-1001", "--month", MONTH)
    assert "C-1001" in by_certificate and MONTH in by_certificate
    assert issued_cli("status", "--certificate", "C-9999").code == 4


def test_mistyped_and_unknown_serials(issued_cli: Cli) -> None:
    serial = _serials(issued_cli)[0]
    wrong = serial[:3] + ALPHABET[(ALPHABET.index(serial[3]) + 1) % 32] + serial[4:]
    result = issued_cli("status", wrong)
    assert result.code == 3
    assert result.err.strip() == (
        f"attend: invalid serial {wrong!r}: check character does not match: the serial is mistyped"
    )
    from forms.serial import new_serial

    unknown = new_serial()
    result = issued_cli("status", unknown)
    assert (result.code, result.err.strip()) == (
        4,
        f"attend: no sheet was issued with serial {unknown}",
    )
    assert issued_cli("sheets", "print", "--serial", wrong, "-o", "x.pdf").code == 3


def test_invalid_month_is_one_clear_line(cli: Cli) -> None:
    result = cli("sheets", "issue", "--month", "2026-13")
    assert (result.code, result.err.strip()) == (
        3,
        "attend: month '2026-13' is not YYYY-MM (for example 2026-11)",
    )


def test_print_per_serial_per_provider_and_whole_month(issued_cli: Cli, tmp_path: Path) -> None:
    serial = _serials(issued_cli)[0]
    one = tmp_path / "one.pdf"
    issued_cli.ok("sheets", "print", "--serial", serial, "-o", str(one))
    assert _pdf_pages(one) == 1
    folder = tmp_path / "by-provider"
    issued_cli.ok("sheets", "print", "--month", MONTH, "-o", f"{folder}/")
    assert sorted(p.name for p in folder.iterdir()) == [
        "sheets-2026-11-P-100.pdf",
        "sheets-2026-11-P-200.pdf",
        "sheets-2026-11-P-300.pdf",
    ]
    assert [_pdf_pages(folder / f"sheets-2026-11-P-{n}.pdf") for n in (100, 200, 300)] == [3, 2, 2]
    p200 = tmp_path / "p200.pdf"
    issued_cli.ok("sheets", "print", "--month", MONTH, "--provider", "P-200", "-o", str(p200))
    assert _pdf_pages(p200) == 2


def test_layout_json_contract(issued_cli: Cli) -> None:
    serial = _serials(issued_cli)[0]
    layout = json.loads(issued_cli.ok("sheets", "layout", "--serial", serial))
    # New sheets are issued as the current revision, and the layout says which.
    assert layout["serial"] == serial and layout["form"] == "monthly-v2"
    assert layout["page"] == {"width_pt": 612, "height_pt": 792}
    assert len(layout["barcode"]) == 4 and len(layout["fiducials"]) == 4
    names = {f["name"]: f for f in layout["fields"]}
    day7 = names["day.07.in"]
    assert day7["kind"] == "time" and day7["date"] == "2026-11-07" and len(day7["cells"]) == 4
    assert {"am", "pm"} <= day7.keys()
    assert names["day.30.absence.child_ill"]["code"] == "child_ill"
    assert "day.31.in" not in names  # November has 30 days
    assert names["signature.parent"]["kind"] == "signature"
    assert names["signature.provider"]["kind"] == "signature"


def test_a_v1_sheet_keeps_printing_and_laying_out_as_v1(issued_cli: Cli, tmp_path: Path) -> None:
    """GIVEN a sheet issued before monthly-v2 (its form_version monthly-v1) beside new ones
    WHEN its layout is asked for and it is printed
    THEN it stays monthly-v1 (layout JSON, QR code, targets 0.3 in from the corners) while a
    new sheet is monthly-v2."""
    from pyzbar import pyzbar
    from sqlalchemy import text

    from attendance.db import make_engine
    from forms.payload import decode_payload
    from scanner.load import load_pages

    old, new = _serials(issued_cli)[:2]
    engine = make_engine(f"sqlite:///{issued_cli.home / 'attend.sqlite3'}")
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE sheets SET form_version = 'monthly-v1' WHERE serial = :s"), {"s": old}
        )
    engine.dispose()
    listed = {
        s["serial"]: s["form_version"]
        for s in json.loads(issued_cli.ok("sheets", "list", "--month", MONTH, "--json"))
    }
    assert (listed[old], listed[new]) == ("monthly-v1", "monthly-v2")
    for serial, form, inset in ((old, "monthly-v1", 21.6), (new, "monthly-v2", 36.0)):
        layout = json.loads(issued_cli.ok("sheets", "layout", "--serial", serial))
        assert layout["form"] == form and layout["fiducials"][0][:2] == [inset, inset]
        pdf = tmp_path / f"{serial}.pdf"
        issued_cli.ok("sheets", "print", "--serial", serial, "-o", str(pdf))
        page = next(iter(load_pages(pdf, dpi=200))).image
        payload = decode_payload(pyzbar.decode(page)[0].data.decode())
        assert payload is not None and (payload.serial, payload.form) == (serial, form)


def test_export_json_and_csv_before_anything_is_received(issued_cli: Cli) -> None:
    data = json.loads(issued_cli.ok("export", "--month", MONTH, "--format", "json"))
    assert data["month"] == MONTH and len(data["sheets"]) == 7 and data["unidentified"] == []
    sheet = data["sheets"][0]
    assert set(sheet) >= {
        "serial",
        "certificate_id",
        "provider_id",
        "status",
        "received_at",
        "source",
        "days",
        "signatures",
        "flags",
    }
    assert sheet["status"] == "issued" and sheet["received_at"] is None
    assert len(sheet["days"]) == 30
    assert sheet["days"][0]["time_in"] == {
        "value": None,
        "machine_value": None,
        "confidence": None,
        "needs_review": False,
        "reviewed": False,
        "reason": None,
    }
    assert sheet["signatures"]["parent"]["signed"] is None
    rows = list(
        csv.DictReader(io.StringIO(issued_cli.ok("export", "--month", MONTH, "--format", "csv")))
    )
    assert len(rows) == 7 * 30
    assert rows[0]["serial"] == sheet["serial"] and rows[0]["date"] == "2026-11-01"


def test_intake_errors_missing_path_and_non_image(issued_cli: Cli, tmp_path: Path) -> None:
    result = issued_cli("intake", "run", str(tmp_path / "no-such-scan.pdf"))
    assert result.code == 4 and "no such file or folder" in result.err
    text = tmp_path / "notes.txt"
    text.write_text("not a scan")
    result = issued_cli("intake", "run", str(text))
    assert result.code == 5
    assert "FAILED unsupported_format" in result.out
