"""The resume rules (postie.transfers.doubt): which parts an interrupted run may have
posted, and what becomes of each once STAT answered."""

from __future__ import annotations

from pathlib import Path

import pytest

from postie import errors
from postie.article.plan import Collected, JobPlan, SourceFile, plan_job
from postie.config import NzbConfig, PostingConfig, validate
from postie.manifest import ArticleRecord, ManifestWriter
from postie.runtime.state import FileResume
from postie.transfers.doubt import in_doubt, resumes
from postie.transfers.prepared import Prepared

SIZE = 4096
POSTING = validate(PostingConfig, {"article_size": SIZE})
# positions in the plan's order: file 1 parts 1-5 at 0-4, file 2 parts 1-3 at 5-7, file 3
# parts 1-2 at 8-9
PARTS = {1: 5, 2: 3, 3: 2}


def plan() -> JobPlan:
    files = tuple(
        SourceFile(f"/src/{i}.bin", f"{i}.bin", n * SIZE - 1, 7, ino=i, ctime_ns=8)
        for i, n in PARTS.items()
    )
    return plan_job(Collected(files), POSTING, name="job")


def line(job: JobPlan, file: int, part: int) -> ArticleRecord:
    s = job.files[file - 1].segments[part - 1]
    return ArticleRecord(file, part, s.offset, s.length, s.message_id, 0xABC, 5000)


def prepared(
    tmp_path: Path,
    *,
    version: int = 2,
    frontier: int = 0,
    watermarks: dict[int, int] | None = None,
    crc: dict[int, tuple[int, ...]] | None = None,
    **extra: object,
) -> Prepared:
    job = plan()
    recorded = {f: {n: line(job, f, n) for n in parts} for f, parts in (crc or {}).items()}
    return Prepared(
        transfer_id=1,
        name="job",
        plan=job,
        posting=POSTING,
        nzb=NzbConfig(),
        targets={},
        manifest_path=tmp_path / "m.zst",
        writer=ManifestWriter(tmp_path / "m.zst", 0, version=version, frontier=frontier),
        recorded=recorded,
        watermarks=watermarks or {},
        resumed=True,
        **extra,  # type: ignore[arg-type]
    )


def parts(doubt: list[tuple[int, int, str]]) -> list[tuple[int, int]]:
    return [(f, n) for f, n, _ in doubt]


# --- in doubt --------------------------------------------------------------------------------


def test_v2_in_doubt_are_the_parts_above_the_watermark_before_the_frontier(
    tmp_path: Path,
) -> None:
    p = prepared(tmp_path, frontier=7, watermarks={1: 2})
    doubt = in_doubt(p)
    assert parts(doubt) == [(1, 3), (1, 4), (1, 5), (2, 1), (2, 2)]
    assert [mid for _, _, mid in doubt] == [
        p.plan.files[f - 1].segments[n - 1].message_id for f, n in parts(doubt)
    ]


def test_v2_nothing_is_in_doubt_before_the_first_frontier(tmp_path: Path) -> None:
    assert in_doubt(prepared(tmp_path, frontier=0, watermarks={1: 2})) == []


def test_v2_in_doubt_skips_lost_and_finished_files_and_stats_rewritten_ids(
    tmp_path: Path,
) -> None:
    p = prepared(
        tmp_path,
        frontier=100,
        watermarks={1: 5, 2: 1},
        lost={3: errors.SourceMissing("gone")},
        finished_before={1},
        accepted={(2, 3): "<rewritten@server>"},
    )
    doubt = in_doubt(p)
    assert parts(doubt) == [(2, 2), (2, 3)]
    assert doubt[1][2] == "<rewritten@server>"


def test_v1_in_doubt_are_the_parts_with_a_line_above_the_watermark(tmp_path: Path) -> None:
    p = prepared(tmp_path, version=1, watermarks={1: 2}, crc={1: (1, 2, 3, 5), 3: (1,)})
    assert parts(in_doubt(p)) == [(1, 3), (1, 5), (3, 1)]


# --- what becomes of each part ----------------------------------------------------------------


def test_v2_found_parts_are_done_or_measured_missing_and_later_ones_are_posted(
    tmp_path: Path,
) -> None:
    """File 1: watermark 1, parts 2-5 in doubt (frontier 7); 2 and 3 found (2 with a CRC
    line, 3 without: measured), 4 missing with a CRC line, 5 missing without. File 2: parts
    1-2 in doubt and missing, part 3 past the frontier. Nothing is refused: every file is
    the one planned."""
    p = prepared(tmp_path, frontier=7, watermarks={1: 1}, crc={1: (1, 2, 4)})
    resume, refused = resumes(p, {1: {2, 3}})
    assert refused == {}
    one = resume[1]
    assert (one.watermark, one.done, one.measure) == (1, frozenset({2}), frozenset({3}))
    assert sorted(one.recorded) == [1, 2, 4]  # part 4 is posted again, checked against it
    assert resume[2] == FileResume(watermark=0, done=frozenset(), recorded={})
    assert resume[3] == FileResume()


@pytest.mark.parametrize(
    ("crc", "found", "why"),
    [
        pytest.param({1: (1, 2, 3, 4)}, {1: {5}}, "found without a CRC line", id="measured"),
        pytest.param({1: (1, 2, 3, 5)}, {1: {5}}, "missing without one", id="missing"),
        pytest.param({1: (1, 2, 3, 4, 5)}, {1: {4}}, "nothing", id="control"),
    ],
)
def test_v2_a_file_not_the_one_planned_is_refused_where_a_part_has_no_crc32(
    tmp_path: Path, crc: dict[int, tuple[int, ...]], found: dict[int, set[int]], why: str
) -> None:
    """File 1 (another inode or ctime than frame 0 says) with watermark 3 and parts 4-5 in
    doubt: refused as soon as one part would be read with no CRC32 to check it (measured,
    or posted again); when every part to read has one, the CRC check is enough."""
    changed = errors.SourceChanged("/src/1.bin: the file changed since it was planned")
    p = prepared(tmp_path, frontier=10, watermarks={1: 3}, crc=crc, unlike={1: changed})
    resume, refused = resumes(p, found)
    if why == "nothing":
        assert refused == {}
        assert (resume[1].done, resume[1].measure) == (frozenset({4}), frozenset())
    else:
        assert refused == {1: changed}, why
        assert 1 not in resume
    assert 2 in resume  # the other files go on


def test_v2_parts_past_the_frontier_need_the_same_file(tmp_path: Path) -> None:
    """Nothing of file 3 can have been posted (it lies past the frontier), yet its parts
    are read with no CRC32 to check: only from the file frame 0 recorded."""
    changed = errors.SourceChanged("/src/3.bin: the file changed since it was planned")
    p = prepared(tmp_path, frontier=8, watermarks={1: 5, 2: 3}, unlike={3: changed})
    resume, refused = resumes(p, {})
    assert refused == {3: changed}
    assert resume[2] == FileResume(watermark=3)


def test_a_transfer_not_resumed_keeps_only_what_was_finished(tmp_path: Path) -> None:
    p = prepared(tmp_path, frontier=0, finished_before={2})
    p.resumed = False
    resume, refused = resumes(p, {})
    assert (resume, refused) == ({2: FileResume(watermark=3)}, {})


def test_a_resume_reads_the_parts_to_post_before_those_it_only_measures() -> None:
    """Parts found without a CRC line are read after the parts to post (the connections
    start at once), but before the file's last part, whose =yend needs every part's CRC."""
    from postie.runtime.engine import _pending

    resume = FileResume(watermark=2, done=frozenset({4}), measure=frozenset({3, 6}))
    assert _pending(8, resume) == (5, 7, 3, 6, 8)
    assert _pending(6, resume) == (5, 3, 6)  # the last part only measured
    assert _pending(8, FileResume(watermark=2, done=frozenset({4}))) == (3, 5, 6, 7, 8)
    assert _pending(3, FileResume(watermark=3)) == ()
