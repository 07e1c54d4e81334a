"""Watch folders: find what landed in them and say when it is ready to post.

A *candidate* is one job: in ``folder`` mode each top-level entry of a watch root (a
folder or a file), in ``file`` mode each file under the root at any depth. The rules:

* A candidate's fingerprint is, for a folder, a hash of its files' (relative path, size,
  mtime_ns); for a file, its size and mtime_ns. It is **ready** once its fingerprint has
  stayed the same for ``min_file_age`` seconds of the injected clock, so a growing file,
  or a folder that gains a file, starts its wait again. File contents are never read.
* What a candidate holds is what :class:`postie.article.walk.Walker` takes under the
  root's rules (ignore globs at any depth, the size floor, symlinks only when
  ``follow_symlinks`` and then only into the root, postie's own folders excluded, and
  ``*.nzb`` files inside a root's output folder): the very rules the job is posted
  with. A folder with no files left is no candidate. An ignored file inside a folder
  still counts in the folder's fingerprint (not its size): while a download's
  ``*.part`` grows, its folder is not stable.
* Outside a root's ``schedule`` window ages still run, but nothing is ready.
* A candidate is returned ready once; it comes back only after its fingerprint changes
  and settles again, or after :meth:`Watcher.forget`.
* Trouble is returned as :class:`Problem`, never raised: a missing or unreadable root
  (every scan), an unreadable file or folder or a pipe/socket/device inside (every scan;
  the candidate holding it is not ready), a link left out (once). What sits below a
  folder that could not be listed keeps its state, so a passing error re-posts nothing.
"""

from __future__ import annotations

import datetime
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from postie.article.walk import Found, Left, LeftOut, Walker
from postie.schedule import Window, parse_window

if TYPE_CHECKING:
    from postie.config import WatchRoot

__all__ = ["Candidate", "Problem", "ScanResult", "Watcher", "Window", "parse_window"]


class Candidate(msgspec.Struct, frozen=True):
    """A job to queue."""

    root: Path
    path: Path
    relative: str  # "/"-separated, relative to the root
    size: int  # total bytes of the files taken
    files: int
    priority: int
    output: Path | None


class Problem(msgspec.Struct, frozen=True):
    """Something the user must hear about."""

    path: Path
    message: str


class ScanResult(msgspec.Struct, frozen=True):
    """What one scan found."""

    ready: tuple[Candidate, ...]
    waiting: int  # candidates seen, not yet returned, not ready now
    problems: tuple[Problem, ...]


class _Track(msgspec.Struct, frozen=True):
    fingerprint: tuple[int, int, int]
    since: float
    returned: bool = False


class Watcher:
    """Scans watch roots; see the module docstring for the rules."""

    def __init__(
        self,
        roots: Sequence[WatchRoot],
        *,
        exclude: Sequence[Path] = (),
        nzb_folders: Sequence[Path] | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime.datetime] = datetime.datetime.now,
    ) -> None:
        self._roots = tuple(roots)
        self._windows = tuple(parse_window(r.schedule) if r.schedule else None for r in roots)
        self._exclude = tuple(exclude)
        self._nzb = tuple(
            nzb_folders
            if nzb_folders is not None
            else (r.output for r in roots if r.output is not None)
        )
        self._clock = clock
        self._now = now
        self._tracks: dict[str, _Track] = {}
        self._told: set[str] = set()  # what was left out and said once
        self._lock = threading.Lock()
        self._forgotten: list[str] = []  # by forget(), applied by the next scan

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
        scan = _Scan()
        seen: set[str] = set()
        waiting = 0
        clock = self._clock()
        wall = self._now().time() if any(self._windows) else None
        for spec, window in zip(self._roots, self._windows, strict=True):
            open_ = window is None or wall is None or window.contains(wall)
            for rel, path, fingerprint, files, blocked in self._candidates(spec, scan):
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
                        Path(_absolute(spec.path)),
                        Path(path),
                        rel,
                        size,
                        len(files),
                        spec.priority,
                        spec.output,
                    )
                )
        keep = tuple(os.path.join(f, "") for f in scan.failed)
        for k in self._tracks.keys() - seen:
            if k not in scan.failed and not k.startswith(keep):
                del self._tracks[k]
        problems = list(scan.problems)
        for path, message in scan.left_once:
            if path not in self._told:
                problems.append(Problem(Path(path), message + "; skipped"))
        self._told = {path for path, _ in scan.left_once}
        ready.sort(key=lambda c: str(c.path))
        return ScanResult(tuple(ready), waiting, tuple(problems))

    def _candidates(
        self, spec: WatchRoot, scan: _Scan
    ) -> Iterator[tuple[str, str, tuple[int, int, int], list[Found], bool]]:
        """(relative path, path, fingerprint, files, blocked) of each candidate of a root."""
        root = _absolute(spec.path)
        try:
            st = os.stat(root)
        except FileNotFoundError:
            scan.fail(root, "watch root does not exist")
            return
        except OSError as exc:
            scan.fail(root, f"watch root is not readable: {exc.strerror or exc}")
            return
        if not stat.S_ISDIR(st.st_mode):
            scan.fail(root, "watch root is not a folder")
            return
        try:
            with os.scandir(root) as it:
                entries = sorted(it, key=lambda e: os.fsencode(e.name))
        except OSError as exc:
            scan.fail(root, f"watch root is not readable: {exc.strerror or exc}")
            return
        # built each scan: an output folder made since is excluded from now on
        walker = Walker(
            spec.rules(exclude=self._exclude, nzb_folders=self._nzb),
            roots=[root],
            scope="the watch root",
        )
        for entry in entries:
            walker.forget_seen()
            found = walker.entry(entry.path, entry.name)
            blocked = scan.take(found.left)
            if spec.mode == "file":
                for f in found.files:
                    yield f.relative, f.path, (1, f.size, f.mtime_ns), [f], False
                continue
            files = found.files
            if len(files) == 1 and files[0].path == entry.path and not blocked:
                f = files[0]  # a file at the top level
                yield entry.name, entry.path, (1, f.size, f.mtime_ns), files, False
            elif files or blocked:
                digest = hash(
                    frozenset([(f.relative, f.size, f.mtime_ns) for f in (*files, *found.ignored)])
                )
                fingerprint = (len(files), sum(f.size for f in files), digest)
                yield entry.name, entry.path, fingerprint, files, blocked


class _Scan:
    """What went wrong during one scan."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []  # said every scan
        self.failed: list[str] = []  # what is below them keeps its state
        self.left_once: list[tuple[str, str]] = []  # said once: links and loops left out

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(Path(path), message))
        self.failed.append(path)

    def take(self, left: Sequence[LeftOut]) -> bool:
        """Sort a walk's left-out entries; True when one holds its candidate back."""
        blocked = False
        for item in left:
            if item.kind in (Left.UNREADABLE, Left.SPECIAL):
                message = (
                    item.reason + ": cannot post it" if item.kind is Left.SPECIAL else item.reason
                )
                self.fail(item.path, message)
                blocked = True
            elif item.kind is Left.SKIPPED:
                self.left_once.append((item.path, item.reason))
        return blocked


def _absolute(path: Path | str) -> str:
    return os.path.abspath(os.path.expanduser(path))
