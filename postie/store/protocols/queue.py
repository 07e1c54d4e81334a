"""The store's queue side, ``Queue`` (SQLite: ``postie.store.sqlite.queue``)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from postie.store.records import Job, JobState


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

    async def claim_job(
        self, *, owner: str, lease: float, instance: str | None = None
    ) -> Job | None:
        """Lease the next job to ``owner`` (None: nothing due, or the queue is paused),
        skipping the jobs ``instance`` deferred (``defer_job``) until their deferral runs
        out."""
        ...

    async def defer_job(
        self, job_id: int, *, owner: str, instance: str, reason: str, until: float
    ) -> Job | None:
        """``owner`` (of ``instance``) holds the job but cannot read its path (``reason``,
        e.g. the OS error): record the deferral, which ``instance``'s claims honour until
        ``until`` (or a retry), and give the job back to the queue (its attempt given back)
        for the other instances. When no live daemon worker (``name="daemon"``, heartbeat
        within the TTL) is left that has not deferred it, the job fails instead, its error
        naming the path and every instance that could not read it (``deferral``). One
        transaction; the job as it is now (None: ``owner`` does not hold it)."""
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
        """Queue a failed or removed job again, its attempts reset; a queued job that
        instances deferred is left to every instance again. Clears the job's deferrals
        either way (``UsageError`` when there is nothing to do)."""
        ...

    async def set_paused(self, paused: bool) -> None: ...

    async def paused(self) -> bool: ...
