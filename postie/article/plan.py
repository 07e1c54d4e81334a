"""Plan a job: paths -> files -> segments with Message-IDs and per-article headers.

Pure apart from reading directory entries and file metadata: nothing here is
posted or written. A plan is final: Message-IDs never change after planning.
"""

from __future__ import annotations

import errno
import os
import secrets
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec

from postie.article.ids import new_message_id as new_message_id  # its old home, for now
from postie.article.walk import Left, Walker, WalkRules
from postie.config import Obfuscation, PostingConfig
from postie.errors import InputError


# gc=False: one per article for the whole run, holding only ints and strings, so in no
# reference cycle: no GC header (16 bytes less each), never scanned by a collection.
class Segment(msgspec.Struct, frozen=True, gc=False):
    """One article: a byte range of a file and its fixed identity."""

    number: int
    offset: int
    length: int
    message_id: str
    subject: str | None = None
    poster: str | None = None
    wire_name: str | None = None


# gc=False: one per file until planned, holding only ints and strings, so in no reference
# cycle: no GC header (16 bytes less each), never scanned by a collection.
class SourceFile(msgspec.Struct, frozen=True, gc=False):
    """A file to post: absolute path, name as posted (relative, "/"-separated), size, mtime.

    The path is kept as the walk found it, a ``str``: a ``Path`` per file (its parts list
    and their strings) held ~310 bytes more each, for the whole run."""

    path: str
    name: str
    size: int
    mtime_ns: int
    ino: int | None = None  # with ctime_ns: which file it is, beyond its size and mtime
    ctime_ns: int | None = None


# gc=False: one per file for the whole run, holding ints, strings and a tuple of Segments
# (which hold no object back), so in no reference cycle: no GC header (16 bytes less each).
class FilePlan(msgspec.Struct, frozen=True, gc=False):
    """One file of a plan and its articles (``index`` is 1-based, the order of the job;
    ``path`` absolute, a ``str`` as in :class:`SourceFile`)."""

    index: int
    path: str
    name: str
    size: int
    mtime_ns: int
    segments: tuple[Segment, ...]
    ino: int | None = None  # as walked (see SourceFile)
    ctime_ns: int | None = None


class Problem(msgspec.Struct, frozen=True):
    """A path left out of a job (skipped, failed or warned about) and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class Collected(msgspec.Struct, frozen=True):
    """The files found under the given paths, and what was left out and why."""

    files: tuple[SourceFile, ...]
    skipped: tuple[Problem, ...] = ()
    failed: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()


class JobPlan(msgspec.Struct, frozen=True):
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
    total_bytes: int = 0

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


def collect(
    paths: Sequence[Path], rules: WalkRules | None = None, *, root: Path | None = None
) -> Collected:
    """Walk the paths under ``rules`` (see ``postie.article.walk``); names are relative
    to each given folder (POSIX separators).

    Without ``root`` the paths are the user's own (``postie post``): each is taken even
    when it is a link, and links met below are confined to the given folders. With
    ``root`` (a daemon job inside a watch root) the rules apply to the paths themselves
    too and links are confined to ``root``.

    A missing path raises InputError. Links left out, empty files and pipes are reported
    in ``skipped``; unreadable files in ``failed`` (checked by reading a byte, so a file
    that cannot be read fails here, not in the middle of the upload).
    """
    rules = rules if rules is not None else WalkRules()
    # absolute from the start: the transfer records absolute paths, and fixing 10,000
    # relative ones afterwards costs more than walking from absolute roots
    paths = [Path(os.path.abspath(p)) for p in paths]
    if root is None:
        walker = Walker(rules, roots=[p for p in paths if _is_dir(p)])
    else:
        walker = Walker(rules, roots=[root], scope=os.fsdecode(root))
    files: list[SourceFile] = []
    skipped: list[Problem] = []
    failed: list[Problem] = []
    warnings: list[Problem] = []
    for given in paths:
        shown = os.fsdecode(given)
        if not _exists(given):
            raise InputError(f"no such file or folder: {shown}")
        walk = walker.given(given) if root is None else walker.entry(given)
        for left in walk.left:
            (failed if left.kind is Left.UNREADABLE else skipped).append(
                Problem(left.path, left.reason)
            )
        for found in walk.files:
            problem = _unreadable(found.path)
            if problem is not None:
                failed.append(Problem(found.path, problem))
                continue
            wire, valid = display_name(found.relative)
            if not valid:
                reason = "file name is not valid UTF-8 or has control characters"
                warnings.append(Problem(wire, f"{reason}; posted as {wire!r}"))
            # a file written once has ctime == mtime: one int object for both (36 B a file)
            ctime = found.mtime_ns if found.ctime_ns == found.mtime_ns else found.ctime_ns
            files.append(SourceFile(found.path, wire, found.size, found.mtime_ns, found.ino, ctime))
        if walk.empty and _is_dir(given):
            raise InputError(f"no files to post in {shown} (the folder is empty)")
    return Collected(tuple(files), tuple(skipped), tuple(failed), tuple(warnings))


def _exists(path: Path) -> bool:
    """There is something at ``path`` (also a broken link, or what cannot be examined:
    the walk says why it cannot be posted)."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True
    return True


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _unreadable(path: str) -> str | None:
    """Why a file cannot be read, or None: one byte is read (permissions, I/O errors,
    and what the mode bits cannot tell, such as an ACL or a root squash)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.pread(fd, 1, 0)
        finally:
            os.close(fd)
    except PermissionError:
        return "permission denied"
    except OSError as exc:
        return "symlink loop" if exc.errno == errno.ELOOP else exc.strerror or str(exc)
    return None


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


def part_count(file_size: int, article_size: int) -> int:
    """How many articles a file of ``file_size`` bytes is cut into."""
    return -(-file_size // article_size)


def new_segment(
    number: int, file_size: int, article_size: int, domain: str, *, obfuscated: bool
) -> Segment:
    """Part ``number`` (1-based) of a file cut into ``article_size`` pieces, with a new
    Message-ID (and, under full obfuscation, its random subject, From and yEnc name)."""
    offset = (number - 1) * article_size
    left = file_size - offset
    # the int objects the plan holds anyway where they fit: a new one per part was 32 B
    length = article_size if left >= article_size else file_size if not offset else left
    return Segment(number, offset, length, new_message_id(domain), *obfuscated_fields(obfuscated))


def plan_job(
    collected: Collected, posting: PostingConfig, *, name: str, now: float | None = None
) -> JobPlan:
    """Split files into segments and fix every Message-ID (and obfuscated header)."""
    size = posting.article_size
    full = posting.obfuscation is Obfuscation.FULL
    domain = posting.message_id_domain
    plans: list[FilePlan] = []
    total = 0
    for index, source in enumerate(collected.files, start=1):
        segments = [
            new_segment(number, source.size, size, domain, obfuscated=full)
            for number in range(1, part_count(source.size, size) + 1)
        ]
        plans.append(
            FilePlan(
                index,
                source.path,
                source.name,
                source.size,
                source.mtime_ns,
                tuple(segments),
                source.ino,
                source.ctime_ns,
            )
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
