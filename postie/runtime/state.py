"""What a posting job knows as it runs: each file's state and what an earlier run
left for it, the job's tally of changed, done and failed files, and the statistics
and result the engine reports. The engine (:mod:`postie.runtime.engine`) changes
these; the transfer's checkpoints and the progress display read them."""

from __future__ import annotations

from array import array
from collections.abc import Mapping, MutableSequence, Sequence
from types import MappingProxyType

import msgspec

from postie import errors
from postie.article import yenc
from postie.article.plan import FilePlan, JobPlan
from postie.manifest import ArticleRecord

# Shared by the many files that have nothing of an earlier run, or no part acknowledged
# out of order: a folder of 100,000 small files held an empty dict and an empty set for
# each (~280 bytes a file) for the whole run.
NOTHING_RECORDED: Mapping[int, ArticleRecord] = MappingProxyType({})
NONE_ABOVE: frozenset[int] = frozenset()
NO_IDS: Mapping[int, str] = MappingProxyType({})
# A finished file's part CRC32s (they are in the manifest): empty, so a write to it
# (none is made: no part of a finished file is read again) fails loudly
NO_CRCS: list[int | None] = []
# A file none of whose parts was read yet: its list of part CRC32s is made at the first
# (a folder of 100,000 small files held a list each, ~64 bytes, from the start)
NOT_READ: list[int | None] = []


def article_sizes(count: int) -> MutableSequence[int]:
    """Room for ``count`` article sizes, all 0 (not known yet): 8 bytes each."""
    return array("Q", bytes(8 * count))


class FileResume(msgspec.Struct, frozen=True):
    """What an earlier run of a transfer left for one file.

    ``done``: parts already on the server (not posted again); ``recorded``: the
    manifest's line of every part that has one with its CRC32 (checked when the part
    is posted again, and giving the whole-file CRC for parts not re-read);
    ``measure``: parts on the server whose CRC line was lost (manifest version 2), read
    and encoded again for their CRC32 and size, not posted.
    """

    watermark: int = 0
    done: frozenset[int] = frozenset()
    recorded: Mapping[int, ArticleRecord] = msgspec.field(default_factory=lambda: NOTHING_RECORDED)
    measure: frozenset[int] = frozenset()


class Tally(msgspec.Struct):
    """A job's files at a glance, kept as they change: the files whose progress moved
    since the checkpointer last took them, and how many are done or failed. Progress
    and checkpoints read these instead of walking every file (a folder of 100,000
    files would otherwise be walked five times a second by the progress bars)."""

    changed: set[int] = msgspec.field(default_factory=set)
    done: int = 0
    failed: int = 0

    def take(self) -> set[int]:
        """The files changed since the last ``take``; give them back with ``keep`` if
        what was made of them could not be saved."""
        changed, self.changed = self.changed, set()
        return changed

    def keep(self, changed: set[int]) -> None:
        self.changed |= changed


class _Rare:
    """What few files have (an earlier run's lines, acknowledgements out of order,
    rewritten or claimed IDs, an error): one object for those that do."""

    __slots__ = (
        "accepted_ids",
        "acked_above",
        "claimed",
        "error",
        "measure",
        "recorded",
        "unsaved_ids",
    )

    def __init__(self) -> None:
        self.recorded: Mapping[int, ArticleRecord] = NOTHING_RECORDED
        self.measure: frozenset[int] = frozenset()
        self.acked_above: set[int] | frozenset[int] = NONE_ABOVE
        self.accepted_ids: Mapping[int, str] = NO_IDS
        self.claimed: Mapping[int, str] = NO_IDS
        self.unsaved_ids: Sequence[tuple[int, str]] = ()
        self.error: errors.PostieError | None = None


_RARE = _Rare()  # what a file without its own has (never written to)


class FileState:
    """What the engine knows about one file while it is being posted.

    One per file of the job, for the whole run: slots only, and what few files have
    kept in one ``_Rare`` object for those that do (a folder of 100,000 small files held
    16 slots each, 160 bytes a file; 10 now)."""

    __slots__ = (
        "_rare",
        "crcs",
        "first",
        "pending",
        "plan",
        "posted_bytes",
        "remaining",
        "sizes",
        "tally",
        "watermark",
    )

    @property
    def measure(self) -> frozenset[int]:
        """Of pending: on the server, only read (FileResume)."""
        return _RARE.measure if self._rare is None else self._rare.measure

    @measure.setter
    def measure(self, value: frozenset[int]) -> None:
        self._more().measure = value

    @property
    def recorded(self) -> Mapping[int, ArticleRecord]:
        """An earlier run's line of each part that has one."""
        return _RARE.recorded if self._rare is None else self._rare.recorded

    @recorded.setter
    def recorded(self, value: Mapping[int, ArticleRecord]) -> None:
        self._more().recorded = value

    @property
    def acked_above(self) -> set[int] | frozenset[int]:
        """Parts acknowledged above the watermark: a set only while there are any."""
        return _RARE.acked_above if self._rare is None else self._rare.acked_above

    @acked_above.setter
    def acked_above(self, value: set[int] | frozenset[int]) -> None:
        self._more().acked_above = value

    @property
    def accepted_ids(self) -> Mapping[int, str]:
        """Parts whose 240 gave another Message-ID."""
        return _RARE.accepted_ids if self._rare is None else self._rare.accepted_ids

    @accepted_ids.setter
    def accepted_ids(self, value: Mapping[int, str]) -> None:
        self._more().accepted_ids = value

    @property
    def claimed(self) -> Mapping[int, str]:
        """The 441 435 reply of re-posts (part -> reply)."""
        return _RARE.claimed if self._rare is None else self._rare.claimed

    @claimed.setter
    def claimed(self, value: Mapping[int, str]) -> None:
        self._more().claimed = value

    @property
    def unsaved_ids(self) -> Sequence[tuple[int, str]]:
        """The rewritten IDs not saved yet."""
        return _RARE.unsaved_ids if self._rare is None else self._rare.unsaved_ids

    @unsaved_ids.setter
    def unsaved_ids(self, value: Sequence[tuple[int, str]]) -> None:
        self._more().unsaved_ids = value

    @property
    def error(self) -> errors.PostieError | None:
        """Why the file failed."""
        return _RARE.error if self._rare is None else self._rare.error

    @error.setter
    def error(self, value: errors.PostieError | None) -> None:
        self._more().error = value

    def __init__(
        self,
        plan: FilePlan,
        pending: tuple[int, ...],  # part numbers to post (or measure), in order
        *,
        # the part CRC32s: NOT_READ until a part is read or recorded, NO_CRCS once finished
        crcs: list[int | None] = NOT_READ,
        # every article's size, the job's files' in one array (a list of one int per
        # part per file cost ~100 bytes a small file): part n of this file at
        # first + n - 1; None: an array of this file's own
        sizes: MutableSequence[int] | None = None,
        recorded: Mapping[int, ArticleRecord] = NOTHING_RECORDED,
        measure: frozenset[int] = frozenset(),
        first: int = 0,  # the position of part 1 in the plan's order (files by index)
        watermark: int = 0,  # every part <= watermark has its 240 (or was already there)
        acked_above: set[int] | frozenset[int] = NONE_ABOVE,
        tally: Tally | None = None,  # shared by a job's files
    ) -> None:
        self.plan = plan
        self.pending = pending
        self.crcs = crcs
        self.first = first
        self.watermark = watermark
        self.posted_bytes = 0
        self.tally = tally if tally is not None else Tally()
        self._rare: _Rare | None = None
        self.remaining = len(pending)
        if not self.remaining:
            self.tally.done += 1
        self.sizes = sizes if sizes is not None else article_sizes(len(plan.segments) + first)
        if measure:
            self.measure = measure
        if recorded:
            self.recorded = recorded
        for number, record in recorded.items():
            self.set_crc(number, record.crc32)
            self.sizes[first + number - 1] = record.size
        above = set(acked_above)
        while self.watermark + 1 in above:
            self.watermark += 1
            above.discard(self.watermark)
        if above:
            self.acked_above = above

    def _more(self) -> _Rare:
        if self._rare is None:
            self._rare = _Rare()
        return self._rare

    def __repr__(self) -> str:
        return (
            f"FileState({self.plan.name!r}, remaining={self.remaining},"
            f" watermark={self.watermark}, error={self.error!r})"
        )

    @property
    def done(self) -> bool:
        return self.remaining == 0 and self.error is None

    def set_crc(self, number: int, crc32: int) -> None:
        """Part ``number`` reads with ``crc32``."""
        if self.crcs is NOT_READ:
            self.crcs = [None] * len(self.plan.segments)
        self.crcs[number - 1] = crc32

    def set_size(self, number: int, size: int) -> None:
        """Part ``number``'s article is ``size`` bytes."""
        self.sizes[self.first + number - 1] = size

    def part_sizes(self) -> list[int]:
        """Every part's article size (0: not known yet), in part order."""
        return list(self.sizes[self.first : self.first + len(self.plan.segments)])

    def whole_crc(self) -> int | None:
        if self.crcs is NOT_READ:
            return None if self.plan.segments else 0
        crc = 0
        for seg, part in zip(self.plan.segments, self.crcs, strict=True):
            if part is None:
                return None
            crc = yenc.combine_crc(crc, part, seg.length)
        return crc

    def ack(self, number: int) -> None:
        """Part ``number`` has its 240 (or was found on the server)."""
        self.tally.changed.add(self.plan.index)
        above = self.acked_above
        if number == self.watermark + 1:
            self.watermark = number
            if above:
                assert isinstance(above, set)  # never a non-empty frozenset
                while self.watermark + 1 in above:
                    self.watermark += 1
                    above.discard(self.watermark)
                if not above:
                    self.acked_above = NONE_ABOVE
        elif number > self.watermark:
            if isinstance(above, set):
                above.add(number)
            else:
                self.acked_above = {number}

    def part_done(self) -> None:
        """One of the parts left is acknowledged (after ``ack``). The last one: no part is
        read again, so the part CRC32s (for the whole file's, in the last ``=yend``) go."""
        self.remaining -= 1
        if not self.remaining:
            self.crcs = NO_CRCS
            if self.error is None:
                self.tally.done += 1

    def rewritten(self, number: int, message_id: str) -> None:
        """The server accepted part ``number`` under ``message_id``, not the plan's."""
        ids = self.accepted_ids
        if not isinstance(ids, dict):
            ids = self.accepted_ids = {}
        ids[number] = message_id
        unsaved = self.unsaved_ids
        if not isinstance(unsaved, list):
            unsaved = self.unsaved_ids = []
        unsaved.append((number, message_id))

    def ids_saved(self, count: int) -> None:
        """The first ``count`` of ``unsaved_ids`` are in the store now."""
        unsaved = self.unsaved_ids
        if count and isinstance(unsaved, list):
            del unsaved[:count]
            if not unsaved:
                self.unsaved_ids = ()

    def claim(self, number: int, reply: str) -> None:
        """A re-post of part ``number`` was met with ``reply`` (441 435: the server claims
        the ID)."""
        claimed = self.claimed
        if not isinstance(claimed, dict):
            claimed = self.claimed = {}
        claimed[number] = reply

    def fail(self, error: errors.PostieError) -> None:
        if self.error is None:
            if not self.remaining:
                self.tally.done -= 1
            self.error = error
            self.tally.failed += 1
            self.tally.changed.add(self.plan.index)


class JobStatistics(msgspec.Struct, frozen=True):
    """A snapshot of a PostingJob's progress (what the progress display shows)."""

    total_bytes: int
    posted_bytes: int
    total_articles: int
    posted_articles: int
    files_total: int
    files_done: int
    files_failed: int
    current_files: tuple[str, ...]
    retries: int
    checked_in_doubt: int
    duplicates_confirmed: int
    pipelined_posts: int
    manifest_frames: int
    elapsed: float
    resumed_bytes: int = 0  # of posted_bytes: acknowledged before this run (a resume)


class JobResult(msgspec.Struct, frozen=True):
    """What a PostingJob did: the state of each file when it ended."""

    plan: JobPlan
    files: tuple[FileState, ...]
    elapsed: float

    @property
    def failed(self) -> tuple[FileState, ...]:
        return tuple(f for f in self.files if f.error is not None or f.remaining)

    @property
    def complete(self) -> bool:
        return not self.failed and not self.plan.failed
