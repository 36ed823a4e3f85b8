"""Why a whole scan file or page could not be read: one stable reason code per failure kind.

A field that cannot be read is a low-confidence result, not an exception; these are raised
only when a file or page as a whole fails. The command line maps reasons to exit codes.

| reason | meaning |
| --- | --- |
| ``not_found`` | the input path does not exist |
| ``not_a_regular_file`` | the input is a directory, device, socket or similar |
| ``empty_file`` | the input has zero bytes |
| ``unsupported_format`` | the magic bytes are not PDF, TIFF, JPEG or PNG |
| ``corrupt_file`` | the file is truncated or damaged and cannot be decoded |
| ``encrypted_pdf`` | the PDF is encrypted (password protected) |
| ``page_too_large`` | a page is larger than the configured limit (decompression-bomb guard) |
| ``rasterizer_failed`` | poppler ran but produced no usable image |
| ``rasterizer_timeout`` | poppler did not finish within the time limit |
| ``worker_crashed`` | (intake) every worker that took this page died while processing it |
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Stable failure codes; the values are part of the public interface, never rename them."""

    NOT_FOUND = "not_found"
    NOT_A_REGULAR_FILE = "not_a_regular_file"
    EMPTY_FILE = "empty_file"
    UNSUPPORTED_FORMAT = "unsupported_format"
    CORRUPT_FILE = "corrupt_file"
    ENCRYPTED_PDF = "encrypted_pdf"
    PAGE_TOO_LARGE = "page_too_large"
    RASTERIZER_FAILED = "rasterizer_failed"
    RASTERIZER_TIMEOUT = "rasterizer_timeout"
    WORKER_CRASHED = "worker_crashed"


class ScanError(Exception):
    """A scan file or page failed as a whole.

    ``message`` is one readable line and never contains the file's path or name: mailrooms
    name scan files after children, and messages end up in logs and batch reports.
    """

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
