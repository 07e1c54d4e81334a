"""Resuming a transfer: the plan its manifest describes, its sources checked.

Resuming rebuilds the plan from the manifest, so every part keeps the Message-ID it
was first given (version 2: every part, from frame 0). Which parts are STATed and what
becomes of them is ``postie.transfers.doubt``'s: parts at or below a file's watermark
are taken as posted; parts above it that may have arrived before the crash (version 2:
before the last durable frontier; version 1: those with a line) are STATed and only the
missing ones posted, re-read from the source and checked against their CRC32 where one
was recorded.

A source file that is gone or whose size or mtime changed is marked
``source_missing`` / ``source_changed``; nothing is posted for it. One whose inode or
ctime changed (version 2) is refused only where a part would be read with no CRC32 to
check it. The NZB is always written from the manifest, so it lists parts posted before
the crash.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from postie import errors
from postie.article.source import examine
from postie.config import Config, NzbConfig, PostingConfig, dump, validate
from postie.manifest import FileRecord
from postie.manifest.plan import PLANNING_KEYS, plan_from_manifest, planned_posting
from postie.store.api import FileRole, Store, Transfer, TransferFile, UploadState
from postie.transfers.prepared import LEASE_SECONDS, RUN_KEY, Prepared, nzb_targets

log = logging.getLogger(__name__)


async def resume(
    store: Store,
    config: Config,
    transfer_id: int | None,
    *,
    owner: str,
    given: PostingConfig | None = None,
    output: Path | None = None,
    overwrite: bool = False,
    salvage: bool = False,
) -> Prepared:
    """Take over an unfinished transfer: claim it, read its manifest, check its sources.
    ``output``: write its NZB there from now on (``-o`` given again, e.g. after the first
    folder could not be written); ``overwrite``: even over an existing file.
    ``salvage``: the manifest is damaged; keep what it still holds (see ``_salvage``)."""
    transfer = (
        await store.get(transfer_id) if transfer_id is not None else await store.last_unfinished()
    )
    if transfer is None:
        if transfer_id is None:
            raise errors.UsageError("no unfinished transfer to resume")
        raise errors.UsageError(f"no transfer {transfer_id} in {store.location}")
    if not transfer.unfinished:
        raise errors.UsageError(f"transfer {transfer.id} is already {transfer.display_state}")
    await store.claim(transfer.id, owner=owner, lease=LEASE_SECONDS)
    try:
        if output is not None:
            transfer = await _retarget(store, transfer, output, overwrite)
        if salvage:
            transfer = await _salvage(store, transfer, owner)
        return await _load(store, config, transfer, given)
    except errors.PlanLost as exc:
        await store.release(transfer.id, owner=owner)
        raise errors.PlanLost(
            f"{exc}; its plan is lost, nothing can be salvaged: postie transfers abandon"
            f" {transfer.id} (the next post starts afresh)"
        ) from None
    except errors.ManifestError as exc:
        await store.release(transfer.id, owner=owner)
        tid = transfer.id
        raise errors.ManifestError(
            f"{exc}; to go on: postie resume {tid} --salvage (keeps what the manifest still"
            f" holds) or postie transfers abandon {tid} (the next post starts afresh)"
        ) from None
    except BaseException:
        await store.release(transfer.id, owner=owner)
        raise


async def _salvage(store: Store, transfer: Transfer, owner: str) -> Transfer:
    """Keep what a damaged manifest still holds: the frames before the damage (damage in
    frame 0 cannot be salvaged).

    Version 2: every planned Message-ID is in frame 0, so only CRC lines (and frontiers)
    after the damage are lost. The store's watermarks go back to what the CRC lines
    cover and a frontier past every part is made durable: the resume STATs every part
    above the watermarks, what arrived is not posted twice, and a part found without
    its CRC line is read again for it.

    Version 1: a part acknowledged before but whose line is lost has lost its Message-ID
    too (the line is its only record): it is planned afresh and posted again (its first
    copy stays on the server, in no NZB). Parts with a line are STATed by the resume as
    usual, so what arrived is not posted twice.

    The manifest is cut after the last good frame and the store's watermarks go back, in
    one transaction."""
    manifests = store.manifests
    found = await manifests.read(transfer.manifest_path, salvage=True)
    marks: dict[int, int] = {}
    lost_parts = 0
    for row in await store.files(transfer.id):
        lines = found.articles.get(row.file_id, {})
        covered = 0
        while covered < row.acked and covered + 1 in lines:
            covered += 1
        if covered < row.acked:
            marks[row.file_id] = covered
            lost_parts += sum(1 for n in range(covered + 1, row.acked + 1) if n not in lines)
    writer = await manifests.reopen(found)  # cut the damage off
    try:
        if found.version >= 2:  # lost frontiers: every part above the watermarks in doubt
            everything = sum(f.parts for f in found.files.values())
            await asyncio.to_thread(writer.flush, everything)
    finally:
        writer.close()
    await store.rewind(transfer.id, marks, owner=owner, manifest_bytes=writer.size)
    kept = sum(len(lines) for lines in found.articles.values())
    if found.version >= 2:
        log.warning(
            "transfer %d: salvaged %s: every planned Message-ID and %d CRC lines are kept;"
            " %d posted parts lost their CRC lines and are STATed (and read again for them)",
            transfer.id,
            manifests.where(transfer.manifest_path),
            kept,
            lost_parts,
        )
    else:
        log.warning(
            "transfer %d: salvaged %d article lines from %s; %d posted parts lost theirs"
            " and are posted again under new Message-IDs",
            transfer.id,
            kept,
            manifests.where(transfer.manifest_path),
            lost_parts,
        )
    again = await store.get(transfer.id)
    assert again is not None
    return again


async def _retarget(store: Store, transfer: Transfer, output: Path, overwrite: bool) -> Transfer:
    """Point the transfer's NZBs at ``output`` (as ``-o`` does for a new transfer)."""
    nzb_config = validate(NzbConfig, transfer.options["nzb"])
    names = [f.name for f in await store.files(transfer.id) if f.role == FileRole.DATA]
    targets = await asyncio.to_thread(nzb_targets, transfer.name, names, nzb_config, output)
    recorded = {k: Path(v) for k, v in transfer.options["targets"].items()}
    if targets == recorded:
        return transfer
    if not overwrite:
        for target in targets.values():
            if await asyncio.to_thread(target.exists):
                raise errors.UsageError(f"NZB already exists: {target} (use --overwrite)")
    nzb_path = os.fsdecode(targets.get(RUN_KEY) or next(iter(targets.values())).parent)
    texts = {k: os.fsdecode(v) for k, v in targets.items()}
    await store.set_targets(transfer.id, texts, nzb_path=nzb_path)
    log.info("transfer %d: its NZB goes to %s from now on", transfer.id, nzb_path)
    found = await store.get(transfer.id)
    assert found is not None
    return found


async def _load(
    store: Store, config: Config, transfer: Transfer, given: PostingConfig | None
) -> Prepared:
    manifests = store.manifests
    found = await manifests.read(transfer.manifest_path, durable_bytes=transfer.manifest_bytes)
    options = transfer.options
    posting = planned_posting(found.header, config.posting)
    if given is not None and _planning_fields(given) != _planning_fields(posting):
        log.warning(
            "transfer %d keeps the settings it was planned with (groups %s, article size %d);"
            " other posting options given now are not used",
            transfer.id,
            ",".join(posting.groups),
            posting.article_size,
        )
    nzb_config = validate(NzbConfig, options["nzb"])
    targets = {k: Path(v) for k, v in options["targets"].items()}
    files = await store.files(transfer.id)
    for row in files:
        lines = found.articles.get(row.file_id, {})
        lacking = [n for n in range(1, row.acked + 1) if n not in lines]
        if lacking:
            where = manifests.where(found.path)
            raise errors.ManifestError(
                f"the manifest {where} is truncated: it lacks the lines of {len(lacking)}"
                f" parts of {row.name} that the store records as posted; the transfer is kept"
                " as it is"
            )
    plan = plan_from_manifest(found, posting)
    unfinished = [row for row in files if row.upload_state != UploadState.UPLOADED]
    lost, unlike = await asyncio.to_thread(_sources, unfinished, found.files)
    writer = await manifests.reopen(found)
    return Prepared(
        transfer_id=transfer.id,
        name=transfer.name,
        plan=plan,
        posting=posting,
        nzb=nzb_config,
        targets=targets,
        manifest_path=transfer.manifest_path,
        writer=writer,
        manifests=manifests,
        recorded=found.articles,
        watermarks={row.file_id: row.acked for row in files},
        lost=lost,
        unlike=unlike,
        resumed=True,
        finished_before={row.file_id for row in files if row.upload_state == UploadState.UPLOADED},
        accepted=await store.accepted_ids(transfer.id),
        not_collected=tuple(options.get("not_collected", ())),
    )


def _sources(
    rows: list[TransferFile], records: dict[int, FileRecord]
) -> tuple[dict[int, errors.FileFailed], dict[int, errors.SourceChanged]]:
    """Each unfinished file's source, one ``stat`` each: those that cannot be posted from
    (gone, another size or mtime), and those whose inode or ctime differs from frame 0's
    record (refused where a part would be read without a CRC32 to check it)."""
    lost: dict[int, errors.FileFailed] = {}
    unlike: dict[int, errors.SourceChanged] = {}
    for row in rows:
        record = records.get(row.file_id)
        problem, other = examine(
            row.source_path,
            row.size,
            row.mtime_ns,
            record.ino if record is not None else None,
            record.ctime_ns if record is not None else None,
        )
        if problem is not None:
            lost[row.file_id] = problem
        elif other is not None:
            unlike[row.file_id] = other
    return lost, unlike


def _planning_fields(posting: PostingConfig) -> dict[str, object]:
    return dump(posting, include=PLANNING_KEYS)
