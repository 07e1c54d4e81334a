"""Durable file writes: a file replaced whole or not at all, and fd write loops.

:func:`atomic_write` is the one way postie puts a whole file in place (an NZB,
a manifest's frame 0): the data goes to a temporary file beside the target, is
fsynced, renamed over the target, and the directory is fsynced so the new name
survives a power cut too. A reader sees the old file or the new one, never a
part; a failure removes the temporary file and leaves the old one as it was.

OS errors are raised as they come: each caller says what failed in its own terms.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path


def atomic_write(
    path: Path,
    data: bytes | Iterable[bytes],
    *,
    mode: int = 0o644,
    before_rename: Callable[[], object] | None = None,
) -> int:
    """Make ``path`` hold ``data``, durably, or leave it as it was; return its size.

    ``data`` may come in pieces (an iterable of bytes), written as they come: a large
    file need not be whole in memory. Parent folders are created. ``mode`` is set on
    the file whatever the umask. ``before_rename`` is called once the data is synced,
    just before the rename (a crash point for the kill tests).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    size = 0
    try:
        try:
            for piece in (data,) if isinstance(data, bytes) else data:
                write_all(fd, piece)
                size += len(piece)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, mode)
        if before_rename is not None:
            before_rename()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    return size


def fsync_dir(folder: Path) -> None:
    """Make the entries of ``folder`` (a rename into it, say) durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until all of ``data`` is written."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """``os.pwrite`` at ``offset`` until all of ``data`` is written."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def is_full(exc: OSError) -> bool:
    """The device (or the user's quota) has no room left."""
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


def free_bytes(path: str | os.PathLike[str]) -> int | None:
    """Bytes free for this user on the file system holding ``path`` (or the nearest
    folder above it that exists), None if that cannot be told."""
    here = Path(os.path.abspath(path))
    for folder in (here, *here.parents):
        try:
            return shutil.disk_usage(folder).free
        except OSError:
            continue
    return None


def size_text(n: int) -> str:
    """``n`` bytes for a message: 512 B, 3.4 MB, 12.0 GB."""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def free_text(path: str | os.PathLike[str]) -> str:
    """What is free under ``path``, for a message ("120.5 MB", or "unknown")."""
    free = free_bytes(path)
    return "unknown" if free is None else size_text(free)
