"""STAT with retries (postie.nntp.stat) over scripted connections: order, batches,
width, retries on a fresh connection with backoff, refusals raised at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable

import pytest

from postie import errors
from postie.nntp import stat
from postie.nntp.stat import StatConnection


class FakeConnection:
    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.broken = False

    async def stat_many(self, message_ids: Iterable[str]) -> list[bool]:
        ids = list(message_ids)
        assert not self.broken, "a connection that failed was used again"
        self.server.batches.append(ids)
        await asyncio.sleep(0)  # let the other workers run
        if self.server.failures:
            error = self.server.failures.pop(0)
            self.broken = True
            raise error
        return [mid in self.server.articles for mid in ids]


class FakeServer:
    """Has ``articles``; each STAT run raises the next of ``failures`` while any is left."""

    def __init__(self, articles: Iterable[str], failures: Iterable[Exception] = ()) -> None:
        self.articles = set(articles)
        self.failures = list(failures)
        self.batches: list[list[str]] = []
        self.connects: list[float] = []
        self.open = 0
        self.most_open = 0
        self.refuse_connects = 0

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[StatConnection]:
        self.connects.append(asyncio.get_running_loop().time())
        if self.refuse_connects:
            self.refuse_connects -= 1
            raise errors.ConnectFailed("test: cannot connect")
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            yield FakeConnection(self)
        finally:
            self.open -= 1


IDS = [f"m{i}@x" for i in range(10)]


async def test_answers_in_order_in_batches_over_width_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stat, "BATCH", 3)
    server = FakeServer(IDS[::2])
    found = await stat.stat_all(server.connect, IDS, width=2)
    assert found == [i % 2 == 0 for i in range(10)]
    assert sorted(map(len, server.batches)) == [1, 3, 3, 3]
    assert sorted(mid for batch in server.batches for mid in batch) == sorted(IDS)
    assert server.most_open == 2
    assert len(server.connects) == 2, "each worker keeps its connection from batch to batch"


async def test_no_wider_than_the_batches() -> None:
    server = FakeServer(IDS)
    assert await stat.stat_all(server.connect, IDS, width=8) == [True] * 10
    assert len(server.connects) == 1


async def test_nothing_to_check_opens_nothing() -> None:
    server = FakeServer(IDS)
    assert await stat.stat_all(server.connect, [], width=4) == []
    assert server.connects == []


async def test_a_stat_error_is_retried_on_a_fresh_connection_with_backoff(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stat, "BACKOFF", 0.05)
    failures = [errors.ServerBusy("403 Internal fault") for _ in range(stat.ATTEMPTS)]
    server = FakeServer(IDS[:3], failures)
    found = await stat.stat_all(server.connect, IDS, width=1)
    assert found == [True] * 3 + [False] * 7
    # the first connection, then ATTEMPTS tries of stat_batch: at once, after BACKOFF,
    # after twice that
    assert len(server.connects) == 1 + stat.ATTEMPTS
    gaps = [b - a for a, b in zip(server.connects[1:], server.connects[2:], strict=False)]
    assert gaps[0] >= 0.045
    assert gaps[1] >= 0.095


async def test_a_connect_failure_is_retried_like_a_stat_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stat, "BACKOFF", 0.0)
    server = FakeServer(IDS[:1])
    server.refuse_connects = 2
    assert (await stat.stat_all(server.connect, IDS, width=1))[:2] == [True, False]
    assert len(server.connects) == 3


async def test_the_last_error_is_raised_after_the_attempts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stat, "BACKOFF", 0.0)
    failures = [errors.ServerBusy(f"403 number {n}") for n in range(10)]
    server = FakeServer(IDS, failures)
    with pytest.raises(errors.ServerBusy, match=f"403 number {stat.ATTEMPTS}"):
        await stat.stat_all(server.connect, IDS, width=1)
    assert len(server.connects) == 1 + stat.ATTEMPTS


async def test_a_refusal_is_raised_at_once_and_stops_the_other_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stat, "BATCH", 2)
    server = FakeServer(IDS, [errors.GiveUp("STAT: 502 no permission")])
    with pytest.raises(errors.GiveUp, match="502"):
        await stat.stat_all(server.connect, IDS, width=3)
    assert len(server.connects) <= 3, "a refusal is not retried"
    assert server.open == 0


async def test_stat_batch_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stat, "BACKOFF", 0.0)
    server = FakeServer(IDS[1:2], [errors.NNTPTimeout("no answer")])
    assert await stat.stat_batch(server.connect, IDS[:3]) == [False, True, False]
    assert len(server.connects) == 2
