"""The PostgreSQL store when its server goes away (``base``'s statement layer): a
statement waits for it and goes on, one warning and one line when it is back; a write
whose answer was lost after its COMMIT is not done twice; past ``reconnect_timeout``
one ``StoreUnreachable`` saying to run the same command again.

The server is reached through a relay the test cuts (``tests.relay``), never disturbed
itself. (A post, the daemon and a too-long cut end to end:
tests/integration/test_postgres_lost.py.)"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from postie.errors import StoreUnreachable
from postie.store.postgres import PostgresStore
from tests import postgres
from tests.integration.test_postgres_lost import through
from tests.relay import Relay
from tests.unit.store.helpers import new_transfer

LOST = "lost the database"
BACK = "is back after"


@pytest.fixture
def relay() -> Iterator[Relay]:
    postgres.require()
    host, port = postgres.address()
    r = Relay(host, port)
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def url(relay: Relay) -> Iterator[str]:
    with postgres.fresh() as url:
        yield through(url, relay)


def said(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in r.getMessage() for r in caplog.records)


class LosingPool:
    """A pool (wrapping asyncpg's) whose first connection given back after a committed
    transaction raises as a connection lost: the statement's outcome is unknown to the
    caller, as when the server went away while COMMIT's answer was on the wire."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.lost = False

    def acquire(self) -> _Acquired:
        return _Acquired(self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pool, name)


class _Acquired:
    def __init__(self, owner: LosingPool) -> None:
        self.owner = owner
        self.conn: Any = None

    async def __aenter__(self) -> Any:
        self.conn = await self.owner.pool.acquire()
        return self.conn

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        await self.owner.pool.release(self.conn)
        if exc is None and not self.owner.lost:
            self.owner.lost = True
            raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle")


def lose_one_answer(store: PostgresStore) -> None:
    store._pool = LosingPool(store.pool)  # type: ignore[assignment]


async def test_a_statement_waits_for_the_server_and_goes_on(
    url: str, relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with PostgresStore(url, reconnect_timeout=30) as store:
        assert await store.jobs() == ()
        relay.cut(1.5)
        started = time.monotonic()
        assert await store.jobs() == ()
        assert await store.paused() is False
        assert time.monotonic() - started > 1.0
    assert relay.cuts
    assert said(caplog, LOST) == 1
    assert said(caplog, BACK) == 1


async def test_many_statements_waiting_say_it_once(
    url: str, relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with PostgresStore(url, reconnect_timeout=30) as store:
        await store.jobs()
        relay.cut(1.0)
        await asyncio.gather(*(store.job_counts() for _ in range(8)), store.heartbeat("x"))
    assert said(caplog, LOST) == 1
    assert said(caplog, BACK) == 1


async def test_past_the_bound_it_is_one_error_saying_what_to_run(
    url: str, relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    async with PostgresStore(url, reconnect_timeout=0.5) as store:
        relay.cut(5)
        with pytest.raises(StoreUnreachable) as caught:
            await store.jobs()
        # the command is ending: a later statement does not wait again
        started = time.monotonic()
        with pytest.raises(StoreUnreachable):
            await store.job_counts()
        assert time.monotonic() - started < 0.5
        relay.cut(0)
    message = str(caught.value)
    assert "has been away for more than 0.5 s (store.reconnect_timeout" in message
    assert "run the same command again" in message
    assert "postie-secret" not in message
    assert said(caplog, LOST) == 1


async def test_a_new_transfer_whose_answer_was_lost_is_made_once(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with PostgresStore(url) as store:
        lose_one_answer(store)
        made = await store.create(new_transfer(), owner="me", lease=60)
        (only,) = await store.summaries()
        assert only.transfer.id == made
        assert len(await store.files(made)) == len(new_transfer().files)
    assert said(caplog, LOST) == 1


async def test_a_job_claim_whose_answer_was_lost_gives_the_job_it_took(
    url: str, tmp_path: Path
) -> None:
    async with PostgresStore(url) as store:
        for name in ("a", "b"):
            await store.enqueue(tmp_path / name, relative=name)
        lose_one_answer(store)
        first = await store.claim_job(owner="me", lease=60)
        assert first is not None
        assert first.path == tmp_path / "a"
        second = await store.claim_job(owner="me", lease=60)
        assert second is not None
        assert second.path == tmp_path / "b"
        assert await store.claim_job(owner="me", lease=60) is None


async def test_a_retry_whose_answer_was_lost_is_not_refused(url: str, tmp_path: Path) -> None:
    """``postie queue retry`` whose COMMIT answer was lost: run again, it would find the
    job queued and refuse it; the recheck finds that the first run did it."""
    async with PostgresStore(url) as store:
        job = await store.enqueue(tmp_path / "a", relative="a")
        assert job is not None
        await store.remove_job(job.id)
        lose_one_answer(store)
        await store.retry_job(job.id)
        (again,) = [j for j in await store.jobs() if j.id == job.id]
        assert again.state == "queued"
