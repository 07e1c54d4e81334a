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
from postie.testing import FaultyNNTPServer


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


async def test_connect_failures_back_off_then_give_up(monkeypatch: pytest.MonkeyPatch) -> None:
    delays: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(pool_module, "_sleep", fake_sleep)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with ConnectionPool(server_settings(port, connect_retries=3)) as pool:
        with pytest.raises(errors.ConnectFailed, match="cannot connect"):
            await pool.acquire()
        assert delays == [0.5, 1.0, 2.0]
        assert pool.statistics().connect_failures == 4
        assert pool.statistics().open == 0


async def test_reconnects_when_the_server_comes_back() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with ConnectionPool(server_settings(port, connect_retries=10)) as pool:
        task = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0.2)  # first attempts fail: nothing listens yet
        assert not task.done()
        async with FaultyNNTPServer(port=port):
            conn = await asyncio.wait_for(task, 10)
            assert conn.greeting is not None
            pool.release(conn)
            assert pool.statistics().connect_failures >= 1


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
