"""The store's verification side, ``Verification`` (SQLite:
``postie.store.sqlite.verification``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from postie.store.records import Failure, FinalizeState, SweepResult, Transfer, VerifyState


class Verification(Protocol):
    """Proving the articles arrived: leased scans and misses, outcomes, finalizing.

    ``only`` limits work to one transfer; ``servers`` (server labels) to transfers
    posted to one of those servers, or that recorded none."""

    async def schedule_checks(self, transfer_id: int, *, at: float, again: bool = False) -> None:
        """Ask for a STAT scan of the transfer's uploaded files at ``at``. ``again``:
        forget earlier outcomes and misses and check every file afresh."""
        ...

    async def claim_check(
        self,
        *,
        owner: str,
        lease: float,
        only: int | None = None,
        servers: Sequence[str] | None = None,
    ) -> tuple[int, tuple[int, ...]] | None:
        """Lease the due scans of one transfer: ``(transfer_id, file_ids)`` or None."""
        ...

    async def finish_check(
        self,
        transfer_id: int,
        *,
        owner: str,
        files: Iterable[int],
        misses: Mapping[int, Sequence[tuple[int, str]]],
        next_attempt_at: float,
        error: str | None = None,
    ) -> None:
        """A scan ended: store the misses (``file -> [(part, message_id)]``), mark the
        files without any verified, settle the transfer. Only files ``owner`` still
        holds are changed."""
        ...

    async def release_check(
        self, transfer_id: int, files: Iterable[int], *, owner: str, at: float, error: str
    ) -> None:
        """A scan could not run (a STAT error): due again at ``at``, nothing spent."""
        ...

    async def settle(self, transfer_id: int) -> VerifyState:
        """Decide what can be decided; return the transfer's verify state."""
        ...

    async def record_misses(
        self,
        transfer_id: int,
        file_id: int,
        misses: Iterable[tuple[int, str]],
        *,
        next_attempt_at: float,
        error: str | None = None,
    ) -> None:
        """Store the parts a STAT did not find (``(part, message_id)``); a part already
        stored counts one more check."""
        ...

    async def claim_failures(
        self,
        *,
        owner: str,
        lease: float,
        limit: int,
        only: int | None = None,
        servers: Sequence[str] | None = None,
    ) -> tuple[Failure, ...]:
        """Lease up to ``limit`` due missing articles to ``owner``, earliest due first."""
        ...

    async def resolve_failures(self, keys: Iterable[tuple[int, int, int]], *, owner: str) -> None:
        """The articles are on the server after all: forget them (only rows ``owner``
        holds)."""
        ...

    async def reschedule_failure(
        self,
        key: tuple[int, int, int],
        *,
        owner: str,
        repost_count: int,
        check_count: int,
        next_attempt_at: float,
        error: str | None,
        exhausted: bool = False,
    ) -> bool:
        """Record an attempt and release the lease; False if ``owner`` no longer held it."""
        ...

    async def failures(self, transfer_id: int) -> tuple[Failure, ...]: ...

    async def par2_folders(self) -> set[Path]:
        """The folders the recorded transfers' generated PAR2 files are in."""
        ...

    async def verify_counts(self) -> dict[str, int]:
        """Uploaded transfers by what verification made of them (for status pages):
        pending, verified, verification_failed, finalize_failed."""
        ...

    async def next_due(
        self, only: int | None = None, servers: Sequence[str] | None = None
    ) -> float | None:
        """When the next piece of verification work is due (None: nothing left)."""
        ...

    async def finalizable(self, *, only: int | None = None) -> tuple[Transfer, ...]:
        """Verified transfers due for finalizing and not leased."""
        ...

    async def set_finalized(
        self,
        transfer_id: int,
        *,
        owner: str,
        state: FinalizeState,
        attempts: int,
        error: str | None = None,
    ) -> None:
        """Record a finalize attempt (``state`` done or failed) and release the
        transfer's lease."""
        ...

    async def sweep(self, *, retention: float) -> SweepResult:
        """Delete finished transfers past ``retention`` (some at a time; the caller
        deletes the manifests returned) and reclaim every expired lease: one
        transaction."""
        ...
