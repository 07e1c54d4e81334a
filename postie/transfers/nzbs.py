"""A transfer's NZBs, from its manifest's lines.

Every part of a finished file has a durable manifest line (a line is synced before its
article is posted): its Message-ID is the plan's (on resume, built from those lines)
or the one the server gave it; its size is the line's. So the NZB of a resumed
transfer lists the parts posted before the crash too.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from pathlib import Path

from postie import errors, fsutil, nzb
from postie.article.build import ArticleBuilder
from postie.article.ids import bare
from postie.article.plan import FilePlan
from postie.config import dump
from postie.transfers.prepared import RUN_KEY, Prepared


def nzb_file(
    prepared: Prepared,
    builder: ArticleBuilder,
    file: FilePlan,
    accepted: dict[tuple[int, int], str],
    sizes: list[int],
) -> nzb.NzbFile:
    missing = [s.number for s in file.segments if not sizes[s.number - 1]]
    if missing:
        where = prepared.manifests.where(prepared.manifest_path)
        raise errors.ManifestError(
            f"the manifest {where} lacks the lines of {len(missing)} of"
            f" {len(file.segments)} parts of {file.name}, which was posted whole"
        )
    segments = tuple(
        nzb.NzbSegment(
            s.number,
            sizes[s.number - 1],
            bare(accepted.get((file.index, s.number), s.message_id)),
        )
        for s in file.segments
    )
    return nzb.NzbFile(
        poster=builder.plan.poster,
        date=builder.plan.date,
        subject=builder.nzb_subject(file),
        groups=builder.plan.groups,
        segments=segments,
    )


async def check_manifest(prepared: Prepared) -> None:
    """The manifest still holds every byte this run knows durable."""
    manifests = prepared.manifests
    path = prepared.manifest_path
    length = await manifests.length(path)
    if length < prepared.writer.size:
        raise errors.ManifestError(
            f"the manifest {manifests.where(path)} is {length} bytes, shorter than the"
            f" {prepared.writer.size} this run wrote and synced; no NZB is written from it"
        )


def write_nzbs(
    prepared: Prepared,
    done: Container[int],
    accepted: dict[tuple[int, int], str],
    sizes: Callable[[FilePlan], list[int]],
    *,
    partial: bool = True,
) -> list[Path]:
    """Write the NZBs the finished files allow; return the paths written. One NZB per
    run lists the finished files (all of them, or with ``partial`` those that are: a file
    that failed is left out and named by the caller); one per file needs the file and its
    PAR2 files.

    Every part of a finished file has a durable manifest line (a line is synced before
    its article is posted): its Message-ID is the plan's (on resume, built from those
    lines), or the one the server gave it; its bytes are the line's, from ``sizes`` (asked
    a file at a time, as its ``<file>`` is written: the NZB is streamed to its file, never
    whole in memory)."""
    plan = prepared.plan
    builder = ArticleBuilder(plan, prepared.posting)
    meta = dump(prepared.nzb.meta)

    def entry(file: FilePlan) -> nzb.NzbFile:
        return nzb_file(prepared, builder, file, accepted, sizes(file))

    def write(path: Path, files: Iterable[nzb.NzbFile]) -> None:
        try:
            nzb.write(path, files, meta)
        except OSError as exc:
            raise errors.NzbNotWritten(_not_written(path, exc, prepared.transfer_id)) from exc

    written: list[Path] = []
    targets = prepared.targets
    if RUN_KEY in targets:
        # every complete file, also when some are missing (the run says which): what was
        # posted is never left without an NZB
        complete = [f for f in plan.files if f.index in done]
        whole = len(complete) == len(plan.files) and not prepared.not_collected
        if complete and (whole or partial):
            path = targets[RUN_KEY]
            write(path, (entry(f) for f in complete))
            written.append(path)
        return written
    for file in plan.files:
        if file.name not in targets:
            continue  # a PAR2 file: it goes in the NZB of the file it protects
        members = [
            file,
            *(
                f
                for f in plan.files
                if f.name.startswith(file.name + ".") and f.name.lower().endswith(".par2")
            ),
        ]
        if all(f.index in done for f in members):
            path = targets[file.name]
            write(path, (entry(f) for f in members))
            written.append(path)
    return written


def _not_written(path: Path, exc: OSError, transfer_id: int) -> str:
    """The one line for an NZB that could not be written (the articles are posted)."""
    reason = exc.strerror or str(exc)
    if fsutil.is_full(exc):
        reason = f"no space left on the device ({fsutil.free_text(path.parent)} free)"
    return (
        f"the NZB could not be written to {path}: {reason}; every article is posted: run"
        " the same command again once it can be written, or write it elsewhere with:"
        f" postie resume {transfer_id} -o FOLDER"
    )
