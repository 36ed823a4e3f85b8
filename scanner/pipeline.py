"""Compose the scanner's stages for one page: identify, register, warp, read its fields.

`read_page` is the one page composer every caller uses (the one-shot run, the intake worker,
identify-from-review through `read_page_as`, the benchmarks): a page image in, a frozen
`PageReading` out, with no file or database access (what the sheet's month and schedule are
comes from the caller's `context_for`). The page is loaded, EXIF orientation applied, by
`scanner.load` before; the stages are identify -> register -> warp -> read fields.

Identification has two tiers. First the QR code (`scanner.barcode`, which already retries
after clean-up); it names the sheet's form revision too. When no QR code of ours can be read
(torn, stapled through, scribbled on), the printed serial under it is read: the page is
registered against each form revision's printed structure in every quarter turn (the
structure - words, column headers, the table's layout - is not symmetric, so only the right
turn fits it), the serial's box is cut out upright from the best fit and read by tesseract
(OCR-B on monthly-v2, Courier on monthly-v1). A serial is accepted
only when its check character is right and two differently prepared images read the same
serial with no other valid serial among the reads: a page taken for the wrong sheet is the
worst error this system can make, so anything less leaves the page unidentified.

Per-page failures are results with a reason, never exceptions, so one bad page does not stop
a batch.
"""

from __future__ import annotations

import datetime
import functools
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import cv2
import numpy as np

from forms.layout import FORM_V1, FORM_V2, FORMS, Layout, build_layout
from forms.payload import BarcodePayload, decode_payload
from forms.serial import ALPHABET, InvalidSerial, check_symbol, normalize_serial
from scanner.barcode import Barcode, find_barcode, find_barcode_in
from scanner.digits import DigitReader
from scanner.fields import ReadingSettings, Windows, read_sheet_fields
from scanner.header import read_header
from scanner.load import PageImage
from scanner.readings import FieldReading
from scanner.register import Registration, map_points, register_page, warp_rect, warp_to_canon
from scanner.tesseract import TesseractError, ocr_text

log = logging.getLogger(__name__)

NO_BARCODE_FOUND = "no_barcode_found"
"""The page has marks on it but neither a readable QR code nor a readable printed serial."""

BLANK_PAGE = "blank_page"
"""The page is (nearly) empty paper, typically the back of a sheet in a duplex scan."""

NOT_REGISTERED = "not_registered"
"""Read as a named sheet, the page fitted that sheet's layout in no quarter turn."""

UNKNOWN_FORM = "unknown_form"
"""The QR code names a form revision this program does not know (not read)."""

METHOD_QR = "qr"
METHOD_SERIAL_OCR = "serial_ocr"
METHOD_REVIEWER = "reviewer"

QUARTER_TURNS = (0, 90, 180, 270)

# A page whose dark pixels cover less than this fraction is blank paper: a printed sheet,
# even an unfilled one, is several percent ink; scanner dust and noise are far below this.
_BLANK_INK_FRACTION = 0.002

# The geometry of fiducials, QR code and serial box is the same on every sheet of the form;
# any valid serial and month give the rectangles.
_GEOMETRY_BODY = "0000000000"
_GEOMETRY_MONTH = datetime.date(2026, 1, 1)

# The serial is printed in Courier-Bold 11.5 pt (v1) or OCR-B 10.5 pt (v2): at 300 dpi its
# capitals are ~30 px tall, what tesseract reads best.
_OCR_DPI = 300
_OCR_MARGIN_PT = 4.0
# forms.render prints the grouped serial (13 glyphs) at this size and advance per glyph (em).
_SERIAL_FONT = {FORM_V1: (11.5, 0.6), FORM_V2: (10.5, 0.723)}
_SERIAL_GLYPHS = 13
# The revisions a page without a readable code may be, newest (most sheets) first.
_SERIAL_FORMS = (FORM_V2, FORM_V1)
_GLYPH_GAP_PT = 3.0
_VARIANTS = (
    (400, "grey"),
    (300, "grey"),
    (250, "thin"),
    (400, "bold"),
    (250, "grey"),
)
# Crockford's look-alikes too: without an O, tesseract reads this font's round 0 as a Q.
# normalize_serial maps O to 0 and I, L to 1.
_SERIAL_WHITELIST = ALPHABET + "OIL-"
_PRINTED_SERIAL = re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{3}$")
_MIN_AGREEING_READS = 2


@dataclass(frozen=True)
class PageIdentity:
    """Which sheet and page a scanned page is, or why that could not be told.

    `method` says how it was identified: "qr" (its QR code) or "serial_ocr" (its printed
    serial, read when the QR code could not be); None when unidentified.
    """

    payload: BarcodePayload | None
    barcode: Barcode | None
    rotation: int | None
    reason: str | None
    method: str | None = None

    @property
    def identified(self) -> bool:
        """True when the page's barcode or printed serial was read and is one of ours."""
        return self.payload is not None


@dataclass(frozen=True)
class SerialReading:
    """A printed serial read by OCR, with the page turn that made it readable."""

    serial: str
    rotation: int
    reads: tuple[str, ...]
    """Every line tesseract returned, for the record."""
    form: str = FORM_V1
    """The form revision whose printed structure the page fitted."""


def identify_page(page: PageImage) -> PageIdentity:
    """Say which sheet the page belongs to and how it is turned: QR code first, then serial.

    The QR code is looked for in the page's corners (cheap, and where it is on nearly every
    scan). Failing that, the page must show a form revision's printed structure in some
    quarter turn: a page without it is not one of our sheets (a letter, another agency's
    form) or could not be read anyway, and is unidentified at once, without the whole-page
    QR search and the serial OCR (1-3 s on such a page). On a registered page the code is
    read where the layout puts it (full resolution, then cleaned up), and failing that the
    printed serial.
    """
    barcode = find_barcode(page.image, dpi=page.dpi, corners_only=True)
    identity = _by_barcode(barcode)
    if identity is not None:
        return identity
    if _is_blank(page.image):
        return PageIdentity(payload=None, barcode=None, rotation=None, reason=BLANK_PAGE)
    registered = _registered_form(page)
    if registered is None:
        return PageIdentity(payload=None, barcode=None, rotation=None, reason=NO_BARCODE_FOUND)
    form, registration = registered
    box = _qr_box(registration, form)
    identity = _by_barcode(find_barcode_in(page.image, dpi=page.dpi, box=box))
    if identity is not None:
        return identity
    try:
        reading = read_printed_serial(page.image, dpi=page.dpi, first=registration, form=form)
    except TesseractError as exc:
        log.warning("page %d: printed serial not read: %s", page.number, exc)
        reading = None
    if reading is None:
        return PageIdentity(payload=None, barcode=None, rotation=None, reason=NO_BARCODE_FOUND)
    return PageIdentity(
        payload=BarcodePayload(serial=reading.serial, form=reading.form, page=1),
        barcode=None,
        rotation=reading.rotation,
        reason=None,
        method=METHOD_SERIAL_OCR,
    )


def read_printed_serial(
    image: np.ndarray,
    *,
    dpi: float,
    first: Registration | None = None,
    form: str | None = None,
) -> SerialReading | None:
    """The serial printed under the QR code, or None unless it is read beyond doubt.

    For each form revision (`form` first when given, with `first` its registration already
    found; then the newest first) the page is registered in every quarter turn and the best
    fit (most agreeing points) is taken: the printed structure is not symmetric, so this is
    the turn the page is in. One tesseract call then reads a stack of differently prepared
    copies of the serial box (see `_accept`). Raises TesseractError when tesseract itself is
    missing or fails.
    """
    forms = _SERIAL_FORMS if form is None else (form, *(f for f in _SERIAL_FORMS if f != form))
    for candidate in forms:
        layout = geometry_layout(candidate)
        if first is not None and candidate == form:
            registration: Registration | None = first
        else:
            registration = best_turn(image, dpi=dpi, layout=layout)
        if registration is None:
            continue
        text = ocr_text(
            _stack(_variants(image, registration, layout)),
            psm=6,
            whitelist=_SERIAL_WHITELIST,
            dpi=_OCR_DPI,
        )
        reads = tuple(line.strip() for line in text.splitlines() if line.strip())
        serial = _accept(reads, candidate)
        if serial is not None:
            return SerialReading(
                serial=serial, rotation=registration.rotation, reads=reads, form=candidate
            )
    return None


def best_turn(
    image: np.ndarray, *, dpi: float, layout: Layout, header_turn: Callable[[], int] | None = None
) -> Registration | None:
    """The page registered in the quarter turn that fits `layout` best, or None in none.

    Every turn is registered; the fit with the most agreeing points of the printed structure
    wins. The structure's words and the table's layout (times left, absences right, header
    above) only fit the right way up, so a wrong turn fits few points, if any. Should two
    turns fit nearly as well (a page so damaged that little structure is left),
    `header_turn` (the turn `scanner.header` reads the header words in) decides; without it,
    or when it names neither, the page is not placed: a page read upside down would be read
    with confident wrong values.
    """
    fits = [
        found
        for rotation in _rotation_order(image.shape)
        if (found := register_page(image, dpi=dpi, layout=layout, rotation=rotation)).ok
    ]
    if not fits:
        return None
    fits.sort(key=lambda r: (r.matched, -r.residual_pt), reverse=True)
    if len(fits) == 1 or fits[1].matched < _AMBIGUOUS_TURN * fits[0].matched:
        return fits[0]
    if header_turn is not None:
        upright = (360 - header_turn()) % 360
        for found in fits[:2]:
            if found.rotation == upright:
                return found
    return None


# A second turn fitting this share of the best turn's points makes the turn uncertain.
_AMBIGUOUS_TURN = 0.6


def _by_barcode(barcode: Barcode | None) -> PageIdentity | None:
    payload = decode_payload(barcode.text) if barcode is not None else None
    if barcode is None or payload is None:
        return None
    return PageIdentity(
        payload=payload, barcode=barcode, rotation=barcode.rotation, reason=None, method=METHOD_QR
    )


def _registered_form(page: PageImage) -> tuple[str, Registration] | None:
    """The form revision whose printed structure the page fits best, in its best turn."""
    best: tuple[str, Registration] | None = None
    for form in _SERIAL_FORMS:
        found = best_turn(page.image, dpi=page.dpi, layout=geometry_layout(form))
        if found is not None and (best is None or found.matched > best[1].matched):
            best = (form, found)
    return best


def _qr_box(registration: Registration, form: str) -> tuple[int, int, int, int]:
    """Pixel box of the page where the registered layout puts the QR code, with a margin."""
    x, y, w, h = geometry_layout(form).barcode
    margin = 0.15 * max(w, h)
    corners = [
        (x - margin, y - margin),
        (x + w + margin, y - margin),
        (x + w + margin, y + h + margin),
        (x - margin, y + h + margin),
    ]
    xs, ys = zip(*map_points(registration, corners), strict=True)
    return (
        math.floor(min(xs)),
        math.floor(min(ys)),
        math.ceil(max(xs)),
        math.ceil(max(ys)),
    )


def _rotation_order(shape: tuple[int, ...]) -> tuple[int, ...]:
    # Most sheets are fed upright, then upside down; a landscape image was fed sideways.
    height, width = shape[0], shape[1]
    if width > height:
        return (90, 270, 0, 180)
    return (0, 180, 90, 270)


def _variants(image: np.ndarray, registration: Registration, layout: Layout) -> list[np.ndarray]:
    """The serial box cut out at several resolutions and prepared several ways.

    Tesseract errs differently on each (on this font it mostly confuses Q, 0 and 9), and
    measured on rendered, scanned sheets these five read best. All are scaled so the text
    has the same size at `_OCR_DPI`, as tesseract is told.
    """
    x, y, w, h = layout.serial_text
    # Tight above (the QR code's quiet zone, perhaps blotted, is 1.5 pt up), looser elsewhere.
    box = (x - _OCR_MARGIN_PT, y - 1.0, w + 2 * _OCR_MARGIN_PT, h + 3.0)
    kernel = np.ones((2, 2), np.uint8)
    out: list[np.ndarray] = []
    for dpi, kind in _VARIANTS:
        grey = warp_rect(image, registration, box, px_per_pt=dpi / 72)
        _, binary = cv2.threshold(
            cv2.GaussianBlur(grey, (3, 3), 0), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU
        )
        intruders = _border_ink(binary)
        if kind == "grey":
            prepared = np.where(intruders, np.uint8(255), grey)
        else:
            binary[intruders] = 255
            # Dilating paper thins the strokes; eroding it makes them bolder.
            prepared = cv2.dilate(binary, kernel) if kind == "thin" else cv2.erode(binary, kernel)
        if dpi != _OCR_DPI:
            prepared = cv2.resize(
                prepared, None, fx=_OCR_DPI / dpi, fy=_OCR_DPI / dpi, interpolation=cv2.INTER_AREA
            )
        out.append(np.asarray(prepared, dtype=np.uint8))
    spaced = _spaced_glyphs(image, registration, layout)
    _, binary = cv2.threshold(
        cv2.GaussianBlur(spaced, (3, 3), 0), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU
    )
    out += [spaced, np.asarray(binary, dtype=np.uint8)]
    return out


def _spaced_glyphs(image: np.ndarray, registration: Registration, layout: Layout) -> np.ndarray:
    """The serial re-set with a gap between glyphs, at `_OCR_DPI`.

    The serial is printed in a monospaced font (Courier-Bold, 0.6 em a glyph; OCR-B, 0.723 em)
    centred in its box, so each glyph's cell is known; apart, tesseract less often reads one
    glyph as two ("1" as "1I", "0" as "0O").
    """
    x, y, w, h = layout.serial_text
    size, em = _SERIAL_FONT.get(layout.form, _SERIAL_FONT[FORM_V1])
    advance = size * em
    left = x + w / 2 - _SERIAL_GLYPHS * advance / 2
    gap = round(_GLYPH_GAP_PT * _OCR_DPI / 72 / 2)
    cells = [
        cv2.copyMakeBorder(
            warp_rect(
                image,
                registration,
                (left + i * advance, y - 1.0, advance, h + 3.0),
                px_per_pt=_OCR_DPI / 72,
            ),
            0,
            0,
            gap,
            gap,
            cv2.BORDER_CONSTANT,
            value=255,
        )
        for i in range(_SERIAL_GLYPHS)
    ]
    return np.hstack(cells)


def _border_ink(binary: np.ndarray) -> np.ndarray:
    """Mask of ink touching the box's edge: a blot or scribble reaching in, never the text."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(255 - binary, connectivity=8)
    height, width = binary.shape
    x, y, w, h = (stats[:, i] for i in range(4))
    touching = (x == 0) | (y == 0) | (x + w >= width) | (y + h >= height)
    touching[0] = False  # label 0 is the paper
    return np.asarray(touching[labels], dtype=bool)


def _stack(images: list[np.ndarray]) -> np.ndarray:
    """One image with each variant on its own line, so one tesseract call reads them all."""
    width = max(image.shape[1] for image in images)
    pad = 20
    rows = [
        cv2.copyMakeBorder(
            image, pad, pad, pad, pad + width - image.shape[1], cv2.BORDER_CONSTANT, value=255
        )
        for image in images
    ]
    return np.vstack(rows)


def _accept(reads: tuple[str, ...], form: str = FORM_V1) -> str | None:
    """The serial when the reads agree on it beyond doubt, else None.

    A read counts only when it has the printed shape (``XXXX-XXXX-XXX``). Candidates are the
    reads whose check character is right (which catches every single misread symbol, and most
    double ones) and, when no read is right, a read with one symbol tesseract is known to
    confuse in `form`'s serial font (`_CONFUSED_PAIRS`) swapped. A candidate is accepted when it
    is the only one, at least two reads are it or one known confusion away from it, and those
    reads outnumber more than twice the reads that contradict it (one or two symbols away,
    differing otherwise than by a known confusion). (Two reads agreeing on a valid serial were
    not enough: a photocopied page read ``W8XR`` three times and ``WEXR`` three times, and the
    latter's check character was right by chance.)
    """
    confused = _confusions(form)
    shaped = [
        r.replace(" ", "").upper().replace("-", "").translate(_LOOKALIKE)
        for r in reads
        if _PRINTED_SERIAL.match(r.replace(" ", "").upper())
    ]
    candidates: set[str] = set()
    for compact in shaped:
        try:
            candidates.add(normalize_serial(compact))
        except InvalidSerial:
            continue
    if not candidates:
        for compact in set(shaped):
            for index, char in enumerate(compact):
                for other in confused.get(char, ""):
                    try:
                        swapped = compact[:index] + other + compact[index + 1 :]
                        candidates.add(normalize_serial(swapped))
                    except InvalidSerial:
                        continue
    if len(candidates) != 1:
        return None
    (serial,) = candidates
    explains = _confusions(form, explaining=True)
    support = against = 0
    for compact in shaped:
        differing = [(a, b) for a, b in zip(compact, serial, strict=True) if a != b]
        explained = all(b in explains.get(a, "") for a, b in differing)
        support += int(len(differing) <= 1 and explained)
        against += int(len(differing) <= 2 and not explained)  # a near read saying otherwise
    if support < _MIN_AGREEING_READS or 2 * against >= support:
        return None
    return serial


# Symbols tesseract reads for one another in the printed serial, either way round: in OCR-B
# (v2) S/5, Z/2, B/8, G/6 and J/1; in Courier (v1) the round 0 as Q, D, 6, 8 or 9. Kept per
# font: the more pairs, the more often two serials explain the same reads (and none is taken).
_CONFUSED_PAIRS = {
    FORM_V2: ("S5", "Z2", "B8", "G6", "J1"),
    FORM_V1: ("0Q", "0D", "06", "08", "09"),
}
# Rarer confusions that explain a read (it does not count against the serial the other reads
# agree on) but never make a candidate: on blurred or 1-bit v2 scans the 0 read as Q or D, and
# a 9 whose loop closed as 0 (`make bench-review` left two blotted pages unidentified, three
# of seven reads right and the rest one such symbol off).
_EXPLAINED_PAIRS = {FORM_V2: ("0Q", "0D", "09")}


def _confusions(form: str, *, explaining: bool = False) -> dict[str, str]:
    """Each symbol's confusions in `form`'s serial font; `explaining`: with the rarer ones."""
    pairs: tuple[str, ...] = _CONFUSED_PAIRS.get(form, ())
    if explaining:
        pairs = pairs + _EXPLAINED_PAIRS.get(form, ())
    table: dict[str, str] = {}
    for pair in pairs:
        table[pair[0]] = table.get(pair[0], "") + pair[1]
        table[pair[1]] = table.get(pair[1], "") + pair[0]
    return table


_LOOKALIKE = str.maketrans({"O": "0", "I": "1", "L": "1"})


@functools.lru_cache(maxsize=4)
def geometry_layout(form: str = FORM_V1) -> Layout:
    """A layout with revision `form`'s geometry (fiducials, QR code, serial box) for any
    sheet of it."""
    return build_layout(_GEOMETRY_BODY + check_symbol(_GEOMETRY_BODY), _GEOMETRY_MONTH, form=form)


def _is_blank(image: np.ndarray) -> bool:
    # Fixed threshold rather than Otsu: on blank paper Otsu splits the noise itself in two.
    ink = int(np.count_nonzero(image < 128))
    return ink < _BLANK_INK_FRACTION * image.size


# --- the page composer -----------------------------------------------------------------------


@dataclass(frozen=True)
class SheetContext:
    """What reading one sheet needs besides its page: its serial, month and care windows.

    `windows` gives each date's authorized care windows (minutes after midnight) from the
    child's certificate; they settle AM/PM when the boxes on the sheet do not.
    """

    serial: str
    month: datetime.date
    windows: Mapping[datetime.date, Windows]
    form: str = FORM_V1
    """The form revision the sheet was issued (and printed) in."""


@dataclass(frozen=True)
class Reading:
    """How to read fields: the digit model (loaded once per process) and review thresholds."""

    reader: DigitReader
    settings: ReadingSettings = field(default_factory=ReadingSettings)


ContextFor = Callable[[str], SheetContext | None]
"""The sheet context of an identified serial, or None when no such sheet was issued."""


@dataclass(frozen=True)
class PageReading:
    """Everything the scanner made of one page.

    `attempted` is True when the page's sheet was known and its fields were to be read (an
    identified page of an issued sheet, with a reading set-up); then either `canon` holds the
    registered page (when kept) and `readings` every field, or `review_reason` says why the
    page could not be registered (the page goes to a person to key it). `residual_pt` is
    None when nothing was fitted. `timings` are seconds per stage (identify, register, warp,
    read, each also as ``STAGE:cpu``, its CPU time): only the stages that ran.
    """

    number: int
    identity: PageIdentity
    attempted: bool = False
    residual_pt: float | None = None
    review_reason: str | None = None
    readings: tuple[FieldReading, ...] = ()
    canon: np.ndarray | None = field(default=None, compare=False, repr=False)
    timings: Mapping[str, float] = field(default_factory=dict, compare=False)

    @property
    def rotation(self) -> int | None:
        """Quarter turn (clockwise, degrees) the page was found in; None when not known."""
        return self.identity.rotation

    @property
    def registered(self) -> bool:
        """True when the page was registered to its sheet's layout and its fields were read."""
        return self.attempted and self.review_reason is None


def configure_process() -> None:
    """Set up a process that reads pages: OpenCV on one thread.

    Parallelism comes from processes (`intake run --jobs`, workers); OpenCV's own pool only
    adds overhead on the small per-cell work and made one worker use 1.2 cores.
    """
    cv2.setNumThreads(1)


def read_page(
    page: PageImage,
    *,
    context_for: ContextFor,
    reading: Reading | None,
    keep_canon: bool = True,
) -> PageReading:
    """Identify one page; for a known sheet, register it, warp it and read every field.

    With `reading` None the page is only identified. `keep_canon` False drops the canonical
    image once the fields are read (a caller that does not store it saves the memory).
    """
    timings: dict[str, float] = {}
    started = stage_mark()
    identity = identify_page(page)
    add_stage(timings, "identify", started)
    context = context_for(identity.payload.serial) if identity.payload is not None else None
    if context is None or reading is None:
        return PageReading(page.number, identity, timings=timings)
    assert identity.rotation is not None
    assert identity.payload is not None
    # The page says what it is: a v1 sheet printed before v2 existed reads as v1.
    form = identity.payload.form if identity.payload.form in FORMS else None
    if form is None:
        return PageReading(
            page.number, identity, attempted=True, review_reason=UNKNOWN_FORM, timings=timings
        )
    layout = build_layout(context.serial, context.month, form=form)
    started = stage_mark()
    registration = register_page(
        page.image,
        dpi=page.dpi,
        layout=layout,
        rotation=identity.rotation,
        barcode=identity.barcode,
    )
    add_stage(timings, "register", started)
    return _read_registered(
        page, identity, registration, layout, context, reading, timings, keep_canon=keep_canon
    )


def read_page_as(
    page: PageImage,
    context: SheetContext,
    reading: Reading,
    *,
    method: str = METHOD_REVIEWER,
    keep_canon: bool = True,
) -> PageReading:
    """Read a page as the sheet of `context` (a person said which sheet it is).

    Nothing machine-readable on the page says which way up it is (its code could not be
    read), so the turn comes from the page's own asymmetric printed structure (`best_turn`:
    the turn in which the header, column headers and table fit; the header words read by
    `scanner.header` settle a tie). A page that fits in no turn, or in two alike, is
    `not_registered`. The layout is the sheet's own revision (`context.form`).
    """
    timings: dict[str, float] = {}
    layout = build_layout(context.serial, context.month, form=context.form)
    started = stage_mark()

    def header_turn() -> int:
        try:
            return read_header(page.image, dpi=page.dpi).turn
        except TesseractError as exc:
            log.warning("page %d: header not read: %s", page.number, exc)
            return -1

    best = best_turn(page.image, dpi=page.dpi, layout=layout, header_turn=header_turn)
    add_stage(timings, "register", started)
    payload = BarcodePayload(serial=context.serial, form=context.form, page=1)
    identity = PageIdentity(
        payload=payload,
        barcode=None,
        rotation=best.rotation if best is not None else None,
        reason=None,
        method=method,
    )
    if best is None:
        return PageReading(
            page.number, identity, attempted=True, review_reason=NOT_REGISTERED, timings=timings
        )
    return _read_registered(
        page, identity, best, layout, context, reading, timings, keep_canon=keep_canon
    )


def _read_registered(
    page: PageImage,
    identity: PageIdentity,
    registration: Registration,
    layout: Layout,
    context: SheetContext,
    reading: Reading,
    timings: dict[str, float],
    *,
    keep_canon: bool,
) -> PageReading:
    # No fit at all has an infinite residual: reported as unknown, not as a number.
    residual = registration.residual_pt if math.isfinite(registration.residual_pt) else None
    if not registration.ok:
        return PageReading(
            page.number,
            identity,
            attempted=True,
            residual_pt=residual,
            review_reason=registration.reason,
            timings=timings,
        )
    started = stage_mark()
    canon = warp_to_canon(page.image, registration, layout)
    started = add_stage(timings, "warp", started)
    readings = read_sheet_fields(
        canon, layout, reading.reader, windows=context.windows, settings=reading.settings
    )
    add_stage(timings, "read", started)
    return PageReading(
        page.number,
        identity,
        attempted=True,
        residual_pt=residual,
        readings=tuple(readings),
        canon=canon if keep_canon else None,
        timings=timings,
    )


StageMark = tuple[float, float]
"""A moment as (wall clock, this thread's CPU clock), in seconds."""


def stage_mark() -> StageMark:
    """Now, for `add_stage`."""
    return time.perf_counter(), time.thread_time()


def add_stage(timings: dict[str, float], stage: str, since: StageMark) -> StageMark:
    """Add the wall time since `since` to ``timings[stage]`` and this thread's CPU time to
    ``timings[stage + ":cpu"]`` (on a busy machine the wall time is mostly waiting for a
    core; the CPU time is what the stage costs). Returns now."""
    now = stage_mark()
    timings[stage] = timings.get(stage, 0.0) + now[0] - since[0]
    timings[f"{stage}:cpu"] = timings.get(f"{stage}:cpu", 0.0) + now[1] - since[1]
    return now
