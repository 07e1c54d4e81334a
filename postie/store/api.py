"""The store's interface: what postie asks of wherever transfers, verification and the
queue are recorded.

Three sides, one ``Protocol`` each (in ``postie.store.protocols``): ``Transfers``
(what was planned and how far posting got), ``Verification`` (scans, missing
articles, outcomes, finalizing, sweeping) and ``Queue`` (the daemon's jobs); and
``Workers``, the processes that hold the leases. ``Store`` is all of them with the
lifecycle: an async context manager, ``location`` for messages and ``now()``, the one
clock every time the store records or compares comes from. Import them all from here.

The conventions every implementation keeps:

- every state change is one transaction;
- rows are returned as the frozen records of ``postie.store.records``;
- work is leased: a lease is ``(owner, expires_at)`` on the store's clock; a claim
  is one statement that takes rows that are free or whose lease ran out and
  returns what it took, so two claimers, in any processes, never hold the same row;
- an owner that takes leases runs as a worker with a heartbeat; a dead worker's
  leases are released by ``reap_workers`` (``postie.store.lease`` says who is dead),
  which the claims of work a dead process may hold call first;
- a call that changes leased work names its ``owner`` and changes only what that
  owner still holds.

``open_store`` (in ``postie.store``) picks the implementation for a location.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from postie.manifest.storage import ManifestStorage
from postie.store.lease import Process
from postie.store.protocols.queue import Queue
from postie.store.protocols.transfers import Transfers
from postie.store.protocols.verification import Verification
from postie.store.protocols.workers import Workers
from postie.store.records import (
    ACTIVE_JOBS,
    UNFINISHED,
    Cleanup,
    Failure,
    FailureState,
    FileProgress,
    FileRole,
    FinalizeState,
    Job,
    JobState,
    Lease,
    LeaseKind,
    NewFile,
    NewTransfer,
    Reaped,
    SweepResult,
    Transfer,
    TransferFile,
    TransferState,
    TransferSummary,
    UploadState,
    VerifyState,
    Worker,
)

__all__ = [
    "ACTIVE_JOBS",
    "UNFINISHED",
    "Cleanup",
    "Failure",
    "FailureState",
    "FileProgress",
    "FileRole",
    "FinalizeState",
    "Job",
    "JobState",
    "Lease",
    "LeaseKind",
    "NewFile",
    "NewTransfer",
    "Process",
    "Queue",
    "Reaped",
    "Store",
    "SweepResult",
    "Transfer",
    "TransferFile",
    "TransferState",
    "TransferSummary",
    "Transfers",
    "UploadState",
    "Verification",
    "VerifyState",
    "Worker",
    "Workers",
]


class Store(Transfers, Verification, Queue, Workers, Protocol):
    """``async with open_store(location) as store``: opened (and migrated), closed."""

    @property
    def location(self) -> str:
        """Where the store is, for messages (a file's path, a server's address)."""
        ...

    @property
    def path(self) -> Path | None:
        """The store's file when it is one: manifests and PAR2 work default to folders
        beside it. None for a store on a server."""
        ...

    @property
    def manifests(self) -> ManifestStorage:
        """Where the transfers' manifests are kept, read and deleted: files of this
        machine (SQLite), or the database itself (PostgreSQL: every instance reads
        every transfer's manifest)."""
        ...

    def now(self) -> float:
        """The store's clock (seconds since the epoch): every time the store records or
        compares comes from it; a caller that computes a time to hand to the store
        (``at``, ``next_attempt_at``, ``retry_at``) starts from it too."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def aclose(self) -> None:
        """Close (idempotent, shielded from cancellation)."""
        ...
