"""What a manifest says a transfer is: its plan and the settings it was planned with.

The manifest's header (frame 0) is the one record of the posting settings a transfer
was planned with (groups, article size, subject, From, obfuscation, Message-ID
domain, date); the store keeps only what comes after planning (NZB targets and
meta, the finalize policy, the servers). A resume and a verification's re-post both
rebuild the plan from here, so every recorded part keeps its Message-ID, subject,
From and yEnc name.
"""

from __future__ import annotations

from typing import Any

from postie.article.plan import FilePlan, JobPlan, Segment, new_segment
from postie.config import Obfuscation, PostingConfig, dump, validate
from postie.manifest.records import Manifest

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


def plan_from_manifest(found: Manifest, posting: PostingConfig) -> JobPlan:
    """The plan a manifest describes: recorded parts keep their identity; a part without
    a line was never posted and gets a new Message-ID (``posting`` is the transfer's
    own, from ``planned_posting``)."""
    header = found.header
    size = posting.article_size
    full = posting.obfuscation is Obfuscation.FULL
    files = []
    total = 0
    for index in sorted(found.files):
        record = found.files[index]
        recorded = found.articles.get(index, {})
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
            FilePlan(index, record.path, record.name, record.size, record.mtime_ns, tuple(segments))
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
