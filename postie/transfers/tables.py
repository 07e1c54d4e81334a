"""Compact tables a running transfer keeps for each of its files, sized for folders of
100,000 files: the files done (``AllBut``), the job's file states by index
(``ByIndex``), and what the store holds of each file's progress (``Saved``)."""

from __future__ import annotations

from array import array
from collections.abc import Container, Iterator, Mapping

from postie import errors
from postie.runtime.state import FileState
from postie.store.api import UploadState

_STATES: tuple[UploadState | None, ...] = (None, *UploadState)


class AllBut(Container[int]):
    """The plan's files but ``these`` (asked only of the plan's file indices): the files
    done, without a set of every file index (100,000 files: 4 MB at the end of a run)."""

    def __init__(self, these: set[int]) -> None:
        self.these = these

    def __contains__(self, index: object) -> bool:
        return index not in self.these


class ByIndex(Mapping[int, FileState]):
    """A job's file states by file index: a table of positions (4 B a file) over the
    job's tuple, where a dict took ~52 B a file."""

    def __init__(self, states: tuple[FileState, ...]) -> None:
        self._states = states
        self._at = array("i", [-1]) * (max((s.plan.index for s in states), default=0) + 1)
        for position, state in enumerate(states):
            self._at[state.plan.index] = position

    def __getitem__(self, index: int) -> FileState:
        position = self._at[index] if 0 <= index < len(self._at) else -1
        if position < 0:
            raise KeyError(index)
        return self._states[position]

    def __iter__(self) -> Iterator[int]:
        return (s.plan.index for s in self._states)

    def __len__(self) -> int:
        return len(self._states)


class Saved:
    """What the store holds of each file's progress, (watermark, state), as the last
    checkpoint left it: two flat arrays indexed by the file's index, 9 bytes a file,
    where a dict of tuples took ~110 (100,000 files: 11 MB held for the whole run)."""

    def __init__(self, last_index: int) -> None:
        self._marks = array("q", [-1]) * (last_index + 1)  # -1: not known to be saved
        self._states = bytearray(last_index + 1)

    def get(self, index: int) -> tuple[int, UploadState | None] | None:
        if index >= len(self._marks) or self._marks[index] < 0:
            return None
        return self._marks[index], _STATES[self._states[index]]

    def put(self, index: int, mark: int, state: UploadState | None) -> None:
        self._marks[index] = mark
        self._states[index] = _STATES.index(state)


def upload_state_of(state: FileState) -> UploadState | None:
    if state.error is not None:
        if isinstance(state.error, errors.SourceChanged):
            return UploadState.SOURCE_CHANGED
        return UploadState.FAILED
    if state.remaining == 0:
        return UploadState.UPLOADED
    return None
