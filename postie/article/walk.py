"""The one file walker: which files under a path are posted, by one rule set.

``postie post``, the daemon's watcher and its jobs (also those added by hand or
through the HTTP API) all take files through a :class:`Walker`, so a rule holds
whichever way a path came in:

* **Confinement.** A symlink met inside a walk is not followed unless
  ``follow_symlinks``; then only when its target resolves inside one of the
  walker's *roots* (the folders the user named: the paths given to ``post``, the
  watch root of a daemon job). A link out of them is skipped and named, whatever
  it points to. A path the user gave by name (``post`` arguments) is taken even
  when it is itself a link: confinement is about what a walk finds, not about
  what the user typed.
* **Ignore globs** (``fnmatch`` on the entry's name) and the **size floor** apply
  at every depth; empty files are never taken.
* **Exclusions**: absolute paths never taken (postie's own store, manifests and
  NZB folders), and ``*.nzb`` files inside the NZB folders.
* **Trouble is reported, never raised**, by name: a broken link, a link loop, a
  link out of the roots, a pipe or device, an unreadable file or folder. What
  can never be posted is *skipped*; what cannot be read now is *unreadable*
  (the caller decides: ``post`` fails that file, the watcher holds the folder
  back until it can be read whole).

Each folder's entries are taken in byte order of their names, files before the
folders below them are walked (depth first), so a walk is stable. A file met
twice (a hard link, or a link to a file already taken) is taken once.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import stat
from collections.abc import Iterable, Sequence
from enum import StrEnum
from pathlib import Path

import msgspec


class WalkRules(msgspec.Struct, frozen=True):
    """What a walk takes (see the module documentation)."""

    ignore: tuple[str, ...] = ()
    min_size: int = 1
    follow_symlinks: bool = False
    exclude: tuple[Path, ...] = ()  # never taken (also through a link to them)
    nzb_folders: tuple[Path, ...] = ()  # their *.nzb files are never taken


class Left(StrEnum):
    """Why an entry was left out."""

    SKIPPED = "skipped"  # never postable as it is: a link not followed, a loop
    SMALL = "small"  # empty, or below the size floor
    SPECIAL = "special"  # a pipe, socket or device
    UNREADABLE = "unreadable"  # cannot be read now (permissions, I/O)


# gc=False: one per file a walk takes, holding only ints and strings, so in no reference
# cycle: no GC header (16 bytes less each), never scanned by a collection.
class Found(msgspec.Struct, frozen=True, gc=False):
    """A file a walk took (or, in ``Walk.ignored``, one an ignore glob left out)."""

    path: str  # as walked (through the links followed), not resolved
    relative: str  # "/"-separated, relative to the walk's base
    size: int
    mtime_ns: int
    ino: int | None = None  # with ctime_ns: which file it is, beyond its size and mtime
    ctime_ns: int | None = None


class LeftOut(msgspec.Struct, frozen=True):
    """An entry a walk did not take, and why."""

    path: str
    reason: str
    kind: Left

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class Walk(msgspec.Struct):
    """What one walk found."""

    files: list[Found] = msgspec.field(default_factory=list)
    left: list[LeftOut] = msgspec.field(default_factory=list)
    # regular files an ignore glob left out below the base (a download's *.part):
    # never posted, but the watcher holds their folder back while they change
    ignored: list[Found] = msgspec.field(default_factory=list)
    again: int = 0  # files met again (taken once, earlier)

    @property
    def empty(self) -> bool:
        """Nothing at all was met (an empty folder)."""
        return not (self.files or self.left or self.ignored or self.again)


class Walker:
    """Walks paths under one rule set, confined to ``roots`` (see the module docs)."""

    def __init__(
        self,
        rules: WalkRules,
        roots: Iterable[str | os.PathLike[str]] = (),
        *,
        scope: str = "the folders given",
    ) -> None:
        self.rules = rules
        self.scope = scope  # what the roots are, in messages
        self._ignore = compile_globs(rules.ignore)
        self._roots = tuple(os.path.join(os.path.realpath(r), "") for r in roots)
        # by identity, so a path is excluded also when reached through a link to it
        self._exclude = _identities(rules.exclude)
        self._nzb = _identities(rules.nzb_folders)
        self._seen: set[tuple[int, int]] = set()
        self._euid = os.geteuid() if hasattr(os, "geteuid") else 0
        self._groups = {os.getegid(), *os.getgroups()} if self._euid else set()

    def forget_seen(self) -> None:
        """Forget the files taken so far (a file met again is taken again)."""
        self._seen.clear()

    def given(self, path: str | os.PathLike[str]) -> Walk:
        """Walk a path the user named: a file is taken as it is (also through a link), a
        folder's entries under the rules. Names are relative to a folder, a file's own
        name for a file."""
        text = os.fspath(path)
        out = Walk()
        try:
            st = os.stat(text)
        except OSError as exc:
            out.left.append(LeftOut(text, _link_or_reason(text, exc), Left.UNREADABLE))
            return out
        if stat.S_ISDIR(st.st_mode):
            self._folder(text, "", ((st.st_dev, st.st_ino),), out)
        elif (st.st_dev, st.st_ino) not in self._exclude:
            self._take(text, os.path.basename(text), st, out)
        return out

    def entry(self, path: str | os.PathLike[str], relative: str = "") -> Walk:
        """Walk an entry met inside a root (a watch root's top level, a daemon job): every
        rule applies to the entry itself as well as to what is below it. Names are
        ``relative`` plus the path below the entry ("": relative to the entry itself)."""
        out = Walk()
        text = os.fspath(path)
        nzb_here = False
        if self._nzb:
            try:
                parent = os.stat(os.path.dirname(text))
            except OSError:
                pass
            else:
                nzb_here = (parent.st_dev, parent.st_ino) in self._nzb
        self._visit(text, relative, os.path.basename(text), (), out, top=True, nzb_here=nzb_here)
        return out

    # --- the walk -----------------------------------------------------------------------

    def _visit(
        self,
        path: str,
        rel: str,
        name: str,
        above: tuple[tuple[int, int], ...],
        out: Walk,
        *,
        top: bool = False,
        nzb_here: bool,
    ) -> None:
        if self._ignore is not None and self._ignore.match(name):
            if not top:
                try:
                    st = os.lstat(path)
                except OSError:
                    return
                if stat.S_ISREG(st.st_mode):
                    out.ignored.append(Found(path, rel, st.st_size, st.st_mtime_ns))
            return
        nzb_file = nzb_here and name.lower().endswith(".nzb")  # left out if it is a file
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return  # gone while we looked
        except OSError as exc:
            out.left.append(LeftOut(path, f"cannot read: {_reason(exc)}", Left.UNREADABLE))
            return
        if stat.S_ISLNK(st.st_mode):
            followed = self._follow(path, out)
            if followed is None:
                return
            st = followed
        key = (st.st_dev, st.st_ino)
        if key in self._exclude:
            return
        if stat.S_ISDIR(st.st_mode):
            if key in above:
                out.left.append(
                    LeftOut(path, "symlink loop (points to a folder above it)", Left.SKIPPED)
                )
                return
            self._folder(path, f"{rel}/" if rel else "", (*above, key), out)
        elif not nzb_file:
            self._take(path, rel or name, st, out)

    def _folder(
        self, path: str, prefix: str, above: tuple[tuple[int, int], ...], out: Walk
    ) -> None:
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: os.fsencode(e.name))
        except FileNotFoundError:
            return
        except OSError as exc:
            out.left.append(LeftOut(path, f"cannot read folder: {_reason(exc)}", Left.UNREADABLE))
            return
        nzb_here = above[-1] in self._nzb
        below: list[os.DirEntry[str]] = []
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                below.append(entry)  # files of a folder first, then its subfolders
            else:
                self._visit(
                    entry.path, prefix + entry.name, entry.name, above, out, nzb_here=nzb_here
                )
        for entry in below:
            self._visit(entry.path, prefix + entry.name, entry.name, above, out, nzb_here=False)

    def _follow(self, path: str, out: Walk) -> os.stat_result | None:
        """The target's stat of a link the rules let us follow, or None (reported)."""
        if not self.rules.follow_symlinks:
            try:
                target = f" to {os.readlink(path)}"
            except OSError:
                target = ""
            out.left.append(
                LeftOut(
                    path, f"symlink{target}, not followed (follow_symlinks is off)", Left.SKIPPED
                )
            )
            return None
        try:
            st = os.stat(path)
        except OSError as exc:
            out.left.append(LeftOut(path, _link_or_reason(path, exc), Left.SKIPPED))
            return None
        target = os.path.realpath(path)
        inside = os.path.join(target, "")
        if not any(inside.startswith(root) for root in self._roots):
            out.left.append(
                LeftOut(
                    path,
                    f"symlink to {target}, outside {self.scope}; not followed",
                    Left.SKIPPED,
                )
            )
            return None
        return st

    def _take(self, path: str, rel: str, st: os.stat_result, out: Walk) -> None:
        if not stat.S_ISREG(st.st_mode):
            out.left.append(
                LeftOut(path, "not a regular file (a pipe, socket or device)", Left.SPECIAL)
            )
            return
        if st.st_size == 0:
            out.left.append(LeftOut(path, "empty file (zero bytes), skipped", Left.SMALL))
            return
        if st.st_size < self.rules.min_size:
            out.left.append(
                LeftOut(
                    path,
                    f"smaller than the size floor ({st.st_size} < {self.rules.min_size} bytes)",
                    Left.SMALL,
                )
            )
            return
        key = (st.st_dev, st.st_ino)
        if key in self._seen:
            out.again += 1
            return
        if not self._readable(st):
            out.left.append(LeftOut(path, "file is not readable", Left.UNREADABLE))
            return
        self._seen.add(key)
        out.files.append(Found(path, rel, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns))

    def _readable(self, st: os.stat_result) -> bool:
        """Read permission from the mode bits at hand (no extra system call)."""
        if self._euid == 0:
            return True
        if st.st_uid == self._euid:
            return bool(st.st_mode & stat.S_IRUSR)
        if st.st_gid in self._groups:
            return bool(st.st_mode & stat.S_IRGRP)
        return bool(st.st_mode & stat.S_IROTH)


def compile_globs(patterns: Sequence[str]) -> re.Pattern[str] | None:
    """One regular expression for a list of ``fnmatch`` patterns (None: no pattern)."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


def inside(path: str | os.PathLike[str], roots: Iterable[str | os.PathLike[str]]) -> Path | None:
    """The root of ``roots`` that holds ``path`` once links are resolved, or None."""
    real = os.path.join(os.path.realpath(path), "")
    for root in roots:
        if real.startswith(os.path.join(os.path.realpath(root), "")):
            return Path(os.path.abspath(root))
    return None


def _identities(paths: Iterable[Path]) -> frozenset[tuple[int, int]]:
    """(device, inode) of each path that exists now."""
    out: set[tuple[int, int]] = set()
    for p in paths:
        try:
            st = os.stat(os.path.expanduser(p))
        except OSError:
            continue
        out.add((st.st_dev, st.st_ino))
    return frozenset(out)


def _link_or_reason(path: str, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    try:
        return f"broken symlink (points to {os.readlink(path)})"
    except OSError:
        return _reason(exc)


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc)
