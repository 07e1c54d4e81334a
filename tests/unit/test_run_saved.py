"""Tests for what a TransferRun remembers the store holds of each file's progress."""

from __future__ import annotations

import pytest

from postie.store.api import UploadState
from postie.transfers.run import _Saved


def test_a_file_not_saved_is_unknown() -> None:
    saved = _Saved(3)
    assert [saved.get(i) for i in range(5)] == [None] * 5


@pytest.mark.parametrize("state", [None, *UploadState])
def test_what_is_put_is_got_back(state: UploadState | None) -> None:
    saved = _Saved(100_000)
    saved.put(1, 0, None)
    saved.put(100_000, 2**40, state)
    assert saved.get(100_000) == (2**40, state)
    assert saved.get(1) == (0, None)
    assert saved.get(2) is None
    saved.put(100_000, 7, UploadState.UPLOADED)
    assert saved.get(100_000) == (7, UploadState.UPLOADED)


def test_a_file_beyond_the_plan_is_refused() -> None:
    with pytest.raises(IndexError):
        _Saved(2).put(3, 1, None)
