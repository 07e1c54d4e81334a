"""The process-wide Runtime: one per process, built by the CLI or the daemon.

It owns the connection pools, the WorkerSlots and ByteBudget limiters, the
Par2Scheduler, and the thread pool that reads and encodes articles beside the event
loop, on another core (native threads without the GIL, or sabctools:
``postie.runtime.encoder``). Jobs borrow all of these; none of them is a module-level
singleton. It knows nothing of transfers or
verification: those run on top of it (``postie.transfers``, ``postie.verify``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from types import TracebackType

import msgspec

from postie.config import Config
from postie.nntp.connection import NNTPConnection
from postie.nntp.pool import ConnectionPool, PoolStatistics
from postie.par2.scheduler import Par2Scheduler, Par2Statistics
from postie.runtime.encoder import EncoderStatistics
from postie.runtime.encoder_choice import encode_pool
from postie.runtime.limits import (
    BudgetStatistics,
    ByteBudget,
    SlotStatistics,
    WorkerSlots,
    default_budget,
)
from postie.runtime.memory import tune_allocator

VERIFY = "verify"  # the WorkerSlots group of STAT checks (see Lane.may_prime)


class RuntimeStatistics(msgspec.Struct, frozen=True):
    """A snapshot of everything a Runtime owns."""

    slots: SlotStatistics
    budget: BudgetStatistics
    pools: tuple[PoolStatistics, ...]
    encoder: EncoderStatistics
    verify_slots: SlotStatistics
    verify_pool: PoolStatistics | None  # a dedicated verify server's pool, if any
    par2: Par2Statistics


class Runtime:
    """Owner of every shared resource; use as ``async with Runtime(config) as rt``."""

    def __init__(self, config: Config) -> None:
        config.check_postable()
        tune_allocator()
        self.config = config
        self.upload_pools = tuple(ConnectionPool(s.settings()) for s in config.upload_servers)
        connections = sum(p.max_connections for p in self.upload_pools)
        self.slots = WorkerSlots(connections)
        self.budget = ByteBudget(
            config.limits.buffer_bytes or default_budget(connections, config.posting.article_size)
        )
        self.encoder = encode_pool(config.limits.encode_threads)
        # STAT checks: on a server with role verify when there is one; otherwise on the
        # first upload server, at most ``verify.connections`` at once and each holding a
        # WorkerSlot, so checks never take more than that from posting.
        verifiers = config.verify_servers
        self.verify_pool: ConnectionPool | None = (
            ConnectionPool(verifiers[0].settings()) if verifiers else None
        )
        self.verify_slots = WorkerSlots(
            self.verify_pool.max_connections
            if self.verify_pool is not None
            else min(config.verify.connections, self.upload_pools[0].max_connections)
        )
        self.par2 = Par2Scheduler(config.par2)
        self._closed = False

    @property
    def verify_label(self) -> str:
        pool = self.verify_pool or self.upload_pools[0]
        return pool.label

    @contextlib.asynccontextmanager
    async def verify_connection(self) -> AsyncIterator[NNTPConnection]:
        """A connection for STAT checks (see ``__init__`` for which and how many)."""
        async with self.verify_slots.slot():
            if self.verify_pool is not None:
                async with self.verify_pool.connection() as conn:
                    yield conn
                return
            async with self.slots.slot(VERIFY), self.upload_pools[0].connection() as conn:
                yield conn

    async def __aenter__(self) -> Runtime:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def statistics(self) -> RuntimeStatistics:
        return RuntimeStatistics(
            self.slots.statistics(),
            self.budget.statistics(),
            tuple(p.statistics() for p in self.upload_pools),
            self.encoder.statistics(),
            self.verify_slots.statistics(),
            self.verify_pool.statistics() if self.verify_pool is not None else None,
            self.par2.statistics(),
        )

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            for pool in self.upload_pools:
                await pool.aclose()
            if self.verify_pool is not None:
                await self.verify_pool.aclose()
        finally:
            self.encoder.shutdown()
