"""The folder watcher: what is a job, when it is ready, what is left alone, what is reported."""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any

import pytest

from postie.config import WatchRoot
from postie.daemon.watcher import Candidate, ScanResult, Watcher, Window, parse_window

AGE = 60.0


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(
    clock: Clock, *roots: WatchRoot, exclude: tuple[Path, ...] = (), now: Any = None
) -> Watcher:
    if now is None:
        return Watcher(roots, exclude=exclude, clock=clock)
    return Watcher(roots, exclude=exclude, clock=clock, now=now)


def root(path: Path, **options: Any) -> WatchRoot:
    options.setdefault("min_file_age", AGE)
    return WatchRoot(path=path, **options)


def write(path: Path, data: bytes = b"data") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def names(result: ScanResult) -> list[str]:
    return [c.relative for c in result.ready]


def settle(w: Watcher, clock: Clock) -> ScanResult:
    """Scan (first sight), wait min_file_age, scan again."""
    w.scan()
    clock.advance(AGE)
    return w.scan()


# --- readiness ---------------------------------------------------------------------------


def test_a_file_is_ready_only_after_min_file_age_unchanged(tmp_path: Path, clock: Clock) -> None:
    write(tmp_path / "a.bin", b"12345")
    out = tmp_path.parent / "nzbs"
    w = make(clock, root(tmp_path, priority=7, output=out))
    first = w.scan()
    assert first.ready == ()
    assert first.waiting == 1
    clock.advance(AGE - 1)
    assert w.scan().ready == ()
    clock.advance(1)
    result = w.scan()
    assert result.ready == (
        Candidate(
            root=tmp_path,
            path=tmp_path / "a.bin",
            relative="a.bin",
            size=5,
            files=1,
            priority=7,
            output=out,
        ),
    )
    assert result.waiting == 0
    assert result.problems == ()


def test_a_growing_file_is_never_ready_until_it_stops(tmp_path: Path, clock: Clock) -> None:
    path = write(tmp_path / "growing.bin", b"x")
    w = make(clock, root(tmp_path))
    for _ in range(10):
        assert w.scan().ready == ()
        with path.open("ab") as f:
            f.write(b"more")
        clock.advance(AGE / 2 + 1)
    assert w.scan().ready == ()  # first sight of the final size
    clock.advance(AGE)
    assert names(w.scan()) == ["growing.bin"]


def test_a_new_mtime_with_the_same_size_restarts_the_wait(tmp_path: Path, clock: Clock) -> None:
    path = write(tmp_path / "a.bin")
    w = make(clock, root(tmp_path))
    w.scan()
    clock.advance(AGE - 1)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert w.scan().ready == ()
    clock.advance(AGE - 1)
    assert w.scan().ready == ()
    clock.advance(1)
    assert names(w.scan()) == ["a.bin"]


def test_min_file_age_zero_is_ready_at_first_sight(tmp_path: Path, clock: Clock) -> None:
    write(tmp_path / "a.bin")
    assert names(make(clock, root(tmp_path, min_file_age=0)).scan()) == ["a.bin"]


# --- folder and file mode ----------------------------------------------------------------


def test_folder_mode_a_folder_is_one_candidate_with_its_total_size(
    tmp_path: Path, clock: Clock
) -> None:
    write(tmp_path / "job" / "a.bin", b"123")
    write(tmp_path / "job" / "sub" / "deeper" / "b.bin", b"12345")
    write(tmp_path / "single.bin", b"1")
    (tmp_path / "empty-folder" / "sub").mkdir(parents=True)
    result = settle(make(clock, root(tmp_path)), clock)
    assert [(c.relative, c.size, c.files) for c in result.ready] == [
        ("job", 8, 2),
        ("single.bin", 1, 1),
    ]
    assert result.ready[0].path == tmp_path / "job"


def test_folder_mode_a_new_file_inside_resets_the_folder_age(tmp_path: Path, clock: Clock) -> None:
    write(tmp_path / "job" / "a.bin")
    w = make(clock, root(tmp_path))
    w.scan()
    clock.advance(AGE - 10)
    write(tmp_path / "job" / "sub" / "b.bin")
    assert w.scan().ready == ()
    clock.advance(AGE - 1)
    assert w.scan().ready == ()
    clock.advance(1)
    result = w.scan()
    assert [(c.relative, c.files) for c in result.ready] == [("job", 2)]


def test_file_mode_nested_files_are_separate_candidates(tmp_path: Path, clock: Clock) -> None:
    write(tmp_path / "top.bin", b"1")
    write(tmp_path / "a" / "b" / "c.bin", b"12")
    write(tmp_path / "a" / "d.bin", b"123")
    result = settle(make(clock, root(tmp_path, mode="file")), clock)
    assert [(c.relative, c.size, c.files) for c in result.ready] == [
        ("a/b/c.bin", 2, 1),
        ("a/d.bin", 3, 1),
        ("top.bin", 1, 1),
    ]
    assert result.ready[0].path == tmp_path / "a" / "b" / "c.bin"
    assert all(c.root == tmp_path for c in result.ready)


def test_file_mode_each_file_settles_on_its_own(tmp_path: Path, clock: Clock) -> None:
    write(tmp_path / "a" / "old.bin")
    w = make(clock, root(tmp_path, mode="file"))
    w.scan()
    clock.advance(AGE - 1)
    write(tmp_path / "a" / "new.bin")
    w.scan()
    clock.advance(1)
    assert names(w.scan()) == ["a/old.bin"]
    clock.advance(AGE)
    assert names(w.scan()) == ["a/new.bin"]


# --- what is left alone ------------------------------------------------------------------


def test_ignore_patterns_at_the_top_level_and_nested(tmp_path: Path, clock: Clock) -> None:
    write(tmp_path / "download.part", b"x")
    write(tmp_path / ".hidden" / "a.bin")
    write(tmp_path / "only-temp" / "x.tmp")
    write(tmp_path / "job" / "a.bin", b"123")
    write(tmp_path / "job" / "b.crdownload", b"12345")
    write(tmp_path / "job" / "sub" / ".DS_Store", b"12345")
    write(tmp_path / "job" / "skip-me" / "c.bin", b"12345")
    w = make(clock, root(tmp_path, ignore=("*.part", "*.tmp", "*.crdownload", ".*", "skip-*")))
    result = settle(w, clock)
    assert [(c.relative, c.size, c.files) for c in result.ready] == [("job", 3, 1)]


def test_a_download_still_running_inside_a_folder_holds_it_back(
    tmp_path: Path, clock: Clock
) -> None:
    """An ignored file (a *.part) is not posted, but while it changes its folder is not
    stable: the folder waits until the download stopped, then goes without it."""
    write(tmp_path / "job" / "a.bin")
    part = write(tmp_path / "job" / "b.part")
    w = make(clock, root(tmp_path))
    w.scan()
    clock.advance(AGE)
    part.write_bytes(b"much more data")
    assert names(w.scan()) == []
    clock.advance(AGE)
    result = w.scan()
    assert [(c.relative, c.files) for c in result.ready] == [("job", 1)]


def test_default_ignore_patterns(tmp_path: Path, clock: Clock) -> None:
    for name in ("a.tmp", "b.part", "c.!ut", "d.crdownload", ".e"):
        write(tmp_path / name)
    write(tmp_path / "kept.bin")
    assert names(settle(make(clock, WatchRoot(path=tmp_path, min_file_age=AGE)), clock)) == [
        "kept.bin"
    ]


def test_min_size_and_empty_files(tmp_path: Path, clock: Clock) -> None:
    write(tmp_path / "small.bin", b"123")
    write(tmp_path / "big.bin", b"1234567890")
    write(tmp_path / "job" / "small.bin", b"123")
    write(tmp_path / "job" / "big.bin", b"1234567890")
    write(tmp_path / "only-small" / "small.bin", b"1")
    result = settle(make(clock, root(tmp_path, min_size=10)), clock)
    assert [(c.relative, c.size, c.files) for c in result.ready] == [
        ("big.bin", 10, 1),
        ("job", 10, 1),
    ]


def test_empty_files_are_left_out_even_with_min_size_zero(tmp_path: Path, clock: Clock) -> None:
    write(tmp_path / "empty.bin", b"")
    write(tmp_path / "job" / "empty.bin", b"")
    write(tmp_path / "job" / "a.bin", b"1")
    result = settle(make(clock, root(tmp_path, min_size=0)), clock)
    assert [(c.relative, c.files) for c in result.ready] == [("job", 1)]


def test_exclude_paths_are_never_taken(tmp_path: Path, clock: Clock) -> None:
    write(tmp_path / "store" / "postie.db")
    write(tmp_path / "job" / "a.bin", b"123")
    write(tmp_path / "job" / "work" / "manifest.zst", b"12345")
    write(tmp_path / "other.bin")
    excluded = (tmp_path / "store", tmp_path / "job" / "work")
    for mode in ("folder", "file"):
        w = make(clock, root(tmp_path, mode=mode), exclude=excluded)
        result = settle(w, clock)
        assert all("store" not in c.relative and "work" not in c.relative for c in result.ready)
    folder = settle(make(clock, root(tmp_path), exclude=excluded), clock)
    assert [(c.relative, c.size) for c in folder.ready] == [("job", 3), ("other.bin", 4)]


def test_exclude_given_through_a_symlinked_path(tmp_path: Path, clock: Clock) -> None:
    real = tmp_path / "real"
    write(real / "store" / "postie.db")
    write(real / "a.bin")
    (tmp_path / "alias").symlink_to(real)
    w = make(clock, root(real), exclude=(tmp_path / "alias" / "store",))
    assert names(settle(w, clock)) == ["a.bin"]


def test_nzb_files_in_an_output_folder_are_skipped(tmp_path: Path, clock: Clock) -> None:
    write(tmp_path / "post.bin")
    write(tmp_path / "post.nzb")  # the output folder is the root itself
    other = tmp_path.parent / f"{tmp_path.name}-other"
    write(other / "nzbs" / "a.NZB")
    write(other / "nzbs" / "notes.txt", b"notes")
    write(other / "elsewhere.nzb")  # not in an output folder: a file like any other
    w = make(clock, root(tmp_path, output=tmp_path), root(other, output=other / "nzbs"))
    result = settle(w, clock)
    assert [(c.path, c.files) for c in result.ready] == [
        (other / "elsewhere.nzb", 1),
        (other / "nzbs", 1),
        (tmp_path / "post.bin", 1),
    ]


# --- symlinks ----------------------------------------------------------------------------


@pytest.fixture
def linked(tmp_path: Path) -> Path:
    """A root with links: to a file and a folder inside, to a file outside, a cycle."""
    top = tmp_path / "root"
    outside = write(tmp_path / "outside.bin", b"outside")
    write(top / "real.bin", b"123")
    write(top / "job" / "a.bin", b"1")
    (top / "job" / "loop").symlink_to(top / "job")
    (top / "alias.bin").symlink_to(top / "real.bin")
    (top / "job-alias").symlink_to(top / "job")
    (top / "escape.bin").symlink_to(outside)
    return top


def test_symlinks_are_skipped_by_default(linked: Path, clock: Clock) -> None:
    w = make(clock, root(linked))
    first = w.scan()
    assert [p.path for p in first.problems] == [
        linked / "alias.bin",
        linked / "escape.bin",
        linked / "job" / "loop",
        linked / "job-alias",
    ]
    assert all(
        "not followed (follow_symlinks is off); skipped" in p.message for p in first.problems
    )
    clock.advance(AGE)
    result = w.scan()
    assert [(c.relative, c.files) for c in result.ready] == [("job", 1), ("real.bin", 1)]
    assert result.problems == ()  # each said once


def test_symlinks_inside_the_root_are_followed_when_enabled(linked: Path, clock: Clock) -> None:
    w = make(clock, root(linked, follow_symlinks=True))
    first = w.scan()
    assert [(p.path, p.message.split(" (")[0].split(",")[0]) for p in first.problems] == [
        (linked / "escape.bin", f"symlink to {linked.parent / 'outside.bin'}"),
        (linked / "job" / "loop", "symlink loop"),
        (linked / "job-alias" / "loop", "symlink loop"),
    ]
    assert "outside the watch root; not followed" in first.problems[0].message
    clock.advance(AGE)
    result = w.scan()
    assert [(c.relative, c.size, c.files) for c in result.ready] == [
        ("alias.bin", 3, 1),
        ("job", 1, 1),  # the cycle job/loop -> job is not walked again
        ("job-alias", 1, 1),
        ("real.bin", 3, 1),
    ]
    assert result.problems == ()  # the outside link and the loops are reported once


def test_file_mode_follows_links_with_their_own_names(linked: Path, clock: Clock) -> None:
    result = settle(make(clock, root(linked, mode="file", follow_symlinks=True)), clock)
    assert names(result) == ["alias.bin", "job-alias/a.bin", "job/a.bin", "real.bin"]


def test_a_broken_symlink_is_reported_once(tmp_path: Path, clock: Clock) -> None:
    (tmp_path / "broken.bin").symlink_to(tmp_path / "missing.bin")
    w = make(clock, root(tmp_path, follow_symlinks=True))
    assert [p.path for p in w.scan().problems] == [tmp_path / "broken.bin"]
    assert w.scan().problems == ()


# --- problems ----------------------------------------------------------------------------


def test_a_missing_root_is_a_problem_each_scan(tmp_path: Path, clock: Clock) -> None:
    missing = tmp_path / "missing"
    present = tmp_path / "present"
    write(present / "a.bin")
    w = make(clock, root(missing), root(present))
    for _ in range(2):
        result = w.scan()
        assert [(p.path, p.message) for p in result.problems] == [
            (missing, "watch root does not exist")
        ]
    clock.advance(AGE)
    assert names(w.scan()) == ["a.bin"]


def test_a_root_that_is_a_file_is_a_problem(tmp_path: Path, clock: Clock) -> None:
    path = write(tmp_path / "file.bin")
    result = make(clock, root(path)).scan()
    assert [(p.path, p.message) for p in result.problems] == [(path, "watch root is not a folder")]


def deny(monkeypatch: pytest.MonkeyPatch, *denied: Path) -> None:
    """Make os.scandir fail with EACCES on ``denied`` (chmod does not stop root)."""
    real = os.scandir

    def scandir(path: str) -> Any:
        if Path(path) in denied:
            raise PermissionError(13, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_an_unreadable_root_is_a_problem(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "a.bin")
    deny(monkeypatch, tmp_path)
    result = make(clock, root(tmp_path)).scan()
    assert [(p.path, p.message) for p in result.problems] == [
        (tmp_path, "watch root is not readable: Permission denied")
    ]


def test_an_unreadable_sub_folder_blocks_its_folder_only(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "job" / "a.bin")
    write(tmp_path / "job" / "locked" / "b.bin")
    write(tmp_path / "fine" / "c.bin")
    deny(monkeypatch, tmp_path / "job" / "locked")
    w = make(clock, root(tmp_path))
    w.scan()
    clock.advance(AGE)
    result = w.scan()
    assert names(result) == ["fine"]
    assert result.waiting == 1
    assert [p.path for p in result.problems] == [tmp_path / "job" / "locked"]
    monkeypatch.undo()
    w.scan()
    clock.advance(AGE)
    assert [(c.relative, c.files) for c in w.scan().ready] == [("job", 2)]


def test_file_mode_an_unreadable_folder_keeps_what_was_taken(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "sub" / "a.bin")
    w = make(clock, root(tmp_path, mode="file"))
    assert names(settle(w, clock)) == ["sub/a.bin"]
    with monkeypatch.context() as patch:
        deny(patch, tmp_path / "sub")
        assert len(w.scan().problems) == 1
    clock.advance(AGE)
    assert w.scan().ready == ()  # not taken a second time after the error passed


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 folder")
def test_a_chmod_000_sub_folder_is_a_problem(tmp_path: Path, clock: Clock) -> None:
    locked = tmp_path / "job" / "locked"
    write(locked / "b.bin")
    write(tmp_path / "job" / "a.bin")
    locked.chmod(0)
    try:
        result = settle(make(clock, root(tmp_path)), clock)
        assert result.ready == ()
        assert [p.path for p in result.problems] == [locked]
    finally:
        locked.chmod(0o755)


def test_an_unreadable_file_is_a_problem_and_blocks_its_folder(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.geteuid() == 0:  # root reads anything: look at the file as somebody else
        monkeypatch.setattr(os, "geteuid", lambda: 4242)
        monkeypatch.setattr(os, "getegid", lambda: 4242)
        monkeypatch.setattr(os, "getgroups", lambda: [])
    locked = write(tmp_path / "job" / "locked.bin")
    write(tmp_path / "job" / "a.bin")
    write(tmp_path / "fine.bin")
    locked.chmod(0)
    try:
        w = make(clock, root(tmp_path))
        w.scan()
        clock.advance(AGE)
        result = w.scan()
        assert names(result) == ["fine.bin"]
        assert [(p.path, p.message) for p in result.problems] == [(locked, "file is not readable")]
        locked.chmod(0o644)
        w.scan()
        clock.advance(AGE)
        assert [(c.relative, c.files) for c in w.scan().ready] == [("job", 2)]
    finally:
        locked.chmod(0o644)


def test_a_fifo_is_a_problem_and_blocks_its_folder(tmp_path: Path, clock: Clock) -> None:
    write(tmp_path / "job" / "a.bin")
    os.mkfifo(tmp_path / "job" / "pipe")
    result = settle(make(clock, root(tmp_path)), clock)
    assert result.ready == ()
    assert result.waiting == 1
    assert [p.path for p in result.problems] == [tmp_path / "job" / "pipe"]
    assert "not a regular file" in result.problems[0].message


# --- schedule ----------------------------------------------------------------------------


class Now:
    def __init__(self, hour: int, minute: int = 0) -> None:
        self.set(hour, minute)

    def set(self, hour: int, minute: int = 0) -> None:
        self.value = datetime.datetime(2026, 1, 1, hour, minute)

    def __call__(self) -> datetime.datetime:
        return self.value


def test_outside_the_schedule_nothing_is_ready_but_ages_run(tmp_path: Path, clock: Clock) -> None:
    write(tmp_path / "a.bin")
    now = Now(12)
    w = make(clock, root(tmp_path, schedule="22:00-06:00"), now=now)
    result = settle(w, clock)
    assert result.ready == ()
    assert result.waiting == 1
    now.set(23, 30)  # the wait already ran out during the day
    assert names(w.scan()) == ["a.bin"]


def test_a_root_without_schedule_is_not_held_by_another_roots(tmp_path: Path, clock: Clock) -> None:
    write(tmp_path / "night" / "a.bin")
    write(tmp_path / "always" / "b.bin")
    w = make(
        clock,
        root(tmp_path / "night", schedule="01:00-02:00"),
        root(tmp_path / "always"),
        now=Now(12),
    )
    assert names(settle(w, clock)) == ["b.bin"]


@pytest.mark.parametrize(
    ("window", "hour", "minute", "inside"),
    [
        ("08:00-17:00", 8, 0, True),
        ("08:00-17:00", 16, 59, True),
        ("08:00-17:00", 17, 0, False),
        ("08:00-17:00", 7, 59, False),
        ("22:00-06:00", 23, 0, True),
        ("22:00-06:00", 0, 0, True),
        ("22:00-06:00", 5, 59, True),
        ("22:00-06:00", 6, 0, False),
        ("22:00-06:00", 12, 0, False),
        ("22:00-06:00", 22, 0, True),
        ("18:00-24:00", 23, 59, True),
        ("18:00-24:00", 0, 0, False),
        ("09:00-09:00", 3, 0, True),
        ("00:00-24:00", 12, 0, True),
    ],
)
def test_window_contains(window: str, hour: int, minute: int, inside: bool) -> None:
    assert parse_window(window).contains(datetime.time(hour, minute)) is inside


def test_parse_window_values() -> None:
    assert parse_window("22:00-06:30") == Window(datetime.time(22, 0), datetime.time(6, 30))
    assert parse_window(" 7:05 - 9:00 ") == Window(datetime.time(7, 5), datetime.time(9, 0))


@pytest.mark.parametrize(
    "text", ["", "22:00", "10-12", "22:00-06:00-08:00", "ab:cd-ef:gh", "25:00-01:00", "12:60-13:00"]
)
def test_parse_window_errors_name_the_text(text: str) -> None:
    with pytest.raises(ValueError, match=repr(text).replace("(", r"\(").replace(")", r"\)")):
        parse_window(text)


def test_config_rejects_a_bad_schedule(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'9-17'"):
        WatchRoot(path=tmp_path, schedule="9-17")
    assert WatchRoot(path=tmp_path, schedule="22:00-06:00").schedule == "22:00-06:00"


# --- returned once -----------------------------------------------------------------------


def test_a_candidate_is_returned_once_and_again_after_it_changes(
    tmp_path: Path, clock: Clock
) -> None:
    path = write(tmp_path / "a.bin")
    w = make(clock, root(tmp_path))
    assert names(settle(w, clock)) == ["a.bin"]
    clock.advance(AGE)
    again = w.scan()
    assert again.ready == ()
    assert again.waiting == 0
    path.write_bytes(b"changed content")
    assert w.scan().ready == ()
    clock.advance(AGE - 1)
    assert w.scan().ready == ()
    clock.advance(1)
    assert names(w.scan()) == ["a.bin"]
    assert w.scan().ready == ()


def test_forget_makes_a_path_new_again(tmp_path: Path, clock: Clock) -> None:
    write(tmp_path / "job" / "a.bin")
    w = make(clock, root(tmp_path))
    assert names(settle(w, clock)) == ["job"]
    w.forget(tmp_path / "job")
    assert w.scan().ready == ()  # seen afresh: waits again
    clock.advance(AGE)
    assert names(w.scan()) == ["job"]


def test_a_candidate_that_goes_and_comes_back_is_new(tmp_path: Path, clock: Clock) -> None:
    path = write(tmp_path / "a.bin")
    w = make(clock, root(tmp_path))
    assert names(settle(w, clock)) == ["a.bin"]
    moved = path.rename(tmp_path.parent / f"{tmp_path.name}-a.bin")
    assert w.scan() == ScanResult((), 0, ())
    moved.rename(path)
    assert names(settle(w, clock)) == ["a.bin"]
