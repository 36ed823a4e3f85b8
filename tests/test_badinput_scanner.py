"""The bad-input corpus (`fixtures.badinput`) through `scanner.load`.

Every failing case gives its reason code from `check_file`, `load_page` and `load_pages`; every
page of a "processed" case loads, is a light page with dark ink, and is identified by its QR
code. Sheets are rendered by `forms` and rasterized by real poppler; the corpus is written by
the real Pillow, libtiff and reportlab, and read by real poppler.
"""

from __future__ import annotations

import os
import re
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fixtures.badinput import (
    CASES,
    LONG_NAME,
    PROCESSED,
    BadInput,
    ink_of,
    write_ccitt_pdf,
    write_corpus,
    write_jbig2_pdf,
)
from fixtures.samples import sample_sheet
from forms.render import render_sheets
from scanner.errors import Reason, ScanError
from scanner.load import FileCheck, PageImage, check_file, load_page, load_pages
from scanner.pipeline import identify_page

SERIALS = ("7K2M9QXR4T8", "P0WV3WQ0H3D")
TIMEOUT_S = 2.0  # for poppler: the slow-render case must hit it
# A call that has not returned after this long is blocked (e.g. opening a FIFO).
BLOCKED_AFTER_S = 30.0
README = Path(__file__).resolve().parent.parent / "fixtures" / "README.md"
FORMATS = {".pdf": "pdf", ".tif": "tiff", ".jpg": "jpeg", ".png": "png"}

FAILING = [case for case in CASES if case.expected != PROCESSED]
PROCESSED_CASES = [case for case in CASES if case.expected == PROCESSED]


def _id(case: BadInput) -> str:
    return case.name if len(case.name) < 40 else "long-name.png"


@pytest.fixture(scope="module")
def sheet_pages(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    """Two printed sheets with different serials, rasterized by poppler at 300 dpi."""
    pdf = tmp_path_factory.mktemp("printed") / "sheets.pdf"
    render_sheets([sample_sheet(serial) for serial in SERIALS], pdf)
    return [page.image for page in load_pages(pdf, dpi=300)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, sheet_pages: list[np.ndarray]) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    assert write_corpus(out, sheet_pages) == list(CASES)
    return out


def _outcome(call: Callable[[], object], path: Path) -> tuple[str, object, float]:
    """("ok", result) or (reason, message) of the call, and how long it took.

    Run in a thread so that a call that blocks (opening a FIFO waits for a writer) fails the
    test instead of hanging it; the FIFO is then opened for writing to let the call go.
    """
    result: list[tuple[str, object]] = []

    def run() -> None:
        try:
            result.append(("ok", call()))
        except ScanError as error:
            result.append((error.reason.value, error.message))

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(BLOCKED_AFTER_S)
    elapsed = time.monotonic() - started
    if thread.is_alive():
        if stat.S_ISFIFO(os.lstat(path).st_mode):
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"still blocked after {BLOCKED_AFTER_S:g} s")
    (outcome,) = result
    return outcome[0], outcome[1], elapsed


def test_corpus_folder_holds_exactly_the_cases(corpus: Path) -> None:
    names = [case.name for case in CASES]
    assert len(set(names)) == len(names)
    assert sorted(os.listdir(corpus)) == sorted(names)
    for case in CASES:
        assert case.name.isascii()
        assert "\n" not in case.tests
        if case.expected == PROCESSED:
            assert case.pages >= 1
        else:
            assert case.pages == 0
            assert Reason(case.expected)
    assert len(LONG_NAME) == 250 and LONG_NAME in names
    covered = {case.expected for case in CASES}
    assert covered >= {
        Reason.EMPTY_FILE,
        Reason.UNSUPPORTED_FORMAT,
        Reason.CORRUPT_FILE,
        Reason.ENCRYPTED_PDF,
        Reason.PAGE_TOO_LARGE,
        Reason.RASTERIZER_TIMEOUT,
        Reason.NOT_A_REGULAR_FILE,
    }
    assert stat.S_ISFIFO(os.lstat(corpus / "scanner-pipe.pdf").st_mode)
    assert stat.S_ISLNK(os.lstat(corpus / "link.pdf").st_mode)


def test_without_sheet_pages_only_the_cases_needing_none_are_written(tmp_path: Path) -> None:
    """GIVEN no sheet rasters
    WHEN the corpus is written, twice into the same folder (the FIFO already exists)
    THEN only the failing cases that need no scan are there, and they fail the same way."""
    first = write_corpus(tmp_path)
    again = write_corpus(tmp_path)
    assert first == again
    assert all(case.expected != PROCESSED for case in first)
    assert [case.name for case in first] == [
        case.name for case in FAILING if case.name != "link.pdf"
    ]
    assert sorted(os.listdir(tmp_path)) == sorted(case.name for case in first)
    for case in first:
        if case.expected != Reason.RASTERIZER_TIMEOUT:
            reason, _, _ = _outcome(lambda c=case: check_file(tmp_path / c.name), tmp_path)
            assert reason == case.expected, case.name


@pytest.mark.parametrize("case", FAILING, ids=_id)
def test_bad_file_gives_its_reason(corpus: Path, case: BadInput) -> None:
    path = corpus / case.name
    calls: dict[str, Callable[[], object]] = {
        "check_file": lambda: check_file(path, timeout_s=TIMEOUT_S),
        "load_page": lambda: load_page(path, 1, timeout_s=TIMEOUT_S),
        "load_pages": lambda: list(load_pages(path, timeout_s=TIMEOUT_S)),
    }
    for function, call in calls.items():
        reason, detail, elapsed = _outcome(call, path)
        if case.expected == Reason.RASTERIZER_TIMEOUT and function == "check_file":
            # Nothing is rendered: pdfinfo reads the page tree and is done at once.
            assert (reason, detail) == ("ok", FileCheck(format="pdf", pages=1))
            assert elapsed < TIMEOUT_S
            continue
        assert reason == case.expected, (function, detail)
        assert isinstance(detail, str)
        assert case.name not in detail and str(corpus) not in detail and "\n" not in detail
        if case.expected == Reason.RASTERIZER_TIMEOUT:
            assert TIMEOUT_S <= elapsed < TIMEOUT_S + 3, function  # killed at the timeout


def test_symlink_is_refused_though_its_target_is_a_good_scan(corpus: Path) -> None:
    link = corpus / "link.pdf"
    target = corpus / os.readlink(link)
    assert check_file(target) == FileCheck(format="tiff", pages=1)
    with pytest.raises(ScanError) as excinfo:
        check_file(link)
    assert excinfo.value.reason is Reason.NOT_A_REGULAR_FILE
    assert excinfo.value.message == "the input is a symbolic link"


@pytest.mark.parametrize("case", PROCESSED_CASES, ids=_id)
def test_awkward_file_is_processed(corpus: Path, case: BadInput) -> None:
    path = corpus / case.name
    assert check_file(path) == FileCheck(format=FORMATS[path.suffix], pages=case.pages)
    pages = list(load_pages(path))
    assert [page.number for page in pages] == list(range(1, case.pages + 1))
    serials = []
    for page in pages:
        height, width = page.image.shape
        assert height > width  # an upright Letter sheet
        # Correct polarity: light paper with a little dark ink (an inverted page is mostly dark).
        assert np.median(page.image) > 200
        assert 0.005 < np.mean(page.image < 100) < 0.2
        identity = identify_page(page)
        assert identity.identified, page.number
        assert identity.payload is not None
        serials.append(identity.payload.serial)
        single = load_page(path, page.number)
        assert single.number == page.number and single.dpi == page.dpi
        assert np.array_equal(single.image, page.image)
    assert set(serials) <= set(SERIALS)
    with pytest.raises(ScanError) as excinfo:
        load_page(path, case.pages + 1)
    assert excinfo.value.reason is Reason.CORRUPT_FILE
    assert f"no page {case.pages + 1}" in excinfo.value.message


def test_rotated_pdf_page_is_shown_upright(corpus: Path) -> None:
    """The sideways JPEG is turned by the page's /Rotate 90, so the QR code reads upright."""
    (page,) = load_pages(corpus / "rotate-90.pdf")
    assert page.image.shape == (2200, 1700)
    assert identify_page(page).rotation == 0


def _agreement(page: PageImage, ink: np.ndarray) -> float:
    assert page.image.shape == ink.shape
    return float(np.mean((page.image < 128) == ink))


def test_ccitt_and_jbig2_pdfs_render_the_sheet_they_were_made_from(
    tmp_path: Path, sheet_pages: list[np.ndarray]
) -> None:
    """GIVEN one sheet made 1-bit, written as a Group 4 PDF and as a JBIG2 (MMR) PDF
    WHEN both are rendered by poppler at the sheet's 300 dpi
    THEN both show the sheet's ink (poppler smooths the image a little), and the two renders
    are identical: JBIG2 decodes to the very bitmap Group 4 does."""
    sheet = sheet_pages[0]
    ink = ink_of(sheet)
    write_ccitt_pdf([sheet], tmp_path / "g4.pdf", 300)
    write_jbig2_pdf([sheet], tmp_path / "jbig2.pdf", 300)
    ccitt = load_page(tmp_path / "g4.pdf", 1, dpi=300, prefer_embedded=False)
    jbig2 = load_page(tmp_path / "jbig2.pdf", 1, dpi=300, prefer_embedded=False)
    assert _agreement(ccitt, ink) > 0.99
    # Taken out of the PDF in-process, the Group 4 page is exactly the sheet's ink.
    embedded = load_page(tmp_path / "g4.pdf", 1, dpi=200)
    assert embedded.dpi == 300 and np.array_equal(embedded.image < 128, ink)
    assert np.array_equal(jbig2.image, ccitt.image)
    # Ink is where the sheet has ink, not smeared into the white rows between lines of text.
    # (Rows two away from any ink: poppler's smoothing reaches one row.)
    near_ink = np.convolve(ink.any(axis=1), np.ones(5), mode="same") > 0
    assert (~near_ink).sum() > 1000
    assert jbig2.image[~near_ink].min() > 200


def _readme_table() -> list[tuple[str, str]]:
    text = README.read_text()
    section = text.split("## Bad-input corpus", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \|.*\| (?:`([a-z_]+)`|(processed)) \|$", section, re.M)
    return [(name, reason or processed) for name, reason, processed in rows]


def test_readme_table_lists_exactly_the_corpus() -> None:
    assert _readme_table() == [(case.name, case.expected) for case in CASES]
