"""Time page registration and the warp to the canonical image, at 200 and 300 dpi.

Renders N real sheets (forms.render -> real pdftoppm), scans each at both resolutions turned
0/90/180/270 degrees with a little skew, noise and blur, and reports the median milliseconds
per page of `register_page` and `warp_to_canon`, on one core (OpenCV's threads off), in the
same run. Every page must register with its four fiducials. Also times, once per resolution,
the serial-OCR fallback on a sheet whose QR code is blotted out.

    .venv/bin/python scripts/bench_register.py --pages 12
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fixtures.samples import sample_sheet
from forms.layout import build_layout
from forms.render import render_sheets
from forms.serial import new_serial
from scanner.barcode import find_barcode
from scanner.load import load_pages
from scanner.pipeline import read_printed_serial
from scanner.register import register_page, warp_to_canon
from scanner.simulate import simulate_scan

DPIS = (200, 300)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3, help="timings per page; best is kept")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    cv2.setNumThreads(1)

    serials = [new_serial() for _ in range(args.pages)]
    rendered: dict[int, list[np.ndarray]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        pdf = Path(tmp) / "bench.pdf"
        render_sheets([sample_sheet(serial) for serial in serials], pdf)
        for dpi in DPIS:
            rendered[dpi] = [page.image for page in load_pages(pdf, dpi=dpi)]
    layout = build_layout(serials[0], sample_sheet(serials[0]).month)
    rng = np.random.default_rng(args.seed)
    failures = 0
    for dpi in DPIS:
        register_ms: list[float] = []
        warp_ms: list[float] = []
        residuals: list[float] = []
        for index, image in enumerate(rendered[dpi]):
            rotation = (0, 90, 180, 270)[index % 4]
            scan = simulate_scan(
                image,
                rotate=rotation,
                skew_deg=float(rng.uniform(-3, 3)),
                noise=6.0,
                blur=0.7,
                seed=args.seed + index,
            )
            barcode = find_barcode(scan, dpi=dpi)
            best_register = best_warp = float("inf")
            for _ in range(args.repeats):
                start = time.perf_counter()
                registration = register_page(
                    scan, dpi=dpi, layout=layout, rotation=rotation, barcode=barcode
                )
                middle = time.perf_counter()
                if registration.ok:
                    warp_to_canon(scan, registration, layout)
                end = time.perf_counter()
                best_register = min(best_register, middle - start)
                best_warp = min(best_warp, end - middle)
            if not registration.ok or registration.fiducials_found != 4:
                failures += 1
                print(f"{dpi} dpi page {index}: {registration.reason}")
                continue
            register_ms.append(best_register * 1000)
            warp_ms.append(best_warp * 1000)
            residuals.append(registration.residual_pt)
        height, width = rendered[dpi][0].shape
        reg, warp = statistics.median(register_ms), statistics.median(warp_ms)
        print(f"{dpi} dpi ({width}x{height} px), {len(register_ms)} pages, one core:")
        print(f"  register_page   median {reg:6.2f} ms  (max {max(register_ms):.2f})")
        print(f"  warp_to_canon   median {warp:6.2f} ms  (max {max(warp_ms):.2f})")
        print(f"  both            median {reg + warp:6.2f} ms")
        print(f"  residual        median {statistics.median(residuals):.3f} pt")

        # The fallback: QR code blotted, serial read by tesseract (upside down: two turns tried).
        blotted = rendered[dpi][0].copy()
        x, y, w, h = layout.barcode
        s = dpi / 72
        blotted[round(y * s) : round((y + h) * s), round(x * s) : round((x + w) * s)] = 0
        scan = simulate_scan(blotted, rotate=180, skew_deg=1.0, noise=6.0, blur=0.7)
        start = time.perf_counter()
        reading = read_printed_serial(scan, dpi=dpi)
        ocr_ms = (time.perf_counter() - start) * 1000
        right = reading is not None and reading.serial == serials[0] and reading.rotation == 180
        print(f"  serial OCR fallback (upside down): {ocr_ms:.0f} ms, read right: {right}")
        failures += 0 if right else 1
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
