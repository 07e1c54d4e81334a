"""Watch folders: find what landed in them and say when it is ready to post.

A *candidate* is one job: in ``folder`` mode each top-level entry of a watch root (a
folder or a file), in ``file`` mode each file under the root at any depth. The rules:

* A candidate's fingerprint is, for a folder, a hash of its files' (relative path, size,
  mtime_ns); for a file, its size and mtime_ns. It is **ready** once its fingerprint has
  stayed the same for ``min_file_age`` seconds of the injected clock, so a growing file,
  or a folder that gains a file, starts its wait again. File contents are never read.
* Entries whose name matches an ``ignore`` pattern (at any depth), files smaller than
  ``min_size``, empty files, the ``exclude`` paths and ``*.nzb`` files inside a root's
  output folder are left out; a folder with no files left is no candidate. An ignored
  file inside a folder still counts in the folder's fingerprint (not its size): while a
  download's ``*.part`` grows, its folder is not stable.
* Symlinks are skipped unless ``follow_symlinks``; then a link is followed only when its
  target resolves inside the root (else it is skipped and reported once). A folder met
  again below itself (a link cycle, a bind mount) is skipped.
* Outside a root's ``schedule`` window ages still run, but nothing is ready.
* A candidate is returned ready once; it comes back only after its fingerprint changes
  and settles again, or after :meth:`Watcher.forget`.
* Trouble is returned as :class:`Problem`, never raised: a missing or unreadable root
  (every scan), an unreadable file or folder or a pipe/socket/device inside (every scan;
  the candidate holding it is not ready), a link left out (once). What sits below a
  folder that could not be listed keeps its state, so a passing error re-posts nothing.
"""

from __future__ import annotations

import contextlib
import datetime
import fnmatch
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from postie.config import WatchRoot

_WINDOW = re.compile(r"([0-9]{1,2}):([0-9]{2})-([0-9]{1,2}):([0-9]{2})")


@dataclass(frozen=True, slots=True)
class Window:
    """A daily time window; ``end`` is exclusive; ``start == end`` means all day."""

    start: datetime.time
    end: datetime.time

    def contains(self, t: datetime.time) -> bool:
        t = t.replace(tzinfo=None)
        if self.start == self.end:
            return True
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end  # wraps past midnight


def parse_window(text: str) -> Window:
    """``"HH:MM-HH:MM"`` (24-hour local time; ``24:00`` means midnight) to a Window."""
    match = _WINDOW.fullmatch(text.replace(" ", ""))
    if match is None:
        raise ValueError(f"schedule {text!r} is not 'HH:MM-HH:MM' (24-hour, e.g. '22:00-06:00')")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    return Window(_time_of_day(text, h1, m1), _time_of_day(text, h2, m2))


def _time_of_day(text: str, hour: int, minute: int) -> datetime.time:
    if (hour, minute) == (24, 0):
        return datetime.time(0, 0)
    if hour > 23 or minute > 59:
        raise ValueError(f"schedule {text!r}: {hour:02}:{minute:02} is not a time of day")
    return datetime.time(hour, minute)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A job to queue."""

    root: Path
    path: Path
    relative: str  # "/"-separated, relative to the root
    size: int  # total bytes of the files taken
    files: int
    priority: int
    output: Path | None


@dataclass(frozen=True, slots=True)
class Problem:
    """Something the user must hear about."""

    path: Path
    message: str


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What one scan found."""

    ready: tuple[Candidate, ...]
    waiting: int  # candidates seen, not yet returned, not ready now
    problems: tuple[Problem, ...]


@dataclass(frozen=True, slots=True)
class _Track:
    fingerprint: tuple[int, int, int]
    since: float
    returned: bool = False


class _File(NamedTuple):
    relative: str
    path: str
    size: int
    mtime_ns: int


@dataclass(slots=True)
class _Pass:
    """One root during one scan: walks it and collects what went wrong."""

    watcher: Watcher
    spec: WatchRoot
    root: str
    real: str  # the root, symlinks resolved, with a trailing separator
    excluded: frozenset[str]  # relative paths never taken
    outputs: tuple[str, ...]  # relative prefixes ("" = the root) whose *.nzb are skipped
    ignore: re.Pattern[str] | None
    min_size: int  # at least 1: empty files cannot be posted
    problems: list[Problem] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # their contents keep their state
    # ignored files inside a folder (a download's *.part): not posted, but while one
    # changes its folder is not stable either
    hidden: list[tuple[str, int, int]] = field(default_factory=list)
    errors: int = 0  # things that make the candidate holding them not ready

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(Path(path), message))
        self.failed.append(path)
        self.errors += 1

    def visit(
        self,
        entry: os.DirEntry[str],
        rel: str,
        above: tuple[tuple[int, int], ...],
        out: list[_File],
    ) -> None:
        """Add the files ``entry`` stands for (itself, or what is below it) to ``out``."""
        name = entry.name
        if self.ignore is not None and self.ignore.match(name):
            if "/" in rel:
                with contextlib.suppress(OSError):
                    st = entry.stat(follow_symlinks=False)
                    if stat.S_ISREG(st.st_mode):
                        self.hidden.append((rel, st.st_size, st.st_mtime_ns))
            return
        if rel in self.excluded:
            return
        nzb = self.outputs and name.lower().endswith(".nzb")
        if nzb and any(rel.startswith(prefix) for prefix in self.outputs):
            return
        try:
            if entry.is_symlink():
                if not self.spec.follow_symlinks:
                    return
                self.watcher._links.add(entry.path)
                target = os.path.realpath(entry.path)
                if target != self.real[:-1] and not target.startswith(self.real):
                    self.tell_once(entry.path, f"symlink points outside the watch root ({target})")
                    return
                try:
                    st = os.stat(entry.path)
                except FileNotFoundError:
                    self.tell_once(entry.path, "broken symlink")
                    return
            else:
                st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            return  # gone while we looked
        except OSError as exc:
            self.fail(entry.path, f"cannot read: {exc.strerror or exc}")
            return
        if stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if key not in above:  # else a link cycle: skip silently
                self.walk(entry.path, rel + "/", (*above, key), out)
        elif stat.S_ISREG(st.st_mode):
            if st.st_size < self.min_size:
                return
            if not self.watcher._readable(st):
                self.fail(entry.path, "file is not readable")
                return
            out.append(_File(rel, entry.path, st.st_size, st.st_mtime_ns))
        else:
            self.fail(entry.path, "not a regular file (a pipe, socket or device): cannot post it")

    def walk(
        self, path: str, prefix: str, above: tuple[tuple[int, int], ...], out: list[_File]
    ) -> None:
        try:
            with os.scandir(path) as it:
                entries = list(it)  # close the folder before going deeper
        except FileNotFoundError:
            return
        except OSError as exc:
            self.fail(path, f"cannot read folder: {exc.strerror or exc}")
            return
        for entry in entries:
            self.visit(entry, prefix + entry.name, above, out)

    def tell_once(self, path: str, message: str) -> None:
        if path not in self.watcher._told:
            self.watcher._told.add(path)
            self.problems.append(Problem(Path(path), message + "; skipped"))


class Watcher:
    """Scans watch roots; see the module docstring for the rules."""

    def __init__(
        self,
        roots: Sequence[WatchRoot],
        *,
        exclude: Sequence[Path] = (),
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime.datetime] = datetime.datetime.now,
    ) -> None:
        self._roots = tuple(roots)
        self._windows = tuple(parse_window(r.schedule) if r.schedule else None for r in roots)
        self._ignore = tuple(_compile(r.ignore) for r in roots)
        self._exclude = tuple(_absolute(p) for p in exclude)
        self._outputs = tuple(_absolute(r.output) for r in roots if r.output is not None)
        self._clock = clock
        self._now = now
        self._tracks: dict[str, _Track] = {}
        self._told: set[str] = set()  # links reported once
        self._links: set[str] = set()  # links seen this scan
        self._lock = threading.Lock()
        self._forgotten: list[str] = []  # by forget(), applied by the next scan
        self._euid = os.geteuid() if hasattr(os, "geteuid") else 0
        self._groups = {os.getegid(), *os.getgroups()} if self._euid else set()

    def forget(self, path: Path) -> None:
        """Drop what is known about ``path`` and below at the next scan: if still there,
        it is new again. Safe to call from another thread while a scan runs."""
        with self._lock:
            self._forgotten.append(_absolute(path))

    def scan(self) -> ScanResult:
        """One pass over every root (blocking: run it in a thread, one at a time)."""
        with self._lock:
            forgotten, self._forgotten = self._forgotten, []
        for key in forgotten:
            below = os.path.join(key, "")
            for k in [k for k in self._tracks if k == key or k.startswith(below)]:
                del self._tracks[k]
        ready: list[Candidate] = []
        problems: list[Problem] = []
        failed: list[str] = []
        seen: set[str] = set()
        waiting = 0
        clock = self._clock()
        wall = self._now().time() if any(self._windows) else None
        self._links = set()
        for spec, window, ignore in zip(self._roots, self._windows, self._ignore, strict=True):
            open_ = window is None or wall is None or window.contains(wall)
            p = self._pass(spec, ignore)
            for rel, path, fingerprint, files, blocked in self._candidates(p):
                seen.add(path)
                track = self._tracks.get(path)
                if blocked:  # its state stays as it was until it can be read whole
                    waiting += track is None or not track.returned
                    continue
                if track is None or track.fingerprint != fingerprint:
                    track = self._tracks[path] = _Track(fingerprint, clock)
                if track.returned:
                    continue
                if not open_ or clock - track.since < spec.min_file_age:
                    waiting += 1
                    continue
                self._tracks[path] = _Track(fingerprint, track.since, returned=True)
                size = sum(f.size for f in files)
                ready.append(
                    Candidate(
                        Path(p.root), Path(path), rel, size, len(files), spec.priority, spec.output
                    )
                )
            problems += p.problems
            failed += p.failed
        keep = tuple(os.path.join(f, "") for f in failed)
        for k in self._tracks.keys() - seen:
            if k not in failed and not k.startswith(keep):
                del self._tracks[k]
        self._told &= self._links
        ready.sort(key=lambda c: str(c.path))
        return ScanResult(tuple(ready), waiting, tuple(problems))

    def _pass(self, spec: WatchRoot, ignore: re.Pattern[str] | None) -> _Pass:
        root = _absolute(spec.path)
        real = os.path.join(os.path.realpath(root), "")
        bases = {os.path.join(root, ""), real}
        excluded = {r for p in self._exclude for r in _inside(bases, p) if r}
        outputs = {r + "/" if r else "" for p in self._outputs for r in _inside(bases, p)}
        return _Pass(
            self,
            spec,
            root,
            real,
            frozenset(excluded),
            tuple(outputs),
            ignore,
            max(spec.min_size, 1),
        )

    def _candidates(
        self, p: _Pass
    ) -> Iterator[tuple[str, str, tuple[int, int, int], list[_File], bool]]:
        """(relative path, path, fingerprint, files, blocked) of each candidate of a root."""
        try:
            st = os.stat(p.root)
        except FileNotFoundError:
            p.fail(p.root, "watch root does not exist")
            return
        except OSError as exc:
            p.fail(p.root, f"watch root is not readable: {exc.strerror or exc}")
            return
        if not stat.S_ISDIR(st.st_mode):
            p.fail(p.root, "watch root is not a folder")
            return
        try:
            with os.scandir(p.root) as it:
                entries = list(it)
        except OSError as exc:
            p.fail(p.root, f"watch root is not readable: {exc.strerror or exc}")
            return
        above = ((st.st_dev, st.st_ino),)
        for entry in entries:
            errors = p.errors
            files: list[_File] = []
            p.hidden.clear()
            p.visit(entry, entry.name, above, files)
            if p.spec.mode == "file":
                for f in files:
                    yield f.relative, f.path, (1, f.size, f.mtime_ns), [f], False
                continue
            blocked = p.errors != errors
            if len(files) == 1 and files[0].path == entry.path and not blocked:
                f = files[0]  # a file at the top level
                yield entry.name, entry.path, (1, f.size, f.mtime_ns), files, False
            elif files or blocked:
                digest = hash(
                    frozenset([*((f.relative, f.size, f.mtime_ns) for f in files), *p.hidden])
                )
                fingerprint = (len(files), sum(f.size for f in files), digest)
                yield entry.name, entry.path, fingerprint, files, blocked

    def _readable(self, st: os.stat_result) -> bool:
        """Read permission from the mode bits already at hand (no extra system call)."""
        if self._euid == 0:
            return True
        if st.st_uid == self._euid:
            return bool(st.st_mode & stat.S_IRUSR)
        if st.st_gid in self._groups:
            return bool(st.st_mode & stat.S_IRGRP)
        return bool(st.st_mode & stat.S_IROTH)


def _absolute(path: Path | str) -> str:
    return os.path.abspath(os.path.expanduser(path))


def _inside(bases: set[str], path: str) -> set[str]:
    """``path`` ("/"-separated) relative to whichever of ``bases`` holds it; "" = a base."""
    found = set()
    for candidate in {path, os.path.realpath(path)}:
        for base in bases:
            if os.path.join(candidate, "") == base:
                found.add("")
            elif candidate.startswith(base):
                found.add(candidate[len(base) :].replace(os.sep, "/"))
    return found


def _compile(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))
