"""A transfer ready to post, and what identifies one: the keys a transfer is found
again by, where its NZBs and manifest go."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from postie import errors
from postie.article.plan import JobPlan
from postie.config import Config, NzbConfig, PostingConfig
from postie.manifest import ArticleRecord, ManifestWriter
from postie.manifest.storage import FileManifests, ManifestStorage

LEASE_SECONDS = 60.0
RUN_KEY = ""  # the targets key of a one-NZB-per-run transfer


class Prepared(msgspec.Struct):
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
    lost: dict[int, errors.FileFailed] = msgspec.field(default_factory=dict)
    # not the file frame 0 recorded though size and mtime agree (inode, ctime): refused
    # where a part would be read with no CRC32 to check it against (manifest version 2)
    unlike: dict[int, errors.SourceChanged] = msgspec.field(default_factory=dict)
    resumed: bool = False
    # files uploaded in an earlier run, and the rewritten IDs so far
    finished_before: set[int] = msgspec.field(default_factory=set)
    accepted: dict[tuple[int, int], str] = msgspec.field(default_factory=dict)
    not_collected: tuple[str, ...] = ()  # given files that could not be read when planned
    manifests: ManifestStorage = msgspec.field(default_factory=FileManifests)  # where it is kept


# --- identity ----------------------------------------------------------------------------


def digest(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def roots_of(paths: Iterable[Path]) -> tuple[str, ...]:
    return tuple(os.fsdecode(Path(os.path.abspath(p)).resolve()) for p in paths)


def files_key(files: Iterable[tuple[str | Path, int, int]]) -> str:
    """Which files a transfer is of: ``digest`` of the list of ``[path, size, mtime_ns]``,
    hashed as it is made. The same value as ``digest`` of the whole list (stores hold it),
    without that list and its JSON text: for 100,000 files they were ~30 MB at once, in
    the heap for the rest of the run."""
    sha = hashlib.sha256(b"[")
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode
    it = iter(files)
    sep = ""
    while batch := list(itertools.islice(it, 1024)):
        text = ",".join([dumps([os.fsdecode(p), size, mtime]) for p, size, mtime in batch])
        sha.update((sep + text).encode("ascii"))
        sep = ","
    sha.update(b"]")
    return sha.hexdigest()


def manifest_dir(config: Config, db_path: Path | None) -> Path:
    """``store.manifests``, default ``manifests`` beside the store's file (``db_path``),
    or in postie's data folder for a store on a server (which keeps its manifests in
    the database: the folder is then only where PAR2 work and such go)."""
    if config.store.manifests is not None:
        return config.store.manifests
    if db_path is None:
        from postie.store import data_dir

        return data_dir() / "manifests"
    return db_path.parent / "manifests"


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


def job_name(paths: Sequence[Path]) -> str:
    """The name of a transfer of ``paths``: the first folder's name, or the first file's
    name without its extension."""
    first = paths[0].resolve() if paths[0].exists() else paths[0]
    name = os.fsdecode(first.name) or "postie"
    if first.is_file():
        name = first.stem or name
    return name
