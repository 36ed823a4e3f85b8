"""Files written whole or not at all (`attendance.files`): the store's page images, the
installed models, quarantine reasons and training exports are written through it."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from attendance.files import atomic_output, write_atomically


def test_a_write_cut_short_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "installed.json"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(target) as out:
        out.write(b"half of the new")
        raise RuntimeError("the disk filled")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["installed.json"]


def test_a_finished_write_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "page.png"
    write_atomically(target, b"first")
    write_atomically(target, b"second")
    assert target.read_bytes() == b"second"
    with atomic_output(target, prefix=".export.") as out, zipfile.ZipFile(out, "w") as archive:
        archive.writestr("crops.csv", "name,label\n")
    with zipfile.ZipFile(target) as archive:  # the ZIP was closed before the rename
        assert archive.read("crops.csv") == b"name,label\n"
    assert [p.name for p in tmp_path.iterdir()] == ["page.png"]
