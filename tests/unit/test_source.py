"""Is a source file still the one that was planned? (postie.article.source): size and
mtime for every file; inode and ctime besides, where manifest version 2 recorded them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from postie import errors
from postie.article.plan import collect
from postie.article.source import examine


def test_the_walk_records_each_files_inode_and_ctime(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"x" * 100)
    st = path.stat()
    (found,) = collect([tmp_path]).files
    assert (found.size, found.mtime_ns, found.ino, found.ctime_ns) == (
        100,
        st.st_mtime_ns,
        st.st_ino,
        st.st_ctime_ns,
    )


def planned_file(tmp_path: Path) -> tuple[Path, os.stat_result]:
    path = tmp_path / "a.bin"
    path.write_bytes(os.urandom(10_000))
    return path, path.stat()


def check(path: Path, st: os.stat_result) -> tuple[object, object]:
    return examine(path, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def test_the_same_file_passes(tmp_path: Path) -> None:
    path, st = planned_file(tmp_path)
    assert check(path, st) == (None, None)
    assert examine(path, st.st_size, st.st_mtime_ns) == (None, None)  # version 1: no identity


def test_another_inode_with_the_same_size_and_mtime_is_not_the_same_file(
    tmp_path: Path,
) -> None:
    path, st = planned_file(tmp_path)
    copy = tmp_path / "copy"
    shutil.copyfile(path, copy)
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns))
    copy.replace(path)  # same bytes, size and mtime; another inode
    lost, unlike = check(path, st)
    assert lost is None
    assert isinstance(unlike, errors.SourceChanged)
    assert "same size and mtime, but another inode" in str(unlike)


def test_another_ctime_with_the_same_size_and_mtime_is_not_the_same_file(
    tmp_path: Path,
) -> None:
    path, st = planned_file(tmp_path)
    with path.open("r+b") as handle:  # written in place, the mtime put back
        handle.write(b"changed")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    lost, unlike = check(path, st)
    assert lost is None
    assert isinstance(unlike, errors.SourceChanged)
    assert "another ctime" in str(unlike)
    assert "another inode" not in str(unlike)


def test_another_size_or_a_missing_file_cannot_be_posted_from(tmp_path: Path) -> None:
    path, st = planned_file(tmp_path)
    with path.open("ab") as handle:
        handle.write(b"more")
    lost, unlike = check(path, st)
    assert isinstance(lost, errors.SourceChanged)
    assert unlike is None
    path.unlink()
    lost, _ = check(path, st)
    assert isinstance(lost, errors.SourceMissing)
