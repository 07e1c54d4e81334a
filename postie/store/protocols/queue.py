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
