"""The connection pool against the fault-injecting server: limits, idle expiry, backoff."""

from __future__ import annotations

import asyncio
import socket

import pytest

from postie import errors
from postie.config import parse_config
from postie.nntp import pool as pool_module
from postie.nntp.pool import ConnectionPool
from postie.nntp.settings import ServerSettings
from postie.testing import Close, Expect, FaultyNNTPServer


def server_settings(port: int, **fields: object) -> ServerSettings:
    data = {"host": "127.0.0.1", "port": port, "max_connections": 2, **fields}
    return parse_config({"servers": [data]}).servers[0].settings()


async def test_reuses_connections_and_never_exceeds_the_maximum() -> None:
    async with FaultyNNTPServer() as server, ConnectionPool(server_settings(server.port)) as pool:

        async def use() -> None:
            async with pool.connection() as conn:
                assert await conn.stat("<nope@x>") is False
                await asyncio.sleep(0.01)

        await asyncio.gather(*(use() for _ in range(20)))
        stats = pool.statistics()
        assert stats.connects == 2
        assert stats.open == 2
        assert stats.in_use == 0
    assert server.statistics().connections_opened == 2
    assert server.statistics().max_concurrent_connections == 2


async def test_idle_connections_expire() -> None:
    async with FaultyNNTPServer() as server:
        cfg = server_settings(server.port, idle_timeout=0.05)
        async with ConnectionPool(cfg) as pool:
            async with pool.connection():
                pass
            await asyncio.sleep(0.1)
            async with pool.connection():
                pass
            assert pool.statistics().connects == 2
        assert server.statistics().connections_opened == 2


async def test_broken_connection_is_discarded_not_reused() -> None:
    async with FaultyNNTPServer() as server, ConnectionPool(server_settings(server.port)) as pool:
        conn = await pool.acquire()
        conn.broken = True
        pool.release(conn)
        async with pool.connection() as fresh:
            assert fresh is not conn
        assert pool.statistics().discarded == 1


@pytest.fixture
def delays(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pool's backoff sleeps, recorded and not slept."""
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(pool_module, "_sleep", fake_sleep)
    return slept


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_connect_failures_that_can_pass_back_off_then_give_up(delays: list[float]) -> None:
    # a server that hangs up before its greeting (busy, say): worth retrying
    async with (
        FaultyNNTPServer(script=[Close()]) as server,
        ConnectionPool(server_settings(server.port, connect_retries=3)) as pool,
    ):
        with pytest.raises(
            errors.ServerUnreachable,
            match=r"closed the connection before its greeting \(after 4 attempts\)$",
        ):
            await pool.acquire()
        assert delays == [0.5, 1.0, 2.0]
        assert pool.statistics().connect_failures == 4
        assert pool.statistics().open == 0


async def test_backoff_is_per_acquire_not_pushed_up_by_other_workers(delays: list[float]) -> None:
    """Eight workers failing together each back off 0.5, 1, 2 s: not 30 s because the
    others failed too (that made a refused job take 90 s)."""
    async with FaultyNNTPServer(script=[Close()]) as server:
        settings = server_settings(server.port, connect_retries=3, max_connections=8)
        async with ConnectionPool(settings) as pool:
            failed = await asyncio.gather(
                *(pool.acquire() for _ in range(8)), return_exceptions=True
            )
    assert all(isinstance(exc, errors.ServerUnreachable) for exc in failed)
    assert sorted(delays) == sorted([0.5, 1.0, 2.0] * 8)


async def test_refused_by_a_server_never_reached_is_not_retried(delays: list[float]) -> None:
    port = free_port()
    async with ConnectionPool(server_settings(port, connect_retries=3)) as pool:
        with pytest.raises(errors.ServerNotAnswering) as caught:
            await pool.acquire()
        assert str(caught.value) == f"connection refused: nothing listens on 127.0.0.1:{port}"
        assert delays == []
        assert pool.statistics().connect_failures == 1


async def test_unresolvable_name_is_not_retried(delays: list[float]) -> None:
    settings = parse_config(
        {"servers": [{"host": "no-such-host.invalid", "connect_retries": 3}]}
    ).servers[0]
    async with ConnectionPool(settings.settings()) as pool:
        with pytest.raises(
            errors.ServerUnreachable, match=r"^cannot resolve no-such-host\.invalid: "
        ):
            await pool.acquire()
    assert delays == []


async def test_server_that_never_greets_is_not_retried(delays: list[float]) -> None:
    async with FaultyNNTPServer(script=[Expect("line")]) as server:
        settings = server_settings(server.port, timeouts={"connect": 0.2}, connect_retries=3)
        async with ConnectionPool(settings) as pool:
            with pytest.raises(errors.ServerNotAnswering) as caught:
                await pool.acquire()
    assert str(caught.value) == (
        f"no greeting from 127.0.0.1:{server.port} within 0.2s: is this a TLS port? try --ssl"
    )
    assert delays == []
    assert len(server.transcripts) == 1


async def test_reconnects_when_the_server_comes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server this pool reached before that now refuses is restarting: retried."""
    port = free_port()
    delays: list[float] = []
    back = FaultyNNTPServer(port=port)

    async def sleep(delay: float) -> None:
        delays.append(delay)
        if len(delays) == 2:  # refused twice: now the server is back
            await back.start()

    monkeypatch.setattr(pool_module, "_sleep", sleep)
    async with ConnectionPool(server_settings(port, connect_retries=10)) as pool:
        async with FaultyNNTPServer(port=port), pool.connection() as conn:
            conn.broken = True  # not kept: the next acquire connects again
        try:
            conn = await asyncio.wait_for(pool.acquire(), 10)
            assert conn.greeting is not None
            pool.release(conn)
        finally:
            await back.aclose()
        assert delays == [0.5, 1.0]
        assert pool.statistics().connect_failures == 2
        assert pool.statistics().connects == 2


async def test_a_server_reached_before_gives_up_after_its_retries(delays: list[float]) -> None:
    port = free_port()
    async with ConnectionPool(server_settings(port, connect_retries=2)) as pool:
        async with FaultyNNTPServer(port=port), pool.connection() as conn:
            conn.broken = True
        with pytest.raises(errors.ServerUnreachable) as caught:
            await pool.acquire()
    assert str(caught.value) == (
        f"connection refused: nothing listens on 127.0.0.1:{port} (after 3 attempts)"
    )
    assert delays == [0.5, 1.0]


async def test_wrong_password_is_not_retried() -> None:
    async with FaultyNNTPServer(username="u", password="p") as server:
        cfg = server_settings(server.port, username="u", password="bad")
        async with ConnectionPool(cfg) as pool:
            with pytest.raises(errors.AuthenticationFailed, match="481"):
                await pool.acquire()
        assert server.statistics().connections_opened == 1


async def test_closed_pool_refuses() -> None:
    async with FaultyNNTPServer() as server:
        pool = ConnectionPool(server_settings(server.port))
        await pool.aclose()
        with pytest.raises(errors.Stopped):
            await pool.acquire()


async def test_mode_reader_auto_follows_the_greeting() -> None:
    async with FaultyNNTPServer(transit_mode=True) as transit, FaultyNNTPServer() as reader:
        for server, expected in ((transit, 1), (reader, 0)):
            cfg = server_settings(server.port)
            async with ConnectionPool(cfg) as pool, pool.connection() as conn:
                reply = await conn.post([b"Message-ID: <m@x>\r\nNewsgroups: a.b\r\n\r\nx\r\n"])
                assert reply.code == 240
            assert server.commands.count("MODE READER") == expected


async def test_mode_reader_after_500_to_post_when_the_greeting_hides_transit_mode() -> None:
    async with FaultyNNTPServer(
        transit_mode=True, greeting="200 quiet ready", username="u", password="p"
    ) as server:
        cfg = server_settings(server.port, username="u", password="p")
        async with ConnectionPool(cfg) as pool, pool.connection() as conn:
            reply = await conn.post([b"Message-ID: <m@x>\r\nNewsgroups: a.b\r\n\r\nx\r\n"])
            assert reply.code == 240
    verbs = [c.split()[0] for c in server.commands]
    assert verbs == ["AUTHINFO", "AUTHINFO", "POST", "MODE", "POST", "QUIT"]


async def test_mode_reader_never() -> None:
    async with FaultyNNTPServer(transit_mode=True) as server:
        cfg = server_settings(server.port, mode_reader="never")
        async with ConnectionPool(cfg) as pool, pool.connection() as conn:
            with pytest.raises(errors.GiveUp, match="500"):
                await conn.post([b"Message-ID: <m@x>\r\nNewsgroups: a.b\r\n\r\nx\r\n"])
    assert "MODE READER" not in server.commands


async def test_pipelined_stat_batch_answers_in_order() -> None:
    async with FaultyNNTPServer() as server:
        cfg = server_settings(server.port)
        async with ConnectionPool(cfg) as pool, pool.connection() as conn:
            for i in range(0, 600, 3):
                article = f"Message-ID: <p{i}@x>\r\nNewsgroups: a.b\r\n\r\nx\r\n".encode()
                assert (await conn.post([article])).code == 240
            # with 20 ms per reply, 600 STATs one by one would take 12 s; pipelined in
            # windows of 256 they take a few round trips
            server.faults.reply_delay = 0.02
            loop = asyncio.get_running_loop()
            started = loop.time()
            found = await conn.stat_many([f"p{i}@x" for i in range(600)])
            elapsed = loop.time() - started
    assert found == [i % 3 == 0 for i in range(600)]
    assert elapsed < 6.0, f"STAT was not pipelined ({elapsed:.1f}s for 600)"


async def test_password_env_is_read_when_a_connection_logs_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("POSTIE_TEST_POOL_PW", raising=False)
    async with FaultyNNTPServer(username="u", password="p") as server:
        settings = server_settings(
            server.port, name="main", username="u", password_env="POSTIE_TEST_POOL_PW"
        )
        async with ConnectionPool(settings) as pool:
            with pytest.raises(
                errors.ConfigError,
                match="server main: environment variable POSTIE_TEST_POOL_PW is not set",
            ):
                await pool.acquire()
            monkeypatch.setenv("POSTIE_TEST_POOL_PW", "p")
            async with pool.connection() as conn:
                assert conn.authenticated
