"""STAT many Message-IDs: pipelined batches over several connections at once.

The one home of STAT-with-retry: the verification service, ``postie verify NZB``
and a resumed transfer's check of what an interrupted run may have posted all
call it, each with its own ``connect`` (a context manager giving a connection,
holding whatever slot the caller needs with it).

Each batch of ``BATCH`` IDs goes to one connection as one pipelined run of STAT
commands (``NNTPConnection.stat_many``); ``width`` workers take batches in turn,
each keeping its connection (and whatever slot ``connect`` holds with it) from
one batch to the next rather than queueing again for each: posting lanes that
share the slots then make way once per check, not once per batch. A connection
error retries the batch on a fresh connection with backoff; after ``ATTEMPTS``
the error is raised (a STAT error says nothing about the articles, so callers
spend no budget on it). A refusal (no permission, login) is raised at once with
the server's reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from postie import errors

BATCH = 500
ATTEMPTS = 3
BACKOFF = 0.5


class StatConnection(Protocol):
    """What STAT needs of a connection (``NNTPConnection`` is one)."""

    async def stat_many(self, message_ids: Iterable[str]) -> list[bool]: ...


Connect = Callable[[], AbstractAsyncContextManager[StatConnection]]


async def stat_all(connect: Connect, ids: Sequence[str], *, width: int) -> list[bool]:
    """Whether the server has each article of ``ids`` (in order)."""
    found: list[bool] = [False] * len(ids)
    starts = list(range(0, len(ids), BATCH))
    starts.reverse()

    async def worker() -> None:
        while starts:
            try:
                async with connect() as conn:
                    while starts:
                        start = starts.pop()
                        batch = ids[start : start + BATCH]
                        try:
                            found[start : start + len(batch)] = await conn.stat_many(batch)
                        except errors.RetryableError:
                            starts.append(start)  # retried below, on a fresh connection
                            raise
            except errors.RetryableError:
                if not starts:
                    return  # another worker took what was left
                start = starts.pop()
                batch = ids[start : start + BATCH]
                found[start : start + len(batch)] = await stat_batch(connect, batch)

    workers = [asyncio.create_task(worker()) for _ in range(min(width, len(starts)))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return found


async def stat_batch(connect: Connect, ids: Sequence[str]) -> list[bool]:
    """``ids`` on one connection at a time: up to ``ATTEMPTS`` tries, backing off."""
    last: errors.RetryableError | None = None
    for attempt in range(ATTEMPTS):
        if attempt:
            await asyncio.sleep(BACKOFF * 2 ** (attempt - 1))
        try:
            async with connect() as conn:
                return await conn.stat_many(ids)
        except errors.RetryableError as exc:
            last = exc
    assert last is not None
    raise last
