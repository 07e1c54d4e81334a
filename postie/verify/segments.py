"""STAT every segment of an NZB: which articles does a server not have?

Works for any NZB, also one postie did not write. The Message-IDs are STATed
in pipelined batches (``NNTPConnection.stat_many``), each batch on one
connection, over as many connections of the pool as there are batches.
A connection error retries the batch on a fresh connection (with backoff); a
server that refuses (login, no permission) ends the check with its reply.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from postie import errors
from postie.nntp.pool import ConnectionPool
from postie.nzb import Nzb

BATCH = 500
ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class MissingSegment:
    file: int  # 1-based, the order of the NZB
    subject: str
    number: int
    message_id: str


@dataclass(frozen=True)
class SegmentCheck:
    server: str
    files: int
    checked: int
    missing: tuple[MissingSegment, ...]
    elapsed: float

    @property
    def complete(self) -> bool:
        return not self.missing


async def check_segments(pool: ConnectionPool, document: Nzb) -> SegmentCheck:
    """STAT every segment of ``document`` on ``pool``'s server."""
    started = time.monotonic()
    items = [
        MissingSegment(index, f.subject, s.number, s.message_id)
        for index, f in enumerate(document.files, start=1)
        for s in f.segments
    ]
    batches = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
    missing: list[MissingSegment] = []

    async def worker() -> None:
        while batches:
            batch = batches.pop()
            found = await _stat_batch(pool, [m.message_id for m in batch])
            missing.extend(m for m, there in zip(batch, found, strict=True) if not there)

    workers = [
        asyncio.create_task(worker()) for _ in range(min(pool.max_connections, len(batches)))
    ]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    missing.sort(key=lambda m: (m.file, m.number))
    return SegmentCheck(
        pool.label, len(document.files), len(items), tuple(missing), time.monotonic() - started
    )


async def _stat_batch(pool: ConnectionPool, ids: list[str]) -> list[bool]:
    last: errors.RetryableError | None = None
    for attempt in range(ATTEMPTS):
        try:
            async with pool.connection() as conn:
                return await conn.stat_many(ids)
        except errors.RetryableError as exc:
            last = exc
            await asyncio.sleep(0.5 * 2**attempt)
    assert last is not None
    raise last
