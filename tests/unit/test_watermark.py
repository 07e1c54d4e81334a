"""Tests for FileState's acknowledged watermark (postie.runtime.state).

The watermark is the largest k such that parts 1..k all have their 240; it is
what a checkpoint saves, so it must never pass a part that was not acknowledged
and never lag behind one whose predecessors all were.
"""

from __future__ import annotations

import random

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from postie import errors
from postie.article.plan import FilePlan, Segment
from postie.runtime.state import FileResume, FileState, Tally


def file_plan(parts: int) -> FilePlan:
    size = 10
    return FilePlan(
        index=1,
        path="/data/f.bin",
        name="f.bin",
        size=parts * size,
        mtime_ns=0,
        segments=tuple(
            Segment(n, (n - 1) * size, size, f"{n:08x}@test") for n in range(1, parts + 1)
        ),
    )


def fresh(parts: int) -> FileState:
    plan = file_plan(parts)
    return FileState(
        plan=plan,
        pending=tuple(range(1, parts + 1)),
        crcs=[None] * parts,
        sizes=[0] * parts,
    )


def resumed(parts: int, before: FileResume) -> FileState:
    """A FileState built from an earlier run's FileResume, the way the engine builds it."""
    plan = file_plan(parts)
    return FileState(
        plan=plan,
        pending=tuple(
            s.number
            for s in plan.segments
            if s.number > before.watermark and s.number not in before.done
        ),
        crcs=[None] * parts,
        sizes=[0] * parts,
        recorded=before.recorded,
        watermark=before.watermark,
        acked_above={n for n in before.done if n > before.watermark},
    )


def contiguous(acked: set[int]) -> int:
    """The largest k such that 1..k are all in ``acked``."""
    k = 0
    while k + 1 in acked:
        k += 1
    return k


def test_in_order() -> None:
    state = fresh(5)
    for n in range(1, 6):
        state.ack(n)
        assert state.watermark == n
        assert state.acked_above == set()


def test_out_of_order() -> None:
    state = fresh(6)
    state.ack(3)
    state.ack(5)
    assert (state.watermark, state.acked_above) == (0, {3, 5})
    state.ack(1)
    assert (state.watermark, state.acked_above) == (1, {3, 5})
    state.ack(2)  # fills the hole: jumps over 3
    assert (state.watermark, state.acked_above) == (3, {5})
    state.ack(6)
    assert (state.watermark, state.acked_above) == (3, {5, 6})
    state.ack(4)
    assert (state.watermark, state.acked_above) == (6, set())


def test_repeated_and_old_acks_change_nothing() -> None:
    state = fresh(4)
    state.ack(1)
    state.ack(3)
    state.ack(3)
    state.ack(1)
    assert (state.watermark, state.acked_above) == (1, {3})
    state.ack(2)
    state.ack(2)
    state.ack(1)
    assert (state.watermark, state.acked_above) == (3, set())


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 80).flatmap(lambda n: st.permutations(list(range(1, n + 1)))))
def test_any_order(order: list[int]) -> None:
    state = fresh(len(order))
    acked: set[int] = set()
    for number in order:
        state.ack(number)
        acked.add(number)
        assert state.watermark == contiguous(acked)
        # everything acknowledged is either under the watermark or remembered above it
        assert state.acked_above == {n for n in acked if n > state.watermark}
    assert state.watermark == len(order)
    assert state.acked_above == set()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 30), max_size=120))
def test_any_order_with_repeats(numbers: list[int]) -> None:
    state = fresh(30)
    acked: set[int] = set()
    for number in numbers:
        state.ack(number)
        acked.add(number)
        assert state.watermark == contiguous(acked)
        assert state.acked_above == {n for n in acked if n > state.watermark}


def test_resume_advances_over_parts_already_done() -> None:
    state = resumed(10, FileResume(watermark=3, done=frozenset({4, 5, 7, 9})))
    assert state.watermark == 5
    assert state.acked_above == {7, 9}
    assert state.pending == (6, 8, 10)
    assert state.remaining == 3
    state.ack(6)
    assert (state.watermark, state.acked_above) == (7, {9})
    state.ack(10)
    state.ack(8)
    assert (state.watermark, state.acked_above) == (10, set())


def test_resume_with_everything_done() -> None:
    state = resumed(4, FileResume(watermark=1, done=frozenset({2, 3, 4})))
    assert (state.watermark, state.acked_above, state.pending) == (4, set(), ())
    assert state.remaining == 0
    assert state.done


def test_resume_from_the_watermark_alone() -> None:
    state = resumed(4, FileResume(watermark=2))
    assert (state.watermark, state.acked_above, state.pending) == (2, set(), (3, 4))


def test_direct_start_state_advances_in_post_init() -> None:
    plan = file_plan(8)
    state = FileState(
        plan=plan,
        pending=(3, 6, 8),
        crcs=[None] * 8,
        sizes=[0] * 8,
        watermark=2,
        acked_above={4, 5, 7},
    )
    assert (state.watermark, state.acked_above) == (2, {4, 5, 7})  # 3 is missing
    state.ack(3)
    assert (state.watermark, state.acked_above) == (5, {7})

    state = FileState(
        plan=plan,
        pending=(6, 8),
        crcs=[None] * 8,
        sizes=[0] * 8,
        watermark=2,
        acked_above={3, 4, 5, 7},
    )
    assert (state.watermark, state.acked_above) == (5, {7})


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 50).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.integers(0, n),
            st.sets(st.integers(1, n)),
            st.randoms(use_true_random=False),
        )
    )
)
def test_resume_then_any_order(case: tuple[int, int, set[int], random.Random]) -> None:
    parts, watermark, done, rng = case
    state = resumed(parts, FileResume(watermark=watermark, done=frozenset(done)))
    acked = set(range(1, watermark + 1)) | done
    assert state.watermark == contiguous(acked)
    assert state.acked_above == {n for n in acked if n > state.watermark}
    assert set(state.pending) == set(range(1, parts + 1)) - acked
    order = list(state.pending)
    rng.shuffle(order)
    for number in order:
        state.ack(number)
        acked.add(number)
        assert state.watermark == contiguous(acked)
    assert (state.watermark, state.acked_above) == (parts, set())


# --- the job's tally: done, failed and changed files without walking them all ------------


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 4), min_size=1, max_size=6),
    st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["ack", "fail", "take"])), max_size=60),
)
def test_the_tally_matches_the_files(parts: list[int], steps: list[tuple[int, str]]) -> None:
    tally = Tally()
    states = []
    for index, count in enumerate(parts, start=1):
        plan = msgspec.structs.replace(file_plan(max(count, 1)), index=index)
        pending = tuple(range(1, count + 1))
        states.append(
            FileState(
                plan=plan,
                pending=pending,
                crcs=[None] * len(plan.segments),
                sizes=[0] * len(plan.segments),
                tally=tally,
            )
        )
    left = {s.plan.index: list(s.pending) for s in states}
    touched: set[int] = set()
    for which, step in steps:
        state = states[which % len(states)]
        index = state.plan.index
        if step == "ack" and left[index]:
            state.ack(left[index].pop())
            state.part_done()
            touched.add(index)
        elif step == "fail":
            if state.error is None:
                touched.add(index)
            state.fail(errors.FileFailed("test"))
        elif step == "take":
            assert tally.take() == touched
            touched = set()
        assert tally.done == sum(s.done for s in states)
        assert tally.failed == sum(s.error is not None for s in states)
    assert tally.changed == touched


def test_a_file_holds_a_set_only_while_parts_are_acked_out_of_order() -> None:
    """A folder of 100,000 files must not hold an empty set (and an empty dict of
    earlier lines) for each: the empty ones are shared until a part comes out of order."""
    from postie.runtime.state import NONE_ABOVE, NOTHING_RECORDED

    state = fresh(4)
    assert state.acked_above is NONE_ABOVE
    assert state.recorded is NOTHING_RECORDED
    assert not hasattr(state, "__dict__")
    state.ack(3)
    assert state.acked_above == {3}
    assert not NONE_ABOVE  # the shared one was not changed
    state.ack(1)
    state.ack(2)
    assert state.watermark == 3
    assert state.acked_above is NONE_ABOVE
    state.ack(4)
    assert (state.watermark, state.acked_above) == (4, NONE_ABOVE)


def test_rewritten_and_claimed_ids_are_a_files_own_and_the_empties_stay_shared() -> None:
    """Rewritten and claimed Message-IDs start as shared empties and become the file's
    own on the first one; saving the unsaved ones gives the shared empty back."""
    from postie.runtime.state import NO_CRCS, NO_IDS

    one, two = fresh(3), fresh(3)
    assert one.accepted_ids is NO_IDS
    assert one.claimed is NO_IDS
    assert one.unsaved_ids == ()
    one.rewritten(2, "new@server")
    one.rewritten(3, "newer@server")
    assert one.accepted_ids == {2: "new@server", 3: "newer@server"}
    assert list(one.unsaved_ids) == [(2, "new@server"), (3, "newer@server")]
    one.ids_saved(1)
    assert list(one.unsaved_ids) == [(3, "newer@server")]
    one.ids_saved(1)
    assert one.unsaved_ids == ()
    one.claim(1, "441 435 Duplicate")
    assert one.claimed == {1: "441 435 Duplicate"}
    assert two.accepted_ids is NO_IDS
    assert two.claimed is NO_IDS
    assert not NO_IDS
    for n in (1, 2, 3):
        two.ack(n)
        two.part_done()
    assert two.done
    assert two.crcs is NO_CRCS
    assert not NO_CRCS


def test_a_file_posted_in_order_keeps_nothing_of_its_own_beyond_its_slots() -> None:
    """What few files have (an earlier run's lines, parts out of order, rewritten or
    claimed IDs, an error) lives in one object made for those that do: a file posted
    in order never makes it, and its record stays ten slots (100,000 small files held
    16 each)."""
    state = fresh(3)
    assert len(FileState.__slots__) == 10
    for n in (1, 2, 3):
        state.ack(n)
        state.part_done()
    assert state.done
    assert state._rare is None
    state.ack(5)  # out of order: now it has its own
    assert state._rare is not None
    assert state.acked_above == {5}
    failed = fresh(2)
    failed.fail(errors.FileFailed("f.bin: gone"))
    assert failed._rare is not None
    assert str(failed.error) == "f.bin: gone"
    assert fresh(2).error is None
