"""The PostgreSQL store's workers: registration, heartbeats, reaping the dead.

As in the SQLite store (``postie.store.lease`` decides who is dead). With instances
on several hosts, a worker of another host is dead only by its heartbeat, which is on
the database server's clock like every other time here; each heartbeat also keeps the
store's clock on the server's (see ``base``).
"""

from __future__ import annotations

import time
from contextlib import AbstractAsyncContextManager

from postie.store.lease import (
    HEARTBEATS_PER_TTL,
    Process,
    dead_workers,
    default_instance,
    heartbeating,
)
from postie.store.postgres.base import StoreBase, execute, fetch
from postie.store.postgres.sql import Conn
from postie.store.records import Lease, Reaped, Worker
from postie.store.rows import lease_row, worker_row

# every lease one owner can hold, one statement per table (see queries.sql)
_RELEASE = (
    "release_owner_transfers",
    "release_owner_checks",
    "release_owner_failures",
    "release_owner_jobs",
)


class WorkerQueries(StoreBase):
    """Worker rows and the leases that go with them."""

    def worker(
        self,
        owner: str,
        *,
        name: str,
        process: Process | None = None,
        instance: str | None = None,
    ) -> AbstractAsyncContextManager[None]:
        interval = self.worker_ttl / HEARTBEATS_PER_TTL
        return heartbeating(
            self, owner, name=name, process=process, instance=instance, interval=interval
        )

    async def register_worker(
        self,
        owner: str,
        *,
        name: str,
        process: Process | None = None,
        instance: str | None = None,
    ) -> None:
        process = process or Process.current()
        instance = instance or default_instance()

        async def work(conn: Conn) -> None:
            await execute(
                conn,
                "register_worker",
                owner=owner,
                host=process.host,
                pid=process.pid,
                process_start=process.start,
                name=name,
                instance=instance,
                now=self.now(),
            )

        await self._atomic("register this process", work)

    async def heartbeat(self, owner: str) -> bool:
        async def work(conn: Conn) -> bool:
            before = time.monotonic()
            beat = await fetch(conn, "heartbeat", owner=owner, now=self.now())
            after = time.monotonic()
            if beat:
                self._follow(float(beat[0]["server_now"]), before, after)
            return bool(beat)

        return await self._atomic("record a heartbeat", work)

    async def deregister_worker(self, owner: str) -> int:
        async def work(conn: Conn) -> int:
            now = self.now()
            released = await self._release(conn, owner, now)
            await fetch(conn, "delete_worker", owner=owner, gone=True, stale_before=now)
            return released

        return await self._atomic("release this process's leases", work)

    async def workers(self) -> tuple[Worker, ...]:
        return tuple(worker_row(r) for r in await self._fetch("list_workers", "read the workers"))

    async def leases(self) -> tuple[Lease, ...]:
        rows = await self._fetch("leases", "read who holds the leases", now=self.now())
        return tuple(lease_row(r) for r in rows)

    async def reap_workers(self) -> Reaped:
        now = self.now()
        dead = dead_workers(await self.workers(), now=now, ttl=self.worker_ttl)
        if not dead:
            return Reaped((), 0)

        async def work(conn: Conn) -> Reaped:
            now = self.now()
            owners: list[str] = []
            released = 0
            for owner, gone in dead.items():
                stale_before = now - self.worker_ttl
                if not await fetch(
                    conn, "delete_worker", owner=owner, gone=gone, stale_before=stale_before
                ):
                    continue  # it beat its heartbeat since it was looked at (or another reaped it)
                owners.append(owner)
                released += await self._release(conn, owner, now)
            return Reaped(tuple(owners), released)

        return await self._atomic("take over the leases of ended processes", work)

    @staticmethod
    async def _release(conn: Conn, owner: str, now: float) -> int:
        released = 0
        for name in _RELEASE:
            released += len(await fetch(conn, name, owner=owner, now=now))
        return released
