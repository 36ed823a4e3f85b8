"""The intake's folders, and the configurations refused before anything is touched.

    INBOX/               watched; scanners and mailroom staff drop files here
    WORK/processing/     claimed files, named by claim id, while their pages are processed
    WORK/archive/        finished originals, named by SHA-256 (ab/abcdef...)
    WORK/quarantine/     failed files, named by claim id, each with CLAIM.reason.json beside it
    WORK/duplicates/     files whose bytes arrived before, with CLAIM.reason.json
    WORK/reports/        batch reports as JSON

A claim is a rename from the inbox into WORK/processing, which is atomic only on one
filesystem: WORK must be on the inbox's filesystem, and outside it.
"""

from __future__ import annotations

import errno
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from attendance.errors import DomainError, ErrorKind

NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ncpfs",
        "afs",
        "9p",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "fuse.sshfs",
        "fuse.glusterfs",
        "fuse.cephfs",
        "davfs",
        "fuse.davfs2",
    }
)
"""Filesystem types on which SQLite's locking cannot be trusted (see sqlite.org/faq #5)."""


class UnsafeConfiguration(DomainError, ValueError):
    """A folder or database setting that could lose or corrupt files; refused at start."""

    kind = ErrorKind.UNSAFE_CONFIGURATION


@dataclass(frozen=True)
class IntakeDirs:
    """The work folders; every path is derived from `work`."""

    work: Path

    @property
    def processing(self) -> Path:
        return self.work / "processing"

    @property
    def archive(self) -> Path:
        return self.work / "archive"

    @property
    def quarantine(self) -> Path:
        return self.work / "quarantine"

    @property
    def duplicates(self) -> Path:
        return self.work / "duplicates"

    @property
    def reports(self) -> Path:
        return self.work / "reports"

    def ensure(self) -> None:
        for folder in (
            self.processing,
            self.archive,
            self.quarantine,
            self.duplicates,
            self.reports,
        ):
            folder.mkdir(parents=True, exist_ok=True)

    def archived(self, sha256: str) -> Path:
        return self.archive / sha256[:2] / sha256


def is_inside(inner: Path, outer: Path) -> bool:
    """`inner` is `outer` or somewhere below it (by path, without resolving links)."""
    return inner == outer or outer in inner.parents


def _overlap(a: Path, b: Path) -> bool:
    return is_inside(a, b) or is_inside(b, a)


def _symlinked(path: Path) -> Path | None:
    """The first component of `path` (absolute) that is a symbolic link, if any."""
    current = Path(path.anchor)
    for part in path.parts[1:]:
        current = current / part
        if current.is_symlink():
            return current
        if not current.exists():
            return None
    return None


PACKAGES = ("attendance", "forms", "scanner", "intake", "review_ui")


def code_folders() -> list[Path]:
    """The program's packages and its virtual environment: no intake folder may overlap them.

    (The checkout around them may hold a data folder, as `make demo` does, but no intake or
    work folder may contain the checkout: the program's own files would be moved away.)
    """
    root = Path(__file__).resolve().parent.parent
    return [root / name for name in PACKAGES] + [Path(sys.prefix).resolve()]


def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


def filesystem_type(path: Path, *, mounts: str | None = None) -> str | None:
    """The type of the filesystem holding `path`, from `mounts` (the format of Linux
    /proc/self/mounts, read when not given), or None when unknown."""
    if mounts is None:
        try:
            mounts = Path("/proc/self/mounts").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    target = Path(os.path.abspath(path))
    best: tuple[int, str] | None = None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        # Mount points escape spaces as \040.
        point = Path(fields[1].replace("\\040", " "))
        if is_inside(target, point) and (best is None or len(point.parts) > best[0]):
            best = (len(point.parts), fields[2])
    return best[1] if best else None


def check_sqlite_location(database_file: Path, *, mounts: str | None = None) -> None:
    """Refuse a SQLite database on a network filesystem (its locks are not reliable there)."""
    kind = filesystem_type(database_file.parent, mounts=mounts)
    if kind in NETWORK_FILESYSTEMS:
        raise UnsafeConfiguration(
            f"the SQLite database is on a network filesystem ({kind}); several workers "
            "would corrupt it. Keep it on a local disk, or use PostgreSQL "
            "(ATTEND_DATABASE_URL)"
        )


def check_folders(inbox: Path | None, dirs: IntakeDirs, *, home: Path) -> None:
    """Raise UnsafeConfiguration for folder layouts that could lose or re-read files.

    Refused: a missing or symlinked inbox; work folders or the data folder inside the inbox
    (or the inbox inside them); any of them overlapping the program or its virtual
    environment; symlinked work folders; a work folder on another filesystem than the
    inbox (the claim would not be an atomic rename).
    """
    work = Path(os.path.abspath(dirs.work))
    home = Path(os.path.abspath(home))
    named = {"work folder": work, "data folder": home}
    if inbox is not None:
        named = {"intake folder": Path(os.path.abspath(inbox)), **named}
    for label, path in named.items():
        link = _symlinked(path)
        if link is not None:
            raise UnsafeConfiguration(
                f"the {label} {path} goes through a symbolic link ({link}); give the real path"
            )
    for label, path in named.items():
        for code in [*code_folders(), project_root()]:
            clash = is_inside(code, path) if code == project_root() else _overlap(path, code)
            if clash:
                raise UnsafeConfiguration(
                    f"the {label} {path} overlaps the program or its virtual environment "
                    f"({code}); choose a folder of its own"
                )
    if inbox is None:
        return
    inbox = named["intake folder"]
    if not inbox.is_dir():
        raise UnsafeConfiguration(f"the intake folder {inbox} does not exist or is not a folder")
    for label in ("work folder", "data folder"):
        path = named[label]
        if is_inside(path, inbox):
            raise UnsafeConfiguration(
                f"the {label} {path} is inside the intake folder {inbox}: its files would be "
                "taken in again. Put it beside the intake folder"
            )
    # The intake folder may sit in the data folder (beside the store), never in the work
    # folder or the store, whose files are ours.
    for label, path in (("work folder", work), ("store", home / "store")):
        if is_inside(inbox, path):
            raise UnsafeConfiguration(
                f"the intake folder {inbox} is inside the {label} {path}; give it its own place"
            )
    if inbox == home:
        raise UnsafeConfiguration(
            f"the intake folder {inbox} is the data folder itself; use a folder of its own"
        )
    dirs.ensure()
    other_filesystem = UnsafeConfiguration(
        f"the work folder {work} is on another filesystem than the intake folder {inbox}: "
        "claiming a file would be a copy, not an atomic rename. Set --work (or "
        "ATTEND_WORK_DIR) to a folder on the intake folder's filesystem, outside it"
    )
    if os.stat(dirs.processing).st_dev != os.stat(inbox).st_dev:
        raise other_filesystem
    # Bind mounts share a device number yet refuse renames across them (EXDEV): try one.
    probe = inbox / f".attend-probe-{os.getpid()}"
    try:
        probe.touch()
        try:
            os.rename(probe, dirs.processing / probe.name)
        except OSError as exc:
            probe.unlink(missing_ok=True)
            if exc.errno == errno.EXDEV:
                raise other_filesystem from None
            raise UnsafeConfiguration(
                f"a file cannot be moved from the intake folder {inbox} to {dirs.processing} "
                f"({exc.strerror}); check both folders' permissions"
            ) from None
        (dirs.processing / probe.name).unlink()
    except OSError as exc:
        raise UnsafeConfiguration(
            f"the intake folder {inbox} is not writable ({exc.strerror}): files could not be "
            "moved out of it"
        ) from None
