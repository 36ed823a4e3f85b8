"""Load a scan file (PDF, TIFF, JPEG, PNG) as 8-bit grey page rasters.

Only reads its input. A PDF page that is one scanned image (JPEG, or 1-bit CCITT Group 3/4)
covering the page, as scanners write them, is decoded in-process from that image, at its own
resolution: the PDF is read with qpdf (``pikepdf``), which also gives the page count and
sizes. Any other page, and any PDF qpdf has to repair or cannot open, is rasterized by
poppler (``pdfinfo``, ``pdftoppm``) writing to a pipe, never to temporary files; every
poppler call has a timeout. Raster formats are decoded by
Pillow after their header has been checked against a size limit, so a decompression bomb is
refused before any pixel is decoded. Failures raise ``ScanError`` with a reason code and a
message that never names the file (mailrooms name scans after children).

A symbolic link is refused, never followed, and anything but a regular file (a FIFO, a device)
is refused before it is opened: opening a FIFO would block.

``check_file`` does every up-front check without rendering; ``load_pages`` checks the whole
file, then yields its pages; ``load_page`` gives one page, as a worker does per page job. Both
take a page's embedded image when it has one (``prefer_embedded``, the default), so a page is
loaded the same way whichever intake reads it.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import stat
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import cv2
import numpy as np
from PIL import Image, ImageChops, ImageOps

from scanner.errors import Reason, ScanError

if TYPE_CHECKING:
    import pikepdf

DEFAULT_IMAGE_DPI = 200.0
"""Resolution assumed for a raster file whose metadata gives none (or a nonsensical one)."""

RASTER_LIMIT_DPI = 600
"""A raster page may be up to ``max_page_inches`` on a side at this resolution."""

# Metadata outside this range is a placeholder (JFIF 1:1 aspect, a 72 "screen" dpi written by
# some software is still plausible so it is kept) rather than a real scan resolution.
_PLAUSIBLE_DPI = (50.0, 2400.0)

# Rendered size may differ from size x dpi by rounding; a larger gap means poppler failed.
_SIZE_TOLERANCE_PX = 3
_SIZE_TOLERANCE_FRACTION = 0.02

_PDF_MAGIC = b"%PDF-"
# The PDF specification lets the header start anywhere in the first 1024 bytes.
_PDF_HEADER_WINDOW = 1024
_MAGIC_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
)

_PAGE_SIZE_RE = re.compile(r"^Page\s+(\d+)\s+size:\s+([\d.]+)\s+x\s+([\d.]+)\s+pts", re.MULTILINE)
_PAGE_ROT_RE = re.compile(r"^Page\s+(\d+)\s+rot:\s+(-?\d+)", re.MULTILINE)
_PAGES_RE = re.compile(r"^Pages:\s+(\d+)", re.MULTILINE)
_ENCRYPTED_RE = re.compile(r"^Encrypted:\s+(\w+)", re.MULTILINE)
# What pdfinfo says when the first page asked for is past the end of the document.
_NO_SUCH_PAGE_RE = re.compile(r"wrong page range", re.IGNORECASE)
# poppler parses page numbers as C ints; -l is clamped to the page count, so this asks for all.
_MAX_PAGE = 2**31 - 1
_EXIF_ORIENTATION = 0x0112
# O_NONBLOCK: should a FIFO replace the file after it was checked, opening it does not block.
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True)
class PageImage:
    """One page of a scan file: 1-based page number, H x W uint8 grey raster, its resolution."""

    number: int
    image: np.ndarray
    dpi: float


@dataclass(frozen=True)
class FileCheck:
    """What a scan file holds, found without rendering or decoding a page."""

    format: str  # "pdf" | "tiff" | "jpeg" | "png"
    pages: int


@dataclass(frozen=True)
class _PdfPage:
    number: int
    width_pt: float  # as displayed, i.e. after the page's /Rotate
    height_pt: float
    rotation: int = 0


def sniff_format(path: Path) -> str:
    """Return "pdf", "tiff", "jpeg" or "png" from the file's magic bytes (not its extension)."""
    _check_regular_file(path)
    with open_regular(path) as handle:
        try:
            head = handle.read(_PDF_HEADER_WINDOW)
        except OSError as exc:
            raise ScanError(
                Reason.CORRUPT_FILE, f"the file cannot be read ({_os_reason(exc)})"
            ) from None
    if not head:
        raise ScanError(Reason.EMPTY_FILE, "the file is empty (0 bytes)")
    for magic, name in _MAGIC_PREFIXES:
        if head.startswith(magic):
            return name
    if _PDF_MAGIC in head:
        return "pdf"
    raise ScanError(
        Reason.UNSUPPORTED_FORMAT,
        "not a PDF, TIFF, JPEG or PNG file (unrecognised leading bytes)",
    )


def count_pages(path: Path, *, timeout_s: float = 60) -> int:
    """Return the number of pages in the scan file, without rendering any of them."""
    fmt = sniff_format(path)
    if fmt == "pdf":
        with _QpdfFile.open(path) as qpdf:
            if qpdf.pdf is not None:
                return len(qpdf.pdf.pages)
        return len(_pdf_pages(path, first=1, last=_MAX_PAGE, timeout_s=timeout_s))
    if fmt == "tiff":
        with _open_image(path) as image:
            return _frame_count(image)
    return 1


def check_file(path: Path, *, timeout_s: float = 60, max_page_inches: float = 20.0) -> FileCheck:
    """Everything load_pages checks up front (regular file, magic bytes, encryption, every
    page's size) without rendering or decoding pixels. Raises ScanError."""
    fmt = sniff_format(path)
    if fmt == "pdf":
        with _QpdfFile.open(path) as qpdf:
            pages = _checked_pdf_pages(
                path, timeout_s=timeout_s, max_page_inches=max_page_inches, qpdf=qpdf.pdf
            )
        return FileCheck(format=fmt, pages=len(pages))
    return FileCheck(format=fmt, pages=_check_raster_pages(path, _raster_limit(max_page_inches)))


def load_pages(
    path: Path,
    *,
    dpi: int = 200,
    timeout_s: float = 120,
    max_page_inches: float = 20.0,
    prefer_embedded: bool = True,
) -> Iterator[PageImage]:
    """Yield each page of the scan file as an 8-bit grey raster.

    A PDF page that is one scanned image is that image at its own resolution (unless
    `prefer_embedded` is False); other PDF pages are rendered at `dpi`. Raster files keep
    their own resolution (from metadata, else 200 dpi) and `dpi` does not apply to them.
    `timeout_s` bounds each poppler call. The whole file is checked (as `check_file` does)
    when this is called, before the first page is rendered or decoded, so a bad file fails at
    once and never half-way.
    """
    _check_dpi(dpi)
    fmt = sniff_format(path)
    if fmt == "pdf":
        qpdf = _QpdfFile.open(path) if prefer_embedded else _QpdfFile(None, None)
        try:
            pages = _checked_pdf_pages(
                path, timeout_s=timeout_s, max_page_inches=max_page_inches, qpdf=qpdf.pdf
            )
        except BaseException:
            qpdf.close()
            raise
        return _pdf_page_images(
            path, pages, qpdf, dpi=dpi, timeout_s=timeout_s, max_page_inches=max_page_inches
        )
    limit_px = _raster_limit(max_page_inches)
    _check_raster_pages(path, limit_px)
    return _decode_raster_pages(path, limit_px=limit_px)


def load_page(
    path: Path,
    number: int,
    *,
    dpi: int = 200,
    timeout_s: float = 120,
    max_page_inches: float = 20.0,
    prefer_embedded: bool = True,
) -> PageImage:
    """Only page `number` (1-based) of the file, same checks and same result as the matching
    page from load_pages. Raises ScanError (CORRUPT_FILE if number is out of range).

    A PDF page that is nothing but one scanned image covering the page (JPEG or CCITT, what
    scanners write) is that image, decoded in-process at its own resolution (unless
    `prefer_embedded` is False); any other page is rendered by ``pdftoppm``.

    Only this page is looked at: this page of a PDF (and ``pdftoppm`` for this page only),
    a seek to this frame of a TIFF. So another page being too large does not stop this one;
    `check_file` is the whole-file check.
    """
    _check_dpi(dpi)
    if number < 1:
        raise ValueError("page numbers start at 1")
    fmt = sniff_format(path)
    if fmt == "pdf":
        if number > _MAX_PAGE:
            raise ScanError(Reason.CORRUPT_FILE, f"the PDF has no page {number}")
        with _QpdfFile.open(path) if prefer_embedded else _QpdfFile(None, None) as qpdf:
            if qpdf.pdf is not None:
                page = _qpdf_page(qpdf.pdf, number)
            else:
                (page,) = _pdf_pages(path, first=number, last=number, timeout_s=timeout_s)
            _check_pdf_page_size(page, max_page_inches)
            embedded = _embedded_image(qpdf.pdf, page, max_page_inches=max_page_inches)
            if embedded is not None:
                return embedded
        return _render_pdf_page(path, page, dpi=dpi, timeout_s=timeout_s)
    limit_px = _raster_limit(max_page_inches)
    with _open_image(path, limit_px=limit_px) as image:
        count = _frame_count(image)
        if number > count:
            raise ScanError(Reason.CORRUPT_FILE, f"the image has no page {number} (it has {count})")
        return _decode_raster_page(image, number - 1, limit_px=limit_px, path=path)


# --- PDF pages read in-process (qpdf) ---------------------------------------------------------

# Only these operators may draw a page taken as its one image: save, transform, draw, restore.
_IMAGE_PAGE_OPERATORS = frozenset({"q", "Q", "cm", "Do"})
_TIFF_COMPRESSION = {"group3": 3, "group4": 4}


class _QpdfFile:
    """A PDF opened by qpdf, or nothing (`pdf` None) when it cannot be read cleanly: then
    poppler reads the file as before, and says why when it is bad."""

    def __init__(self, pdf: pikepdf.Pdf | None, handle: BinaryIO | None) -> None:
        self.pdf, self._handle = pdf, handle

    @classmethod
    def open(cls, path: Path) -> _QpdfFile:
        try:
            import pikepdf
        except ImportError:  # not installed: every page is rendered
            return cls(None, None)
        handle = open_regular(path)
        try:
            pdf = pikepdf.open(handle)
        except Exception:  # encrypted, damaged, not a PDF to qpdf: poppler will say
            handle.close()
            return cls(None, None)
        # qpdf repairs what it can (a broken cross-reference table, a truncated file) and
        # warns; such a file goes to poppler, whose verdict on damaged files is the one kept.
        if pdf.get_warnings() or pdf.is_encrypted:
            pdf.close()
            handle.close()
            return cls(None, None)
        return cls(pdf, handle)

    def close(self) -> None:
        if self.pdf is not None:
            self.pdf.close()
        if self._handle is not None:
            self._handle.close()
        self.pdf = self._handle = None

    def __enter__(self) -> _QpdfFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _inherited(page: Any, key: str) -> Any:
    """A page attribute that may be set on the page or inherited from its page tree."""
    node = page
    for _ in range(64):  # a page tree deeper than this is a loop
        if node is None:
            return None
        if key in node:
            return node[key]
        node = node.get("/Parent")
    return None


def _qpdf_page(pdf: pikepdf.Pdf, number: int) -> _PdfPage:
    """Page `number`'s displayed size and turn, as pdfinfo gives them (crop box)."""
    count = len(pdf.pages)
    if number > count:
        raise ScanError(Reason.CORRUPT_FILE, f"the PDF has no page {number}")
    obj = pdf.pages[number - 1].obj
    box = _inherited(obj, "/CropBox") or _inherited(obj, "/MediaBox")
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
        rotation = int(_inherited(obj, "/Rotate") or 0) % 360
    except (TypeError, ValueError):
        raise ScanError(Reason.CORRUPT_FILE, f"the PDF's page {number} has no size") from None
    width, height = abs(x1 - x0), abs(y1 - y0)
    if rotation % 180 == 90:
        width, height = height, width
    if width <= 0 or height <= 0:
        raise ScanError(Reason.CORRUPT_FILE, f"the PDF's page {number} has an empty size")
    return _PdfPage(number=number, width_pt=width, height_pt=height, rotation=rotation)


def _pdf_page_images(
    path: Path,
    pages: list[_PdfPage],
    qpdf: _QpdfFile,
    *,
    dpi: int,
    timeout_s: float,
    max_page_inches: float,
) -> Iterator[PageImage]:
    with qpdf:
        for page in pages:
            embedded = _embedded_image(qpdf.pdf, page, max_page_inches=max_page_inches)
            yield embedded or _render_pdf_page(path, page, dpi=dpi, timeout_s=timeout_s)


def _embedded_image(
    pdf: pikepdf.Pdf | None, page: _PdfPage, *, max_page_inches: float
) -> PageImage | None:
    """The page's one scanned image, decoded grey; None when the page is anything else (more
    than one thing drawn, another encoding, a /Rotate, an image not covering the page)."""
    if pdf is None or page.rotation:
        return None
    try:
        return _decode_page_image(pdf, page, max_page_inches)
    except Exception:  # anything odd in the file: poppler renders the page instead
        return None


def _decode_page_image(
    pdf: pikepdf.Pdf, page: _PdfPage, max_page_inches: float
) -> PageImage | None:
    import pikepdf

    obj = pdf.pages[page.number - 1].obj
    if "/Annots" in obj:
        return None
    xobjects = (_inherited(obj, "/Resources") or {}).get("/XObject")
    if xobjects is None or len(xobjects.keys()) != 1:
        return None
    (name,) = xobjects.keys()
    image = xobjects[name]
    if image.get("/Subtype") != "/Image" or image.get("/ImageMask", False):
        return None
    if any(key in image for key in ("/SMask", "/Mask", "/Decode")):
        return None
    drawn = [
        str(item.operator) for item in pikepdf.parse_content_stream(pdf.pages[page.number - 1])
    ]
    if not set(drawn) <= _IMAGE_PAGE_OPERATORS or drawn.count("Do") != 1:
        return None
    width, height = int(image.Width), int(image.Height)
    x_ppi = width / (page.width_pt / 72)
    y_ppi = height / (page.height_pt / 72)
    if (
        not 0 < max(width, height) <= _raster_limit(max_page_inches)
        or abs(x_ppi - y_ppi) > 0.01 * x_ppi
        or not _PLAUSIBLE_DPI[0] <= x_ppi <= _PLAUSIBLE_DPI[1]
    ):
        return None
    filters = image.get("/Filter")
    if isinstance(filters, pikepdf.Array):
        if len(filters) != 1:
            return None
        filters = filters[0]
    parms = image.get("/DecodeParms")
    if isinstance(parms, pikepdf.Array):
        parms = parms[0] if len(parms) == 1 else None
    data = image.read_raw_bytes()
    grey: np.ndarray | None
    if filters == "/DCTDecode":
        if image.get("/ColorSpace") not in ("/DeviceGray", "/DeviceRGB"):
            return None
        grey = cv2.imdecode(
            np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION
        )
    elif filters == "/CCITTFaxDecode":
        if int(image.get("/BitsPerComponent", 1)) != 1:
            return None
        grey = _decode_ccitt(data, width, height, parms or {})
    else:
        return None
    if grey is None or grey.shape != (height, width):
        return None
    return PageImage(number=page.number, image=grey, dpi=x_ppi)


def _decode_ccitt(data: bytes, width: int, height: int, parms: Any) -> np.ndarray | None:
    """CCITT fax data (a PDF's /CCITTFaxDecode stream) decoded by libtiff, as grey pixels.

    The stream is given a minimal TIFF header (one strip); black runs are ink unless the PDF
    says /BlackIs1 true, which flips the meaning of the decoded bits.
    """
    k = int(parms.get("/K", 0))
    if bool(parms.get("/EncodedByteAlign", False)) or int(parms.get("/Columns", 1728)) != width:
        return None
    rows = int(parms.get("/Rows", height))
    if rows not in (0, height):
        return None
    compression = _TIFF_COMPRESSION["group4" if k < 0 else "group3"]
    photometric = 1 if bool(parms.get("/BlackIs1", False)) else 0
    tags: list[tuple[int, int, int, int]] = [  # tag, type (3 short, 4 long), count, value
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, 1),
        (259, 3, 1, compression),
        (262, 3, 1, photometric),
        (273, 4, 1, 0),  # strip offset, filled in below
        (277, 3, 1, 1),
        (278, 4, 1, height),
        (279, 4, 1, len(data)),
    ]
    if compression == 3:
        tags.append((292, 4, 1, 1 if k > 0 else 0))  # T4Options: 2-D coding when K > 0
    header_size = 8 + 2 + 12 * len(tags) + 4
    tags[5] = (273, 4, 1, header_size)
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHIHH", tag, kind, count, value, 0)
        if kind == 3
        else struct.pack("<HHII", tag, kind, count, value)
        for tag, kind, count, value in tags
    )
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + data
    with Image.open(io.BytesIO(tiff)) as decoded:
        return np.array(decoded.convert("L"), dtype=np.uint8)


def _check_dpi(dpi: int) -> None:
    if dpi <= 0:
        raise ValueError("dpi must be positive")


# --- file checks -----------------------------------------------------------------------------


def _check_regular_file(path: Path) -> None:
    # lstat: a symbolic link is judged as itself, never by what it points at, and a FIFO or
    # device is refused here without being opened.
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise ScanError(Reason.NOT_FOUND, "the file does not exist") from None
    except OSError as exc:
        raise ScanError(Reason.NOT_FOUND, f"the file cannot be found ({_os_reason(exc)})") from None
    if stat.S_ISLNK(info.st_mode):
        raise ScanError(Reason.NOT_A_REGULAR_FILE, "the input is a symbolic link")
    if not stat.S_ISREG(info.st_mode):
        raise ScanError(Reason.NOT_A_REGULAR_FILE, "the input is not a regular file")


def open_regular(path: Path) -> BinaryIO:
    """Open for reading, refusing (again, now on the open file) anything but a regular file:
    the path may have been replaced since `_check_regular_file` looked at it. Never follows a
    symbolic link, never blocks on a FIFO; failures are ScanError without the file's name."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise ScanError(Reason.NOT_FOUND, "the file does not exist") from None
    except OSError as exc:
        if os.path.islink(path):  # O_NOFOLLOW refused it
            raise ScanError(Reason.NOT_A_REGULAR_FILE, "the input is a symbolic link") from None
        raise ScanError(
            Reason.CORRUPT_FILE, f"the file cannot be read ({_os_reason(exc)})"
        ) from None
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        regular = False
    if not regular:
        os.close(fd)
        raise ScanError(Reason.NOT_A_REGULAR_FILE, "the input is not a regular file")
    return os.fdopen(fd, "rb")


def _os_reason(exc: OSError) -> str:
    # strerror only: str(exc) would include the file name.
    return exc.strerror or type(exc).__name__


def _scrub(text: str, path: Path) -> str:
    """First line of a tool's message, with the file's path and name removed."""
    for secret in sorted({str(path), os.path.abspath(path), path.name}, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "<file>")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:200] if lines else "no message"


# --- PDF -------------------------------------------------------------------------------------


def _run(
    args: list[str], *, path: Path, timeout_s: float, tool: str
) -> subprocess.CompletedProcess[bytes]:
    try:
        # Its own session: a Ctrl-C or a SIGTERM sent to the worker's process group must not
        # kill poppler half-way (the page would look corrupt); the worker finishes the page.
        return subprocess.run(
            args, capture_output=True, timeout=timeout_s, check=False, start_new_session=True
        )
    except subprocess.TimeoutExpired:
        # subprocess.run has already killed the child.
        raise ScanError(
            Reason.RASTERIZER_TIMEOUT, f"{tool} did not finish within {timeout_s:g} s"
        ) from None
    except OSError as exc:
        raise ScanError(
            Reason.RASTERIZER_FAILED, f"{tool} could not be started ({_os_reason(exc)})"
        ) from None


def _pdf_argument(path: Path) -> str:
    # An absolute path cannot be mistaken for a command-line option (a name starting with "-").
    return os.path.abspath(path)


def _checked_pdf_pages(
    path: Path, *, timeout_s: float, max_page_inches: float, qpdf: pikepdf.Pdf | None = None
) -> list[_PdfPage]:
    """Every page of the PDF, each checked against the size limit (from qpdf when the file
    opened there cleanly, else from pdfinfo)."""
    if qpdf is not None:
        count = len(qpdf.pages)
        if count < 1:
            raise ScanError(Reason.CORRUPT_FILE, "the PDF has no pages")
        pages = [_qpdf_page(qpdf, number) for number in range(1, count + 1)]
    else:
        pages = _pdf_pages(path, first=1, last=_MAX_PAGE, timeout_s=timeout_s)
    for page in pages:
        _check_pdf_page_size(page, max_page_inches)
    return pages


def _pdf_pages(path: Path, *, first: int, last: int, timeout_s: float) -> list[_PdfPage]:
    """Pages `first` to `last` (clamped to the page count) from one pdfinfo call."""
    result = _run(
        ["pdfinfo", "-f", str(first), "-l", str(last), _pdf_argument(path)],
        path=path,
        timeout_s=timeout_s,
        tool="pdfinfo",
    )
    stderr = result.stderr.decode("utf-8", "replace")
    if result.returncode != 0:
        if "password" in stderr.lower():
            raise ScanError(Reason.ENCRYPTED_PDF, "the PDF is encrypted and needs a password")
        if _NO_SUCH_PAGE_RE.search(stderr):
            raise ScanError(Reason.CORRUPT_FILE, f"the PDF has no page {first}")
        raise ScanError(Reason.CORRUPT_FILE, f"the PDF cannot be read: {_scrub(stderr, path)}")
    text = result.stdout.decode("utf-8", "replace")
    encrypted = _ENCRYPTED_RE.search(text)
    # A PDF encrypted with only an owner password (permissions) opens and renders without one,
    # so it is read; only a PDF that needs a password to open is refused (above).
    if encrypted is None or (pages_match := _PAGES_RE.search(text)) is None:
        raise ScanError(Reason.CORRUPT_FILE, "the PDF cannot be read: no page information")
    page_count = int(pages_match.group(1))
    if page_count < 1:
        raise ScanError(Reason.CORRUPT_FILE, "the PDF has no pages")
    if first > page_count:
        raise ScanError(Reason.CORRUPT_FILE, f"the PDF has no page {first}")
    sizes = {int(n): (float(w), float(h)) for n, w, h in _PAGE_SIZE_RE.findall(text)}
    rotations = {int(n): int(r) for n, r in _PAGE_ROT_RE.findall(text)}
    pages = []
    for number in range(first, min(last, page_count) + 1):
        if number not in sizes:
            raise ScanError(Reason.CORRUPT_FILE, f"the PDF's page {number} has no size")
        width, height = sizes[number]
        if rotations.get(number, 0) % 180 == 90:
            width, height = height, width
        if width <= 0 or height <= 0:
            raise ScanError(Reason.CORRUPT_FILE, f"the PDF's page {number} has an empty size")
        pages.append(
            _PdfPage(
                number=number,
                width_pt=width,
                height_pt=height,
                rotation=rotations.get(number, 0) % 360,
            )
        )
    return pages


def _check_pdf_page_size(page: _PdfPage, max_page_inches: float) -> None:
    width_in, height_in = page.width_pt / 72, page.height_pt / 72
    if max(width_in, height_in) > max_page_inches:
        raise ScanError(
            Reason.PAGE_TOO_LARGE,
            f"page {page.number} is {width_in:.1f} x {height_in:.1f} in; "
            f"the limit is {max_page_inches:g} in on a side",
        )


def _render_pdf_page(path: Path, page: _PdfPage, *, dpi: int, timeout_s: float) -> PageImage:
    n = str(page.number)
    # No output root: pdftoppm writes the PGM to stdout, so nothing touches the file system.
    result = _run(
        ["pdftoppm", "-gray", "-r", str(dpi), "-f", n, "-l", n, _pdf_argument(path)],
        path=path,
        timeout_s=timeout_s,
        tool="pdftoppm",
    )
    if result.returncode != 0:
        stderr = result.stderr.decode("utf-8", "replace")
        raise ScanError(
            Reason.CORRUPT_FILE,
            f"page {page.number} cannot be rendered: {_scrub(stderr, path)}",
        )
    image = _decode_pgm(result.stdout)
    if image is None:
        raise ScanError(
            Reason.RASTERIZER_FAILED, f"pdftoppm produced no image for page {page.number}"
        )
    expected_w = page.width_pt / 72 * dpi
    expected_h = page.height_pt / 72 * dpi
    got_h, got_w = image.shape
    # poppler can exit 0 with a 1x1 image when a page fails to render; compare with the size
    # pdfinfo promised.
    if not (_close(got_w, expected_w) and _close(got_h, expected_h)):
        raise ScanError(
            Reason.RASTERIZER_FAILED,
            f"page {page.number} rendered as {got_w}x{got_h} px, "
            f"expected about {expected_w:.0f}x{expected_h:.0f}",
        )
    return PageImage(number=page.number, image=image, dpi=float(dpi))


def _close(got: int, expected: float) -> bool:
    return abs(got - expected) <= max(_SIZE_TOLERANCE_PX, expected * _SIZE_TOLERANCE_FRACTION)


def _decode_pgm(data: bytes) -> np.ndarray | None:
    """Decode a binary 8-bit PGM (P5) as written by ``pdftoppm -gray``; None when malformed."""
    # Header: "P5" whitespace width whitespace height whitespace maxval, one whitespace, pixels.
    match = re.match(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
    if match is None:
        return None
    width, height, maxval = (int(g) for g in match.groups())
    if width < 1 or height < 1 or maxval != 255:
        return None
    start = match.end()
    if len(data) - start < width * height:
        return None
    pixels = np.frombuffer(data, dtype=np.uint8, count=width * height, offset=start)
    # frombuffer over bytes is read-only; callers may want to draw on the page.
    return pixels.reshape(height, width).copy()


# --- raster files ----------------------------------------------------------------------------


def _raster_limit(max_page_inches: float) -> int:
    return int(max_page_inches * RASTER_LIMIT_DPI)


@contextlib.contextmanager
def _open_image(path: Path, *, limit_px: int | None = None) -> Iterator[Image.Image]:
    with open_regular(path) as handle:
        try:
            image = Image.open(handle)
        except Image.DecompressionBombError:
            # Pillow's own guard fires at open for very large headers: the same verdict as ours.
            raise ScanError(
                Reason.PAGE_TOO_LARGE,
                "the image is far larger than a page"
                + (f" (limit {limit_px} px on a side)" if limit_px else ""),
            ) from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise ScanError(
                Reason.CORRUPT_FILE, f"the image cannot be read ({type(exc).__name__})"
            ) from None
        with image:
            yield image


def _frame_count(image: Image.Image) -> int:
    try:
        return int(getattr(image, "n_frames", 1))
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ScanError(
            Reason.CORRUPT_FILE, f"the image's pages cannot be listed ({type(exc).__name__})"
        ) from None


def _seek(image: Image.Image, index: int) -> None:
    try:
        image.seek(index)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ScanError(
            Reason.CORRUPT_FILE, f"page {index + 1} cannot be read ({type(exc).__name__})"
        ) from None


def _check_raster_size(size: tuple[int, int], limit_px: int) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise ScanError(Reason.CORRUPT_FILE, f"the image has an empty size ({width}x{height})")
    if max(width, height) > limit_px:
        raise ScanError(
            Reason.PAGE_TOO_LARGE,
            f"the image is {width}x{height} px; the limit is {limit_px} px on a side",
        )


def _check_raster_pages(path: Path, limit_px: int) -> int:
    """Check every frame's size from its header; return the number of frames."""
    with _open_image(path, limit_px=limit_px) as image:
        count = _frame_count(image)
        for index in range(count):
            _seek(image, index)
            _check_raster_size(image.size, limit_px)
    return count


def _decode_raster_pages(path: Path, *, limit_px: int) -> Iterator[PageImage]:
    with _open_image(path, limit_px=limit_px) as image:
        for index in range(_frame_count(image)):
            yield _decode_raster_page(image, index, limit_px=limit_px, path=path)


def _decode_raster_page(image: Image.Image, index: int, *, limit_px: int, path: Path) -> PageImage:
    _seek(image, index)
    # Checked again before decoding: the file may have changed since it was checked.
    _check_raster_size(image.size, limit_px)
    try:
        grey, dpi = _to_grey(image)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ScanError(
            Reason.CORRUPT_FILE,
            f"page {index + 1} cannot be decoded ({type(exc).__name__}: {_scrub(str(exc), path)})",
        ) from None
    return PageImage(number=index + 1, image=grey, dpi=dpi)


def _to_grey(frame: Image.Image) -> tuple[np.ndarray, float]:
    dpi_x, dpi_y = _metadata_dpi(frame)
    frame.load()
    orientation = frame.getexif().get(_EXIF_ORIENTATION, 1)
    # EXIF orientations 5-8 turn the page a quarter, so the two resolutions swap with the axes.
    if orientation in (5, 6, 7, 8):
        dpi_x, dpi_y = dpi_y, dpi_x
    plain_cmyk = _is_plain_cmyk_jpeg(frame)
    # exif_transpose copies the whole page even when there is nothing to turn (~10 ms at 300 dpi).
    image = frame if orientation in (0, 1) else (ImageOps.exif_transpose(frame) or frame)
    if plain_cmyk:
        image = ImageChops.invert(image)
    grey = _grey_array(image)
    # Fax TIFFs have anisotropic pixels (204 x 98 dpi); square them up so a QR code stays square.
    if abs(dpi_x - dpi_y) > 0.02 * dpi_x:
        new_height = max(1, round(grey.shape[0] * dpi_x / dpi_y))
        grey = cv2.resize(grey, (grey.shape[1], new_height), interpolation=cv2.INTER_LINEAR)
    return grey, dpi_x


def _is_plain_cmyk_jpeg(image: Image.Image) -> bool:
    """A CMYK JPEG without Adobe's APP14 marker, whose ink values are stored as they are.

    Pillow reads every CMYK JPEG as Adobe writes them, with inverted values; without the
    marker that turns the page black, so the caller inverts it back (as MuPDF does).
    """
    return image.format == "JPEG" and image.mode == "CMYK" and "adobe" not in image.info


def _metadata_dpi(image: Image.Image) -> tuple[float, float]:
    raw: object = image.info.get("dpi")
    if not isinstance(raw, tuple) or len(raw) != 2:
        return DEFAULT_IMAGE_DPI, DEFAULT_IMAGE_DPI
    try:
        dpi_x, dpi_y = float(raw[0]), float(raw[1])
    except (TypeError, ValueError):
        return DEFAULT_IMAGE_DPI, DEFAULT_IMAGE_DPI
    low, high = _PLAUSIBLE_DPI
    plausible_x = math.isfinite(dpi_x) and low <= dpi_x <= high
    plausible_y = math.isfinite(dpi_y) and low <= dpi_y <= high
    if plausible_x and plausible_y:
        return dpi_x, dpi_y
    if plausible_x or plausible_y:
        only = dpi_x if plausible_x else dpi_y
        return only, only
    return DEFAULT_IMAGE_DPI, DEFAULT_IMAGE_DPI


def _grey_array(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16-bit and float greys: Pillow's convert("L") clips instead of scaling.
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        return np.clip(values * (255.0 / top), 0, 255).round().astype(np.uint8)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        # Transparent pixels are paper: composite onto white rather than onto black.
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    if image.mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBA"):
        image = image.convert("RGB")
    grey = image if image.mode == "L" else image.convert("L")
    return np.array(grey, dtype=np.uint8)
