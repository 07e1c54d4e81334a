"""Tests for what a TransferRun remembers the store holds of each file's progress."""

from __future__ import annotations

import pytest

from postie.store.api import UploadState
from postie.transfers.tables import Saved


def test_a_file_not_saved_is_unknown() -> None:
    saved = Saved(3)
    assert [saved.get(i) for i in range(5)] == [None] * 5


@pytest.mark.parametrize("state", [None, *UploadState])
def test_what_is_put_is_got_back(state: UploadState | None) -> None:
    saved = Saved(100_000)
    saved.put(1, 0, None)
    saved.put(100_000, 2**40, state)
    assert saved.get(100_000) == (2**40, state)
    assert saved.get(1) == (0, None)
    assert saved.get(2) is None
    saved.put(100_000, 7, UploadState.UPLOADED)
    assert saved.get(100_000) == (7, UploadState.UPLOADED)


def test_a_file_beyond_the_plan_is_refused() -> None:
    with pytest.raises(IndexError):
        Saved(2).put(3, 1, None)


def test_states_by_index_over_the_jobs_tuple() -> None:
    """The file states are found by file index (any indices, in any order) without a
    dict per job file."""

    from postie.article.plan import FilePlan, Segment
    from postie.runtime.state import FileState
    from postie.transfers.tables import ByIndex

    def state(index: int) -> FileState:
        plan = FilePlan(index, f"/d/{index}", f"{index}", 1, 0, (Segment(1, 0, 1, f"{index}@x"),))
        return FileState(plan=plan, pending=(1,), crcs=[None], sizes=[0])

    states = (state(3), state(1), state(7))
    by = ByIndex(states)
    assert len(by) == 3
    assert list(by) == [3, 1, 7]
    assert by[7] is states[2]
    assert by[1] is states[1]
    assert by.get(2) is None
    assert by.get(8) is None
    assert by.get(-1) is None
    assert dict(by) == {s.plan.index: s for s in states}
    assert not ByIndex(())


def test_all_but_is_every_file_but_those_named() -> None:
    from postie.transfers.tables import AllBut

    done = AllBut({2, 5})
    assert [i for i in range(1, 7) if i in done] == [1, 3, 4, 6]
    assert 1 in AllBut(set())
