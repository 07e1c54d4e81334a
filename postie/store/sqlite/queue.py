"""The SQLite store's queue (the daemon's): jobs, leased to the worker that runs them.

Priorities (higher first), FIFO within a priority, retries at ``next_attempt_at``.
A path is never queued or running twice at once (a partial unique index), and a
path that comes back with the same size and file count as its last finished job
is not queued again (a restarted watcher sees every file anew). Pausing is a
setting every daemon on the store reads before it takes a job.
"""

from __future__ import annotations

from pathlib import Path

import aiosqlite

from postie.errors import UsageError
from postie.store.deferral import deferred_error, unreadable_error
from postie.store.records import ACTIVE_JOBS, Job, JobState
from postie.store.rows import job_row
from postie.store.sqlite.base import one, rows
from postie.store.sqlite.sql import query
from postie.store.sqlite.workers import WorkerQueries


class QueueQueries(WorkerQueries):
    """Queue state changes, each one transaction."""

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
        now = self.now()
        async with self._transaction("queue a job") as db:
            async with db.execute(query("last_job_for_path"), {"path": str(path)}) as cur:
                last = await one(cur)
            if last is not None:
                if last["state"] in ACTIVE_JOBS:
                    return None
                same = (last["size"], last["files"]) == (size, files)
                if last["state"] == JobState.DONE and same:
                    return None
            cursor = await db.execute(
                query("enqueue_job"),
                {
                    "path": str(path),
                    "root": str(root) if root is not None else None,
                    "relative": relative,
                    "output": str(output) if output is not None else None,
                    "priority": priority,
                    "size": size,
                    "files": files,
                    "now": now,
                },
            )
            if cursor.rowcount != 1:
                return None
            async with db.execute(query("get_job"), {"id": cursor.lastrowid}) as cur:
                row = await one(cur)
        return job_row(row) if row is not None else None

    async def claim_job(
        self, *, owner: str, lease: float, instance: str | None = None
    ) -> Job | None:
        """Lease the next job to ``owner`` (None: nothing due, or the queue is paused),
        skipping the jobs ``instance`` deferred."""
        now = self.now()
        taken = await self._returning(
            "claim_job",
            "take a job",
            owner=owner,
            expires=now + lease,
            now=now,
            instance=instance,
        )
        return job_row(taken[0]) if taken else None

    async def defer_job(
        self, job_id: int, *, owner: str, instance: str, reason: str, until: float
    ) -> Job | None:
        """Record that ``instance`` cannot read the job's path; back to the queue for the
        other instances, or failed when no live daemon instance is left (``deferral``)."""
        await self.reap_workers()  # a daemon that ended is not one to leave the job to
        now = self.now()
        params = {"id": job_id, "owner": owner, "now": now}
        async with self._transaction("defer a job") as db:
            cursor = await db.execute(
                query("defer_job"),
                {**params, "instance": instance, "reason": reason, "until": until},
            )
            if cursor.rowcount != 1:
                return None
            async with db.execute(query("get_job"), {"id": job_id}) as cur:
                job = await one(cur)
            assert job is not None
            path = str(job["path"])
            stale_before = now - self.worker_ttl
            async with db.execute(
                query("undeferred_daemons"), {**params, "stale_before": stale_before}
            ) as cur:
                left = await one(cur)
            if left is not None and int(left["n"]) > 0:
                state, give_back = JobState.QUEUED, 1
                error = deferred_error(instance, path, reason)
            else:
                async with db.execute(query("job_deferrals"), params) as cur:
                    by = [(str(r["instance"]), str(r["reason"])) for r in await rows(cur)]
                await db.execute(query("clear_deferrals"), params)
                state, give_back = JobState.FAILED, 0
                error = unreadable_error(path, by)
            end = {"state": state, "error": error, "give_back": give_back, "next_attempt_at": 0.0}
            await db.execute(query("end_job"), {**params, **end})
            async with db.execute(query("get_job"), {"id": job_id}) as cur:
                after = await one(cur)
        return job_row(after) if after is not None else None

    async def renew_job(self, job_id: int, *, owner: str, lease: float) -> bool:
        now = self.now()
        async with self._transaction("renew a job") as db:
            cursor = await db.execute(
                query("renew_job"),
                {"id": job_id, "owner": owner, "expires": now + lease, "now": now},
            )
            return cursor.rowcount == 1

    async def set_job_transfer(self, job_id: int, transfer_id: int, *, owner: str) -> None:
        async with self._transaction("record a job's transfer") as db:
            await db.execute(
                query("set_job_transfer"),
                {"id": job_id, "owner": owner, "transfer_id": transfer_id, "now": self.now()},
            )

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
        async with self._transaction("end a job") as db:
            await db.execute(
                query("end_job"),
                {
                    "id": job_id,
                    "owner": owner,
                    "state": state,
                    "error": error,
                    "next_attempt_at": retry_at,
                    "give_back": 1 if give_back else 0,
                    "now": self.now(),
                },
            )

    async def requeue_interrupted(self, *, owner: str) -> list[Job]:
        await self.reap_workers()  # their running jobs are held by nobody now
        back = await self._returning(
            "requeue_interrupted", "queue interrupted jobs again", owner=owner, now=self.now()
        )
        return sorted((job_row(r) for r in back), key=lambda job: job.id)

    async def jobs(self, limit: int = 100) -> tuple[Job, ...]:
        rows = await self._fetch("list_jobs", "list jobs", limit=limit)
        return tuple(job_row(r) for r in rows)

    async def job(self, job_id: int) -> Job | None:
        rows = await self._fetch("get_job", "read a job", id=job_id)
        return job_row(rows[0]) if rows else None

    async def job_counts(self) -> dict[str, int]:
        rows = await self._fetch("job_counts", "count jobs")
        return {str(r["state"]): int(r["n"]) for r in rows}

    async def remove_job(self, job_id: int) -> None:
        """Take a queued or failed job off the queue."""
        async with self._transaction("remove a job") as db:
            cursor = await db.execute(query("remove_job"), {"id": job_id, "now": self.now()})
            if cursor.rowcount == 1:
                return
            state = await _state(db, job_id)
        raise UsageError(
            f"no job {job_id}"
            if state is None
            else f"job {job_id} is {state}: only queued or failed jobs can be removed"
        )

    async def retry_job(self, job_id: int) -> None:
        """Queue a failed or removed job again, its attempts reset; a deferred queued job is
        left to every instance again. Its deferrals are cleared either way."""
        async with self._transaction("retry a job") as db:
            cleared = await db.execute(query("clear_deferrals"), {"id": job_id})
            cursor = await db.execute(query("retry_job"), {"id": job_id, "now": self.now()})
            if cursor.rowcount == 1:
                return
            state = await _state(db, job_id)
            if state == JobState.QUEUED and cleared.rowcount > 0:
                return  # its deferrals were what kept it from some instances
        raise UsageError(
            f"no job {job_id}"
            if state is None
            else f"job {job_id} is {state}: only failed, removed or deferred jobs can be"
            " retried, and only when their path is not queued or running in another job"
        )

    async def set_paused(self, paused: bool) -> None:
        async with self._transaction("pause the queue") as db:
            await db.execute(
                query("set_setting"), {"key": "paused", "value": "1" if paused else "0"}
            )

    async def paused(self) -> bool:
        rows = await self._fetch("get_setting", "read the queue settings", key="paused")
        return bool(rows) and rows[0]["value"] == "1"


async def _state(db: aiosqlite.Connection, job_id: int) -> str | None:
    async with db.execute(query("get_job"), {"id": job_id}) as cur:
        row = await one(cur)
    return str(row["state"]) if row is not None else None
