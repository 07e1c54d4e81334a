"""Process-wide limiters: WorkerSlots and ByteBudget.

**WorkerSlots** is a counting semaphore sized to the total upload connections.
A posting worker holds one slot while its article is on the wire, so several
jobs running at once share the connections instead of multiplying them.

**ByteBudget** is a weighted FIFO semaphore over bytes of in-flight buffers
(raw read plus encoded article). A reader reserves before it reads and the
reservation is released when the article is acknowledged or given up. FIFO
order means a large request is never starved by a stream of small ones: once a
request waits, later requests queue behind it even if they would fit. A
request larger than the whole budget is clamped to the budget, so it runs
alone instead of deadlocking. Peak buffer memory is thus bounded by the budget
whatever the file sizes or the number of jobs.

Both follow trio's split between deciding and waiting: ``try_acquire`` decides
without waiting, ``acquire`` waits; both expose ``statistics()``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator

import msgspec


class SlotStatistics(msgspec.Struct, frozen=True):
    """A snapshot of a WorkerSlots."""

    total: int
    in_use: int
    waiting: int
    peak_in_use: int


class WorkerSlots:
    """A semaphore over upload connections shared by every job."""

    def __init__(self, total: int) -> None:
        if total < 1:
            raise ValueError("WorkerSlots needs at least one slot")
        self.total = total
        self._in_use = 0
        self._peak = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._groups: dict[asyncio.Future[None], object] = {}  # waiter -> its group
        self._by_group: collections.Counter[object] = collections.Counter()

    def statistics(self) -> SlotStatistics:
        return SlotStatistics(self.total, self._in_use, len(self._waiters), self._peak)

    @property
    def waiting(self) -> int:
        """Tasks waiting for a slot (cheap: no statistics object)."""
        return len(self._waiters)

    def waiting_except(self, group: object) -> int:
        """Tasks waiting for a slot that are not of ``group`` (a job's own surplus
        workers do not count against its lanes: see ``Lane.may_prime``)."""
        return len(self._waiters) - self._by_group[group] if self._by_group else len(self._waiters)

    def try_acquire(self) -> bool:
        if self._in_use < self.total and not self._waiters:
            self._take()
            return True
        return False

    def _take(self) -> None:
        self._in_use += 1
        self._peak = max(self._peak, self._in_use)

    async def acquire(self, group: object = None) -> None:
        """Wait for a slot; ``group`` names whose waiter this is (see ``waiting_except``)."""
        if self.try_acquire():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if group is not None:
            self._groups[waiter] = group
            self._by_group[group] += 1
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed to us; give it back
            elif waiter in self._waiters:  # release() may have dropped it already
                self._waiters.remove(waiter)
            raise
        finally:
            self._forget(waiter)

    def _forget(self, waiter: asyncio.Future[None]) -> None:
        group = self._groups.pop(waiter, None)
        if group is not None:
            self._by_group[group] -= 1
            if not self._by_group[group]:
                del self._by_group[group]

    def release(self) -> None:
        if self._in_use <= 0:
            raise RuntimeError("WorkerSlots released more often than acquired")
        while self._waiters:
            waiter = self._waiters.popleft()
            self._forget(waiter)  # no longer waiting, though its task has not run yet
            if not waiter.done():
                waiter.set_result(None)  # hand the slot over directly: in_use stays
                return
        self._in_use -= 1

    @contextlib.asynccontextmanager
    async def slot(self, group: object = None) -> AsyncIterator[None]:
        await self.acquire(group)
        try:
            yield
        finally:
            self.release()


class BudgetStatistics(msgspec.Struct, frozen=True):
    """A snapshot of a ByteBudget (bytes)."""

    capacity: int
    in_use: int
    waiting: int
    waiting_bytes: int
    peak_in_use: int


class ByteBudget:
    """A weighted FIFO semaphore over in-flight buffer bytes."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("ByteBudget needs a positive capacity")
        self.capacity = capacity
        self._in_use = 0
        self._peak = 0
        self._waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    def statistics(self) -> BudgetStatistics:
        return BudgetStatistics(
            self.capacity,
            self._in_use,
            len(self._waiters),
            sum(n for n, _ in self._waiters),
            self._peak,
        )

    @property
    def waiting(self) -> int:
        """Reservations waiting for bytes."""
        return len(self._waiters)

    def clamp(self, nbytes: int) -> int:
        """The amount actually reserved for a request of ``nbytes``."""
        return max(1, min(nbytes, self.capacity))

    def try_acquire(self, nbytes: int) -> bool:
        n = nbytes if 0 < nbytes <= self.capacity else self.clamp(nbytes)
        if not self._waiters and self._in_use + n <= self.capacity:
            self._in_use += n  # _take, inline: once per article
            if self._in_use > self._peak:
                self._peak = self._in_use
            return True
        return False

    def _take(self, n: int) -> None:
        self._in_use += n
        self._peak = max(self._peak, self._in_use)

    async def acquire(self, nbytes: int) -> int:
        """Reserve ``nbytes`` (clamped); returns the amount to pass to ``release``."""
        n = self.clamp(nbytes)
        if self.try_acquire(n):
            return n
        waiter = asyncio.get_running_loop().create_future()
        entry = (n, waiter)
        self._waiters.append(entry)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(n)
            else:
                if entry in self._waiters:  # _wake() may have dropped it already
                    self._waiters.remove(entry)
                self._wake()
            raise
        return n

    def release(self, n: int) -> None:
        if n > self._in_use:
            raise RuntimeError("ByteBudget released more than reserved")
        self._in_use -= n
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            n, waiter = self._waiters[0]
            if waiter.done():
                self._waiters.popleft()
                continue
            if self._in_use + n > self.capacity:
                return
            self._waiters.popleft()
            self._take(n)
            waiter.set_result(None)

    @contextlib.asynccontextmanager
    async def reserve(self, nbytes: int) -> AsyncIterator[int]:
        n = await self.acquire(nbytes)
        try:
            yield n
        finally:
            self.release(n)


def default_budget(connections: int, article_size: int) -> int:
    """Buffer budget from connections x article size, clamped to 32-256 MiB."""
    encoded = article_size * 2 + article_size // 16  # raw + encoded (yEnc grows ~2%)
    # two articles per connection (the one on the wire and the one a pipelining
    # worker holds ready behind it) and a few read ahead
    want = (2 * connections + 4) * encoded
    return max(32 * 1024 * 1024, min(256 * 1024 * 1024, want))
