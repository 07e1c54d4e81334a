"""Tests for postie.article.walk: the one walker every way of posting goes through.

``test_plan.py`` covers the walker through ``collect`` (``postie post``) and
``test_watcher.py`` through the daemon's scans; these tests hold its own rules where
neither reaches: read permission from the mode bits, links confined to the roots and
not to a name that starts like one, entries named ``*.nzb`` or matching an ignore glob
at the top of a walk, and ``inside`` (which folder a queued path belongs to).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from postie.article.walk import Left, Walk, Walker, WalkRules, inside

FOLLOW = WalkRules(follow_symlinks=True)


def write(path: Path, size: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    return path


def taken(walk: Walk) -> list[str]:
    return [f.relative for f in walk.files]


# --- read permission from the mode bits ----------------------------------------------------

OWNER, GROUP = 4242, 4343  # the test file's owner and group
STRANGER, OTHER_GROUP = 5151, 5252  # neither


@pytest.fixture
def owned(tmp_path: Path) -> Iterator[tuple[Path, int, int]]:
    """A one-byte file and its owner and group: chowned to made-up ids when the tests run
    as root (root reads anything, so the mode bits would never be asked)."""
    path = write(tmp_path / "a.bin")
    if os.geteuid() == 0:
        os.chown(path, OWNER, GROUP)
    st = os.stat(path)
    yield path, st.st_uid, st.st_gid
    path.chmod(0o600)


def as_user(monkeypatch: pytest.MonkeyPatch, euid: int, egid: int, groups: list[int]) -> None:
    """The walker sees this identity (it reads it once, on construction)."""
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    monkeypatch.setattr(os, "getegid", lambda: egid)
    monkeypatch.setattr(os, "getgroups", lambda: list(groups))


def readable(path: Path) -> bool:
    """Whether a walker takes the file (or leaves it out as unreadable)."""
    walk = Walker(WalkRules()).given(path)
    if walk.files:
        return True
    assert [(x.reason, x.kind) for x in walk.left] == [("file is not readable", Left.UNREADABLE)]
    return False


@pytest.mark.parametrize(
    ("who", "mode", "expected"),
    [
        # the owner's bit decides for the owner, whatever the group and others may do
        pytest.param("owner", 0o400, True, id="owner-may"),
        pytest.param("owner", 0o077, False, id="owner-may-not"),
        # then the group's bit for a member (by effective or supplementary group)
        pytest.param("group", 0o040, True, id="group-may"),
        pytest.param("group", 0o407, False, id="group-may-not"),
        pytest.param("member", 0o040, True, id="supplementary-group-may"),
        pytest.param("member", 0o407, False, id="supplementary-group-may-not"),
        # then the others' bit
        pytest.param("stranger", 0o004, True, id="others-may"),
        pytest.param("stranger", 0o440, False, id="others-may-not"),
        # root reads anything
        pytest.param("root", 0o000, True, id="root"),
    ],
)
def test_read_permission_comes_from_the_class_the_walker_is_in(
    owned: tuple[Path, int, int],
    monkeypatch: pytest.MonkeyPatch,
    who: str,
    mode: int,
    expected: bool,
) -> None:
    """A file is unreadable when the one permission class that applies to the walker
    (owner, else group, else others) has no read bit; root reads anything."""
    path, uid, gid = owned
    path.chmod(mode)
    identity = {
        "owner": (uid, OTHER_GROUP, []),
        "group": (STRANGER, gid, []),
        "member": (STRANGER, OTHER_GROUP, [gid]),
        "stranger": (STRANGER, OTHER_GROUP, []),
        "root": (0, 0, []),
    }[who]
    as_user(monkeypatch, *identity)
    assert readable(path) is expected


# --- confinement ---------------------------------------------------------------------------


def test_a_link_to_a_sibling_whose_name_starts_like_the_root_is_outside(tmp_path: Path) -> None:
    """Confinement is by folder, not by the start of a name: with ``data`` the root, a link
    to ``data-private`` (a file in it, or the folder) is not followed."""
    root = tmp_path / "data"
    write(root / "a.bin")
    secret = write(tmp_path / "data-private" / "key.bin")
    os.symlink(secret, root / "key-link.bin")
    os.symlink(secret.parent, root / "private-link")
    for walk in (
        Walker(FOLLOW, roots=[root]).given(root),
        Walker(FOLLOW, roots=[root]).entry(root / "private-link", "private-link"),
    ):
        assert not any("data-private" in f.path for f in walk.files)
        for left in walk.left:
            assert left.kind is Left.SKIPPED
            assert f"symlink to {tmp_path / 'data-private'}" in left.reason
            assert "outside the folders given; not followed" in left.reason
    assert taken(Walker(FOLLOW, roots=[root]).given(root)) == ["a.bin"]


def test_a_link_to_the_root_itself_is_followed_once(tmp_path: Path) -> None:
    """A link to a root is inside it (and, met inside that root, a loop)."""
    root = tmp_path / "data"
    write(root / "a.bin")
    os.symlink(root, tmp_path / "alias")
    walk = Walker(FOLLOW, roots=[root]).entry(tmp_path / "alias")
    assert taken(walk) == ["a.bin"]
    os.symlink(root, root / "self")
    walk = Walker(FOLLOW, roots=[root]).given(root)
    assert taken(walk) == ["a.bin"]
    assert [x.reason for x in walk.left] == ["symlink loop (points to a folder above it)"]


# --- exclusions ----------------------------------------------------------------------------


def test_an_exclusion_that_does_not_exist_does_not_cancel_the_others(tmp_path: Path) -> None:
    """Exclusions are taken by identity when the walker is made; one that is missing (an
    output folder not made yet) is passed over and the ones after it still hold."""
    root = tmp_path / "root"
    write(root / "a.bin")
    write(root / "store" / "state.db")
    rules = WalkRules(exclude=(tmp_path / "missing", root / "store"))
    assert taken(Walker(rules, roots=[root]).given(root)) == ["a.bin"]


def test_nzb_files_are_left_out_only_directly_in_an_nzb_folder(tmp_path: Path) -> None:
    """In an NZB folder its ``*.nzb`` files are left out (silently); a folder there named
    like one is walked, and an ``.nzb`` elsewhere is a file like any other."""
    out = tmp_path / "nzbs"
    write(out / "job.nzb")
    write(out / "notes.txt")
    write(out / "old.nzb" / "inside.bin")
    write(out / "sub" / "deeper.nzb")
    write(tmp_path / "elsewhere" / "x.nzb")
    walker = Walker(WalkRules(nzb_folders=(out,)), roots=[tmp_path])
    walk = walker.given(out)
    assert taken(walk) == ["notes.txt", "old.nzb/inside.bin", "sub/deeper.nzb"]
    assert walk.left == []
    assert walker.entry(out / "job.nzb").empty  # an entry met in the folder: left out
    # a folder named like one is walked whichever way it is met
    walker.forget_seen()
    assert taken(walker.entry(out / "old.nzb")) == ["inside.bin"]
    assert taken(walker.entry(tmp_path / "elsewhere" / "x.nzb")) == ["x.nzb"]
    # no NZB folder at all: nothing is left out for its name
    assert taken(Walker(WalkRules()).entry(out / "job.nzb")) == ["job.nzb"]


def test_an_entry_whose_type_cannot_be_told_is_walked_as_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a folder entry's type cannot be read it is visited with the folder's files, in
    order and under their rules: in an NZB folder its ``.nzb`` stays out (made to fail
    here; on most file systems the type comes with the listing)."""
    out = tmp_path / "nzbs"
    write(out / "a.bin")
    write(out / "b.nzb")
    write(out / "c.bin")
    write(out / "sub" / "d.bin")
    real_scandir = os.scandir

    class Unsure:
        """A folder entry whose is_dir fails (the rest as it is)."""

        def __init__(self, entry: os.DirEntry[str]) -> None:
            self.name, self.path, self._entry = entry.name, entry.path, entry

        def is_dir(self, *, follow_symlinks: bool = True) -> bool:
            if self.name in ("b.nzb", "c.bin"):
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            return self._entry.is_dir(follow_symlinks=follow_symlinks)

    class Listing:
        def __init__(self, path: Any) -> None:
            self._it = real_scandir(path)

        def __enter__(self) -> Iterator[Unsure]:
            return (Unsure(e) for e in self._it)

        def __exit__(self, *exc: object) -> None:
            self._it.close()

    monkeypatch.setattr(os, "scandir", Listing)
    walk = Walker(WalkRules(nzb_folders=(out,))).given(out)
    assert taken(walk) == ["a.bin", "c.bin", "sub/d.bin"]


# --- ignore globs at the top of a walk -----------------------------------------------------


def test_an_ignored_entry_is_left_out_entirely(tmp_path: Path) -> None:
    """An entry whose own name an ignore glob matches yields nothing, not even an ignored
    file (those are the ones *below* the entry, which hold a folder back while a download
    still writes them)."""
    rules = WalkRules(ignore=("*.part",))
    part = write(tmp_path / "movie.mkv.part", 10)
    walk = Walker(rules, roots=[tmp_path]).entry(part, "movie.mkv.part")
    assert (walk.files, walk.ignored, walk.left) == ([], [], [])
    assert walk.empty
    # below an entry the same file is reported as ignored
    folder = tmp_path / "job"
    write(folder / "a.bin")
    below = write(folder / "b.part", 3)
    walk = Walker(rules, roots=[tmp_path]).entry(folder, "job")
    assert taken(walk) == ["job/a.bin"]
    assert [(f.path, f.relative, f.size) for f in walk.ignored] == [(str(below), "job/b.part", 3)]


# --- files met again -----------------------------------------------------------------------


def test_files_met_again_are_counted(tmp_path: Path) -> None:
    """A file reached again (a hard link, a link followed to it) is taken once; ``again``
    counts each meeting after the first."""
    root = tmp_path / "root"
    a = write(root / "a.bin")
    os.link(a, root / "b.bin")
    os.link(a, root / "c.bin")
    os.symlink("a.bin", root / "d.bin")
    walk = Walker(FOLLOW, roots=[root]).given(root)
    assert taken(walk) == ["a.bin"]
    assert walk.again == 3
    assert not walk.empty


# --- inside --------------------------------------------------------------------------------


def test_inside_names_the_root_that_holds_a_path(tmp_path: Path) -> None:
    """``inside`` is the gate of ``postie queue add``: the first root holding the path
    (the root as configured, made absolute, not resolved), the root itself included."""
    first = tmp_path / "first"
    second = tmp_path / "second"
    write(first / "a.bin")
    write(second / "sub" / "b.bin")
    roots = [first, second]
    assert inside(first / "a.bin", roots) == first
    assert inside(second / "sub", roots) == second
    assert inside(second / "sub" / "b.bin", roots) == second
    assert inside(first, roots) == first
    assert inside(tmp_path, roots) is None
    assert inside(tmp_path / "elsewhere", roots) is None
    assert inside(first / "a.bin", []) is None


def test_inside_resolves_links_on_both_sides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A link into a root is inside it and a link out of it is not; a root configured
    through a link holds what is below its target and is returned as configured
    (relative paths are taken from the current folder)."""
    real = tmp_path / "real"
    write(real / "a.bin")
    write(tmp_path / "secret" / "s.bin")
    os.symlink(real, tmp_path / "alias")
    os.symlink(tmp_path / "secret", real / "escape")
    assert inside(real / "escape" / "s.bin", [real]) is None
    assert inside(tmp_path / "alias" / "a.bin", [real]) == real
    assert inside(real / "a.bin", [tmp_path / "alias"]) == tmp_path / "alias"
    monkeypatch.chdir(tmp_path)
    assert inside(Path("real") / "a.bin", [Path("alias")]) == tmp_path / "alias"


def test_inside_is_by_folder_not_by_the_start_of_a_name(tmp_path: Path) -> None:
    """``/srv/data`` does not hold ``/srv/data-private``, nor the other way round."""
    data = tmp_path / "data"
    private = tmp_path / "data-private"
    write(data / "a.bin")
    write(private / "key.bin")
    assert inside(private / "key.bin", [data]) is None
    assert inside(private, [data]) is None
    assert inside(data, [private]) is None
    assert inside(private / "key.bin", [data, private]) == private


def test_a_file_found_carries_its_inode_and_change_time(tmp_path: Path) -> None:
    """Which file it is, beyond its size and mtime (one replaced under the same name and
    mtime is another file)."""
    path = write(tmp_path / "a.bin", 3)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # the change time stays now
    st = path.stat()
    (found,) = Walker(WalkRules()).given(tmp_path).files
    assert (found.size, found.mtime_ns) == (3, 1_000_000_000)
    assert (found.ino, found.ctime_ns) == (st.st_ino, st.st_ctime_ns)
