"""Tests for postie.article.plan: collecting files and planning segments."""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postie.article.plan import (
    Collected,
    JobPlan,
    SourceFile,
    collect,
    display_name,
    plan_job,
)
from postie.article.walk import WalkRules
from postie.config import Obfuscation, PostingConfig, validate
from postie.errors import InputError

SIZE = 1024  # the smallest allowed article size keeps the files tiny
MESSAGE_ID = re.compile(r"^[0-9a-f]{32}@(?P<domain>[^<>@\s]+)$")


def write(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    return path


def posting(**fields: object) -> PostingConfig:
    return validate(PostingConfig, {"article_size": SIZE, **fields})


def source(name: str, size: int) -> SourceFile:
    return SourceFile(f"/nonexistent/{name}", name, size, 0)


def names(collected: Collected) -> list[str]:
    return [f.name for f in collected.files]


# --- collect -------------------------------------------------------------------------------


def test_collect_missing_path_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "no such thing.bin"
    with pytest.raises(InputError, match="no such file or folder") as info:
        collect([missing])
    assert str(missing) in str(info.value)


def test_collect_missing_path_after_good_ones(tmp_path: Path) -> None:
    good = write(tmp_path / "a.bin", 10)
    with pytest.raises(InputError, match=r"missing\.bin"):
        collect([good, tmp_path / "missing.bin"])


def test_collect_empty_folder(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    with pytest.raises(InputError, match="no files to post") as info:
        collect([folder])
    assert str(folder) in str(info.value)


def test_collect_single_file(tmp_path: Path) -> None:
    path = write(tmp_path / "movie.mkv", 123)
    collected = collect([path])
    assert len(collected.files) == 1
    f = collected.files[0]
    assert (f.path, f.name, f.size) == (str(path), "movie.mkv", 123)
    assert f.mtime_ns == path.stat().st_mtime_ns
    assert (collected.skipped, collected.failed, collected.warnings) == ((), (), ())


def test_collect_records_which_file_it_is_and_the_plan_keeps_it(tmp_path: Path) -> None:
    """The inode and the change time (a file replaced under the same name and mtime is
    another file): the walk's, carried into the plan. A file written once has its ctime
    equal to its mtime: then both are the same int object (one fewer per file)."""
    once = write(tmp_path / "once.bin", 10)
    touched = write(tmp_path / "touched.bin", 10)
    os.utime(touched, ns=(1_000_000_000, 1_000_000_000))  # mtime in 2001, ctime now
    st_once, st_touched = once.stat(), touched.stat()
    assert st_touched.st_ctime_ns != st_touched.st_mtime_ns
    collected = collect([tmp_path])
    a, b = collected.files
    assert (a.name, a.ino, a.ctime_ns) == ("once.bin", st_once.st_ino, st_once.st_ctime_ns)
    assert (b.name, b.ino, b.ctime_ns) == ("touched.bin", st_touched.st_ino, st_touched.st_ctime_ns)
    assert (a.mtime_ns, b.mtime_ns) == (st_once.st_mtime_ns, 1_000_000_000)
    if st_once.st_ctime_ns == st_once.st_mtime_ns:  # as a write sets both (on Linux)
        assert a.ctime_ns is a.mtime_ns
    plan = plan_job(collected, posting(), name="job")
    assert [(f.ino, f.ctime_ns) for f in plan.files] == [(a.ino, a.ctime_ns), (b.ino, b.ctime_ns)]


def test_collect_zero_byte_file_is_skipped_with_a_reason(tmp_path: Path) -> None:
    empty = write(tmp_path / "folder" / "empty.bin", 0)
    write(tmp_path / "folder" / "full.bin", 5)
    collected = collect([tmp_path / "folder"])
    assert names(collected) == ["full.bin"]
    assert len(collected.skipped) == 1
    assert collected.skipped[0].path == str(empty)
    assert collected.skipped[0].reason == "empty file (zero bytes), skipped"
    assert str(collected.skipped[0]) == f"{empty}: empty file (zero bytes), skipped"


def test_collect_zero_byte_file_given_directly_is_skipped(tmp_path: Path) -> None:
    empty = write(tmp_path / "empty.bin", 0)
    collected = collect([empty])
    assert collected.files == ()
    assert [p.path for p in collected.skipped] == [str(empty)]


def test_collect_nested_folders_give_posix_relative_names_in_stable_order(
    tmp_path: Path,
) -> None:
    root = tmp_path / "release"
    # Created out of order on purpose.
    for rel in ["sub/z.bin", "b.bin", "sub/deeper/y.bin", "a.bin", "sub/a.bin", "other/x.bin"]:
        write(root / rel, 3)
    collected = collect([root])
    # Each folder's files in byte order, then its subfolders in byte order, depth first.
    assert names(collected) == [
        "a.bin",
        "b.bin",
        "other/x.bin",
        "sub/a.bin",
        "sub/z.bin",
        "sub/deeper/y.bin",
    ]
    assert all("\\" not in n and not n.startswith("/") for n in names(collected))
    assert [f.path for f in collected.files] == [str(root / n) for n in names(collected)]
    assert names(collect([root])) == names(collected)  # stable


def test_collect_names_are_relative_to_each_given_folder(tmp_path: Path) -> None:
    write(tmp_path / "one" / "a.bin", 1)
    write(tmp_path / "two" / "deep" / "b.bin", 1)
    single = write(tmp_path / "three" / "c.bin", 1)
    collected = collect([tmp_path / "one", tmp_path / "two", single])
    assert names(collected) == ["a.bin", "deep/b.bin", "c.bin"]


FOLLOW = WalkRules(follow_symlinks=True)


def test_collect_directory_symlink_loop_is_reported_and_does_not_hang(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root / "a.bin", 1)
    write(root / "sub" / "b.bin", 1)
    os.symlink("..", root / "sub" / "loop")  # sub/loop -> root
    collected = collect([root], FOLLOW)
    assert names(collected) == ["a.bin", "sub/b.bin"]
    assert [p.path for p in collected.skipped] == [str(root / "sub" / "loop")]
    assert "loop" in collected.skipped[0].reason
    assert collected.failed == ()


@pytest.mark.timeout(10)  # without the ancestor check the walk never ends: fail, not hang
def test_collect_loop_through_a_non_root_ancestor_is_reported_and_the_walk_ends(
    tmp_path: Path,
) -> None:
    """Two links inside sub/ both point back to sub/ (not to the root), so only the check
    against the folders above stops them; without it each level of the walk doubles."""
    root = tmp_path / "root"
    write(root / "a.bin", 1)
    write(root / "sub" / "b.bin", 1)
    os.symlink("../sub", root / "sub" / "loop")  # sub/loop -> sub
    os.symlink("../sub", root / "sub" / "loop2")  # a sibling link to the same place
    collected = collect([root], FOLLOW)
    assert names(collected) == ["a.bin", "sub/b.bin"]
    assert [p.path for p in collected.skipped] == [
        str(root / "sub" / "loop"),
        str(root / "sub" / "loop2"),
    ]
    assert all(p.reason == "symlink loop (points to a folder above it)" for p in collected.skipped)
    assert (collected.failed, collected.warnings) == ((), ())


def test_collect_symlink_to_itself_folder_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root / "a.bin", 1)
    os.symlink(".", root / "self")
    collected = collect([root], FOLLOW)
    assert names(collected) == ["a.bin"]
    assert [p.path for p in collected.skipped] == [str(root / "self")]
    assert "loop" in collected.skipped[0].reason


def test_collect_symlink_pointing_to_itself_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root / "a.bin", 1)
    os.symlink("me", root / "me")  # ELOOP when followed
    collected = collect([root], FOLLOW)
    assert names(collected) == ["a.bin"]
    assert [p.path for p in collected.skipped] == [str(root / "me")]
    assert "loop" in collected.skipped[0].reason


def test_collect_links_are_not_followed_by_default_and_each_is_named(tmp_path: Path) -> None:
    """Without follow_symlinks no link is followed, wherever it points; one line each."""
    write(tmp_path / "elsewhere" / "x.bin", 2)
    root = tmp_path / "root"
    write(root / "a.bin", 1)
    os.symlink(tmp_path / "elsewhere", root / "dir-link")
    os.symlink("a.bin", root / "file-link")
    os.symlink("/etc", root / "etc-link")
    collected = collect([root])
    assert names(collected) == ["a.bin"]
    assert sorted(p.path for p in collected.skipped) == [
        str(root / "dir-link"),
        str(root / "etc-link"),
        str(root / "file-link"),
    ]
    for problem in collected.skipped:
        assert "not followed (follow_symlinks is off)" in problem.reason
    assert "symlink to /etc" in str(collected.skipped[1])


def test_collect_never_follows_a_link_out_of_the_folders_given(tmp_path: Path) -> None:
    """Even with follow_symlinks a link is followed only into a folder the user named:
    a link to /etc (or to a file outside) is skipped with where it points."""
    outside = write(tmp_path / "secret.txt", 5)
    root = tmp_path / "root"
    write(root / "a.bin", 1)
    os.symlink("/etc", root / "etc-link")
    os.symlink(outside, root / "secret-link.txt")
    collected = collect([root], FOLLOW)
    assert names(collected) == ["a.bin"]
    reasons = {p.path: p.reason for p in collected.skipped}
    assert reasons == {
        str(root / "etc-link"): "symlink to /etc, outside the folders given; not followed",
        str(root / "secret-link.txt"): (
            f"symlink to {outside}, outside the folders given; not followed"
        ),
    }


def test_collect_follows_a_link_into_another_folder_given(tmp_path: Path) -> None:
    other = tmp_path / "other"
    write(other / "sub" / "x.bin", 2)
    root = tmp_path / "root"
    write(root / "a.bin", 1)
    os.symlink(other / "sub", root / "link")
    os.symlink(other / "sub" / "x.bin", root / "x-link.bin")
    assert names(collect([root, other], FOLLOW)) == ["a.bin", "link/x.bin"]
    # links inside the one folder given are followed too (each file once)
    os.symlink("a.bin", root / "alias.bin")
    assert names(collect([root], FOLLOW)) == ["a.bin"]
    assert names(collect([root / "link"], FOLLOW)) == ["x.bin"]  # a link the user named


def test_collect_broken_symlink_in_folder_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root / "a.bin", 1)
    os.symlink(tmp_path / "gone.bin", root / "broken.bin")
    collected = collect([root], FOLLOW)
    assert names(collected) == ["a.bin"]
    assert [p.path for p in collected.skipped] == [str(root / "broken.bin")]
    assert "broken symlink" in collected.skipped[0].reason
    assert collected.failed == (), "a broken link is left out, not a failure of the job"


def test_collect_broken_symlink_given_directly_is_reported(tmp_path: Path) -> None:
    link = tmp_path / "broken.bin"
    os.symlink(tmp_path / "gone.bin", link)
    collected = collect([link])
    assert collected.files == ()
    assert [p.path for p in collected.failed] == [str(link)]
    assert "broken symlink" in collected.failed[0].reason


def test_collect_not_a_regular_file_is_skipped(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    collected = collect([fifo])
    assert collected.files == ()
    assert [(p.path, p.reason) for p in collected.skipped] == [
        (str(fifo), "not a regular file (a pipe, socket or device)")
    ]


def test_collect_ignore_globs_and_size_floor_apply_at_every_depth(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for rel, size in [
        ("a.bin", 10),
        (".env", 10),
        ("x.part", 10),
        ("small.bin", 3),
        ("sub/.env", 10),
        ("sub/b.bin", 10),
        ("sub/deep/y.part", 10),
        ("sub/deep/tiny.bin", 2),
        (".hidden/c.bin", 10),
    ]:
        write(root / rel, size)
    rules = WalkRules(ignore=(".*", "*.part"), min_size=5)
    collected = collect([root], rules)
    assert names(collected) == ["a.bin", "sub/b.bin"]
    assert sorted(p.path for p in collected.skipped) == [
        str(root / "small.bin"),
        str(root / "sub" / "deep" / "tiny.bin"),
    ]


def test_collect_as_a_job_applies_the_rules_to_the_path_itself(tmp_path: Path) -> None:
    """A daemon job (``root`` given): the job's own path is an entry of its watch root,
    so an ignored name or a link out of the root posts nothing."""
    root = tmp_path / "watch"
    write(root / "job" / "a.bin", 3)
    write(root / "job" / ".env", 3)
    write(tmp_path / "secret" / "s.bin", 3)
    os.symlink(tmp_path / "secret", root / "escape")
    rules = WalkRules(ignore=(".*",), follow_symlinks=True)
    assert names(collect([root / "job"], rules, root=root)) == ["a.bin"]
    escaped = collect([root / "escape"], rules, root=root)
    assert escaped.files == ()
    assert f"outside {root}; not followed" in escaped.skipped[0].reason


def test_collect_as_a_job_follows_links_that_stay_in_the_watch_root(tmp_path: Path) -> None:
    """A daemon job's links are confined to its watch root, not to the job's own folder: a
    link to a folder or a file elsewhere in the root is followed."""
    root = tmp_path / "watch"
    write(root / "job" / "a.bin", 1)
    write(root / "shared" / "x.bin", 2)
    write(root / "other" / "y.bin", 3)
    os.symlink(root / "shared", root / "job" / "dir")
    os.symlink(root / "other" / "y.bin", root / "job" / "file-link.bin")
    collected = collect([root / "job"], FOLLOW, root=root)
    assert names(collected) == ["a.bin", "dir/x.bin", "file-link.bin"]
    assert collected.skipped == ()


def test_collect_non_utf8_name_gives_a_warning_and_a_printable_name(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9.bin"
    write(Path(os.fsdecode(raw)), 4)
    collected = collect([tmp_path])
    assert len(collected.files) == 1
    name = collected.files[0].name
    assert name == "caf\\xe9.bin"
    assert name.isprintable()
    name.encode("utf-8")  # no lone surrogates
    assert os.fsencode(collected.files[0].path) == raw  # the real file is still read
    assert len(collected.warnings) == 1
    assert "UTF-8" in collected.warnings[0].reason
    assert collected.warnings[0].path == name


def test_collect_utf8_name_is_kept_without_warning(tmp_path: Path) -> None:
    write(tmp_path / "café ünïcødé 日本.bin", 4)
    collected = collect([tmp_path])
    assert names(collected) == ["café ünïcødé 日本.bin"]
    assert collected.warnings == ()


@pytest.mark.parametrize("bad", ["new\nline.bin", "carriage\rreturn.bin", "esc\x1b[31m.bin"])
def test_collect_control_characters_in_a_name_are_made_printable(tmp_path: Path, bad: str) -> None:
    # display_name promises a name "fit for headers and XML": a raw CR/LF would inject
    # article headers, and C0 controls are not allowed in XML 1.0 at all.
    write(tmp_path / bad, 4)
    collected = collect([tmp_path])
    name = collected.files[0].name
    assert name.isprintable(), repr(name)
    assert len(collected.warnings) == 1


def test_display_name() -> None:
    assert display_name("plain.bin") == ("plain.bin", True)
    assert display_name("日本.bin") == ("日本.bin", True)
    assert display_name(os.fsdecode(b"\xff\xfe.bin")) == ("\\xff\\xfe.bin", False)


def test_display_name_escapes_only_what_is_not_printable() -> None:
    """Control characters become their escapes; printable non-ASCII stays as it is."""
    assert display_name("é\tb\n.bin") == ("é\\tb\\n.bin", False)
    assert display_name("a/b c.bin") == ("a/b c.bin", True)


def test_collect_symlink_to_a_file_given_directly_is_collected(tmp_path: Path) -> None:
    """A link to a file, given as a path, is posted under the link's name."""
    write(tmp_path / "real.bin", 3)
    os.symlink(tmp_path / "real.bin", tmp_path / "link.bin")
    collected = collect([tmp_path / "link.bin"])
    assert names(collected) == ["link.bin"]
    assert collected.failed == ()


def test_collect_goes_on_after_a_broken_symlink_given_directly(tmp_path: Path) -> None:
    """A broken link among the given paths is reported; the paths after it are collected."""
    os.symlink(tmp_path / "gone.bin", tmp_path / "broken.bin")
    good = write(tmp_path / "good.bin", 2)
    collected = collect([tmp_path / "broken.bin", good])
    assert names(collected) == ["good.bin"]
    assert [p.path for p in collected.failed] == [str(tmp_path / "broken.bin")]


def test_collect_goes_on_after_a_broken_symlink_in_a_folder(tmp_path: Path) -> None:
    """A broken link inside a folder is reported; the entries after it are collected."""
    root = tmp_path / "root"
    write(root / "a.bin", 1)
    os.symlink(tmp_path / "gone.bin", root / "b-broken.bin")
    write(root / "c.bin", 1)
    write(root / "d" / "e.bin", 1)
    collected = collect([root], FOLLOW)
    assert names(collected) == ["a.bin", "c.bin", "d/e.bin"]
    assert [p.path for p in collected.skipped] == [str(root / "b-broken.bin")]


def test_collect_goes_on_after_a_self_link_in_a_folder(tmp_path: Path) -> None:
    """A link to itself (ELOOP when followed) is reported; the entries after it are
    collected."""
    root = tmp_path / "root"
    write(root / "a.bin", 1)
    os.symlink("b-me", root / "b-me")
    write(root / "c.bin", 1)
    collected = collect([root], FOLLOW)
    assert names(collected) == ["a.bin", "c.bin"]
    assert [(p.path, p.reason) for p in collected.skipped] == [(str(root / "b-me"), "symlink loop")]


def test_collect_reports_a_folder_it_cannot_list_and_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder whose listing fails (here: made to fail, as root can list anything) is
    reported with the reason, and the folders after it are still walked."""
    root = tmp_path / "root"
    write(root / "a" / "x.bin", 1)
    write(root / "b" / "y.bin", 1)
    real_scandir = os.scandir

    def scandir(path: Path) -> Iterator[os.DirEntry[str]]:
        if Path(path) == root / "a":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    collected = collect([root])
    assert names(collected) == ["b/y.bin"]
    assert [(p.path, p.reason) for p in collected.failed] == [
        (str(root / "a"), "cannot read folder: permission denied")
    ]


def test_collect_reports_files_it_cannot_open_and_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that cannot be opened fails at collection, not mid-upload: "permission
    denied", or the system's reason for other errors; the other files are collected (made
    to fail here, as root can open anything)."""
    locked = write(tmp_path / "a-locked.bin", 1)
    broken = write(tmp_path / "b-broken.bin", 1)
    write(tmp_path / "c.bin", 1)
    real_open = os.open

    def fake_open(path: str, flags: int, *args: Any, **kwargs: Any) -> int:
        if Path(path) == locked:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        if Path(path) == broken:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake_open)
    collected = collect([tmp_path])
    assert names(collected) == ["c.bin"]
    assert [(p.path, p.reason) for p in collected.failed] == [
        (str(locked), "permission denied"),
        (str(broken), os.strerror(errno.EIO)),
    ]


@pytest.mark.parametrize("failing", [("stat",), ("stat", "lstat")], ids=["stat", "both"])
def test_collect_a_given_path_that_cannot_be_examined_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: tuple[str, ...]
) -> None:
    """A given path whose type cannot be read (here: made to fail, as root reads
    anything) fails with the reason, also when not even the entry itself can be looked
    at (it is there, not missing); the other paths are collected."""
    given = write(tmp_path / "a.bin", 1)
    other = write(tmp_path / "b.bin", 1)
    for name in failing:
        real = getattr(os, name)

        def fail(path: Any, *args: Any, real: Any = real, **kwargs: Any) -> os.stat_result:
            if Path(path) == given:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
            result: os.stat_result = real(path, *args, **kwargs)
            return result

        monkeypatch.setattr(os, name, fail)
    collected = collect([given, other])
    assert names(collected) == ["b.bin"]
    assert [(p.path, p.reason) for p in collected.failed] == [(str(given), "permission denied")]


def test_collect_same_file_twice_is_collected_once(tmp_path: Path) -> None:
    path = write(tmp_path / "a.bin", 4)
    assert names(collect([path, path])) == ["a.bin"]


def test_collect_file_and_its_folder_collect_it_once(tmp_path: Path) -> None:
    root = tmp_path / "root"
    a = write(root / "a.bin", 4)
    write(root / "b.bin", 4)
    assert names(collect([root, a])) == ["a.bin", "b.bin"]
    assert names(collect([a, root])) == ["a.bin", "b.bin"]


def test_collect_symlink_to_a_collected_file_is_collected_once(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root / "a.bin", 4)
    os.symlink("a.bin", root / "b.bin")
    assert names(collect([root])) == ["a.bin"]


def test_collect_same_folder_twice_is_collected_once(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root / "a.bin", 4)
    # The second walk finds only files already collected: that is not an empty folder.
    assert names(collect([root, root])) == ["a.bin"]


def test_collect_folder_and_its_subfolder(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root / "a.bin", 4)
    write(root / "sub" / "b.bin", 4)
    assert names(collect([root, root / "sub"])) == ["a.bin", "sub/b.bin"]


# --- plan_job ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "lengths"),
    [
        (1, [1]),
        (SIZE - 1, [SIZE - 1]),
        (SIZE, [SIZE]),
        (SIZE + 1, [SIZE, 1]),
        (3 * SIZE, [SIZE, SIZE, SIZE]),
        (3 * SIZE + 1, [SIZE, SIZE, SIZE, 1]),
    ],
)
def test_plan_splits_sizes(size: int, lengths: list[int]) -> None:
    plan = plan_job(Collected((source("f.bin", size),)), posting(), name="job")
    segments = plan.files[0].segments
    assert [s.length for s in segments] == lengths
    assert [s.number for s in segments] == list(range(1, len(lengths) + 1))
    assert [s.offset for s in segments] == [i * SIZE for i in range(len(lengths))]


@given(
    sizes=st.lists(st.integers(1, 20 * SIZE), min_size=1, max_size=5),
    article_size=st.integers(SIZE, 4 * SIZE),
)
def test_plan_segments_cover_every_file_exactly(sizes: list[int], article_size: int) -> None:
    files = tuple(source(f"f{i}.bin", n) for i, n in enumerate(sizes))
    config = validate(PostingConfig, {"article_size": article_size})
    plan = plan_job(Collected(files), config, name="job")
    assert plan.total_bytes == sum(sizes)
    assert plan.article_count == sum(-(-n // article_size) for n in sizes)
    for fp, size in zip(plan.files, sizes, strict=True):
        offset = 0
        for number, seg in enumerate(fp.segments, start=1):
            assert seg.number == number
            assert seg.offset == offset  # contiguous, no gap, no overlap
            assert 1 <= seg.length <= article_size
            offset += seg.length
        assert offset == size
        assert all(s.length == article_size for s in fp.segments[:-1])


def test_plan_job_fields() -> None:
    collected = Collected(
        (source("a.bin", 10), source("b.bin", 2 * SIZE + 5)),
        skipped=(),
        failed=(),
        warnings=(),
    )
    config = posting(groups=["alt.binaries.a", "alt.binaries.b"], poster="me <me@example.com>")
    plan = plan_job(collected, config, name="my job", now=1_700_000_000.7)
    assert isinstance(plan, JobPlan)
    assert plan.name == "my job"
    assert plan.groups == ("alt.binaries.a", "alt.binaries.b")
    assert plan.poster == "me <me@example.com>"
    assert plan.date == 1_700_000_000
    assert plan.obfuscation is Obfuscation.NONE
    assert [(f.index, f.name, f.size) for f in plan.files] == [
        (1, "a.bin", 10),
        (2, "b.bin", 2 * SIZE + 5),
    ]
    assert plan.total_bytes == 10 + 2 * SIZE + 5
    assert plan.article_count == 1 + 3


def test_plan_carries_the_problems_over(tmp_path: Path) -> None:
    write(tmp_path / "a.bin", 5)
    write(tmp_path / os.fsdecode(b"\xff.bin"), 1)  # a warning: not UTF-8
    write(tmp_path / "empty.bin", 0)
    os.symlink(tmp_path / "gone", tmp_path / "broken")
    collected = collect([tmp_path, tmp_path / "broken"])
    plan = plan_job(collected, posting(), name="job")
    assert plan.skipped == collected.skipped != ()
    assert plan.failed == collected.failed != ()
    assert plan.warnings == collected.warnings != ()
    assert [f.path for f in plan.files] == [
        str(tmp_path / "a.bin"),
        str(tmp_path / os.fsdecode(b"\xff.bin")),
    ]


def test_plan_message_ids_are_unique_and_in_the_domain() -> None:
    files = tuple(source(f"f{i}.bin", 7 * SIZE) for i in range(8))
    plan = plan_job(Collected(files), posting(message_id_domain="ids.example.org"), name="j")
    ids = [s.message_id for f in plan.files for s in f.segments]
    assert len(ids) == plan.article_count == 56
    assert len(set(ids)) == len(ids)
    for mid in ids:
        match = MESSAGE_ID.match(mid)
        assert match, mid
        assert match["domain"] == "ids.example.org"
        assert mid.endswith("@ids.example.org")
    # A new plan gets new IDs.
    again = plan_job(Collected(files), posting(message_id_domain="ids.example.org"), name="j")
    assert not set(ids) & {s.message_id for f in again.files for s in f.segments}


def test_plan_without_obfuscation_sets_no_per_segment_headers() -> None:
    plan = plan_job(Collected((source("a.bin", 3 * SIZE),)), posting(), name="j")
    for seg in plan.files[0].segments:
        assert (seg.subject, seg.poster, seg.wire_name) == (None, None, None)


def test_plan_full_obfuscation_randomises_every_segment() -> None:
    files = (source("secret movie.mkv", 4 * SIZE), source("other.bin", 2 * SIZE))
    plan = plan_job(Collected(files), posting(obfuscation="full"), name="j")
    assert plan.obfuscation is Obfuscation.FULL
    assert [f.name for f in plan.files] == ["secret movie.mkv", "other.bin"]  # real names
    segments = [s for f in plan.files for s in f.segments]
    subjects = [s.subject for s in segments]
    posters = [s.poster for s in segments]
    wire_names = [s.wire_name for s in segments]
    for values in (subjects, posters, wire_names):
        assert None not in values
        assert len(set(values)) == len(values)  # distinct for every segment
    assert not set(subjects) & set(wire_names)
    for seg in segments:
        assert seg.subject is not None
        assert seg.wire_name is not None
        assert seg.poster is not None
        assert "secret" not in seg.subject
        assert "movie" not in seg.wire_name
        assert re.fullmatch(r"[0-9a-f]{32}", seg.subject)
        assert re.fullmatch(r"[0-9a-f]{32}", seg.wire_name)
        assert re.fullmatch(r"([0-9a-f]+) <\1@[0-9a-f]+\.com>", seg.poster), seg.poster
        assert seg.poster != plan.poster


def test_plan_of_nothing() -> None:
    plan = plan_job(Collected(()), posting(), name="j", now=5)
    assert plan.files == ()
    assert plan.total_bytes == 0
    assert plan.article_count == 0
