"""The store's interface: what postie asks of wherever transfers, verification and the
queue are recorded.

Three sides, one ``Protocol`` each: ``Transfers`` (what was planned and how far
posting got), ``Verification`` (scans, missing articles, outcomes, finalizing,
sweeping) and ``Queue`` (the daemon's jobs); and ``Workers``, the processes that
hold the leases. ``Store`` is all of them with the lifecycle: an async context
manager, ``location`` for messages and ``now()``, the one clock every time the
store records or compares comes from.

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

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from postie.store.lease import Process
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


class Transfers(Protocol):
    """Transfers and their files: what was planned and how far posting got."""

    async def create(self, new: NewTransfer, *, owner: str, lease: float) -> int:
        """Record a transfer and its files, leased to ``owner``; return its id."""
        ...

    async def get(self, transfer_id: int) -> Transfer | None: ...

    async def files(self, transfer_id: int) -> tuple[TransferFile, ...]:
        """The transfer's files in plan order (empty for an unknown transfer)."""
        ...

    async def unfinished(self, roots_key: str) -> tuple[Transfer, ...]:
        """Unfinished transfers (uploading or incomplete) of these roots, newest first."""
        ...

    async def uploaded_of(self, roots_key: str, files_key: str) -> Transfer | None:
        """The newest uploaded transfer of exactly these files (whatever its verification
        and finalizing came to)."""
        ...

    async def last_unfinished(self) -> Transfer | None: ...

    async def summaries(self, limit: int = 50) -> tuple[TransferSummary, ...]:
        """The newest transfers with their totals."""
        ...

    async def accepted_ids(self, transfer_id: int) -> dict[tuple[int, int], str]:
        """Message-IDs a server rewrote in its 240 reply: ``(file, part) -> id``."""
        ...

    async def claim(self, transfer_id: int, *, owner: str, lease: float) -> None:
        """Take the transfer's lease (or renew it when ``owner`` holds it already), once
        dead workers are reaped (a killed process's transfer is taken over at once).

        Raises ``TransferBusy`` naming the holder while another owner's lease is live,
        ``StoreError`` for an unknown transfer."""
        ...

    async def release(self, transfer_id: int, *, owner: str) -> None:
        """Give the lease up (nothing happens unless ``owner`` holds it)."""
        ...

    async def checkpoint(
        self,
        transfer_id: int,
        *,
        owner: str,
        lease: float,
        manifest_bytes: int,
        files: Sequence[FileProgress],
        accepted: Iterable[tuple[int, int, str]] = (),
        all_uploaded: bool = False,
    ) -> None:
        """Advance watermarks (only forward), record file states, rewritten IDs
        (``(file, part, message_id)``) and the manifest's durable length, and renew the
        lease: one transaction. ``all_uploaded``: every file has all its articles
        acknowledged (``files`` may then be empty). Raises ``TransferBusy`` when
        ``owner`` no longer holds the lease (nothing is saved then)."""
        ...

    async def finish(
        self,
        transfer_id: int,
        *,
        state: TransferState,
        error: str | None = None,
        nzb_path: str | None = None,
        check_at: float | None = None,
    ) -> None:
        """Record how a run ended; ``check_at``: when to STAT the uploaded files (the
        verification's propagation delay), in the same transaction."""
        ...

    async def delete(self, transfer_id: int) -> None:
        """Forget the transfer with its files, rewritten IDs and missing articles."""
        ...


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


class Queue(Protocol):
    """The daemon's queue: priorities, FIFO within one, retries, leases, pausing."""

    async def enqueue(
        self,
        path: Path,
        *,
        relative: str,
        root: Path | None = None,
        output: Path | None = None,
        priority: int = 0,
        size: int = 0,
        files: int = 0,
    ) -> Job | None:
        """Queue ``path``; None when it is queued or running already, or its last job
        finished (done) with the same size and file count."""
        ...

    async def claim_job(self, *, owner: str, lease: float) -> Job | None:
        """Lease the next job to ``owner`` (None: nothing due, or the queue is paused)."""
        ...

    async def renew_job(self, job_id: int, *, owner: str, lease: float) -> bool: ...

    async def set_job_transfer(self, job_id: int, transfer_id: int, *, owner: str) -> None: ...

    async def end_job(
        self,
        job_id: int,
        *,
        owner: str,
        state: JobState,
        error: str | None = None,
        retry_at: float = 0.0,
        give_back: bool = False,
    ) -> None:
        """``state`` done, failed or queued (a retry at ``retry_at``; ``give_back``: the
        attempt does not count, the daemon stopped the job)."""
        ...

    async def requeue_interrupted(self, *, owner: str) -> list[Job]:
        """Running jobs whose worker is gone (reaped here first) or whose lease ran out
        go back to the queue, their attempt given back; return them. Never ``owner``'s."""
        ...

    async def jobs(self, limit: int = 100) -> tuple[Job, ...]: ...

    async def job(self, job_id: int) -> Job | None: ...

    async def job_counts(self) -> dict[str, int]:
        """Jobs by state."""
        ...

    async def remove_job(self, job_id: int) -> None:
        """Take a queued or failed job off the queue (``UsageError`` otherwise)."""
        ...

    async def retry_job(self, job_id: int) -> None:
        """Queue a failed or removed job again, its attempts reset (``UsageError``
        otherwise)."""
        ...

    async def set_paused(self, paused: bool) -> None: ...

    async def paused(self) -> bool: ...


class Workers(Protocol):
    """The processes that take leases: each registers under its owner and beats a
    heartbeat; the dead are reaped (see ``postie.store.lease``)."""

    def worker(
        self, owner: str, *, name: str, process: Process | None = None
    ) -> AbstractAsyncContextManager[None]:
        """``async with store.worker(owner, name="post")``: register ``owner`` (as this
        process, or ``process``), beat its heartbeat in the background, and on the way
        out release every lease it holds and deregister it."""
        ...

    async def register_worker(
        self, owner: str, *, name: str, process: Process | None = None
    ) -> None: ...

    async def heartbeat(self, owner: str) -> bool:
        """Record that ``owner`` is alive; False when its row is gone (it was reaped)."""
        ...

    async def deregister_worker(self, owner: str) -> int:
        """Release every lease of ``owner`` and delete its row: one transaction. Returns
        the leases released."""
        ...

    async def workers(self) -> tuple[Worker, ...]: ...

    async def reap_workers(self) -> Reaped:
        """Release every lease of the dead workers (``lease.dead_workers``) and delete
        their rows: one transaction (none when no worker is dead)."""
        ...


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
