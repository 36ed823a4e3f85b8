"""Run the tesseract OCR engine: the only module that does.

Like OCRmyPDF's ``_exec/tesseract.py``: one function per use, the binary called with
``subprocess`` under a timeout, the image piped in as PNG on standard input and the text read
from standard output, so no temporary file is ever written. Tesseract is slow (about 0.1 s a
call, most of it start-up), so callers use it only on fallback paths and batch what they can
into one image.
"""

from __future__ import annotations

import os
import subprocess

import cv2
import numpy as np

DEFAULT_TIMEOUT_S = 15.0


class TesseractError(RuntimeError):
    """Tesseract is missing, failed, or ran out of time; the message says which."""


def ocr_text(
    image: np.ndarray,
    *,
    psm: int = 7,
    whitelist: str | None = None,
    dpi: int = 300,
    language: str = "eng",
    timeout_s: float = DEFAULT_TIMEOUT_S,
    binary: str = "tesseract",
) -> str:
    """The text tesseract reads in `image` (2-D uint8 grey), lines separated by newlines.

    `psm` is tesseract's page segmentation mode (7: one line, 6: a block of lines);
    `whitelist` limits the characters it may output. Dictionaries are switched off: we read
    codes, not words, and loading them is most of a call's start-up time.
    """
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError("image must be a 2-D uint8 grey image")
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise TesseractError("could not encode the image for tesseract")
    command = [
        binary,
        "stdin",
        "stdout",
        "--psm",
        str(psm),
        "--dpi",
        str(dpi),
        "-l",
        language,
        "-c",
        "load_system_dawg=0",
        "-c",
        "load_freq_dawg=0",
    ]
    if whitelist is not None:
        command += ["-c", f"tessedit_char_whitelist={whitelist}"]
    # One thread: a line of text gains nothing from OpenMP, and intake runs pages in parallel.
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        result = subprocess.run(
            command,
            input=encoded.tobytes(),
            capture_output=True,
            timeout=timeout_s,
            env=env,
            check=False,
            start_new_session=True,  # not killed by a signal meant for the worker
        )
    except FileNotFoundError:
        raise TesseractError(f"{binary} is not installed (Debian package tesseract-ocr)") from None
    except subprocess.TimeoutExpired:
        raise TesseractError(f"{binary} did not finish within {timeout_s:g} s") from None
    if result.returncode != 0:
        detail = result.stderr.decode("utf-8", "replace").strip().splitlines()
        last = detail[-1] if detail else "no message"
        raise TesseractError(f"{binary} failed with exit code {result.returncode}: {last}")
    return result.stdout.decode("utf-8", "replace")
