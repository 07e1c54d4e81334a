"""The process-wide Runtime: one per process, built by the CLI or the daemon.

It owns the connection pools, the WorkerSlots and ByteBudget limiters and the
thread pool that reads and encodes articles (sabctools releases the GIL, so
encoding runs beside the event loop on another core). Jobs borrow all of these;
none of them is a module-level singleton.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from postie.config import Config
from postie.nntp.pool import ConnectionPool, PoolStatistics
from postie.runtime.encoder import EncodePool, EncoderStatistics
from postie.runtime.limits import (
    BudgetStatistics,
    ByteBudget,
    SlotStatistics,
    WorkerSlots,
    default_budget,
)
from postie.runtime.memory import tune_allocator


@dataclass(frozen=True, slots=True)
class RuntimeStatistics:
    slots: SlotStatistics
    budget: BudgetStatistics
    pools: tuple[PoolStatistics, ...]
    encoder: EncoderStatistics


class Runtime:
    """Owner of every shared resource; use as ``async with Runtime(config) as rt``."""

    def __init__(self, config: Config) -> None:
        config.check_postable()
        tune_allocator()
        self.config = config
        self.upload_pools = tuple(ConnectionPool(s) for s in config.upload_servers)
        connections = sum(p.max_connections for p in self.upload_pools)
        self.slots = WorkerSlots(connections)
        self.budget = ByteBudget(
            config.limits.buffer_bytes or default_budget(connections, config.posting.article_size)
        )
        self.encoder = EncodePool(config.limits.encode_threads)
        self._closed = False

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
        )

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            for pool in self.upload_pools:
                await pool.aclose()
        finally:
            self.encoder.shutdown()
