"""NZBs from an engine result held in memory, for tests of the engine alone.

postie itself writes NZBs from the manifest (``postie.transfers.nzbs``); tests that
drive :class:`PostingJob` without a transfer use this to read their articles
back.
"""

from __future__ import annotations

from pathlib import Path

from postie import nzb
from postie.article.build import ArticleBuilder
from postie.config import NzbConfig, PostingConfig, dump
from postie.runtime.state import FileState, JobResult

RUN_KEY = ""


def nzb_file(builder: ArticleBuilder, state: FileState) -> nzb.NzbFile:
    plan = builder.plan
    segments = tuple(
        nzb.NzbSegment(
            seg.number,
            state.part_sizes()[seg.number - 1],
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
    meta = dump(config.meta)
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
