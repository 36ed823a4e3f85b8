"""Loading scan files: real PDFs through real poppler, raster files through Pillow."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from reportlab.lib.pagesizes import letter
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.pdfgen.canvas import Canvas

from fixtures.badinput import png_header_only, write_cmyk_jpeg
from scanner.errors import Reason, ScanError
from scanner.load import (
    FileCheck,
    PageImage,
    check_file,
    count_pages,
    load_page,
    load_pages,
    sniff_format,
)

# Scan files are named after children: no error message may repeat the name.
CHILD = "Maria_Lopez_2024-05"


def _pdf(
    path: Path,
    sizes: list[tuple[float, float]],
    *,
    rotate: int = 0,
    encrypt: StandardEncryption | None = None,
) -> Path:
    canvas = Canvas(str(path), pagesize=letter, encrypt=encrypt)
    for number, size in enumerate(sizes, start=1):
        canvas.setPageSize(size)
        canvas.setPageRotation(rotate)
        canvas.setFont("Helvetica", 24)
        canvas.drawString(72, size[1] - 144, f"Page {number}")
        canvas.rect(72, 72, 144, 144, fill=1)  # a black square: ink at a known place
        canvas.showPage()
    canvas.save()
    return path


def _page_image(width: int = 850, height: int = 1100) -> Image.Image:
    """Grey page with a black block in the top-left and white paper elsewhere."""
    pixels = np.full((height, width), 255, dtype=np.uint8)
    pixels[50:150, 50:250] = 0
    return Image.fromarray(pixels, mode="L")


def _reason(excinfo: pytest.ExceptionInfo[ScanError]) -> Reason:
    error = excinfo.value
    assert CHILD not in error.message
    assert CHILD not in str(error)
    assert str(Path.cwd()) not in error.message
    assert "\n" not in error.message
    return error.reason


# --- PDF -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dpi", [200, 300])
def test_multi_page_pdf_renders_every_page_at_the_requested_dpi(tmp_path: Path, dpi: int) -> None:
    pdf = _pdf(tmp_path / f"{CHILD}.pdf", [letter] * 3)
    assert sniff_format(pdf) == "pdf"
    assert count_pages(pdf) == 3
    pages = list(load_pages(pdf, dpi=dpi))
    assert [p.number for p in pages] == [1, 2, 3]
    for page in pages:
        assert isinstance(page, PageImage)
        assert page.dpi == dpi
        assert page.image.dtype == np.uint8
        assert page.image.ndim == 2
        assert page.image.shape == (pytest.approx(11 * dpi, abs=2), pytest.approx(8.5 * dpi, abs=2))
        # The filled square (1 to 3 in from the bottom-left) is black, the margin is white.
        square = page.image[int(8.5 * dpi) : int(9.5 * dpi), int(1.5 * dpi) : int(2.5 * dpi)]
        assert square.max() < 30
        assert page.image[: dpi // 2, : dpi // 2].min() > 225


def test_rotated_pdf_page_renders_turned(tmp_path: Path) -> None:
    """A landscape MediaBox with /Rotate 90 (what reportlab writes) renders portrait, and the
    rendered-size check accounts for the rotation that pdfinfo does not apply."""
    pdf = _pdf(tmp_path / "rotated.pdf", [letter], rotate=90)
    (page,) = load_pages(pdf, dpi=100)
    assert page.image.shape == (1100, 850)


def test_pdf_header_after_leading_junk_is_still_a_pdf(tmp_path: Path) -> None:
    """The PDF specification allows bytes before ``%PDF-``; poppler reads such files."""
    source = _pdf(tmp_path / "clean.pdf", [letter])
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\r\n\x00junk\n" + source.read_bytes())
    assert sniff_format(junk) == "pdf"
    assert count_pages(junk) == 1


def test_file_name_starting_with_a_dash_is_not_an_option(tmp_path: Path) -> None:
    pdf = _pdf(tmp_path / "-r 1.pdf", [letter])
    (page,) = load_pages(pdf, dpi=72)
    assert page.image.shape == (792, 612)


def test_very_tall_pdf_page_is_refused_before_rendering(tmp_path: Path) -> None:
    """GIVEN a PDF whose first page is Letter and second page 200 in tall
    WHEN its pages are loaded
    THEN load_pages itself raises PAGE_TOO_LARGE: nothing has been rendered, not even page 1."""
    pdf = _pdf(tmp_path / f"{CHILD}.pdf", [letter, (612, 200 * 72)])
    assert count_pages(pdf) == 2
    with pytest.raises(ScanError) as excinfo:
        load_pages(pdf, dpi=300)  # not iterated: the check runs before any rendering
    assert _reason(excinfo) is Reason.PAGE_TOO_LARGE
    assert "200.0 in" in excinfo.value.message
    # A higher limit lets it through.
    pages = load_pages(pdf, dpi=10, max_page_inches=250)
    assert [p.image.shape for p in pages] == [(110, 85), (2000, 85)]


def test_encrypted_pdf_needing_a_password_is_refused(tmp_path: Path) -> None:
    pdf = _pdf(
        tmp_path / f"{CHILD}.pdf",
        [letter],
        encrypt=StandardEncryption("user-secret", ownerPassword="owner-secret"),
    )
    with pytest.raises(ScanError) as excinfo:
        count_pages(pdf)
    assert _reason(excinfo) is Reason.ENCRYPTED_PDF
    with pytest.raises(ScanError) as excinfo:
        load_pages(pdf)
    assert _reason(excinfo) is Reason.ENCRYPTED_PDF


def test_pdf_with_only_an_owner_password_is_read(tmp_path: Path) -> None:
    """Permission-only encryption opens without a password, so the scan is read."""
    pdf = _pdf(
        tmp_path / "owner-only.pdf",
        [letter],
        encrypt=StandardEncryption("", ownerPassword="owner-secret", canCopy=0),
    )
    (page,) = load_pages(pdf, dpi=50)
    assert page.image.shape == (550, 425)


@pytest.mark.parametrize("keep", [0.1, 0.5])
def test_truncated_pdf_is_corrupt(tmp_path: Path, keep: float) -> None:
    source = _pdf(tmp_path / "whole.pdf", [letter] * 2).read_bytes()
    pdf = tmp_path / f"{CHILD}.pdf"
    pdf.write_bytes(source[: int(len(source) * keep)])
    with pytest.raises(ScanError) as excinfo:
        list(load_pages(pdf))
    assert _reason(excinfo) is Reason.CORRUPT_FILE


def test_pdf_of_garbage_is_corrupt(tmp_path: Path) -> None:
    pdf = tmp_path / f"{CHILD}.pdf"
    pdf.write_bytes(b"%PDF-1.4\nthis is not a pdf body\n")
    with pytest.raises(ScanError) as excinfo:
        count_pages(pdf)
    assert _reason(excinfo) is Reason.CORRUPT_FILE


def test_poppler_timeout_is_reported(tmp_path: Path) -> None:
    # A page of text is rendered by poppler (the page count comes from qpdf, in-process).
    pdf = _pdf(tmp_path / f"{CHILD}.pdf", [letter])
    with pytest.raises(ScanError) as excinfo:
        list(load_pages(pdf, timeout_s=1e-6))
    assert _reason(excinfo) is Reason.RASTERIZER_TIMEOUT


# --- raster files ----------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["tiff_lzw", "group4"])
def test_multi_page_tiff(tmp_path: Path, compression: str) -> None:
    """GIVEN a three-page TIFF at 300 dpi, 8-bit LZW or 1-bit CCITT G4
    WHEN loaded
    THEN three 8-bit grey pages come back with the file's resolution."""
    frames = [_page_image() for _ in range(3)]
    if compression == "group4":
        frames = [frame.convert("1") for frame in frames]
    tiff = tmp_path / f"{CHILD}.tif"
    frames[0].save(
        tiff, save_all=True, append_images=frames[1:], compression=compression, dpi=(300, 300)
    )
    assert sniff_format(tiff) == "tiff"
    assert count_pages(tiff) == 3
    pages = list(load_pages(tiff))
    assert [p.number for p in pages] == [1, 2, 3]
    for page in pages:
        assert page.dpi == 300
        assert page.image.dtype == np.uint8
        assert page.image.shape == (1100, 850)
        assert page.image[60:140, 60:240].max() == 0
        assert page.image[500:, 500:].min() == 255
        if compression == "group4":
            assert set(np.unique(page.image)) == {0, 255}


def test_fax_tiff_with_unequal_resolutions_is_squared_up(tmp_path: Path) -> None:
    """A 204 x 98 dpi fax page is stretched vertically so its pixels are square."""
    tiff = tmp_path / "fax.tif"
    _page_image(1734, 539).convert("1").save(tiff, compression="group4", dpi=(204, 98))
    (page,) = load_pages(tiff)
    assert page.dpi == 204
    assert page.image.shape == (round(539 * 204 / 98), 1734)


def test_jpeg_rgb(tmp_path: Path) -> None:
    jpeg = tmp_path / f"{CHILD}.jpg"
    _page_image().convert("RGB").save(jpeg, quality=90, dpi=(150, 150))
    assert sniff_format(jpeg) == "jpeg"
    assert count_pages(jpeg) == 1
    (page,) = load_pages(jpeg)
    assert page.dpi == 150
    assert page.image.shape == (1100, 850)
    assert page.image[70:130, 70:230].max() < 30
    assert page.image[500:, 500:].min() > 240


def test_cmyk_jpeg_becomes_grey_with_paper_white(tmp_path: Path) -> None:
    """CMYK JPEGs (some copier-scanners) come out with white paper and black ink, not inverted."""
    cmyk = np.zeros((1100, 850, 4), dtype=np.uint8)  # no ink anywhere: white paper
    cmyk[50:150, 50:250, 3] = 255  # full black (K) block
    jpeg = tmp_path / "cmyk.jpg"
    Image.fromarray(cmyk, mode="CMYK").save(jpeg, quality=95)
    with Image.open(jpeg) as check:
        assert check.mode == "CMYK"
    (page,) = load_pages(jpeg)
    assert page.dpi == 200  # no resolution in the file: the default
    assert page.image.ndim == 2
    assert page.image[70:130, 70:230].max() < 30
    assert page.image[500:, 500:].min() > 240


def test_png_without_resolution_defaults_to_200_dpi(tmp_path: Path) -> None:
    png = tmp_path / f"{CHILD}.png"
    _page_image().save(png)
    assert sniff_format(png) == "png"
    (page,) = load_pages(png)
    assert page.dpi == 200
    assert page.image.shape == (1100, 850)
    assert page.image[60:140, 60:240].max() == 0


def test_png_with_alpha_is_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((100, 100, 4), dtype=np.uint8)  # fully transparent black
    rgba[10:20, 10:20] = (0, 0, 0, 255)
    png = tmp_path / "alpha.png"
    Image.fromarray(rgba, mode="RGBA").save(png, dpi=(300, 300))
    (page,) = load_pages(png)
    assert page.dpi == pytest.approx(300, abs=0.1)
    assert page.image[50, 50] == 255
    assert page.image[15, 15] == 0


def test_extension_is_ignored_format_comes_from_bytes(tmp_path: Path) -> None:
    disguised = tmp_path / "scan.pdf"
    _page_image().save(disguised, format="PNG")
    assert sniff_format(disguised) == "png"
    (page,) = load_pages(disguised)
    assert page.image.shape == (1100, 850)


def test_png_header_claiming_40000_square_is_refused(tmp_path: Path) -> None:
    png = tmp_path / f"{CHILD}.png"
    png.write_bytes(png_header_only(40000, 40000))
    with pytest.raises(ScanError) as excinfo:
        load_pages(png)
    assert _reason(excinfo) is Reason.PAGE_TOO_LARGE


def test_png_over_the_side_limit_is_refused_before_decoding(tmp_path: Path) -> None:
    """13000 x 1000 px is small enough for Pillow's own guard but over 20 in at 600 dpi."""
    png = tmp_path / f"{CHILD}.png"
    png.write_bytes(png_header_only(13000, 1000))
    with pytest.raises(ScanError) as excinfo:
        load_pages(png)
    assert _reason(excinfo) is Reason.PAGE_TOO_LARGE
    assert "12000 px" in excinfo.value.message


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF"])
def test_truncated_raster_is_corrupt(tmp_path: Path, fmt: str) -> None:
    whole = tmp_path / "whole.img"
    noise = np.random.default_rng(0).integers(0, 256, size=(400, 400), dtype=np.uint8)
    Image.fromarray(noise, mode="L").save(whole, format=fmt)
    data = whole.read_bytes()
    broken = tmp_path / f"{CHILD}.img"
    # TIFF keeps its directory at the end when written by Pillow: cut pixel data instead.
    broken.write_bytes(data[: len(data) // 2] if fmt != "TIFF" else data[:8] + data[-200:])
    with pytest.raises(ScanError) as excinfo:
        list(load_pages(broken))
    assert _reason(excinfo) is Reason.CORRUPT_FILE


# --- the up-front check and one page at a time ------------------------------------------------


def _tiff_pages(path: Path, count: int = 3) -> Path:
    """A multi-page TIFF whose page n has its black block n x 100 px lower: pages differ."""
    frames = []
    for number in range(1, count + 1):
        pixels = np.full((1100, 850), 255, dtype=np.uint8)
        pixels[number * 100 : number * 100 + 50, 50:250] = 0
        frames.append(Image.fromarray(pixels, mode="L"))
    frames[0].save(path, save_all=True, append_images=frames[1:], compression="tiff_lzw")
    return path


def test_check_file_gives_format_and_page_count(tmp_path: Path) -> None:
    pdf = _pdf(tmp_path / f"{CHILD}.pdf", [letter] * 3)
    tiff = _tiff_pages(tmp_path / f"{CHILD}.tif")
    jpeg = tmp_path / f"{CHILD}.jpg"
    _page_image().save(jpeg, format="JPEG")
    png = tmp_path / f"{CHILD}.scan"
    _page_image().save(png, format="PNG")
    assert check_file(pdf) == FileCheck(format="pdf", pages=3)
    assert check_file(tiff) == FileCheck(format="tiff", pages=3)
    assert check_file(jpeg) == FileCheck(format="jpeg", pages=1)
    assert check_file(png) == FileCheck(format="png", pages=1)


def test_check_file_refuses_what_load_pages_refuses(tmp_path: Path) -> None:
    tall = _pdf(tmp_path / f"{CHILD}-tall.pdf", [letter, (612, 200 * 72)])
    wide = tmp_path / f"{CHILD}-wide.png"
    wide.write_bytes(png_header_only(13000, 1000))
    locked = _pdf(
        tmp_path / f"{CHILD}-locked.pdf",
        [letter],
        encrypt=StandardEncryption("user-secret", ownerPassword="owner-secret"),
    )
    for path, reason in (
        (tall, Reason.PAGE_TOO_LARGE),
        (wide, Reason.PAGE_TOO_LARGE),
        (locked, Reason.ENCRYPTED_PDF),
    ):
        for call in (check_file, load_pages):
            with pytest.raises(ScanError) as excinfo:
                call(path)
            assert _reason(excinfo) is reason
    # The limit is the caller's, as for load_pages.
    assert check_file(tall, max_page_inches=250) == FileCheck(format="pdf", pages=2)
    assert check_file(wide, max_page_inches=25) == FileCheck(format="png", pages=1)


def test_load_page_is_the_matching_page_of_load_pages(tmp_path: Path) -> None:
    pdf = _pdf(tmp_path / f"{CHILD}.pdf", [letter] * 3)
    tiff = _tiff_pages(tmp_path / f"{CHILD}.tif")
    for path, options in ((pdf, {"dpi": 60}), (tiff, {})):
        pages = list(load_pages(path, **options))
        assert not np.array_equal(pages[0].image, pages[1].image)  # the pages differ
        for page in pages:
            single = load_page(path, page.number, **options)
            assert (single.number, single.dpi) == (page.number, page.dpi)
            assert np.array_equal(single.image, page.image)
    # The TIFF's second page is the second frame: its block is 200 px down.
    second = load_page(tiff, 2).image
    assert second[200:250, 50:250].max() == 0 and second[100:150, 50:250].min() == 255


def test_load_page_of_a_pdf_asks_poppler_about_that_page_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN pdfinfo and pdftoppm wrapped to log their arguments (then run the real tools)
    WHEN page 2 of a three-page PDF of text is loaded
    THEN poppler is asked only to render page 2 (its size came from qpdf, in-process)."""
    log = tmp_path / "calls.log"
    wrappers = tmp_path / "bin"
    wrappers.mkdir()
    for tool in ("pdfinfo", "pdftoppm"):
        real = shutil.which(tool)
        assert real is not None
        script = wrappers / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\nexec "{real}" "$@"\n')
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrappers}{os.pathsep}{os.environ['PATH']}")
    pdf = _pdf(tmp_path / "three.pdf", [letter] * 3)
    page = load_page(pdf, 2, dpi=50)
    assert page.number == 2 and page.image.shape == (550, 425)
    assert log.read_text().splitlines() == [f"pdftoppm -gray -r 50 -f 2 -l 2 {pdf}"]


def test_load_page_past_the_last_page_is_corrupt(tmp_path: Path) -> None:
    pdf = _pdf(tmp_path / f"{CHILD}.pdf", [letter] * 3)
    tiff = _tiff_pages(tmp_path / f"{CHILD}.tif")
    png = tmp_path / f"{CHILD}.png"
    _page_image().save(png)
    for path, number in ((pdf, 4), (pdf, 2**40), (tiff, 4), (png, 2)):
        with pytest.raises(ScanError) as excinfo:
            load_page(path, number)
        assert _reason(excinfo) is Reason.CORRUPT_FILE
        assert f"no page {number}" in excinfo.value.message
    with pytest.raises(ValueError):
        load_page(pdf, 0)


def test_load_page_checks_its_own_page_only(tmp_path: Path) -> None:
    """A worker loading page 1 is not stopped by page 2 being too large; check_file is."""
    pdf = _pdf(tmp_path / f"{CHILD}.pdf", [letter, (612, 200 * 72)])
    assert load_page(pdf, 1, dpi=20).image.shape == (220, 170)
    with pytest.raises(ScanError) as excinfo:
        load_page(pdf, 2, dpi=20)
    assert _reason(excinfo) is Reason.PAGE_TOO_LARGE
    with pytest.raises(ScanError) as excinfo:
        check_file(pdf)
    assert _reason(excinfo) is Reason.PAGE_TOO_LARGE


def test_load_page_times_out(tmp_path: Path) -> None:
    pdf = _pdf(tmp_path / f"{CHILD}.pdf", [letter])
    with pytest.raises(ScanError) as excinfo:
        load_page(pdf, 1, timeout_s=1e-6)
    assert _reason(excinfo) is Reason.RASTERIZER_TIMEOUT


def test_cmyk_jpeg_without_adobe_marker_is_not_inverted(tmp_path: Path) -> None:
    """Without Adobe's APP14 marker the CMYK values are stored as they are; Pillow inverts
    them anyway (a black page), so the loader inverts them back."""
    grey = np.asarray(_page_image())
    for adobe in (True, False):
        jpeg = tmp_path / f"{CHILD}-{adobe}.jpg"
        write_cmyk_jpeg(grey, jpeg, dpi=150, adobe=adobe)
        with Image.open(jpeg) as check:
            assert check.mode == "CMYK"
            assert ("adobe" in check.info) is adobe
        page = load_page(jpeg, 1)
        assert page.dpi == 150
        assert page.image[70:130, 70:230].max() < 30, adobe
        assert page.image[500:, 500:].min() > 240, adobe


# --- files that are not scans ----------------------------------------------------------------


def test_zero_byte_file_is_empty(tmp_path: Path) -> None:
    empty = tmp_path / f"{CHILD}.pdf"
    empty.write_bytes(b"")
    for call in (sniff_format, count_pages, load_pages):
        with pytest.raises(ScanError) as excinfo:
            call(empty)
        assert _reason(excinfo) is Reason.EMPTY_FILE


def test_text_file_renamed_pdf_is_unsupported(tmp_path: Path) -> None:
    text = tmp_path / f"{CHILD}.pdf"
    text.write_text("Dear agency, please find attached my attendance sheet.\n")
    with pytest.raises(ScanError) as excinfo:
        load_pages(text)
    assert _reason(excinfo) is Reason.UNSUPPORTED_FORMAT


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(ScanError) as excinfo:
        load_pages(tmp_path / f"{CHILD}.pdf")
    assert _reason(excinfo) is Reason.NOT_FOUND


def test_directory_is_not_a_regular_file(tmp_path: Path) -> None:
    folder = tmp_path / CHILD
    folder.mkdir()
    with pytest.raises(ScanError) as excinfo:
        count_pages(folder)
    assert _reason(excinfo) is Reason.NOT_A_REGULAR_FILE


def test_symbolic_link_is_never_followed(tmp_path: Path) -> None:
    pdf = _pdf(tmp_path / "sheet.pdf", [letter])
    assert check_file(pdf) == FileCheck(format="pdf", pages=1)
    link = tmp_path / f"{CHILD}.pdf"
    link.symlink_to(pdf)
    calls = (
        sniff_format,
        count_pages,
        check_file,
        load_pages,
        lambda path: load_page(path, 1),
    )
    for call in calls:
        with pytest.raises(ScanError) as excinfo:
            call(link)
        assert _reason(excinfo) is Reason.NOT_A_REGULAR_FILE
        assert excinfo.value.message == "the input is a symbolic link"
    dangling = tmp_path / "dangling.pdf"
    dangling.symlink_to(tmp_path / "nothing.pdf")
    with pytest.raises(ScanError) as excinfo:
        check_file(dangling)
    assert _reason(excinfo) is Reason.NOT_A_REGULAR_FILE


def test_reason_values_are_stable() -> None:
    assert [reason.value for reason in Reason] == [
        "not_found",
        "not_a_regular_file",
        "empty_file",
        "unsupported_format",
        "corrupt_file",
        "encrypted_pdf",
        "page_too_large",
        "rasterizer_failed",
        "rasterizer_timeout",
        "worker_crashed",
    ]
    error = ScanError(Reason.EMPTY_FILE, "the file is empty (0 bytes)")
    assert error.reason is Reason.EMPTY_FILE
    assert error.message == "the file is empty (0 bytes)"


def test_a_scanners_jpeg_page_is_taken_out_of_the_pdf_not_rendered(tmp_path: Path) -> None:
    from fixtures.samples import sample_sheet
    from forms.render import render_sheets

    scan = np.full((1100, 850), 245, np.uint8)
    scan[:, :] = np.linspace(200, 250, 850).astype(np.uint8)  # paper shading
    scan[300:400, 200:600] = 20
    scan[700:720, 100:800] = 60
    pdf = tmp_path / "scan.pdf"
    Image.fromarray(scan, mode="L").save(pdf, "PDF", resolution=100, quality=95)
    listed = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True)
    assert " jpeg " in listed.stdout  # the kind of page the shortcut is for
    fast = load_page(pdf, 1, dpi=200)
    rendered = load_page(pdf, 1, dpi=200, prefer_embedded=False)
    assert fast.dpi == 100 and fast.image.shape == scan.shape
    assert rendered.dpi == 200 and rendered.image.shape == (2200, 1700)
    # The same picture: the JPEG decoded as it is, against poppler's rendering of it.
    assert np.abs(fast.image.astype(int) - scan.astype(int)).mean() < 4
    small = cv2.resize(rendered.image, (850, 1100), interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - fast.image.astype(int)).mean() < 6
    # A printed (vector) sheet has no such image: it is rendered as before.
    printed = tmp_path / "printed.pdf"
    render_sheets([sample_sheet()], printed)
    assert load_page(printed, 1, dpi=150, prefer_embedded=True).dpi == 150
