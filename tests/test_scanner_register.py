"""Registering scanned sheets to their layout: real reportlab sheets, real pdftoppm, then
turned, skewed, rescaled and warped with a transform we know, so every check is against the
ground truth of where a field really is on the distorted page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from fixtures.samples import sample_sheet
from forms.layout import FORM_V1, FORM_V2, Rect, SignatureField, TimeField, build_layout
from forms.render import render_sheets
from scanner.barcode import find_barcode
from scanner.load import load_pages
from scanner.readings import CANON_PX_PER_PT, canon_shape, crop
from scanner.register import (
    POOR_REGISTRATION,
    STRUCTURE_NOT_FOUND,
    Registration,
    map_points,
    register_page,
    warp_to_canon,
)
from scanner.simulate import simulate_photo, simulate_photocopy, simulate_scan

SERIAL = "7K2M9QXR4T8"
MONTH = dt.date(2026, 11, 1)
LAYOUT = build_layout(SERIAL, MONTH)
Matrix = np.ndarray


def _time_cell(name: str, index: int) -> Rect:
    field = LAYOUT.field(name)
    assert isinstance(field, TimeField)
    return field.cells[index]


def _signature(name: str) -> Rect:
    field = LAYOUT.field(name)
    assert isinstance(field, SignatureField)
    return field.box


def _centre(rect: Rect) -> tuple[float, float]:
    x, y, w, h = rect
    return (x + w / 2, y + h / 2)


# Known places spread over the page: top left, middle, bottom right, the footer.
CHECK_POINTS = [
    _centre(_time_cell("day.07.in", 0)),
    _centre(_time_cell("day.16.out", 3)),
    _centre(_time_cell("day.30.out", 3)),
    _centre(_signature("signature.parent")),
    _centre(_signature("signature.provider")),
    _centre(LAYOUT.serial_text),
]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], np.ndarray]:
    """The sample sheet rasterized by pdftoppm, per dpi, rendered once."""
    pdf = tmp_path_factory.mktemp("register") / "sheet.pdf"
    render_sheets([sample_sheet(SERIAL, month=MONTH)], pdf)
    cache: dict[int, np.ndarray] = {}

    def at(dpi: int) -> np.ndarray:
        if dpi not in cache:
            cache[dpi] = next(iter(load_pages(Path(pdf), dpi=dpi))).image
        return cache[dpi]

    return at


# --- distortion with a known transform ---------------------------------------------------


def _shift(dx: float, dy: float) -> Matrix:
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], dtype=np.float64)


def distort(
    image: np.ndarray,
    *,
    dpi: int,
    pad_in: float = 0.0,
    rotate: int = 0,
    skew: float = 0.0,
    scale: float = 1.0,
    keystone: float = 0.0,
    noise: float = 6.0,
    blur: float = 0.7,
    seed: int = 0,
) -> tuple[np.ndarray, Matrix]:
    """A scan of `image` and the true map from layout points to its pixel edge coordinates.

    `pad_in` adds white paper around the sheet first: a scanner whose scan area is a little
    larger than the sheet (without it, a 5 degree turn carries two corners off the image).
    `keystone` narrows the top edge by that fraction of the width on each side (perspective).
    """
    s = dpi / 72
    truth = np.diag([s, s, 1.0])
    pad = round(pad_in * dpi)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
        truth = _shift(pad, pad) @ truth
    height, width = image.shape
    out = simulate_scan(
        image, rotate=rotate, skew_deg=skew, scale=scale, noise=noise, blur=blur, seed=seed
    )
    # Clockwise quarter turns in edge coordinates (pixel [r, c] covers [c, c+1) x [r, r+1)).
    turn = {
        0: np.eye(3),
        90: np.array([[0, -1, height], [1, 0, 0], [0, 0, 1]], dtype=np.float64),
        180: np.array([[-1, 0, width], [0, -1, height], [0, 0, 1]], dtype=np.float64),
        270: np.array([[0, 1, 0], [-1, 0, width], [0, 0, 1]], dtype=np.float64),
    }[rotate]
    truth = turn @ truth
    turned_w, turned_h = (width, height) if rotate in (0, 180) else (height, width)
    if skew:
        # simulate_scan's warpAffine works on pixel indices (centres at integers).
        m = np.vstack(
            [cv2.getRotationMatrix2D((turned_w / 2, turned_h / 2), -skew, 1.0), [0, 0, 1]]
        )
        truth = _shift(0.5, 0.5) @ m @ _shift(-0.5, -0.5) @ truth
    if scale != 1.0:
        new_w, new_h = max(1, round(turned_w * scale)), max(1, round(turned_h * scale))
        truth = np.diag([new_w / turned_w, new_h / turned_h, 1.0]) @ truth
    if keystone:
        out_h, out_w = out.shape
        d = keystone * out_w
        src = np.float32([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]])
        dst = np.float32([[d, 0], [out_w - d, 0], [out_w, out_h], [0, out_h]])
        edge = cv2.getPerspectiveTransform(src, dst).astype(np.float64)
        index = _shift(-0.5, -0.5) @ edge @ _shift(0.5, 0.5)
        out = cv2.warpPerspective(out, index, (out_w, out_h), borderValue=255)
        truth = edge @ truth
    return out, truth


def _apply(matrix: Matrix, point: tuple[float, float]) -> np.ndarray:
    u, v, w = matrix @ np.array([point[0], point[1], 1.0])
    return np.array([u / w, v / w])


def _max_error_pt(registration: Registration, truth: Matrix, px_per_pt: float) -> float:
    found = map_points(registration, CHECK_POINTS)
    errors = [
        float(np.linalg.norm(np.array(f) - _apply(truth, p)))
        for f, p in zip(found, CHECK_POINTS, strict=True)
    ]
    return max(errors) / px_per_pt


def _hide_fiducial(image: np.ndarray, dpi: int, index: int) -> np.ndarray:
    """Paint fiducial `index` (TL, TR, BR, BL) white, as if covered or torn off."""
    hidden = image.copy()
    x, y, w, h = LAYOUT.fiducials[index]
    s = dpi / 72
    hidden[int((y - 2) * s) : int((y + h + 2) * s), int((x - 2) * s) : int((x + w + 2) * s)] = 255
    return hidden


def _draw_target(image: np.ndarray, centre_pt: tuple[float, float], dpi: int) -> None:
    """A fiducial-like target (black 18, white 10, black 5 pt) drawn into `image`."""
    s = dpi / 72
    cx, cy = centre_pt
    for side, value in ((18.0, 0), (10.0, 255), (5.0, 0)):
        half = side / 2
        top, bottom = round((cy - half) * s), round((cy + half) * s)
        image[top:bottom, round((cx - half) * s) : round((cx + half) * s)] = value


# --- four fiducials ----------------------------------------------------------------------

DISTORTIONS: dict[str, dict[str, float]] = {
    "upright": {},
    "skew-5": {"skew": -5.0, "pad_in": 0.25},
    "skew+5": {"skew": 5.0, "pad_in": 0.25},
    "skew+4-unpadded": {"skew": 4.0},
    "rot90": {"rotate": 90},
    "rot90-skew3": {"rotate": 90, "skew": 3.0},
    "rot180-skew-4": {"rotate": 180, "skew": -4.0},
    "rot270-skew5": {"rotate": 270, "skew": 5.0, "pad_in": 0.25},
    "scale0.95": {"scale": 0.95},
    "scale1.05": {"scale": 1.05, "skew": 1.5},
    "perspective": {"keystone": 0.004},
    "perspective-rot90-skew2": {"keystone": 0.003, "rotate": 90, "skew": 2.0, "pad_in": 0.25},
}


@pytest.mark.parametrize("dpi", [200, 300])
@pytest.mark.parametrize("name", list(DISTORTIONS))
def test_registration_maps_fields_where_they_are(
    rendered: Callable[[int], np.ndarray], dpi: int, name: str
) -> None:
    """GIVEN a sheet scanned turned, skewed, rescaled or in slight perspective
    WHEN it is registered with the rotation its QR code gives
    THEN known fields' centres map to within 1.5 pt of where they really are."""
    params = DISTORTIONS[name]
    scan, truth = distort(rendered(dpi), dpi=dpi, **params)  # type: ignore[arg-type]
    barcode = find_barcode(scan, dpi=dpi)
    assert barcode is not None
    rotation = int(params.get("rotate", 0))
    assert barcode.rotation == rotation

    registration = register_page(scan, dpi=dpi, layout=LAYOUT, rotation=rotation, barcode=barcode)

    assert registration.ok, registration
    assert registration.reason is None
    assert registration.fiducials_found == 4
    assert registration.model == "homography"
    assert registration.rotation == rotation
    # Slight perspective is not affine: the residual grows with it (~1.1 pt at 0.4 %).
    assert registration.residual_pt < (1.5 if "keystone" in params else 0.5)
    px_per_pt = dpi / 72 * params.get("scale", 1.0)
    assert _max_error_pt(registration, truth, px_per_pt) < 1.5


@pytest.mark.parametrize("dpi", [200, 300])
@pytest.mark.parametrize("hidden", [0, 1, 2, 3])
def test_one_hidden_fiducial_is_not_missed(
    rendered: Callable[[int], np.ndarray], dpi: int, hidden: int
) -> None:
    """GIVEN a skewed, turned scan with one fiducial covered (each corner in turn)
    WHEN it is registered with its QR code, and without
    THEN three targets and the rest of the printed structure place fields within 1.5 pt
    either way."""
    rotation = (180, 90, 0, 270)[hidden]
    scan, truth = distort(
        _hide_fiducial(rendered(dpi), dpi, hidden), dpi=dpi, rotate=rotation, skew=2.5, seed=hidden
    )
    barcode = find_barcode(scan, dpi=dpi)
    assert barcode is not None

    for given in (barcode, None):
        registration = register_page(scan, dpi=dpi, layout=LAYOUT, rotation=rotation, barcode=given)
        assert registration.ok, registration
        assert registration.fiducials_found == 3
        assert registration.model == "homography"
        assert registration.matched > 150
        assert registration.residual_pt < 1.0
        assert _max_error_pt(registration, truth, dpi / 72) < 1.5


def test_warp_to_canon_puts_the_page_where_the_layout_says(
    rendered: Callable[[int], np.ndarray],
) -> None:
    """GIVEN a sideways, skewed 300 dpi scan
    WHEN it is registered and warped to the canonical image
    THEN fiducial rings and a digit cell's drop-out border are where the layout puts them."""
    scan, _ = distort(rendered(300), dpi=300, rotate=90, skew=-3.0, noise=4.0)
    registration = register_page(scan, dpi=300, layout=LAYOUT, rotation=90)
    assert registration.ok

    canon = warp_to_canon(scan, registration, LAYOUT)

    assert canon.shape == canon_shape(LAYOUT.page_width_pt, LAYOUT.page_height_pt)
    assert canon.dtype == np.uint8
    s = CANON_PX_PER_PT
    for rect in LAYOUT.fiducials:
        cx, cy = _centre(rect)

        def at(dx: float, dy: float, cx: float = cx, cy: float = cy) -> int:
            return int(canon[round((cy + dy) * s), round((cx + dx) * s)])

        assert at(0, 0) < 80  # black core (5 pt)
        assert at(3.75, 0) > 170 and at(0, -3.75) > 170  # white ring (10 pt)
        assert at(-7.5, 0) < 80 and at(0, 7.5) < 80  # black outer square (18 pt)
        assert at(-11.5, 0) > 200  # paper outside the target

    # A digit cell: its drop-out red border (grey ~191) on the rect's edges, paper inside.
    cell = _time_cell("day.07.in", 0)
    x, y, _, h = cell
    left_edge = canon[
        round((y + 4) * s) : round((y + h - 4) * s), round(x * s) - 2 : round(x * s) + 3
    ]
    assert 140 < int(left_edge.min(axis=1).mean()) < 215
    inside = crop(canon, cell, inset_pt=2.5)
    assert inside.mean() > 235
    # The page's outside edge in canonical space maps to paper, filled white.
    assert canon[0, 0] > 200 and canon[-1, -1] > 200


def test_warp_to_canon_refuses_a_failed_registration(
    rendered: Callable[[int], np.ndarray],
) -> None:
    blank = np.full_like(rendered(200), 255)
    registration = register_page(blank, dpi=200, layout=LAYOUT, rotation=0)
    assert not registration.ok
    assert registration.reason == STRUCTURE_NOT_FOUND
    assert registration.fiducials_found == 0
    with pytest.raises(ValueError):
        warp_to_canon(blank, registration, LAYOUT)


# --- poor fits ---------------------------------------------------------------------------


def test_a_target_like_blot_in_the_wrong_place_is_outvoted(
    rendered: Callable[[int], np.ndarray],
) -> None:
    """GIVEN a sheet whose top-left fiducial is covered and a target-like blot 40 pt away
    WHEN it is registered (no QR code given)
    THEN the blot disagrees with hundreds of structure points: it is left out of the fit and
    fields are placed within 1.5 pt."""
    page = _hide_fiducial(rendered(200), 200, 0)
    x, y = _centre(LAYOUT.fiducials[0])
    _draw_target(page, (x + 32, y + 24), 200)
    scan, truth = distort(page, dpi=200, skew=1.0)

    registration = register_page(scan, dpi=200, layout=LAYOUT, rotation=0)

    assert registration.ok, registration
    assert registration.fiducials_found == 3  # the blot was not taken for the target
    assert registration.residual_pt < 0.5
    assert _max_error_pt(registration, truth, 200 / 72) < 1.5


def test_a_crumpled_page_is_a_poor_registration(rendered: Callable[[int], np.ndarray]) -> None:
    """GIVEN a page bent so that its bottom-right corner moved 16 pt and the others did not
    (no affine or slight-perspective map explains that)
    WHEN it is registered
    THEN ok is False with poor_registration."""
    page = rendered(200)
    height, width = page.shape
    s = 200 / 72
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    # Output pixel (x, y) samples input (x - d, y - d): content moves by d toward bottom-right.
    bend = (16 * s) * (xs / width) ** 4 * (ys / height) ** 4
    bent = cv2.remap(page, xs - bend, ys - bend, cv2.INTER_LINEAR, borderValue=255)
    scan = simulate_scan(bent, noise=5.0, blur=0.6)

    registration = register_page(scan, dpi=200, layout=LAYOUT, rotation=0)

    assert not registration.ok
    assert registration.reason == POOR_REGISTRATION
    assert registration.residual_pt > 1.5


def test_a_reduced_copy_is_measured_from_the_form(
    rendered: Callable[[int], np.ndarray],
) -> None:
    """GIVEN a page whose content is a consistent 87 % of its printed size (a reduced
    photocopy) in a file claiming the scan's 200 dpi
    WHEN it is registered THEN the scale comes from the form itself and fields land within
    1.5 pt; a mirrored page is still refused."""
    small = cv2.resize(rendered(200), None, fx=0.87, fy=0.87, interpolation=cv2.INTER_AREA)
    page = np.full_like(rendered(200), 255)
    top = (page.shape[0] - small.shape[0]) // 2
    left = (page.shape[1] - small.shape[1]) // 2
    page[top : top + small.shape[0], left : left + small.shape[1]] = small
    truth = _shift(left, top) @ np.diag([small.shape[1] / rendered(200).shape[1]] * 2 + [1.0])
    truth = truth @ np.diag([200 / 72, 200 / 72, 1.0])

    registration = register_page(page, dpi=200, layout=LAYOUT, rotation=0)

    assert registration.ok, registration
    assert _max_error_pt(registration, truth, 200 / 72 * 0.87) < 1.5

    mirrored = register_page(
        np.ascontiguousarray(page[:, ::-1]), dpi=200, layout=LAYOUT, rotation=0
    )
    assert not mirrored.ok


def test_wrong_rotation_does_not_register(rendered: Callable[[int], np.ndarray]) -> None:
    """Sideways windows on an upright portrait page find nothing that fits."""
    registration = register_page(rendered(200), dpi=200, layout=LAYOUT, rotation=90)
    assert not registration.ok


def test_register_page_rejects_bad_arguments(rendered: Callable[[int], np.ndarray]) -> None:
    with pytest.raises(ValueError):
        register_page(rendered(200), dpi=200, layout=LAYOUT, rotation=45)
    with pytest.raises(ValueError):
        register_page(np.zeros((10, 10, 3), np.uint8), dpi=200, layout=LAYOUT, rotation=0)


# --- what copiers and phones do (issue 13) -----------------------------------------------


def _same_size(
    scan: np.ndarray, truth: Matrix, shape: tuple[int, ...]
) -> tuple[np.ndarray, Matrix]:
    """The centre of `scan` cut to `shape` (a copier's output is the paper's size)."""
    height, width = shape[0], shape[1]
    top = max(0, (scan.shape[0] - height) // 2)
    left = max(0, (scan.shape[1] - width) // 2)
    out = np.full((height, width), 255, np.uint8)
    part = scan[top : top + height, left : left + width]
    out[: part.shape[0], : part.shape[1]] = part
    return out, _shift(-left, -top) @ truth


@pytest.mark.parametrize("form", [FORM_V1, FORM_V2])
@pytest.mark.parametrize(
    ("skew", "scale"), [(3.0, 1.02), (-3.0, 1.02), (5.0, 1.0), (-5.0, 1.0), (2.0, 1.1), (4.0, 0.9)]
)
def test_a_crooked_enlarged_same_size_copy_registers(
    tmp_path: Path, form: str, skew: float, scale: float
) -> None:
    """GIVEN a 300 dpi grey scan fed crooked and scaled on the same paper size (the page
    that lost two corner targets and was not read), in either form revision
    WHEN it is registered THEN fields land within 1.5 pt of where they are."""
    layout = build_layout(SERIAL, MONTH, form=form)
    pdf = tmp_path / "sheet.pdf"
    render_sheets([sample_sheet(SERIAL, month=MONTH, form=form)], pdf)
    page = next(iter(load_pages(pdf, dpi=300))).image
    scan, truth = distort(page, dpi=300, skew=skew, scale=scale, seed=3)
    scan, truth = _same_size(scan, truth, page.shape)

    registration = register_page(scan, dpi=300, layout=layout, rotation=0)

    assert registration.ok, registration
    points = [_centre(f.cells[0]) for f in layout.fields if isinstance(f, TimeField)][::9]
    found = map_points(registration, points)
    errors = [
        np.linalg.norm(np.array(f) - _apply(truth, p)) for f, p in zip(found, points, strict=True)
    ]
    assert max(errors) / (300 / 72 * scale) < 1.5


@pytest.mark.parametrize("pair", [(0, 1), (1, 2), (2, 3), (3, 0), (0, 2), (1, 3)])
def test_any_two_corner_targets_cut_off(
    rendered: Callable[[int], np.ndarray], pair: tuple[int, int]
) -> None:
    """GIVEN a skewed 200 dpi scan with two of its four corner targets gone (each pair)
    WHEN it is registered without its QR code THEN fields land within 1.5 pt."""
    page = _hide_fiducial(_hide_fiducial(rendered(200), 200, pair[0]), 200, pair[1])
    scan, truth = distort(page, dpi=200, skew=-2.0, seed=sum(pair))

    registration = register_page(scan, dpi=200, layout=LAYOUT, rotation=0)

    assert registration.ok, registration
    assert registration.fiducials_found == 2
    assert _max_error_pt(registration, truth, 200 / 72) < 1.5


@pytest.mark.parametrize("generations", [2, 3])
def test_a_photocopy_of_a_photocopy_registers(
    rendered: Callable[[int], np.ndarray], generations: int
) -> None:
    """GIVEN a sheet copied two or three times (toner darkening, blur, specks, each copy a
    little off) and scanned turned over WHEN it is registered THEN it fits with a small
    residual and hundreds of agreeing points."""
    copy = simulate_photocopy(rendered(200), generations=generations, seed=generations)
    scan, _ = distort(copy, dpi=200, rotate=180, skew=1.5)

    registration = register_page(scan, dpi=200, layout=LAYOUT, rotation=180)

    assert registration.ok, registration
    assert registration.matched > 25
    assert registration.residual_pt < 1.0


@pytest.mark.parametrize(
    ("tilt", "turn", "fill", "dpi_said"),
    [(0.0, 0.0, 0.75, 200), (10.0, 3.0, 0.6, 72), (15.0, -4.0, 0.9, 300), (15.0, 2.0, 0.7, 200)],
)
def test_a_phone_photo_registers(
    rendered: Callable[[int], np.ndarray], tilt: float, turn: float, fill: float, dpi_said: int
) -> None:
    """GIVEN a phone photo of a sheet on a darker desk (camera tilted up to 15 degrees, the
    page filling 60-90 % of the frame, a shadow, uneven light, colour) whose file says some
    meaningless resolution
    WHEN it is registered THEN it fits (perspective included) with a small residual, and the
    warped page has its targets where the layout puts them."""
    photo = simulate_photo(rendered(300), tilt_deg=tilt, turn_deg=turn, fill=fill, seed=7)
    grey = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)

    registration = register_page(grey, dpi=dpi_said, layout=LAYOUT, rotation=0)

    assert registration.ok, registration
    assert registration.start in ("page", "targets")
    assert registration.residual_pt < 1.0
    canon = warp_to_canon(grey, registration, LAYOUT)
    s = CANON_PX_PER_PT
    for rect in LAYOUT.fiducials:
        cx, cy = _centre(rect)
        core = canon[round(cy * s) - 2 : round(cy * s) + 3, round(cx * s) - 2 : round(cx * s) + 3]
        ring = canon[round(cy * s), round((cx + 3.75) * s)]
        assert core.mean() < ring - 40
