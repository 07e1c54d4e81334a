"""Tests for postie.fsutil: a file replaced whole or not at all, durably."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from postie.fsutil import atomic_write, pwrite_all, write_all

REPO = Path(__file__).resolve().parents[2]
OLD = b"old content\n"
NEW = b"new content, longer than the old one\n" * 1000


def others(folder: Path, keep: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != keep)


def test_writes_a_new_file_and_its_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "out.bin"
    atomic_write(path, NEW)
    assert path.read_bytes() == NEW
    assert others(path.parent, "out.bin") == []


def test_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    path.write_bytes(OLD)
    atomic_write(path, NEW)
    assert path.read_bytes() == NEW
    assert others(tmp_path, "out.bin") == []


@pytest.mark.parametrize("mode", [0o644, 0o600])
def test_mode_whatever_the_umask(tmp_path: Path, mode: int) -> None:
    old = os.umask(0o077)
    try:
        atomic_write(tmp_path / "out.bin", NEW, mode=mode)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.bin").stat().st_mode) == mode


def test_before_rename_sees_the_data_synced_and_the_target_untouched(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    path.write_bytes(OLD)
    seen: list[tuple[bytes, list[bytes]]] = []

    def before_rename() -> None:
        temps = [p.read_bytes() for p in tmp_path.iterdir() if p != path]
        seen.append((path.read_bytes(), temps))

    atomic_write(path, NEW, before_rename=before_rename)
    assert seen == [(OLD, [NEW])]
    assert path.read_bytes() == NEW


def _fail_with(exc: BaseException) -> Any:
    def fail(*args: object) -> None:
        raise exc

    return fail


@pytest.mark.parametrize(
    "name", ["write", "fsync", "chmod", "replace", "before_rename"], ids=lambda n: n
)
@pytest.mark.parametrize(
    "exc", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()], ids=repr
)
def test_a_failure_keeps_the_old_file_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, exc: BaseException
) -> None:
    path = tmp_path / "out.bin"
    path.write_bytes(OLD)
    before_rename = None
    if name == "before_rename":
        before_rename = _fail_with(exc)
    else:
        monkeypatch.setattr(os, name, _fail_with(exc))
    with pytest.raises(type(exc)):
        atomic_write(path, NEW, before_rename=before_rename)
    monkeypatch.undo()
    assert path.read_bytes() == OLD
    assert others(tmp_path, "out.bin") == []


def test_a_short_write_is_continued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write
    real_pwrite = os.pwrite

    def write(fd: int, data: Any) -> int:
        return real_write(fd, bytes(data[:7]))

    def pwrite(fd: int, data: Any, offset: int) -> int:
        return real_pwrite(fd, bytes(data[:7]), offset)

    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "pwrite", pwrite)
    atomic_write(tmp_path / "out.bin", NEW)
    assert (tmp_path / "out.bin").read_bytes() == NEW
    fd = os.open(tmp_path / "p.bin", os.O_RDWR | os.O_CREAT)
    try:
        write_all(fd, b"0123456789" * 3)
        pwrite_all(fd, b"abcdefghijklmnop", 5)
    finally:
        os.close(fd)
    assert (tmp_path / "p.bin").read_bytes() == b"01234abcdefghijklmnop123456789"


def test_the_directory_entry_is_synced_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.bin"
    real_fsync = os.fsync
    synced: list[tuple[bool, bytes | None]] = []  # (a directory?, the target's bytes then)

    def fsync(fd: int) -> None:
        target = path.read_bytes() if path.exists() else None
        synced.append((stat.S_ISDIR(os.fstat(fd).st_mode), target))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    atomic_write(path, NEW)
    assert synced == [(False, None), (True, NEW)]


def test_a_kill_before_the_rename_leaves_the_old_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    path.write_bytes(OLD)
    code = textwrap.dedent(
        """
        import os, signal, sys
        from pathlib import Path
        from postie.fsutil import atomic_write
        atomic_write(
            Path(sys.argv[1]),
            b"new" * 100_000,
            before_rename=lambda: os.kill(os.getpid(), signal.SIGKILL),
        )
        """
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], cwd=REPO, check=False)
    assert done.returncode == -signal.SIGKILL
    assert path.read_bytes() == OLD
    (leftover,) = others(tmp_path, "out.bin")  # the temporary file, whole, never renamed
    assert leftover.startswith(".out.bin.")
    assert leftover.endswith(".tmp")
    assert (tmp_path / leftover).read_bytes() == b"new" * 100_000
