"""The store's workers, ``Workers`` (SQLite: ``postie.store.sqlite.workers``)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from postie.store.lease import Process
from postie.store.records import Lease, Reaped, Worker


class Workers(Protocol):
    """The processes that take leases: each registers under its owner and beats a
    heartbeat; the dead are reaped (see ``postie.store.lease``)."""

    def worker(
        self,
        owner: str,
        *,
        name: str,
        process: Process | None = None,
        instance: str | None = None,
    ) -> AbstractAsyncContextManager[None]:
        """``async with store.worker(owner, name="post")``: register ``owner`` (as this
        process, or ``process``; of ``instance``, by default ``lease.default_instance()``),
        beat its heartbeat in the background, and on the way out release every lease it
        holds and deregister it."""
        ...

    async def register_worker(
        self,
        owner: str,
        *,
        name: str,
        process: Process | None = None,
        instance: str | None = None,
    ) -> None:
        """Record ``owner``'s worker row (``instance`` None: ``lease.default_instance()``);
        a row that is there already only gets a heartbeat."""
        ...

    async def heartbeat(self, owner: str) -> bool:
        """Record that ``owner`` is alive; False when its row is gone (it was reaped)."""
        ...

    async def deregister_worker(self, owner: str) -> int:
        """Release every lease of ``owner`` and delete its row: one transaction. Returns
        the leases released."""
        ...

    async def workers(self) -> tuple[Worker, ...]: ...

    async def leases(self) -> tuple[Lease, ...]:
        """Every lease held now (not run out), of every process on the store, with its
        holder's instance (the owner's worker row; None when it has none): jobs and
        transfers one each, scans and missing articles counted per transfer and owner.
        Ordered by kind, then job or transfer id."""
        ...

    async def reap_workers(self) -> Reaped:
        """Release every lease of the dead workers (``lease.dead_workers``) and delete
        their rows: one transaction (none when no worker is dead)."""
        ...
