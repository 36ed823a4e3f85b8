"""Files written whole or not at all: a reader sees the old file or the new, never half."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_output(target: Path, *, prefix: str = ".tmp-") -> Iterator[BinaryIO]:
    """A binary file that becomes `target` when the block ends: written beside it under a
    temporary name (`prefix`), synced, then renamed into place. If the block raises, the
    temporary file is removed and `target` is left as it was."""
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=prefix)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def write_atomically(target: Path, data: bytes) -> None:
    """Write `data` to `target` whole or not at all (`atomic_output`)."""
    with atomic_output(target) as out:
        out.write(data)
