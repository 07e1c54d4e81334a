"""Transfers: a posting job made durable, and finished after a crash.

Creating a transfer plans the files, writes the manifest's first frame (the
header and one record per file: one fsync for the whole folder, however many
files) and records the transfer in the store, leased to this process. Running
it (``transfer_run``) posts through the engine, which appends each article's
manifest line before posting it, while a checkpointer saves each file's
acknowledged watermark (and any Message-ID a server rewrote) once a second in
one transaction.

Resuming rebuilds the plan from the manifest, so every part keeps the
Message-ID it was first given:

- parts at or below a file's watermark are taken as posted;
- parts with a manifest line above it may or may not have arrived before the
  crash: they are STATed (pipelined) and only the missing ones are posted, the
  body re-read from the source and its CRC32 checked against the line;
- parts without a line were never posted (a line is durable before its
  article goes out): they are planned afresh.

A source file that is gone or whose size or mtime changed is marked
``source_missing`` / ``source_changed``; nothing is posted for it. The NZB is
always written from the manifest, so it lists parts posted before the crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from postie import crashpoints, errors, manifest
from postie.article.plan import (
    Collected,
    FilePlan,
    JobPlan,
    Segment,
    SourceFile,
    collect,
    new_message_id,
    obfuscated_fields,
    plan_job,
)
from postie.config import Config, NzbConfig, Obfuscation, PostingConfig
from postie.manifest import ArticleRecord, FileRecord, Manifest, ManifestWriter
from postie.par2.make import Par2Step, is_par2, make_par2
from postie.store.api import (
    Cleanup,
    FileRole,
    NewFile,
    NewTransfer,
    Store,
    Transfer,
    TransferFile,
    UploadState,
)

log = logging.getLogger(__name__)

LEASE_SECONDS = 60.0
RUN_KEY = ""  # the targets key of a one-NZB-per-run transfer


@dataclass
class Prepared:
    """A transfer ready to post: created just now, or found again."""

    transfer_id: int
    name: str
    plan: JobPlan
    posting: PostingConfig
    nzb: NzbConfig
    targets: dict[str, Path]
    manifest_path: Path
    writer: ManifestWriter
    recorded: dict[int, dict[int, ArticleRecord]]
    watermarks: dict[int, int]
    lost: dict[int, errors.FileFailed] = field(default_factory=dict)
    resumed: bool = False
    finished_before: set[int] = field(default_factory=set)  # files uploaded in an earlier run
    accepted: dict[tuple[int, int], str] = field(default_factory=dict)  # rewritten IDs so far
    not_collected: tuple[str, ...] = ()  # given files that could not be read when planned


# --- identity ----------------------------------------------------------------------------


def _digest(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def roots_of(paths: Iterable[Path]) -> tuple[str, ...]:
    return tuple(os.fsdecode(Path(os.path.abspath(p)).resolve()) for p in paths)


def files_key(files: Iterable[tuple[Path, int, int]]) -> str:
    return _digest([[os.fsdecode(p), size, mtime] for p, size, mtime in files])


def manifest_dir(config: Config, db_path: Path) -> Path:
    return config.store.manifests or db_path.parent / "manifests"


# --- creating or finding a transfer ------------------------------------------------------------


def _absolute(collected: Collected) -> Collected:
    if all(f.path.is_absolute() for f in collected.files):
        return collected
    files = tuple(
        SourceFile(Path(os.path.abspath(f.path)), f.name, f.size, f.mtime_ns)
        for f in collected.files
    )
    return dataclasses.replace(collected, files=files)


def nzb_targets(
    name: str, names: Iterable[str], config: NzbConfig, output: Path | None
) -> dict[str, Path]:
    """Where each NZB goes: ``{"": path}`` for one per run, else file name -> path."""
    out = output if output is not None else config.output
    if out is not None:
        out = Path(os.path.abspath(out))
    if not config.per_file:
        if out is None:
            return {RUN_KEY: Path.cwd() / f"{name}.nzb"}
        if out.is_dir():
            return {RUN_KEY: out / f"{name}.nzb"}
        return {RUN_KEY: out}
    folder = out if out is not None else Path.cwd()
    if folder.exists() and not folder.is_dir():
        raise errors.UsageError(f"--nzb-per-file needs a folder for -o, not a file: {folder}")
    return {n: folder / f"{n}.nzb" for n in names}


async def uploaded_for_paths(
    store: Store, paths: list[Path], collected: Collected
) -> Transfer | None:
    """The uploaded transfer of exactly these files still waiting for (or failed at) its
    verification: running the same command again verifies it, it does not post again."""
    collected = _absolute(collected)
    key = files_key((f.path, f.size, f.mtime_ns) for f in collected.files)
    return await store.awaiting_verification(_digest(list(roots_of(paths))), key)


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
    par2: Par2Step | None = None,
) -> Prepared:
    """Resume the unfinished transfer of exactly these files, or create a new one (with
    its PAR2 files first, when ``par2`` is given and PAR2 is on)."""
    collected = _absolute(collected if collected is not None else collect(paths))
    if not collected.files:
        raise errors.InputError("nothing to post: " + ", ".join(os.fsdecode(p) for p in paths))
    roots = roots_of(paths)
    roots_key = _digest(list(roots))
    key = files_key((f.path, f.size, f.mtime_ns) for f in collected.files)
    for transfer in await store.unfinished(roots_key):
        if transfer.files_key == key:
            log.info("resuming transfer %d (%s)", transfer.id, transfer.name)
            return await resume(store, config, transfer.id, owner=owner, given=config.posting)
        log.warning(
            "transfer %d was for the same paths but the files changed since; starting a new"
            " transfer (finish the old one with: postie resume %d)",
            transfer.id,
            transfer.id,
        )
    targets = nzb_targets(name, (f.name for f in collected.files), config.nzb, output)
    if not overwrite:
        for target in targets.values():
            if target.exists():
                raise errors.UsageError(f"NZB already exists: {target} (use --overwrite)")
    made: tuple[SourceFile, ...] = ()
    if par2 is not None and config.par2.enabled:
        if config.nzb.per_file and par2.config.per != "file":
            # each file's NZB carries its own set
            par2 = dataclasses.replace(par2, config=par2.config.model_copy(update={"per": "file"}))
        made = await make_par2(
            par2, collected.files, name=name, article_size=config.posting.article_size
        )
    plan = plan_job(
        dataclasses.replace(collected, files=collected.files + made), config.posting, name=name
    )
    generated = {f.path for f in made}
    return await _create(
        store, config, plan, roots, roots_key, key, targets, owner, manifests, generated
    )


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
    generated: set[Path] | None = None,
) -> Prepared:
    posting = config.posting
    # by their text: hashing a Path builds its case-folded parts, each time (2,000 files: 40 ms)
    made = {os.fspath(p) for p in generated or ()}
    path = manifests / f"{secrets.token_hex(8)}.manifest.zst"
    header = {
        "name": plan.name,
        "groups": list(plan.groups),
        "poster": plan.poster,
        "date": plan.date,
        "article_size": posting.article_size,
        "subject": posting.subject,
        "obfuscation": plan.obfuscation.value,
        "message_id_domain": posting.message_id_domain,
    }
    records = [
        FileRecord(f.index, f.path, f.name, f.size, f.mtime_ns, len(f.segments)) for f in plan.files
    ]
    writer = await asyncio.to_thread(manifest.create, path, header, records)
    crashpoints.reached("manifest-created")
    not_collected = tuple(str(p) for p in plan.failed)
    options = {
        "not_collected": list(not_collected),
        "posting": posting.model_dump(mode="json"),
        "nzb": config.nzb.model_dump(mode="json", exclude={"output"}),
        "targets": {k: os.fsdecode(v) for k, v in targets.items()},
        "verify": config.verify.enabled,
        "servers": [server.label for server in config.upload_servers],
        "finalize": config.finalize.model_dump(mode="json"),
    }

    def role(f: FilePlan) -> tuple[FileRole, Cleanup]:
        """(role, cleanup) of a file: PAR2 made here goes once verified (unless kept);
        originals only if the policy says so, and never a user's own .par2."""
        if os.fspath(f.path) in made:
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
        with contextlib.suppress(OSError):
            path.unlink()
        raise
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
        recorded={f.index: {} for f in plan.files},
        watermarks={f.index: 0 for f in plan.files},
        not_collected=not_collected,
    )


async def resume(
    store: Store,
    config: Config,
    transfer_id: int | None,
    *,
    owner: str,
    given: PostingConfig | None = None,
) -> Prepared:
    """Take over an unfinished transfer: claim it, read its manifest, check its sources."""
    transfer = (
        await store.get(transfer_id) if transfer_id is not None else await store.last_unfinished()
    )
    if transfer is None:
        if transfer_id is None:
            raise errors.UsageError("no unfinished transfer to resume")
        raise errors.UsageError(f"no transfer {transfer_id} in {store.location}")
    if not transfer.unfinished:
        raise errors.UsageError(f"transfer {transfer.id} is already {transfer.state}")
    await store.claim(transfer.id, owner=owner, lease=LEASE_SECONDS)
    try:
        return await _load(store, config, transfer, given)
    except BaseException:
        await store.release(transfer.id, owner=owner)
        raise


async def _load(
    store: Store, config: Config, transfer: Transfer, given: PostingConfig | None
) -> Prepared:
    found = await asyncio.to_thread(
        manifest.read, transfer.manifest_path, durable_bytes=transfer.manifest_bytes
    )
    options = transfer.options
    posting = PostingConfig.model_validate(options["posting"])
    if given is not None and _planning_fields(given) != _planning_fields(posting):
        log.warning(
            "transfer %d keeps the settings it was planned with (groups %s, article size %d);"
            " other posting options given now are not used",
            transfer.id,
            ",".join(posting.groups),
            posting.article_size,
        )
    nzb_config = NzbConfig.model_validate(options["nzb"])
    targets = {k: Path(v) for k, v in options["targets"].items()}
    files = await store.files(transfer.id)
    for row in files:
        lines = found.articles.get(row.file_id, {})
        lacking = [n for n in range(1, row.acked + 1) if n not in lines]
        if lacking:
            raise errors.ManifestError(
                f"the manifest {found.path} is truncated: it lacks the lines of {len(lacking)}"
                f" parts of {row.name} that the store records as posted; the transfer is kept"
                " as it is"
            )
    plan = plan_from_manifest(found, posting)
    lost: dict[int, errors.FileFailed] = {}
    for row in files:
        if row.upload_state == UploadState.UPLOADED:
            continue
        problem = await asyncio.to_thread(source_problem, row)
        if problem is not None:
            lost[row.file_id] = problem
    writer = await asyncio.to_thread(manifest.reopen, found)
    return Prepared(
        transfer_id=transfer.id,
        name=transfer.name,
        plan=plan,
        posting=posting,
        nzb=nzb_config,
        targets=targets,
        manifest_path=transfer.manifest_path,
        writer=writer,
        recorded=found.articles,
        watermarks={row.file_id: row.acked for row in files},
        lost=lost,
        resumed=True,
        finished_before={row.file_id for row in files if row.upload_state == UploadState.UPLOADED},
        accepted=await store.accepted_ids(transfer.id),
        not_collected=tuple(options.get("not_collected", ())),
    )


def _planning_fields(posting: PostingConfig) -> dict[str, Any]:
    return posting.model_dump(mode="json", exclude={"max_retries", "retry_delay"})


def source_problem(row: TransferFile) -> errors.FileFailed | None:
    path = row.source_path
    try:
        st = path.stat()
    except FileNotFoundError:
        return errors.SourceMissing(
            f"{os.fsdecode(path)}: the source file is gone ({row.size} bytes when planned);"
            " its remaining articles cannot be posted"
        )
    except OSError as exc:
        return errors.SourceMissing(f"{os.fsdecode(path)}: {exc.strerror or exc}")
    if st.st_size != row.size or st.st_mtime_ns != row.mtime_ns:
        return errors.SourceChanged(
            f"{os.fsdecode(path)}: the file changed since it was planned (size {row.size} ->"
            f" {st.st_size}, mtime changed: {st.st_mtime_ns != row.mtime_ns});"
            " nothing more of it is posted"
        )
    return None


def plan_from_manifest(found: Manifest, posting: PostingConfig) -> JobPlan:
    """The plan a manifest describes: recorded parts keep their identity."""
    header = found.header
    size = int(header["article_size"])
    full = header.get("obfuscation") == Obfuscation.FULL.value
    domain = str(header.get("message_id_domain") or posting.message_id_domain)
    files = []
    total = 0
    for index in sorted(found.files):
        record = found.files[index]
        recorded = found.articles.get(index, {})
        segments = []
        for number in range(1, record.parts + 1):
            line = recorded.get(number)
            if line is not None:
                segments.append(
                    Segment(
                        number,
                        line.offset,
                        line.length,
                        line.message_id,
                        line.subject,
                        line.poster,
                        line.wire_name,
                    )
                )
                continue
            offset = (number - 1) * size
            segments.append(
                Segment(
                    number,
                    offset,
                    min(size, record.size - offset),
                    new_message_id(domain),
                    *obfuscated_fields(full),
                )
            )
        files.append(
            FilePlan(index, record.path, record.name, record.size, record.mtime_ns, tuple(segments))
        )
        total += record.size
    return JobPlan(
        name=str(header["name"]),
        files=tuple(files),
        groups=tuple(header["groups"]),
        poster=str(header["poster"]),
        date=int(header["date"]),
        obfuscation=Obfuscation(header.get("obfuscation", "none")),
        total_bytes=total,
    )
