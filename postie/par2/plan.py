"""Plan PAR2 recovery sets: which sets to create, their slice size and recovery blocks.

Pure: no I/O. The plan is what ``par2 create -s<slice> -c<blocks> [-n<files>] -B<basepath>``
is run with, once per set. The rules:

1. **Slice size.** A forced ``slice_size`` is used as it is. Otherwise the slice (PAR2
   block) is aligned with the articles, so that one recovery block repairs whole articles:
   with ``a`` the article size rounded down to a multiple of 4, the candidates are
   ``a * k`` and the divisors of ``a`` that are multiples of 4. A file counts
   ``ceil(size / slice)`` slices (PAR2 pads every file to whole slices). ``a`` is used when
   it gives MIN_SLICES..MAX_SOURCE_SLICES slices. With fewer, the divisors are tried
   largest first, not below MIN_SLICE_SIZE, until one gives MIN_SLICES (else the smallest
   is used): with few slices one recovery block is a large share of the data, so
   redundancy is coarse. With more, the smallest ``k`` that fits is used.
2. **Splitting.** A set holds at most MAX_SOURCE_SLICES slices and every file takes at
   least one. A folder that does not fit one set with slices of at most
   MAX_SLICE_ARTICLES articles (nor at the forced size) is split into contiguous chunks,
   in the given order, each filled while it fits at that size; each chunk then picks its
   own slice by rule 1. The sets are ``<set_name>.part01``, ``.part02``, ... (at least two
   digits, more when the count needs them). Bigger slices would hurt: one lost article
   costs a whole recovery block. A file too big on its own gets a set of its own with the
   slice it needs; with a forced slice size that is too small for it, a ValueError.
3. **Recovery blocks**, per set: a percentage gives ``ceil(source_slices * percent / 100)``
   (computed exactly, in decimal), a count is used as it is; both at least 1 and at most
   MAX_RECOVERY_BLOCKS. ``recovery_files`` is capped at the recovery blocks (par2 refuses
   more files than blocks).
4. **Per-file mode**: one set per file of at least ``min_size`` bytes (the others are
   ``unprotected``), basepath the file's folder. The set is named after the file's base
   name; when two files share it (ignoring case), their names with "/" replaced by "_"
   are used instead, and a name still taken gets "_2", "_3", ... in the given order.
5. **Folder mode**: every file is in a set. Each ``path`` must end with its ``name``; the
   folder left when the name is removed is the basepath, the same for all files.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Final, Literal

import msgspec

MAX_SOURCE_SLICES: Final = 32768  # PAR2: source blocks in one set
MAX_RECOVERY_BLOCKS: Final = 32768  # par2cmdline: -c at most this
MAX_RECOVERY_FILES: Final = 31  # par2cmdline: -n at most this
MAX_PERCENT: Final = 1000.0
MIN_SLICES: Final = 100  # fewer source slices make redundancy coarse (1 block = 1% or more)
MIN_SLICE_SIZE: Final = 4096  # automatic slices go no smaller (par2's cost per slice)
MAX_SLICE_ARTICLES: Final = 16  # bigger slices split a folder into several sets (rule 2)
DEFAULT_MIN_SIZE: Final = 716_800  # one article at the default article size (rule 4)
"""Per-file mode: a file of one article is better protected by posting it twice than by a
PAR2 set as large as itself. Callers with another article size pass their own."""

Per = Literal["folder", "file"]


class Redundancy(msgspec.Struct, frozen=True):
    """How much recovery data: a percentage of the source slices, or a block count."""

    percent: float | None = None
    blocks: int | None = None

    def __post_init__(self) -> None:
        if problem := _redundancy_problem(self.percent, self.blocks):
            raise ValueError(f"invalid redundancy: {problem}")

    def __str__(self) -> str:
        if self.percent is not None:
            return f"{repr(self.percent).removesuffix('.0')}%"
        return f"{self.blocks} block{'' if self.blocks == 1 else 's'}"

    def blocks_for(self, source_slices: int) -> int:
        """Recovery blocks for a set of ``source_slices`` (rule 3)."""
        if self.percent is not None:
            wanted = math.ceil(Fraction(repr(self.percent)) * source_slices / 100)
        else:
            wanted = self.blocks or 1
        return max(1, min(wanted, MAX_RECOVERY_BLOCKS))


def _redundancy_problem(percent: float | None, blocks: int | None) -> str | None:
    if (percent is None) == (blocks is None):
        return "give exactly one of a percentage and a block count"
    if percent is not None and not 0 < percent <= MAX_PERCENT:  # NaN fails too
        return f"a percentage must be more than 0% and at most {MAX_PERCENT:g}%"
    if blocks is not None and not 1 <= blocks <= MAX_RECOVERY_BLOCKS:
        return f"a block count must be 1 to {MAX_RECOVERY_BLOCKS}"
    return None


DEFAULT_REDUNDANCY: Final = Redundancy(percent=10.0)

_PERCENT = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*%")
_COUNT = re.compile(r"[0-9]+")


def parse_redundancy(text: str) -> Redundancy:
    """Parse "10%", "10.5%" (of the source slices) or "200" (recovery blocks)."""
    spec = text.strip()
    percent, blocks = None, None
    if match := _PERCENT.fullmatch(spec):
        percent = float(match[1])
    elif _COUNT.fullmatch(spec):
        blocks = int(spec)
    else:
        raise ValueError(
            f"invalid redundancy {text!r}: expected a percentage such as '10%'"
            " or a recovery block count such as '200'"
        )
    if problem := _redundancy_problem(percent, blocks):
        raise ValueError(f"invalid redundancy {text!r}: {problem}")
    return Redundancy(percent, blocks)


class Par2Source(msgspec.Struct, frozen=True):
    """A file a PAR2 set protects."""

    path: Path  # absolute path of the file
    name: str  # relative to the posted folder, "/"-separated
    size: int  # bytes, > 0


class Par2Options(msgspec.Struct, frozen=True):
    """How to plan (the config's ``par2`` section); checked when made."""

    redundancy: Redundancy = DEFAULT_REDUNDANCY
    per: Per = "folder"
    slice_size: int | None = None  # forced slice size; None: rule 1
    recovery_files: int | None = None  # par2 -n; None: the tool's default
    min_size: int = DEFAULT_MIN_SIZE  # per-file mode: smaller files get no set

    def __post_init__(self) -> None:
        if self.per not in ("folder", "file"):
            raise ValueError(f"per must be 'folder' or 'file', not {self.per!r}")
        if self.slice_size is not None and (self.slice_size <= 0 or self.slice_size % 4):
            raise ValueError(f"slice size {self.slice_size} is not a positive multiple of 4")
        files = self.recovery_files
        if files is not None and not 1 <= files <= MAX_RECOVERY_FILES:
            raise ValueError(f"recovery files {files} is not 1 to {MAX_RECOVERY_FILES}")
        if self.min_size < 0:
            raise ValueError(f"min size {self.min_size} is negative")


class Par2Set(msgspec.Struct, frozen=True):
    """One PAR2 set: one ``par2 create`` run."""

    name: str  # base name of the set's files: "<name>.par2", "<name>.vol00+01.par2", ...
    basepath: Path  # par2 -B: the folder the member names are relative to
    members: tuple[Par2Source, ...]
    slice_size: int  # multiple of 4
    source_slices: int  # sum over members of ceil(size / slice_size)
    recovery_blocks: int
    recovery_files: int | None


class Par2Plan(msgspec.Struct, frozen=True):
    """The PAR2 sets of a job, and the files left without one."""

    sets: tuple[Par2Set, ...]
    unprotected: tuple[Par2Source, ...]  # per-file mode: files below min_size, with no set


def plan_par2(
    files: Sequence[Par2Source], *, set_name: str, article_size: int, options: Par2Options
) -> Par2Plan:
    """The PAR2 sets to create for ``files`` (see the module's rules)."""
    if not files:
        raise ValueError("no files to protect")
    if not set_name or "/" in set_name:
        raise ValueError(f"set name {set_name!r} is not a plain file name")
    if article_size < 4:
        raise ValueError(f"article size {article_size} is too small")
    seen: set[str] = set()
    for f in files:
        if f.size <= 0:
            raise ValueError(f"{f.name}: size {f.size}; only files with data can be protected")
        if any(part in ("", ".", "..") for part in f.name.split("/")):
            raise ValueError(f"{f.name!r} ({f.path}) is not a relative '/'-separated name")
        if f.name in seen:
            raise ValueError(f"{f.name!r} is given twice")
        seen.add(f.name)
    article = article_size - article_size % 4
    if options.per == "file":
        kept = [f for f in files if f.size >= options.min_size]
        sets = tuple(
            _make_set(name, f.path.parent, [f], article, options)
            for name, f in zip(_per_file_names(kept), kept, strict=True)
        )
        return Par2Plan(sets, tuple(f for f in files if f.size < options.min_size))
    basepath = _basepath(files)
    chunks = _chunks(files, options.slice_size or article * MAX_SLICE_ARTICLES)
    names = [set_name]
    if len(chunks) > 1:
        width = max(2, len(str(len(chunks))))
        names = [f"{set_name}.part{i:0{width}d}" for i in range(1, len(chunks) + 1)]
    sets = tuple(
        _make_set(name, basepath, chunk, article, options)
        for name, chunk in zip(names, chunks, strict=True)
    )
    return Par2Plan(sets, ())


def _make_set(
    name: str, basepath: Path, members: Sequence[Par2Source], article: int, options: Par2Options
) -> Par2Set:
    sizes = [m.size for m in members]
    slice_size = options.slice_size or _auto_slice(sizes, article)
    slices = _count(sizes, slice_size)
    if slices > MAX_SOURCE_SLICES:  # only a forced slice size for one big file
        raise ValueError(
            f"slice size {slice_size} is too small for {members[0].name}: it would take"
            f" {slices} slices, more than {MAX_SOURCE_SLICES}"
        )
    blocks = options.redundancy.blocks_for(slices)
    files = None if options.recovery_files is None else min(options.recovery_files, blocks)
    return Par2Set(name, basepath, tuple(members), slice_size, slices, blocks, files)


def _count(sizes: Sequence[int], slice_size: int) -> int:
    return sum(-(-size // slice_size) for size in sizes)


def _auto_slice(sizes: Sequence[int], article: int) -> int:
    """Rule 1, for at most MAX_SOURCE_SLICES files."""
    count = _count(sizes, article)
    if count > MAX_SOURCE_SLICES:  # the smallest k that fits; at ceil(max/a) each file is 1
        lo, hi = 2, max(2, -(-max(sizes) // article))
        while lo < hi:
            mid = (lo + hi) // 2
            if _count(sizes, article * mid) <= MAX_SOURCE_SLICES:
                hi = mid
            else:
                lo = mid + 1
        return article * lo
    best = article
    if count < MIN_SLICES:
        for candidate in _divisors(article):
            count = _count(sizes, candidate)
            if count > MAX_SOURCE_SLICES:
                break
            best = candidate
            if count >= MIN_SLICES:
                break
    return best


@functools.lru_cache(maxsize=64)
def _divisors(article: int) -> tuple[int, ...]:
    """Divisors of ``article`` below it, multiples of 4, not below MIN_SLICE_SIZE; largest first."""
    found: set[int] = set()
    for i in range(1, math.isqrt(article) + 1):
        if article % i == 0:
            found.update((i, article // i))
    return tuple(
        sorted((d for d in found if d % 4 == 0 and MIN_SLICE_SIZE <= d < article), reverse=True)
    )


def _chunks(files: Sequence[Par2Source], slice_size: int) -> list[list[Par2Source]]:
    """Contiguous runs of ``files`` of at most MAX_SOURCE_SLICES slices of ``slice_size``."""
    chunks: list[list[Par2Source]] = [[]]
    used = 0
    for f in files:
        count = -(-f.size // slice_size)
        if chunks[-1] and used + count > MAX_SOURCE_SLICES:
            chunks.append([])
            used = 0
        chunks[-1].append(f)
        used += count
    return chunks


def _basepath(files: Sequence[Par2Source]) -> Path:
    """Rule 5: the folder every file's name is relative to."""
    base = _folder_parts(files[0])
    for f in files[1:]:
        if (other := _folder_parts(f)) != base:
            raise ValueError(
                f"{files[0].path} and {f.path} are not in one folder: their names are"
                f" relative to {Path(*base)} and {Path(*other)}"
            )
    return Path(*base)


def _folder_parts(f: Par2Source) -> tuple[str, ...]:
    names = tuple(f.name.split("/"))
    parts = f.path.parts
    if parts[-len(names) :] != names:
        raise ValueError(f"{f.path} does not end with its name {f.name!r}")
    return parts[: -len(names)]


def _per_file_names(files: Sequence[Par2Source]) -> list[str]:
    """Rule 4: a plain, unique (ignoring case) set name for each file."""
    bases = [f.name.rsplit("/", 1)[-1] for f in files]
    shared = Counter(base.casefold() for base in bases)
    taken: set[str] = set()
    names: list[str] = []
    for f, base in zip(files, bases, strict=True):
        name = base if shared[base.casefold()] == 1 else f.name.replace("/", "_")
        candidate, n = name, 1
        while candidate.casefold() in taken:
            n += 1
            candidate = f"{name}_{n}"
        taken.add(candidate.casefold())
        names.append(candidate)
    return names
