"""Tests for postie.par2.plan: slice sizes, splitting, recovery blocks, modes, validation."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postie.config import DEFAULT_ARTICLE_SIZE
from postie.par2.plan import (
    DEFAULT_MIN_SIZE,
    MAX_RECOVERY_BLOCKS,
    MAX_SLICE_ARTICLES,
    MAX_SOURCE_SLICES,
    MIN_SLICE_SIZE,
    MIN_SLICES,
    Par2Options,
    Par2Plan,
    Par2Set,
    Par2Source,
    Redundancy,
    parse_redundancy,
    plan_par2,
)

ROOT = Path("/data/job")
ARTICLE = DEFAULT_ARTICLE_SIZE
KB, MB, GB = 1024, 1024 * 1024, 1000**3


def src(name: str, size: int, root: Path = ROOT) -> Par2Source:
    return Par2Source(Path(f"{root}/{name}"), name, size)


def plan(files: Sequence[Par2Source], article_size: int = ARTICLE, **options: object) -> Par2Plan:
    return plan_par2(
        files,
        set_name="job",
        article_size=article_size,
        options=Par2Options(**options),  # type: ignore[arg-type]
    )


def one(files: Sequence[Par2Source], article_size: int = ARTICLE, **options: object) -> Par2Set:
    (only,) = plan(files, article_size, **options).sets
    return only


def slices(files: Sequence[Par2Source], slice_size: int) -> int:
    return sum(math.ceil(f.size / slice_size) for f in files)


def test_default_min_size_is_one_default_article() -> None:
    assert DEFAULT_MIN_SIZE == DEFAULT_ARTICLE_SIZE


# --- slice size ----------------------------------------------------------------------------


def test_slice_is_the_article_size_when_it_fits() -> None:
    files = [src(f"f{i}.bin", 10 * MB) for i in range(10)]
    got = one(files)
    assert got.slice_size == ARTICLE
    assert got.source_slices == slices(files, ARTICLE) == 150
    assert got.name == "job"


def test_a_big_file_gets_a_multiple_of_the_article_size() -> None:
    got = one([src("big.mkv", 100 * GB)])
    assert got.slice_size == ARTICLE * 5  # the smallest k that fits
    assert got.source_slices == math.ceil(100 * GB / (ARTICLE * 5)) <= MAX_SOURCE_SLICES
    assert math.ceil(100 * GB / (ARTICLE * 4)) > MAX_SOURCE_SLICES


def test_a_small_folder_gets_a_divisor_of_the_article_size() -> None:
    got = one([src("a.bin", 600 * KB), src("sub/b.bin", 424 * KB)])
    assert got.slice_size == 10240  # 716800 / 70: the largest divisor reaching MIN_SLICES
    assert ARTICLE % got.slice_size == 0
    assert got.source_slices >= MIN_SLICES


def test_a_tiny_file_stops_at_the_floor() -> None:
    got = one([src("tiny.txt", 10)])
    assert (got.slice_size, got.source_slices, got.recovery_blocks) == (MIN_SLICE_SIZE, 1, 1)


def test_a_small_article_size_is_not_raised_to_the_floor() -> None:
    assert one([src("tiny.txt", 10)], article_size=1024).slice_size == 1024


def test_an_article_size_not_a_multiple_of_4_is_rounded_down() -> None:
    assert one([src("a.bin", 1000 * KB)], article_size=1027).slice_size == 1024
    assert one([src("a.bin", 1000 * KB)], article_size=1027 * 4 + 2).slice_size == 1027 * 4


def test_going_down_stops_at_the_first_divisor_reaching_min_slices() -> None:
    article = 16 * MB  # 4 files of one article: 4 slices; halving the slice doubles them
    got = one([src(f"f{i}", article) for i in range(4)], article_size=article)
    assert (got.slice_size, got.source_slices) == (article // 32, 128)


def test_exactly_the_most_slices_at_the_article_size_keeps_the_article_size() -> None:
    """MAX_SOURCE_SLICES slices of one article each still fit: no bigger slice."""
    got = one([src("a.bin", ARTICLE * MAX_SOURCE_SLICES)])
    assert (got.slice_size, got.source_slices) == (ARTICLE, MAX_SOURCE_SLICES)


@pytest.mark.parametrize("articles", [MAX_SOURCE_SLICES + 1, 2 * MAX_SOURCE_SLICES])
def test_one_slice_too_many_doubles_the_slice(articles: int) -> None:
    """Just over the limit, two articles a slice is the smallest multiple that fits, also
    when it fits exactly."""
    got = one([src("a.bin", ARTICLE * articles)])
    assert got.slice_size == 2 * ARTICLE
    assert got.source_slices == math.ceil(articles / 2) <= MAX_SOURCE_SLICES


def test_exactly_min_slices_keeps_the_article_size() -> None:
    """MIN_SLICES slices at the article size are enough: the slice is not made smaller."""
    got = one([src("a.bin", ARTICLE * MIN_SLICES)])
    assert (got.slice_size, got.source_slices) == (ARTICLE, MIN_SLICES)


def test_going_down_stops_at_a_divisor_giving_exactly_min_slices() -> None:
    """Half the article gives exactly MIN_SLICES slices: that is where it stops."""
    got = one([src("a.bin", ARTICLE * MIN_SLICES // 2)])
    assert (got.slice_size, got.source_slices) == (ARTICLE // 2, MIN_SLICES)


def test_the_smallest_article_size_is_four_bytes() -> None:
    """An article of 4 bytes can be planned for (a slice is a multiple of 4); 3 cannot."""
    assert one([src("a.bin", 40)], article_size=4).slice_size == 4
    with pytest.raises(ValueError, match="article size 3 is too small"):
        plan([src("a.bin", 40)], article_size=3)


def test_a_forced_slice_size_is_used() -> None:
    got = one([src("a.bin", 100 * KB)], slice_size=4000)
    assert (got.slice_size, got.source_slices) == (4000, 26)


@pytest.mark.parametrize("size", [0, -4, 4098, 1001])
def test_a_forced_slice_size_must_be_a_positive_multiple_of_4(size: int) -> None:
    with pytest.raises(ValueError, match=f"slice size {size} is not a positive multiple of 4"):
        Par2Options(slice_size=size)


def test_a_forced_slice_size_too_small_for_a_file_is_refused() -> None:
    with pytest.raises(ValueError, match=r"too small for big\.bin: .* 32769 slices"):
        plan([src("big.bin", 4 * (MAX_SOURCE_SLICES + 1))], slice_size=4)


# --- splitting -----------------------------------------------------------------------------


def check_split(files: Sequence[Par2Source], got: Par2Plan) -> None:
    # contiguous, in order, each file once
    assert [m.name for s in got.sets for m in s.members] == [f.name for f in files]
    for s in got.sets:
        assert s.source_slices == slices(s.members, s.slice_size) <= MAX_SOURCE_SLICES


def test_more_files_than_slices_are_split_into_parts() -> None:
    files = [src(f"d{i // 1000}/f{i}.txt", KB) for i in range(40_000)]
    got = plan(files)
    check_split(files, got)
    assert [s.name for s in got.sets] == ["job.part01", "job.part02"]
    assert [len(s.members) for s in got.sets] == [MAX_SOURCE_SLICES, 40_000 - MAX_SOURCE_SLICES]
    assert {s.basepath for s in got.sets} == {ROOT}


def test_a_part_is_filled_up_to_exactly_the_most_slices() -> None:
    """After a split the count starts again from zero: a later part holds exactly
    MAX_SOURCE_SLICES slices when the files add up to that."""
    files = [
        src("a", 4 * MAX_SOURCE_SLICES),
        src("b", 4 * (MAX_SOURCE_SLICES - 1)),
        src("c", 4),
    ]
    got = plan(files, slice_size=4)
    check_split(files, got)
    assert [[m.name for m in s.members] for s in got.sets] == [["a"], ["b", "c"]]


def test_part_numbers_are_as_wide_as_the_count_needs() -> None:
    files = [src(f"f{i}", 4 * MAX_SOURCE_SLICES) for i in range(101)]
    got = plan(files, slice_size=4)
    check_split(files, got)
    assert [s.name for s in got.sets][::50] == ["job.part001", "job.part051", "job.part101"]


def test_a_folder_needing_huge_slices_is_split() -> None:
    # at 16 articles a slice, 200 GB is ~17,400 slices: two such files do not fit one set
    files = [src(f"f{i}.bin", 200 * GB) for i in range(3)]
    got = plan(files)
    check_split(files, got)
    assert len(got.sets) == 3
    assert all(s.slice_size == ARTICLE * 9 for s in got.sets)


def test_a_file_too_big_alone_gets_the_slice_it_needs() -> None:
    got = one([src("huge.img", 2000 * GB)])
    assert got.slice_size == ARTICLE * 86 > ARTICLE * MAX_SLICE_ARTICLES
    assert got.source_slices <= MAX_SOURCE_SLICES


# --- recovery blocks -----------------------------------------------------------------------


def test_a_percentage_of_the_source_slices() -> None:
    files = [src("a.bin", 4096 * 1000)]
    assert one(files, slice_size=4096, redundancy=parse_redundancy("10%")).recovery_blocks == 100
    assert one(files, slice_size=4096, redundancy=parse_redundancy("0.1%")).recovery_blocks == 1
    assert one(files, slice_size=4096, redundancy=parse_redundancy("10.55%")).recovery_blocks == 106


def test_a_percentage_gives_at_least_one_block() -> None:
    files = [src("a.bin", 4096 * 10)]
    assert one(files, slice_size=4096, redundancy=Redundancy(percent=0.1)).recovery_blocks == 1


def test_a_percentage_is_computed_exactly() -> None:
    # 0.1 as a float is a little more than 1/10: 1000 slices must still give 1 block, not 2
    assert Redundancy(percent=0.1).blocks_for(1000) == 1
    assert Redundancy(percent=7.0).blocks_for(100) == 7


def test_a_block_count_is_used_as_given_and_capped() -> None:
    assert one([src("a.bin", 10)], redundancy=parse_redundancy("200")).recovery_blocks == 200
    assert Redundancy(percent=1000.0).blocks_for(MAX_SOURCE_SLICES) == MAX_RECOVERY_BLOCKS


def test_recovery_files_are_passed_and_capped_at_the_blocks() -> None:
    files = [src("a.bin", 4096 * 1000)]
    assert one(files, slice_size=4096, recovery_files=7).recovery_files == 7
    assert one(files, slice_size=4096, recovery_files=31, redundancy=Redundancy(blocks=3)) == (
        one(files, slice_size=4096, recovery_files=3, redundancy=Redundancy(blocks=3))
    )
    assert one(files).recovery_files is None


@pytest.mark.parametrize(
    ("text", "percent", "blocks", "shown"),
    [
        ("10%", 10.0, None, "10%"),
        ("10.5%", 10.5, None, "10.5%"),
        (" 5 % ", 5.0, None, "5%"),
        ("1000%", 1000.0, None, "1000%"),
        ("200", None, 200, "200 blocks"),
        ("1", None, 1, "1 block"),
        ("32768", None, 32768, "32768 blocks"),
    ],
)
def test_parse_redundancy(text: str, percent: float | None, blocks: int | None, shown: str) -> None:
    got = parse_redundancy(text)
    assert (got.percent, got.blocks, str(got)) == (percent, blocks, shown)
    assert parse_redundancy(str(got).removesuffix(" blocks").removesuffix(" block")) == got


def test_the_config_default_is_the_planner_default() -> None:
    # postie.config takes its default as valid without importing the planner
    from postie import config
    from postie.par2 import plan

    assert parse_redundancy(config.DEFAULT_REDUNDANCY) == plan.DEFAULT_REDUNDANCY
    assert config.Par2Config().redundancy == config.DEFAULT_REDUNDANCY


@pytest.mark.parametrize(
    "text", ["-10%", "0%", "0", "0.0%", "abc", "1000.5%", "32769", "-5", "10.5", "", "nan%", "1e3%"]
)
def test_parse_redundancy_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=f"invalid redundancy '{text}'"):
        parse_redundancy(text)


@pytest.mark.parametrize(
    "fields", [{}, {"percent": 10.0, "blocks": 5}, {"percent": -1.0}, {"blocks": 0}]
)
def test_redundancy_needs_exactly_one_valid_form(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="invalid redundancy"):
        Redundancy(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"recovery_files": 0}, "recovery files 0 is not 1 to 31"),
        ({"recovery_files": 32}, "recovery files 32 is not 1 to 31"),
        ({"min_size": -1}, "min size -1 is negative"),
        ({"per": "job"}, "per must be 'folder' or 'file'"),
    ],
)
def test_options_are_checked(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Par2Options(**fields)  # type: ignore[arg-type]


def test_one_and_the_most_recovery_files_are_allowed() -> None:
    """The bounds of recovery_files are inclusive."""
    assert Par2Options(recovery_files=1).recovery_files == 1
    assert Par2Options(recovery_files=31).recovery_files == 31


# --- modes ---------------------------------------------------------------------------------


def test_folder_mode_protects_every_file_from_the_common_folder() -> None:
    files = [src("tiny.txt", 10), src("sub/deeper/a.bin", 5 * MB), src("sub/b.bin", 1)]
    got = plan(files)
    (only,) = got.sets
    assert (only.basepath, only.members, got.unprotected) == (ROOT, tuple(files), ())


def test_folder_mode_of_a_single_file() -> None:
    assert one([Par2Source(Path("/x/movie.mkv"), "movie.mkv", 5 * MB)]).basepath == Path("/x")


def test_folder_mode_refuses_files_of_two_folders() -> None:
    files = [src("a.bin", 10), src("b/c.bin", 10, root=Path("/elsewhere"))]
    with pytest.raises(ValueError, match=r"/data/job/a\.bin and /elsewhere/b/c\.bin"):
        plan(files)


def test_folder_mode_refuses_a_path_not_ending_with_its_name() -> None:
    with pytest.raises(ValueError, match=r"/data/job/a\.bin does not end with its name 'b/a\.bin'"):
        plan([Par2Source(ROOT / "a.bin", "b/a.bin", 10)])


def test_per_file_mode_gives_each_big_enough_file_its_own_set() -> None:
    files = [src("tiny.txt", 10), src("sub/a.bin", 2 * MB), src("b.bin", ARTICLE)]
    got = plan(files, per="file")
    assert got.unprotected == (files[0],)
    assert [(s.name, s.basepath, s.members) for s in got.sets] == [
        ("a.bin", ROOT / "sub", (files[1],)),
        ("b.bin", ROOT, (files[2],)),
    ]
    assert plan(files, per="file", min_size=0).unprotected == ()


def test_per_file_mode_may_protect_nothing() -> None:
    got = plan([src("tiny.txt", 10)], per="file")
    assert (got.sets, got.unprotected) == ((), (src("tiny.txt", 10),))


def test_per_file_names_stay_unique() -> None:
    names = ["x/a.bin", "y/A.BIN", "b.bin", "x_a.bin", "x/b.bin", "c/d/e"]
    got = plan([src(n, MB) for n in names], per="file")
    assert [s.name for s in got.sets] == [
        "x_a.bin",
        "y_A.BIN",
        "b.bin",
        "x_a.bin_2",
        "x_b.bin",
        "e",
    ]


# --- validation ----------------------------------------------------------------------------


def test_no_files() -> None:
    with pytest.raises(ValueError, match="no files to protect"):
        plan([])


@pytest.mark.parametrize("size", [0, -1])
def test_an_empty_file_is_refused_by_name(size: int) -> None:
    with pytest.raises(ValueError, match=r"sub/empty\.bin: size"):
        plan([src("a.bin", 10), src("sub/empty.bin", size)])


@pytest.mark.parametrize("name", ["", "/abs", "a//b", "./a", "a/../b", "dir/"])
def test_a_bad_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="is not a relative '/'-separated name"):
        plan([Par2Source(Path("/data/x"), name, 10)])


def test_a_name_given_twice_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'a\.bin' is given twice"):
        plan([src("a.bin", 10), src("a.bin", 20)])


@pytest.mark.parametrize("name", ["", "a/b"])
def test_a_bad_set_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="is not a plain file name"):
        plan_par2([src("a.bin", 10)], set_name=name, article_size=ARTICLE, options=Par2Options())


# --- properties ----------------------------------------------------------------------------

sizes = st.one_of(st.integers(1, 10_000), st.integers(1, 10**9), st.integers(1, 2**44))
redundancies = st.one_of(
    st.builds(Redundancy, percent=st.floats(0.001, 1000.0)),
    st.builds(Redundancy, blocks=st.integers(1, MAX_RECOVERY_BLOCKS)),
)


@st.composite
def file_lists(draw: st.DrawFn) -> list[Par2Source]:
    # a few runs of equal files; a run may be long enough to need several sets
    runs = draw(
        st.lists(
            st.tuples(sizes, st.one_of(st.integers(1, 5), st.integers(1, 2000))),
            min_size=1,
            max_size=5,
        )
    )
    files = [(size, count) for size, count in runs for _ in range(count)]
    return [src(f"d{i % 3}/f{i}", size) for i, (size, _) in enumerate(files)]


@settings(max_examples=40, deadline=None)
@given(
    files=file_lists(),
    article_size=st.integers(1024, 16 * MB),
    per=st.sampled_from(["folder", "file"]),
    redundancy=redundancies,
    min_size=st.integers(0, 2**30),
    forced=st.one_of(st.none(), st.integers(1, 2**22).map(lambda n: 4 * n)),
)
def test_every_plan_is_valid(
    files: list[Par2Source],
    article_size: int,
    per: str,
    redundancy: Redundancy,
    min_size: int,
    forced: int | None,
) -> None:
    options = Par2Options(redundancy, per, forced, None, min_size)  # type: ignore[arg-type]
    protected = files if per == "folder" else [f for f in files if f.size >= min_size]
    if forced is not None and any(f.size > forced * MAX_SOURCE_SLICES for f in protected):
        with pytest.raises(ValueError, match="is too small for"):
            plan_par2(files, set_name="job", article_size=article_size, options=options)
        return
    got = plan_par2(files, set_name="job", article_size=article_size, options=options)
    placed = [m for s in got.sets for m in s.members] + list(got.unprotected)
    assert sorted(f.name for f in placed) == sorted(f.name for f in files)
    for s in got.sets:
        assert s.slice_size % 4 == 0
        assert forced is None or s.slice_size == forced
        assert 1 <= s.source_slices <= MAX_SOURCE_SLICES
        assert s.source_slices == slices(s.members, s.slice_size)
        assert 1 <= s.recovery_blocks <= MAX_RECOVERY_BLOCKS
    if per == "folder":
        check_split(files, got)
        assert got.unprotected == ()
        assert {s.basepath for s in got.sets} == {ROOT}
    else:
        assert all(len(s.members) == 1 for s in got.sets)
        assert all(f.size < min_size for f in got.unprotected)
        assert len({s.name.casefold() for s in got.sets}) == len(got.sets)
