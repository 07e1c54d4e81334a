"""Plan a job: paths -> files -> segments with Message-IDs and per-article headers.

Pure apart from reading directory entries and file metadata: nothing here is
posted or written. A plan is final: Message-IDs never change after planning.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from postie.article.ids import new_message_id as new_message_id  # its old home, for now
from postie.config import Obfuscation, PostingConfig
from postie.errors import InputError


@dataclass(frozen=True, slots=True)
class Segment:
    """One article: a byte range of a file and its fixed identity."""

    number: int
    offset: int
    length: int
    message_id: str
    subject: str | None = None
    poster: str | None = None
    wire_name: str | None = None


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file to post: absolute path, name as posted (relative, "/"-separated), size, mtime."""

    path: Path
    name: str
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class FilePlan:
    """One file of a plan and its articles (``index`` is 1-based, the order of the job)."""

    index: int
    path: Path
    name: str
    size: int
    mtime_ns: int
    segments: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """A path left out of a job (skipped, failed or warned about) and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class Collected:
    """The files found under the given paths, and what was left out and why."""

    files: tuple[SourceFile, ...]
    skipped: tuple[Problem, ...] = ()
    failed: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class JobPlan:
    """Everything a job posts: its files and articles and the headers they share."""

    name: str
    files: tuple[FilePlan, ...]
    groups: tuple[str, ...]
    poster: str
    date: int
    obfuscation: Obfuscation
    skipped: tuple[Problem, ...] = ()
    failed: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()
    total_bytes: int = field(default=0)

    @property
    def article_count(self) -> int:
        return sum(len(f.segments) for f in self.files)


def display_name(name: str) -> tuple[str, bool]:
    """A file name fit for headers and XML; (name, was it usable as it is).

    Bytes that are not UTF-8 become ``\\xNN``; control characters (which could
    inject header lines or break the NZB) become their escapes.
    """
    raw = os.fsencode(name)
    try:
        text, valid = raw.decode("utf-8"), True
    except UnicodeDecodeError:
        text, valid = raw.decode("utf-8", "backslashreplace"), False
    if not all(c.isprintable() or c == "/" for c in text):
        text = "".join(
            c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
        )
        valid = False
    return text, valid


def collect(paths: Sequence[Path]) -> Collected:
    """Walk the paths; names are relative to each given folder (POSIX separators).

    A missing path raises InputError. Zero-byte files are skipped; unreadable
    files, symlink loops and other per-file problems are reported in ``failed``.
    """
    files: list[SourceFile] = []
    skipped: list[Problem] = []
    failed: list[Problem] = []
    warnings: list[Problem] = []
    seen: set[tuple[int, int]] = set()

    def add(path: Path, name: str) -> None:
        shown = os.fsdecode(path)
        try:
            st = os.stat(path)
        except OSError as exc:
            failed.append(Problem(shown, _reason(exc)))
            return
        if not stat.S_ISREG(st.st_mode):
            skipped.append(Problem(shown, "not a regular file"))
            return
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        if st.st_size == 0:
            skipped.append(Problem(shown, "empty file (zero bytes), skipped"))
            return
        try:  # a file that cannot be read fails here, not in the middle of the upload
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.pread(fd, 1, 0)
            finally:
                os.close(fd)
        except PermissionError:
            failed.append(Problem(shown, "permission denied"))
            return
        except OSError as exc:
            failed.append(Problem(shown, _reason(exc)))
            return
        wire, valid = display_name(name)
        if not valid:
            warnings.append(
                Problem(
                    wire,
                    f"file name is not valid UTF-8 or has control characters; posted as {wire!r}",
                )
            )
        files.append(SourceFile(path, wire, st.st_size, st.st_mtime_ns))

    for given in paths:
        shown = os.fsdecode(given)
        if not given.exists() and not given.is_symlink():
            raise InputError(f"no such file or folder: {shown}")
        try:
            is_dir = given.is_dir()
        except OSError as exc:
            raise InputError(f"{shown}: {_reason(exc)}") from None
        if not is_dir:
            if given.is_symlink() and not given.exists():
                failed.append(Problem(shown, _link_problem(given)))
                continue
            add(given, given.name)
            continue
        found = False
        failed_before = len(failed)
        for path, rel in _walk(given, failed):
            found = True
            add(path, rel)
        if not found and len(failed) == failed_before:
            raise InputError(f"no files to post in {shown} (the folder is empty)")
    return Collected(tuple(files), tuple(skipped), tuple(failed), tuple(warnings))


def _walk(root: Path, failed: list[Problem]) -> Iterable[tuple[Path, str]]:
    """Files under root in a stable order, following directory symlinks without looping."""
    stack: list[tuple[Path, str, frozenset[tuple[int, int]]]] = []
    root_real = root.resolve()
    st = root.stat()
    stack.append((root, "", frozenset({(st.st_dev, st.st_ino)})))
    while stack:
        folder, prefix, ancestors = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: os.fsencode(e.name))
        except OSError as exc:
            failed.append(Problem(os.fsdecode(folder), _reason(exc)))
            continue
        subdirs: list[tuple[Path, str, frozenset[tuple[int, int]]]] = []
        for entry in entries:
            path = Path(entry.path)
            rel = f"{prefix}{entry.name}"
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError as exc:
                failed.append(Problem(os.fsdecode(path), _reason(exc)))
                continue
            if entry.is_symlink() and not path.exists():
                failed.append(Problem(os.fsdecode(path), _link_problem(path)))
                continue
            if is_dir:
                st = path.stat()
                key = (st.st_dev, st.st_ino)
                if key in ancestors or (
                    entry.is_symlink() and root_real.is_relative_to(path.resolve())
                ):
                    failed.append(Problem(os.fsdecode(path), "symlink loop (points to a parent)"))
                    continue
                subdirs.append((path, f"{rel}/", ancestors | {key}))
            else:
                yield path, rel
        stack.extend(reversed(subdirs))


def _link_problem(path: Path) -> str:
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop"
        return f"broken symlink ({_reason(exc)})"
    return "broken symlink"


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    return exc.strerror or str(exc)


def _random_name() -> str:
    return secrets.token_hex(16)


def _random_poster() -> str:
    user = secrets.token_hex(6)
    host = secrets.token_hex(5)
    return f"{user} <{user}@{host}.com>"


def obfuscated_fields(full: bool) -> tuple[str | None, str | None, str | None]:
    """(subject, poster, yEnc name) of one article: random under full obfuscation."""
    if not full:
        return None, None, None
    return _random_name(), _random_poster(), _random_name()


def plan_job(
    collected: Collected, posting: PostingConfig, *, name: str, now: float | None = None
) -> JobPlan:
    """Split files into segments and fix every Message-ID (and obfuscated header)."""
    size = posting.article_size
    full = posting.obfuscation is Obfuscation.FULL
    plans: list[FilePlan] = []
    total = 0
    for index, source in enumerate(collected.files, start=1):
        segments = []
        count = -(-source.size // size)
        for number in range(1, count + 1):
            offset = (number - 1) * size
            length = min(size, source.size - offset)
            segments.append(
                Segment(
                    number,
                    offset,
                    length,
                    new_message_id(posting.message_id_domain),
                    *obfuscated_fields(full),
                )
            )
        plans.append(
            FilePlan(index, source.path, source.name, source.size, source.mtime_ns, tuple(segments))
        )
        total += source.size
    return JobPlan(
        name=name,
        files=tuple(plans),
        groups=posting.groups,
        poster=posting.poster,
        date=int(now if now is not None else time.time()),
        obfuscation=posting.obfuscation,
        skipped=collected.skipped,
        failed=collected.failed,
        warnings=collected.warnings,
        total_bytes=total,
    )
