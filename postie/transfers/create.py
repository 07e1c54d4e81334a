"""Creating a transfer, or finding the one these files already have.

Creating plans the files, writes the manifest's frame 0 (the header, which is the one
record of the posting settings, one record per file and every article's planned line:
one fsync for the whole folder, however many files) and records the transfer in the
store, leased to this process; nothing is posted before that. The same command run again finds the
transfer by its paths and files: an unfinished one is resumed (``resume``), an
uploaded one waiting for its verification is verified rather than posted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

import msgspec

from postie import crashpoints, errors
from postie.article.plan import Collected, FilePlan, JobPlan, SourceFile, collect, plan_job
from postie.config import Config, dump, replace
from postie.manifest.plan import file_records, planned_header, planned_lines
from postie.par2.make import Par2Step, is_par2, make_par2
from postie.store.api import (
    Cleanup,
    FileProgress,
    FileRole,
    NewFile,
    NewTransfer,
    Store,
    Transfer,
    UploadState,
)
from postie.transfers.carry import Carried, adopt, carried_files, carry_over
from postie.transfers.prepared import (
    LEASE_SECONDS,
    RUN_KEY,
    Prepared,
    digest,
    files_key,
    nzb_targets,
    roots_of,
)
from postie.transfers.resume import resume

log = logging.getLogger(__name__)


def _absolute(collected: Collected) -> Collected:
    if all(os.path.isabs(f.path) for f in collected.files):
        return collected
    files = tuple(msgspec.structs.replace(f, path=os.path.abspath(f.path)) for f in collected.files)
    return msgspec.structs.replace(collected, files=files)


def collected_key(collected: Collected) -> str:
    """The files key of ``collected`` (see ``files_key``): made once per command, it is
    read twice (``uploaded_for_paths``, ``for_paths``)."""
    return files_key((f.path, f.size, f.mtime_ns) for f in _absolute(collected).files)


async def uploaded_for_paths(
    store: Store, paths: list[Path], collected: Collected, *, key: str | None = None
) -> Transfer | None:
    """The newest uploaded transfer of exactly these files (``key``: their
    ``collected_key``, if made already): running the same command again verifies it (if
    that is not done), it does not post again."""
    key = key if key is not None else collected_key(collected)
    return await store.uploaded_of(digest(list(roots_of(paths))), key)


async def for_paths(
    store: Store,
    config: Config,
    paths: list[Path],
    *,
    name: str,
    output: Path | None,
    overwrite: bool,
    owner: str,
    manifests: Path,
    collected: Collected | None = None,
    key: str | None = None,
    par2: Par2Step | None = None,
) -> Prepared:
    """Resume the unfinished transfer of exactly these files, or create a new one (with
    its PAR2 files first, when ``par2`` is given and PAR2 is on). ``key``: the
    ``collected_key`` of ``collected``, if made already."""
    collected = _absolute(collected if collected is not None else collect(paths))
    if not collected.files:
        raise errors.InputError("nothing to post: " + ", ".join(os.fsdecode(p) for p in paths))
    roots = roots_of(paths)
    roots_key = digest(list(roots))
    key = key if key is not None else collected_key(collected)
    carried: Carried | None = None
    for transfer in await store.unfinished(roots_key):
        if transfer.abandoned_at is not None:
            if transfer.files_key == key:
                log.warning(
                    "transfer %d of these files was abandoned; starting a new transfer",
                    transfer.id,
                )
                break
            continue
        if transfer.files_key == key:
            log.info("resuming transfer %d (%s)", transfer.id, transfer.name)
            return await resume(
                store,
                config,
                transfer.id,
                owner=owner,
                given=config.posting,
                output=output,
                overwrite=overwrite,
            )
        if carried is None:  # the newest one: what it finished is kept
            carried = await carry_over(store, transfer, config.posting)
            if carried:
                log.warning(
                    "transfer %d was for the same paths but the files changed since; starting"
                    " a new transfer that keeps its %d finished files that did not change"
                    " (same Message-IDs)",
                    transfer.id,
                    len(carried),
                )
                continue
        log.warning(
            "transfer %d was for the same paths but the files changed since; starting a new"
            " transfer (finish the old one with: postie resume %d)",
            transfer.id,
            transfer.id,
        )
    targets = nzb_targets(name, (f.name for f in collected.files), config.nzb, output)
    if not overwrite:
        ours = carried.targets if carried else frozenset()  # the NZB the old one wrote
        for target in targets.values():
            if target.exists() and target not in ours:
                raise errors.UsageError(f"NZB already exists: {target} (use --overwrite)")
    made: tuple[SourceFile, ...] = ()
    if par2 is not None and config.par2.enabled:
        if config.nzb.per_file and par2.config.per != "file":
            # each file's NZB carries its own set
            par2 = msgspec.structs.replace(par2, config=replace(par2.config, per="file"))
        made = await make_par2(
            par2, collected.files, name=name, article_size=config.posting.article_size
        )
    plan = plan_job(
        msgspec.structs.replace(collected, files=collected.files + made), config.posting, name=name
    )
    if carried:
        plan = adopt(plan, carried)
    generated = {f.path for f in made}
    prepared = await _create(
        store, config, plan, roots, roots_key, key, targets, owner, manifests, generated, carried
    )
    if carried:
        await _supersede(store, carried.old, prepared.transfer_id, owner)
    return prepared


async def _supersede(store: Store, old: Transfer, new: int, owner: str) -> None:
    """The old transfer is never resumed once a new one carries its files."""
    try:
        await store.abandon(old.id, owner=owner, reason=f"superseded by transfer {new}")
    except (errors.TransferBusy, errors.UsageError) as exc:
        log.warning("transfer %d stays as it is: %s", old.id, exc)


async def _create(
    store: Store,
    config: Config,
    plan: JobPlan,
    roots: tuple[str, ...],
    roots_key: str,
    key: str,
    targets: dict[str, Path],
    owner: str,
    manifests: Path,
    generated: set[str] | None = None,
    carried: Carried | None = None,
) -> Prepared:
    posting = config.posting
    made = generated or set()
    header = {"name": plan.name, "date": plan.date, **planned_header(posting)}
    writer = await store.manifests.create(
        manifests, header, file_records(plan), planned_lines(plan)
    )
    path = writer.path
    kept = carried_files(plan, carried) if carried else {}
    if kept:  # their CRC lines (their planned lines are in frame 0): durable before the store
        for index in sorted(kept):  # records them uploaded
            for _, r in sorted(kept[index].items()):
                writer.add(r.file, r.part, r.crc32, r.size)
        await asyncio.to_thread(writer.flush)
    crashpoints.reached("manifest-created")
    not_collected = tuple(str(p) for p in plan.failed)
    options = {
        "not_collected": list(not_collected),
        "nzb": dump(config.nzb, exclude={"output"}),
        "targets": {k: os.fsdecode(v) for k, v in targets.items()},
        "verify": config.verify.enabled,
        "servers": [server.label for server in config.upload_servers],
        "finalize": dump(config.finalize),
    }

    def role(f: FilePlan) -> tuple[FileRole, Cleanup]:
        """(role, cleanup) of a file: PAR2 made here goes once verified (unless kept);
        originals only if the policy says so, and never a user's own .par2."""
        if f.path in made:
            return FileRole.PAR2, Cleanup.KEEP if config.par2.keep_par2 else Cleanup.DELETE
        remove = config.finalize.delete_originals or config.finalize.move_originals is not None
        delete = remove and not is_par2(f.name)
        return FileRole.DATA, Cleanup.DELETE if delete else Cleanup.KEEP

    try:
        transfer_id = await store.create(
            NewTransfer(
                name=plan.name,
                roots=roots,
                roots_key=roots_key,
                files_key=key,
                options=options,
                nzb_path=os.fsdecode(targets.get(RUN_KEY) or next(iter(targets.values())).parent),
                manifest_path=path,
                files=tuple(
                    NewFile(
                        f.index,
                        f.path,
                        f.name,
                        f.size,
                        f.mtime_ns,
                        len(f.segments),
                        *role(f),
                    )
                    for f in plan.files
                ),
            ),
            owner=owner,
            lease=LEASE_SECONDS,
        )
    except BaseException:
        writer.close()
        with contextlib.suppress(errors.ManifestError, errors.StoreError):
            await store.manifests.delete(path)
        raise
    accepted: dict[tuple[int, int], str] = {}
    if kept:
        assert carried is not None
        for f in plan.files:
            for part, mid in carried.accepted.get(os.fsdecode(f.path), {}).items():
                if f.index in kept:
                    accepted[(f.index, part)] = mid
        await store.checkpoint(
            transfer_id,
            owner=owner,
            lease=LEASE_SECONDS,
            manifest_bytes=writer.size,
            files=[FileProgress(i, len(kept[i]), UploadState.UPLOADED) for i in sorted(kept)],
            accepted=[(f, p, mid) for (f, p), mid in accepted.items()],
        )
    crashpoints.reached("recorded")
    return Prepared(
        transfer_id=transfer_id,
        name=plan.name,
        plan=plan,
        posting=posting,
        nzb=config.nzb,
        targets=targets,
        manifest_path=path,
        writer=writer,
        manifests=store.manifests,
        # only the files carried over have lines or a watermark (readers ask with .get):
        # an empty dict per file was ~170 bytes a file held for the whole run
        recorded={i: lines for i, lines in kept.items() if lines},
        watermarks={i: len(lines) for i, lines in kept.items() if lines},
        not_collected=not_collected,
        finished_before=set(kept),
        accepted=accepted,
    )
