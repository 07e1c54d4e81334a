"""What a manifest says a transfer is: its plan and the settings it was planned with.

The manifest's header (frame 0) is the one record of the posting settings a transfer
was planned with (groups, article size, subject, From, obfuscation, Message-ID
domain, date); the store keeps only what comes after planning (NZB targets and
meta, the finalize policy, the servers). A resume and a verification's re-post both
rebuild the plan from here, so every recorded part keeps its Message-ID, subject,
From and yEnc name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from postie.article.plan import FilePlan, JobPlan, Segment, new_segment
from postie.config import Obfuscation, PostingConfig, dump, validate
from postie.manifest.records import FileRecord, Manifest, PlannedRecord

PLANNING_KEYS = (
    "groups",
    "article_size",
    "poster",
    "subject",
    "obfuscation",
    "message_id_domain",
)


def planned_header(posting: PostingConfig) -> dict[str, Any]:
    """The header fields a transfer planned with ``posting`` records."""
    return {
        "groups": list(posting.groups),
        "article_size": posting.article_size,
        "poster": posting.poster,
        "subject": posting.subject,
        "obfuscation": posting.obfuscation.value,
        "message_id_domain": posting.message_id_domain,
    }


def planned_posting(header: dict[str, Any], current: PostingConfig) -> PostingConfig:
    """The posting settings a manifest's transfer was planned with; what is not part of
    planning (retries and their delay) comes from ``current``, the running process's."""
    recorded = {k: header[k] for k in PLANNING_KEYS if k in header}
    return validate(PostingConfig, {**dump(current), **recorded})


def file_records(plan: JobPlan) -> list[FileRecord]:
    """Frame 0's record of each file of ``plan`` (its role is the store's concern)."""
    return [
        FileRecord(
            f.index,
            f.path,
            f.name,
            f.size,
            f.mtime_ns,
            len(f.segments),
            ino=f.ino,
            ctime_ns=f.ctime_ns,
        )
        for f in plan.files
    ]


def planned_lines(plan: JobPlan) -> Iterator[PlannedRecord]:
    """Frame 0's line of every article of ``plan``, in the plan's order."""
    for f in plan.files:
        for s in f.segments:
            yield PlannedRecord(
                f.index,
                s.number,
                s.offset,
                s.length,
                s.message_id,
                s.subject,
                s.poster,
                s.wire_name,
            )


def plan_from_manifest(found: Manifest, posting: PostingConfig) -> JobPlan:
    """The plan a manifest describes: planned parts keep their identity (version 2: all
    of them); a part without a line (version 1) was never posted and gets a new
    Message-ID (``posting`` is the transfer's own, from ``planned_posting``)."""
    header = found.header
    size = posting.article_size
    full = posting.obfuscation is Obfuscation.FULL
    files = []
    total = 0
    for index in sorted(found.files):
        record = found.files[index]
        recorded = found.planned.get(index, {})
        segments = []
        for number in range(1, record.parts + 1):
            line = recorded.get(number)
            if line is None:
                segments.append(
                    new_segment(
                        number, record.size, size, posting.message_id_domain, obfuscated=full
                    )
                )
                continue
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
        files.append(
            FilePlan(
                index,
                record.path,
                record.name,
                record.size,
                record.mtime_ns,
                tuple(segments),
                record.ino,
                record.ctime_ns,
            )
        )
        total += record.size
    return JobPlan(
        name=str(header["name"]),
        files=tuple(files),
        groups=posting.groups,
        poster=posting.poster,
        date=int(header["date"]),
        obfuscation=posting.obfuscation,
        total_bytes=total,
    )
