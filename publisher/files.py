"""Files written whole or not at all: temp file in the same folder, then rename.

A writer holds an exclusive lock (flock) on its temp file until the rename, and the kernel
drops the lock when the process dies, even by `kill -9`. So a temp file of our naming that
nobody holds a lock on was left by a dead writer, and `remove_stale_temporaries` deletes it.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import re
import tempfile
from collections.abc import Collection
from pathlib import Path

# `.<name>.<8 characters from mkstemp>.tmp`, as write_atomically names its temp files.
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp")


def write_atomically(path: Path, data: bytes, durable: bool = True) -> bool:
    """Write `data` to `path` unless it already holds those bytes; returns whether it wrote.

    `durable`: the file's bytes reach the disk before the rename. Without, a crash may leave the
    old file, or the new name with fewer bytes, never a partial file under the name while
    running; a caller that writes many files then calls `flush_filesystem` once."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = _locked_temporary(path)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)  # while the lock is held
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def flush_filesystem(path: Path) -> None:
    """Put every file written without `durable` on disk: one syncfs(2) of the file system that
    holds `path` (a sync(2) of all of them where syncfs is missing)."""
    syncfs = getattr(_libc(), "syncfs", None)
    if syncfs is None:
        os.sync()
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        if syncfs(descriptor) != 0:
            os.sync()
    finally:
        os.close(descriptor)


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)  # the C library this process already runs on
    except OSError:
        return None


def _locked_temporary(path: Path) -> tuple[int, str]:
    """A new temp file beside `path`, open and locked by us."""
    while True:
        descriptor, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        try:
            # A cleaner may have taken it between mkstemp and flock: then make another.
            if os.stat(temporary).st_ino == os.fstat(descriptor).st_ino:
                return descriptor, temporary
        except FileNotFoundError:
            pass
        os.close(descriptor)


def remove_stale_temporaries(folder: Path, names: Collection[str] | None = None) -> list[Path]:
    """Delete temp files a dead writer left in `folder`: ours by name, locked by nobody.

    With `names`, only temp files for those target names are considered.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        match = _TEMPORARY.fullmatch(entry.name)
        if match is None or (names is not None and match["name"] not in names):
            continue
        if not entry.is_file(follow_symlinks=False):
            continue
        try:
            descriptor = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)  # a live writer holds it
            continue
        try:
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except FileNotFoundError:
            pass
        finally:
            os.close(descriptor)
    return removed


def inside(root: Path, relative: str) -> Path:
    """`root / relative`, refusing any path that would leave `root`."""
    root = root.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or path == root:
        raise ValueError(f"{relative!r} is not a path inside {root}")
    return path
