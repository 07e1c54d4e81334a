"""Posting missing articles again: same Message-ID, same body, through the engine.

The plan is rebuilt from the transfer's manifest, so every part keeps the
Message-ID, subject, From and yEnc name it was first posted with; every part
but the missing ones is marked done. The engine re-reads each body from the
source and checks its CRC32 against the manifest line (a file that changed is
not posted), and runs under the Runtime's WorkerSlots and ByteBudget like any
job. A transfer is uploaded only once every part's CRC32 is durable (manifest
version 2: the store's watermark covers every CRC line), so there is always one to
check against; a part without one is not posted. ``441 435 Duplicate`` is not
confirmed by STAT here: the caller saw STAT miss the article, so it counts as
"claimed" (the server knows the ID, a later check decides).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Literal

import msgspec

from postie import errors
from postie.article.source import source_problem
from postie.manifest.plan import plan_from_manifest, planned_posting
from postie.manifest.storage import ManifestStorage
from postie.runtime.engine import PostingJob
from postie.runtime.runtime import Runtime
from postie.runtime.state import FileResume
from postie.store.api import Failure, Transfer, TransferFile

log = logging.getLogger(__name__)


class Reposted(msgspec.Struct, frozen=True):
    """What the re-post of one missing article came to."""

    kind: Literal["posted", "claimed", "failed"]
    reply: str  # what happened, for the failure's last_error


async def repost(
    runtime: Runtime,
    manifests: ManifestStorage,
    transfer: Transfer,
    files: Sequence[TransferFile],
    failures: Sequence[Failure],
) -> dict[tuple[int, int], Reposted]:
    """Post the missing articles ``failures`` of ``transfer`` again (its manifest read
    from ``manifests``); the outcome of each by ``(file, part)``."""
    wanted: dict[int, set[int]] = {}
    for f in failures:
        wanted.setdefault(f.file_id, set()).add(f.part)
    try:
        found = await manifests.read(transfer.manifest_path, durable_bytes=transfer.manifest_bytes)
    except errors.ManifestError as exc:
        return {f.part_key: Reposted("failed", f"re-post impossible: {exc}") for f in failures}
    posting = planned_posting(found.header, runtime.config.posting)
    plan = plan_from_manifest(found, posting)
    unchecked = {f.part_key for f in failures if f.part not in found.articles.get(f.file_id, {})}
    for file_id, part in unchecked:
        wanted[file_id].discard(part)
    rows = {row.file_id: row for row in files}
    lost: dict[int, errors.FileFailed] = {}
    for file_id in wanted:
        if file_id not in rows:
            continue
        row = rows[file_id]
        problem = await asyncio.to_thread(source_problem, row.source_path, row.size, row.mtime_ns)
        if problem is not None:
            lost[file_id] = problem
    resume = {
        f.index: FileResume(
            done=frozenset(s.number for s in f.segments if s.number not in wanted.get(f.index, ())),
            recorded=found.articles.get(f.index, {}),
        )
        for f in plan.files
    }
    job = PostingJob(runtime, plan, posting, resume=resume, failed=lost, claim_duplicates=True)
    try:
        result = await job.run()
    except errors.JobFailed as exc:
        log.error("transfer %d: re-post failed: %s", transfer.id, exc)
        return {f.part_key: Reposted("failed", f"re-post failed: {exc}") for f in failures}
    outcomes: dict[tuple[int, int], Reposted] = {
        key: Reposted("failed", "re-post impossible: the manifest has no CRC32 of it to check")
        for key in unchecked
    }
    for state in result.files:
        for number in wanted.get(state.plan.index, ()):
            key = (state.plan.index, number)
            if number in state.claimed:
                outcomes[key] = Reposted(
                    "claimed",
                    f"re-post refused: {state.claimed[number]} (the server claims the ID,"
                    " STAT does not find it)",
                )
            elif number <= state.watermark or number in state.acked_above:
                mid = state.accepted_ids.get(number)
                outcomes[key] = Reposted(
                    "posted", "re-posted (240" + (f" as {mid}" if mid else "") + ")"
                )
            else:
                error = state.error or errors.FileFailed("not posted")
                outcomes[key] = Reposted("failed", f"re-post failed: {error}")
    return outcomes
