"""Keeping what an unfinished transfer posted when its folder changed.

A folder is posted, part of it fails (a file was unreadable, deleted, truncated), and
the user fixes the folder and runs the same command again. The files are not the same
any more, so the old transfer cannot simply be resumed; but the files it finished and
that are still exactly as they were (path, size, mtime) need not be posted again. The
new transfer *carries them over*: their manifest lines (Message-IDs, sizes, CRC32s,
obfuscated headers) go into the new manifest before anything is posted, the store
records them uploaded, and the new NZB lists them with the same Message-IDs. Only new
or changed files are posted. The old transfer is then abandoned (superseded): its
record is kept, it is never resumed.

Nothing is carried when the old transfer was planned with other posting settings
(another article size or obfuscation would give articles the new plan cannot list),
when its manifest cannot be read, or for a file whose lines are not all there.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import msgspec

from postie import errors
from postie.article.plan import JobPlan, Segment
from postie.config import PostingConfig
from postie.manifest import ArticleRecord
from postie.manifest.plan import planned_header, planned_posting
from postie.store.api import FileRole, Store, Transfer, UploadState

log = logging.getLogger(__name__)


class Carried(msgspec.Struct, frozen=True):
    """What a new transfer keeps of ``old``: by source path, the old file's lines and the
    Message-IDs a server rewrote for it (``part -> id``)."""

    old: Transfer
    lines: dict[str, dict[int, ArticleRecord]]
    accepted: dict[str, dict[int, str]]
    targets: frozenset[Path]  # the old transfer's NZBs: the new one may write over them

    def __len__(self) -> int:
        return len(self.lines)


async def carry_over(store: Store, old: Transfer, posting: PostingConfig) -> Carried | None:
    """What a new transfer planned with ``posting`` can keep of ``old`` (None: nothing)."""
    try:
        found = await store.manifests.read(old.manifest_path, durable_bytes=old.manifest_bytes)
    except errors.ManifestError as exc:
        log.info("transfer %d: nothing carried over: %s", old.id, exc)
        return None
    kept = planned_posting(found.header, posting)
    if planned_header(kept) != planned_header(posting):
        log.info("transfer %d: nothing carried over: other posting settings", old.id)
        return None
    accepted = await store.accepted_ids(old.id)
    lines: dict[str, dict[int, ArticleRecord]] = {}
    rewritten: dict[str, dict[int, str]] = {}
    for row in await store.files(old.id):
        if row.role != FileRole.DATA or row.upload_state != UploadState.UPLOADED:
            continue
        recorded = found.articles.get(row.file_id, {})
        if len(recorded) != row.article_count:
            continue
        if not await asyncio.to_thread(_unchanged, row.source_path, row.size, row.mtime_ns):
            continue
        key = os.fsdecode(row.source_path)
        lines[key] = recorded
        rewritten[key] = {p: mid for (f, p), mid in accepted.items() if f == row.file_id}
    targets = frozenset(Path(v) for v in old.options.get("targets", {}).values())
    return Carried(old, lines, rewritten, targets)


def _unchanged(path: Path, size: int, mtime_ns: int) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return (st.st_size, st.st_mtime_ns) == (size, mtime_ns)


def adopt(plan: JobPlan, carried: Carried) -> JobPlan:
    """The plan with each carried file's parts as they were posted."""
    files = []
    for f in plan.files:
        lines = carried.lines.get(os.fsdecode(f.path))
        if lines is None or len(lines) != len(f.segments):
            files.append(f)
            continue
        segments = tuple(
            Segment(n, r.offset, r.length, r.message_id, r.subject, r.poster, r.wire_name)
            for n, r in sorted(lines.items())
        )
        files.append(msgspec.structs.replace(f, segments=segments))
    return msgspec.structs.replace(plan, files=tuple(files))


def carried_files(plan: JobPlan, carried: Carried) -> dict[int, dict[int, ArticleRecord]]:
    """The plan's carried files (by their new index) and their lines, renumbered."""
    out: dict[int, dict[int, ArticleRecord]] = {}
    for f in plan.files:
        lines = carried.lines.get(os.fsdecode(f.path))
        if lines is not None and len(lines) == len(f.segments):
            out[f.index] = {n: r._replace(file=f.index) for n, r in lines.items()}
    return out
