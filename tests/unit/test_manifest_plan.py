"""The manifest's header is the one record of what a transfer was planned with."""

from __future__ import annotations

from pathlib import Path

from postie import manifest
from postie.article.plan import Collected, SourceFile, part_count, plan_job
from postie.config import Obfuscation, PostingConfig, dump, validate
from postie.manifest import ArticleRecord, FileRecord
from postie.manifest.plan import (
    file_records,
    plan_from_manifest,
    planned_header,
    planned_lines,
    planned_posting,
)

PLANNED = validate(
    PostingConfig,
    {
        "groups": ["alt.binaries.a", "alt.binaries.b"],
        "article_size": 4096,
        "poster": "me <me@example.com>",
        "subject": "{name} ({part}/{parts})",
        "message_id_domain": "planned.example",
        "obfuscation": "full",
        "max_retries": 2,
    },
)


def test_planned_posting_comes_from_the_header_and_retries_from_now() -> None:
    """A resume today posts with the planned groups, size, subject, From, obfuscation and
    domain, whatever today's config says; only retries follow today's config."""
    today = validate(
        PostingConfig,
        {"article_size": 8192, "groups": ["alt.other"], "max_retries": 9, "retry_delay": 0.5},
    )
    header = {"name": "job", "date": 1, **planned_header(PLANNED)}
    found = planned_posting(header, today)
    assert dump(found, exclude={"max_retries", "retry_delay"}) == dump(
        PLANNED, exclude={"max_retries", "retry_delay"}
    )
    assert (found.max_retries, found.retry_delay) == (9, 0.5)


def test_plan_from_a_v2_manifest_keeps_every_planned_part_and_the_files_identity(
    tmp_path: Path,
) -> None:
    """Version 2: frame 0 holds every part's identity, CRC line or not; the plan keeps
    all of them, and each file's inode and ctime."""
    size = 3 * 4096 + 100
    source = SourceFile(str(tmp_path / "a.bin"), "a.bin", size, 7, ino=41, ctime_ns=8)
    plan = plan_job(Collected((source,)), PLANNED, name="job")
    header = {"name": "job", "date": plan.date, **planned_header(PLANNED)}
    writer = manifest.create(tmp_path / "m.zst", header, file_records(plan), planned_lines(plan))
    writer.add(1, 2, 0, 99)
    writer.flush()
    writer.close()
    found = manifest.read(tmp_path / "m.zst")
    assert (found.files[1].ino, found.files[1].ctime_ns) == (41, 8)
    again = plan_from_manifest(found, planned_posting(header, PLANNED))
    assert again.files == plan.files
    assert (again.files[0].ino, again.files[0].ctime_ns) == (41, 8)


def test_plan_from_a_v1_manifest_keeps_recorded_parts_and_plans_the_rest_alike(
    tmp_path: Path,
) -> None:
    """Version 1: parts with a line keep their identity; parts without one are cut like
    the first planning cut them (same offsets and lengths), with new IDs in the planned
    domain."""
    size = 3 * 4096 + 100
    plan = plan_job(
        Collected((SourceFile(str(tmp_path / "a.bin"), "a.bin", size, 7),)), PLANNED, name="job"
    )
    (first,) = plan.files
    assert len(first.segments) == part_count(size, 4096) == 4
    header = {"name": "job", "date": plan.date, **planned_header(PLANNED)}
    writer = manifest.create(
        tmp_path / "m.zst", header, [FileRecord(1, first.path, "a.bin", size, 7, 4)], version=1
    )
    s = first.segments[1]
    line = ArticleRecord(
        1, 2, s.offset, s.length, s.message_id, 0, 99, s.subject, s.poster, s.wire_name
    )
    writer.append([line])
    writer.close()
    again = plan_from_manifest(manifest.read(tmp_path / "m.zst"), planned_posting(header, PLANNED))
    (file,) = again.files
    assert [(x.number, x.offset, x.length) for x in file.segments] == [
        (x.number, x.offset, x.length) for x in first.segments
    ]
    assert file.segments[1] == s
    others = [x for x in file.segments if x.number != 2]
    assert all(x.message_id.endswith("@planned.example") for x in others)
    assert not {x.message_id for x in others} & {x.message_id for x in first.segments}
    assert all(x.subject and x.poster and x.wire_name for x in others)  # still obfuscated
    assert (again.groups, again.poster, again.obfuscation, again.date) == (
        PLANNED.groups,
        PLANNED.poster,
        Obfuscation.FULL,
        plan.date,
    )


def test_plan_from_manifest_has_the_job_name_and_size_of_all_its_files(tmp_path: Path) -> None:
    """The rebuilt plan keeps the recorded job name, and its total is every file's size
    (what a resume's progress counts against), not only the first or the last file's."""
    header = {"name": "the job", "date": 5, **planned_header(PLANNED)}
    files = [
        FileRecord(1, str(tmp_path / "a.bin"), "a.bin", 5000, 1, 2),
        FileRecord(2, str(tmp_path / "b.bin"), "b.bin", 300, 2, 1),
        FileRecord(3, str(tmp_path / "c.par2"), "c.par2", 40, 3, 1, role="par2"),
    ]
    manifest.create(tmp_path / "m.zst", header, files, version=1).close()
    plan = plan_from_manifest(manifest.read(tmp_path / "m.zst"), planned_posting(header, PLANNED))
    assert plan.name == "the job"
    assert plan.date == 5
    assert [(f.index, f.name, f.size) for f in plan.files] == [
        (1, "a.bin", 5000),
        (2, "b.bin", 300),
        (3, "c.par2", 40),
    ]
    assert plan.total_bytes == 5340
