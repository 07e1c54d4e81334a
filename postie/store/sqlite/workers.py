"""The SQLite store's workers: registration, heartbeats, reaping the dead.

Which workers are dead is decided by ``lease.dead_workers`` (heartbeat age, and
for this host whether the process still runs); this module records heartbeats
and, for the dead, releases every lease and deletes the row in one transaction.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import aiosqlite

from postie.store.lease import (
    HEARTBEATS_PER_TTL,
    Process,
    dead_workers,
    default_instance,
    heartbeating,
)
from postie.store.records import Lease, Reaped, Worker
from postie.store.rows import lease_row, worker_row
from postie.store.sqlite.base import StoreBase, rows
from postie.store.sqlite.sql import query

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
        async with self._transaction("register this process") as db:
            await db.execute(
                query("register_worker"),
                {
                    "owner": owner,
                    "host": process.host,
                    "pid": process.pid,
                    "process_start": process.start,
                    "name": name,
                    "instance": instance,
                    "now": self.now(),
                },
            )

    async def heartbeat(self, owner: str) -> bool:
        async with self._transaction("record a heartbeat") as db:
            cursor = await db.execute(query("heartbeat"), {"owner": owner, "now": self.now()})
            return cursor.rowcount == 1

    async def deregister_worker(self, owner: str) -> int:
        now = self.now()
        async with self._transaction("release this process's leases") as db:
            released = await self._release(db, owner, now)
            params = {"owner": owner, "gone": True, "stale_before": now}
            async with db.execute(query("delete_worker"), params) as cursor:
                await rows(cursor)  # a RETURNING statement ends when its rows are read
        return released

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
        owners: list[str] = []
        released = 0
        async with self._transaction("take over the leases of ended processes") as db:
            for owner, gone in dead.items():
                params = {"owner": owner, "gone": gone, "stale_before": now - self.worker_ttl}
                async with db.execute(query("delete_worker"), params) as cursor:
                    if not await rows(cursor):
                        continue  # it beat its heartbeat since it was looked at
                owners.append(owner)
                released += await self._release(db, owner, now)
        return Reaped(tuple(owners), released)

    @staticmethod
    async def _release(db: aiosqlite.Connection, owner: str, now: float) -> int:
        released = 0
        for name in _RELEASE:
            cursor = await db.execute(query(name), {"owner": owner, "now": now})
            released += cursor.rowcount
        return released
