"""The PostgreSQL store's queue (the daemons'): jobs, leased to the worker that runs
them.

The same behaviour as the SQLite store's (``postie.store.sqlite.queue``); a job claim
skips the jobs other instances are taking at the same moment (``FOR UPDATE SKIP
LOCKED``), so daemons on several machines drain one queue without waiting for each
other and never take the same job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from postie.errors import UsageError
from postie.store.deferral import deferred_error, unreadable_error
from postie.store.postgres.base import execute, fetch
from postie.store.postgres.sql import Conn
from postie.store.postgres.workers import WorkerQueries
from postie.store.records import ACTIVE_JOBS, Job, JobState
from postie.store.rows import job_row


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
        async def work(conn: Conn) -> list[dict[str, Any]]:
            now = self.now()
            found = await fetch(conn, "last_job_for_path", path=str(path))
            if found:
                last = found[0]
                if last["state"] in ACTIVE_JOBS:
                    return []  # (a run whose answer was lost queued it: it is queued)
                same = (last["size"], last["files"]) == (size, files)
                if last["state"] == JobState.DONE and same:
                    return []
            return await fetch(
                conn,
                "enqueue_job",
                path=str(path),
                root=str(root) if root is not None else None,
                relative=relative,
                output=str(output) if output is not None else None,
                priority=priority,
                size=size,
                files=files,
                now=now,
            )

        added = await self._atomic("queue a job", work)
        return job_row(added[0]) if added else None

    async def claim_job(
        self, *, owner: str, lease: float, instance: str | None = None
    ) -> Job | None:
        tried: list[float] = []  # the clock of each run: a run that did commit left it

        async def work(conn: Conn) -> list[dict[str, Any]]:
            now = self.now()
            tried.append(now)
            return await fetch(
                conn, "claim_job", owner=owner, expires=now + lease, now=now, instance=instance
            )

        async def recheck(conn: Conn) -> list[dict[str, Any]] | None:
            return await fetch(conn, "claimed_job", owner=owner, times=tried) or None

        taken = await self._atomic("take a job", work, recheck=recheck)
        return job_row(taken[0]) if taken else None

    async def defer_job(
        self, job_id: int, *, owner: str, instance: str, reason: str, until: float
    ) -> Job | None:
        await self.reap_workers()  # a daemon that ended is not one to leave the job to

        # run again after a lost answer: a run that did commit gave the job back (or
        # failed it), so the second finds it not held by ``owner`` and returns None
        async def work(conn: Conn) -> list[dict[str, Any]]:
            now = self.now()
            params: dict[str, Any] = {"id": job_id, "owner": owner, "now": now}
            if not await fetch(
                conn, "defer_job", **params, instance=instance, reason=reason, until=until
            ):
                return []
            job = (await fetch(conn, "get_job", id=job_id))[0]
            path = str(job["path"])
            stale_before = now - self.worker_ttl
            left = await fetch(conn, "undeferred_daemons", **params, stale_before=stale_before)
            if left and int(left[0]["n"]) > 0:
                state, give_back = JobState.QUEUED, 1
                error = deferred_error(instance, path, reason)
            else:
                by = [
                    (str(r["instance"]), str(r["reason"]))
                    for r in await fetch(conn, "job_deferrals", **params)
                ]
                await fetch(conn, "clear_deferrals", id=job_id)
                state, give_back = JobState.FAILED, 0
                error = unreadable_error(path, by)
            await execute(
                conn,
                "end_job",
                **params,
                state=state,
                error=error,
                next_attempt_at=0.0,
                give_back=give_back,
            )
            return await fetch(conn, "get_job", id=job_id)

        after = await self._atomic("defer a job", work)
        return job_row(after[0]) if after else None

    async def renew_job(self, job_id: int, *, owner: str, lease: float) -> bool:
        async def work(conn: Conn) -> bool:
            now = self.now()
            return bool(
                await fetch(conn, "renew_job", id=job_id, owner=owner, expires=now + lease, now=now)
            )

        return await self._atomic("renew a job", work)

    async def set_job_transfer(self, job_id: int, transfer_id: int, *, owner: str) -> None:
        async def work(conn: Conn) -> None:
            await execute(
                conn,
                "set_job_transfer",
                id=job_id,
                owner=owner,
                transfer_id=transfer_id,
                now=self.now(),
            )

        await self._atomic("record a job's transfer", work)

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
        async def work(conn: Conn) -> None:
            await execute(
                conn,
                "end_job",
                id=job_id,
                owner=owner,
                state=state,
                error=error,
                next_attempt_at=float(retry_at),
                give_back=1 if give_back else 0,
                now=self.now(),
            )

        await self._atomic("end a job", work)

    async def requeue_interrupted(self, *, owner: str) -> list[Job]:
        await self.reap_workers()  # their running jobs are held by nobody now
        back = await self._atomic(
            "queue interrupted jobs again",
            lambda conn: fetch(conn, "requeue_interrupted", owner=owner, now=self.now()),
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
        async def work(conn: Conn) -> tuple[bool, str | None]:
            if await fetch(conn, "remove_job", id=job_id, now=self.now()):
                return True, None
            return False, await _state(conn, job_id)

        done, state = await self._atomic("remove a job", work)
        if done:
            return
        raise UsageError(
            f"no job {job_id}"
            if state is None
            else f"job {job_id} is {state}: only queued or failed jobs can be removed"
        )

    async def retry_job(self, job_id: int) -> None:
        tried: list[float] = []  # the clock of each run: a run that did commit left it

        async def work(conn: Conn) -> tuple[bool, str | None]:
            now = self.now()
            tried.append(now)
            cleared = await fetch(conn, "clear_deferrals", id=job_id)
            if await fetch(conn, "retry_job", id=job_id, now=now):
                return True, None
            state = await _state(conn, job_id)
            # a queued job whose deferrals were what kept it from some instances
            return state == JobState.QUEUED and bool(cleared), state

        async def recheck(conn: Conn) -> tuple[bool, str | None] | None:
            found = await fetch(conn, "retried_job", id=job_id, times=tried)
            return (True, None) if found else None

        done, state = await self._atomic("retry a job", work, recheck=recheck)
        if done:
            return
        raise UsageError(
            f"no job {job_id}"
            if state is None
            else f"job {job_id} is {state}: only failed, removed or deferred jobs can be"
            " retried, and only when their path is not queued or running in another job"
        )

    async def set_paused(self, paused: bool) -> None:
        async def work(conn: Conn) -> None:
            await execute(conn, "set_setting", key="paused", value="1" if paused else "0")

        await self._atomic("pause the queue", work)

    async def paused(self) -> bool:
        rows = await self._fetch("get_setting", "read the queue settings", key="paused")
        return bool(rows) and rows[0]["value"] == "1"


async def _state(conn: Conn, job_id: int) -> str | None:
    rows = await fetch(conn, "get_job", id=job_id)
    return str(rows[0]["state"]) if rows else None
