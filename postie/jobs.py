"""From a finished posting job to NZB files on disk.

One NZB per run by default, named after the job, written only when every
article of every file is posted; with ``per_file``, one NZB per file, written
for each file that is complete.
"""

from __future__ import annotations

from pathlib import Path

from postie import nzb
from postie.article.build import ArticleBuilder
from postie.article.plan import JobPlan
from postie.config import NzbConfig, PostingConfig
from postie.errors import UsageError
from postie.runtime.engine import FileState, JobResult

RUN_KEY = ""


def nzb_targets(plan: JobPlan, config: NzbConfig, output: Path | None) -> dict[str, Path]:
    """Where each NZB goes: ``{"": path}`` for one per run, else file name -> path."""
    out = output if output is not None else config.output
    if not config.per_file:
        if out is None:
            return {RUN_KEY: Path.cwd() / f"{plan.name}.nzb"}
        if out.is_dir():
            return {RUN_KEY: out / f"{plan.name}.nzb"}
        return {RUN_KEY: out}
    folder = out if out is not None else Path.cwd()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--nzb-per-file needs a folder for -o, not a file: {folder}")
    return {f.name: folder / f"{f.name}.nzb" for f in plan.files}


def nzb_file(builder: ArticleBuilder, state: FileState) -> nzb.NzbFile:
    plan = builder.plan
    segments = tuple(
        nzb.NzbSegment(
            seg.number,
            state.sizes[seg.number - 1],
            _strip(state.accepted_ids.get(seg.number, seg.message_id)),
        )
        for seg in state.plan.segments
    )
    return nzb.NzbFile(
        poster=plan.poster,
        date=plan.date,
        subject=builder.nzb_subject(state.plan),
        groups=plan.groups,
        segments=segments,
    )


def _strip(message_id: str) -> str:
    return message_id[1:-1] if message_id.startswith("<") else message_id


def write_nzbs(
    result: JobResult, config: NzbConfig, targets: dict[str, Path], posting: PostingConfig
) -> list[Path]:
    """Write the NZBs the result allows; return the paths written."""
    builder = ArticleBuilder(result.plan, posting)
    meta = config.meta.model_dump()
    written: list[Path] = []
    if RUN_KEY in targets:
        if result.complete:
            path = targets[RUN_KEY]
            nzb.write(path, [nzb_file(builder, s) for s in result.files], meta)
            written.append(path)
        return written
    for state in result.files:
        if state.done:
            path = targets[state.plan.name]
            nzb.write(path, [nzb_file(builder, state)], meta)
            written.append(path)
    return written
