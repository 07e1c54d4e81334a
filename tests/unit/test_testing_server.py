"""Tests for postie.testing: the fault-injecting NNTP server and make_tree.

The client side is deliberately raw asyncio streams, so that these tests depend on nothing
but the server under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import re
import shutil
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postie.testing import (
    Close,
    Expect,
    Faults,
    FaultyNNTPServer,
    Send,
    ServerStatistics,
    Step,
    make_tree,
)
from postie.testing.wire import BufferedReader, unstuff

TIMEOUT = 2.0


class Client:
    """A minimal NNTP client over raw streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def send(self, data: bytes | str) -> None:
        self.writer.write(data.encode() if isinstance(data, str) else data)

    async def line(self) -> str:
        raw = await asyncio.wait_for(self.reader.readline(), TIMEOUT)
        assert raw.endswith(b"\r\n"), f"reply not CRLF-terminated: {raw!r}"
        return raw[:-2].decode()

    async def cmd(self, line: str) -> str:
        self.send(line + "\r\n")
        return await self.line()

    async def block(self) -> bytes:
        """Read a multi-line block; return it un-dot-stuffed, CRLF line endings."""
        lines: list[bytes] = []
        while True:
            raw = await asyncio.wait_for(self.reader.readline(), TIMEOUT)
            assert raw.endswith(b"\r\n")
            if raw == b".\r\n":
                return b"".join(lines)
            lines.append(raw[1:] if raw.startswith(b".") else raw)

    async def closed_by_server(self) -> bool:
        """True if the server closed (or aborted) the connection without sending anything."""
        try:
            data = await asyncio.wait_for(self.reader.read(), TIMEOUT)
        except ConnectionResetError:
            return True
        return data == b""

    async def post(self, article: bytes) -> str:
        assert await self.cmd("POST") == "340 Ok"
        self.send(wire(article))
        return await self.line()


@contextlib.asynccontextmanager
async def connect(server: FaultyNNTPServer, greeting: str | None = "200") -> AsyncIterator[Client]:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    client = Client(reader, writer)
    try:
        if greeting is not None:
            assert (await client.line()).startswith(greeting)
        yield client
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def article(
    mid: str | None,
    groups: str | None = "alt.binaries.test",
    body: bytes = b"hello\r\nworld\r\n",
) -> bytes:
    headers = [b"From: poster <poster@example.invalid>", b"Subject: test"]
    if groups is not None:
        headers.append(b"Newsgroups: " + groups.encode())
    if mid is not None:
        headers.append(b"Message-ID: " + mid.encode())
    return b"\r\n".join(headers) + b"\r\n\r\n" + body


def wire(data: bytes) -> bytes:
    """Dot-stuff CRLF-terminated ``data`` and add the terminating ``.`` line."""
    lines = data.split(b"\r\n")
    assert lines.pop() == b""
    stuffed = [b"." + line if line.startswith(b".") else line for line in lines]
    return b"".join(line + b"\r\n" for line in stuffed) + b".\r\n"


async def eventually(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


@pytest.fixture(autouse=True)
def _no_asyncio_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail on errors asyncio logs instead of raising ("Task was destroyed", callbacks...)."""
    yield
    records = caplog.get_records("call") + caplog.get_records("teardown")
    errors = [r.getMessage() for r in records if r.name == "asyncio" and r.levelno >= logging.ERROR]
    assert not errors


@pytest.fixture
async def server() -> AsyncIterator[FaultyNNTPServer]:
    async with FaultyNNTPServer() as srv:
        yield srv


@pytest.fixture
async def auth_server() -> AsyncIterator[FaultyNNTPServer]:
    async with FaultyNNTPServer(username="alice", password="s3cret") as srv:
        yield srv


# --- basic protocol ---------------------------------------------------------------------------


async def test_greeting_and_bound_port(server: FaultyNNTPServer) -> None:
    assert server.port != 0
    async with connect(server, greeting=None) as client:
        assert await client.line() == "200 postie-testing ready (posting ok)"


async def test_no_posting_greeting_and_post_refused() -> None:
    async with (
        FaultyNNTPServer(posting_allowed=False) as srv,
        connect(srv, greeting=None) as client,
    ):
        assert await client.line() == "201 postie-testing ready (no posting)"
        assert (await client.cmd("POST")).startswith("440 ")
        assert (await client.cmd("MODE READER")).startswith("201 ")
        assert "POST" not in await _capabilities(client)


async def _capabilities(client: Client) -> list[str]:
    assert await client.cmd("CAPABILITIES") == "101 Capability list:"
    return (await client.block()).decode().split("\r\n")[:-1]


async def test_simple_commands(server: FaultyNNTPServer) -> None:
    async with connect(server) as client:
        assert (await client.cmd("MODE READER")).startswith("200 ")
        assert re.fullmatch(r"111 \d{14}", await client.cmd("DATE"))
        assert (await client.cmd("FROBNICATE now")).startswith("500 ")
        assert (await client.cmd("")).startswith("501 ")
        assert (await client.cmd("   ")).startswith("501 ")
        assert (await client.cmd("STAT 12")).startswith("412 ")
        assert (await client.cmd("date")).startswith("111 ")
        assert (await client.cmd("QUIT")).startswith("205 ")
        assert await client.closed_by_server()
    assert server.commands[:3] == ["MODE READER", "DATE", "FROBNICATE now"]


async def test_capabilities(server: FaultyNNTPServer, auth_server: FaultyNNTPServer) -> None:
    async with connect(server) as client:
        caps = await _capabilities(client)
    assert caps[0] == "VERSION 2"
    assert {"READER", "POST"} <= set(caps)
    assert not any(c.startswith(("AUTHINFO", "IHAVE", "MODE-READER")) for c in caps)
    async with connect(auth_server) as client:
        assert "AUTHINFO USER" in await _capabilities(client)
        assert await client.cmd("AUTHINFO USER alice") == "381 Password required"
        assert await client.cmd("AUTHINFO PASS s3cret") == "281 Authentication accepted"
        assert "AUTHINFO USER" not in await _capabilities(client)


async def test_bare_lf_is_tolerated(server: FaultyNNTPServer) -> None:
    async with connect(server) as client:
        client.send(b"DATE\n")
        assert (await client.line()).startswith("111 ")
        client.send(b"POST\n")
        assert await client.line() == "340 Ok"
        client.send(b"Newsgroups: alt.test\nMessage-ID: <lf@x>\n\n..dot\nbody\n.\n")
        assert await client.line() == "240 Article received <lf@x>"
    assert (
        server.articles["<lf@x>"]
        == b"Newsgroups: alt.test\r\nMessage-ID: <lf@x>\r\n\r\n.dot\r\nbody\r\n"
    )


# --- posting and reading back -----------------------------------------------------------------


async def test_post_and_read_back(server: FaultyNNTPServer) -> None:
    body = b"first line\r\n.starts with a dot\r\n..two dots\r\n.\r\nlast\r\n"
    sent = article("<a1@test>", body=body)
    async with connect(server) as client:
        assert await client.post(sent) == "240 Article received <a1@test>"
        assert await client.cmd("STAT <a1@test>") == "223 0 <a1@test>"
        assert await client.cmd("ARTICLE <a1@test>") == "220 0 <a1@test>"
        assert await client.block() == sent
        assert await client.cmd("HEAD <a1@test>") == "221 0 <a1@test>"
        assert await client.block() == sent.split(b"\r\n\r\n")[0] + b"\r\n"
        assert await client.cmd("BODY <a1@test>") == "222 0 <a1@test>"
        assert await client.block() == body
        assert (await client.cmd("ARTICLE <nope@test>")).startswith("430 ")
    assert server.articles == {"<a1@test>": sent}
    assert server.post_attempts == {"<a1@test>": 1}
    assert server.accepted == {"<a1@test>": 1}


async def test_headers_are_case_insensitive_and_folded(server: FaultyNNTPServer) -> None:
    sent = b"NEWSGROUPS: alt.test\r\nmessage-id:\r\n <fold@test>\r\nSubject: x\r\n\r\nbody\r\n"
    async with connect(server) as client:
        assert await client.post(sent) == "240 Article received <fold@test>"
    assert server.articles["<fold@test>"] == sent


async def test_article_followed_by_pipelined_command_in_same_write(
    server: FaultyNNTPServer,
) -> None:
    sent = article("<pipe@test>")
    async with connect(server) as client:
        assert await client.cmd("POST") == "340 Ok"
        client.send(wire(sent) + b"STAT <pipe@test>\r\nDATE\r\n")
        assert await client.line() == "240 Article received <pipe@test>"
        assert await client.line() == "223 0 <pipe@test>"
        assert (await client.line()).startswith("111 ")
    assert server.articles["<pipe@test>"] == sent


async def test_empty_article_is_rejected_and_connection_survives(
    server: FaultyNNTPServer,
) -> None:
    async with connect(server) as client:
        assert await client.cmd("POST") == "340 Ok"
        client.send(b".\r\nDATE\r\n")
        assert await client.line() == "441 No Message-ID"
        assert (await client.line()).startswith("111 ")
    assert server.articles == {}
    assert server.statistics().posts == 1


async def test_article_checks(server: FaultyNNTPServer) -> None:
    async with connect(server) as client:
        assert await client.post(article(None)) == "441 No Message-ID"
        assert (await client.post(article("no-brackets@x"))).startswith("441 ")
        assert (await client.post(article("<nogroups@x>", groups=None))).startswith("441 ")
        assert await client.post(article("<ok@x>")) == "240 Article received <ok@x>"
    assert list(server.articles) == ["<ok@x>"]


async def test_duplicate(server: FaultyNNTPServer) -> None:
    first = article("<dup@test>")
    async with connect(server) as client:
        assert await client.post(first) == "240 Article received <dup@test>"
        assert await client.post(article("<dup@test>", body=b"other\r\n")) == "441 435 Duplicate"
    assert server.articles == {"<dup@test>": first}
    assert server.duplicates == {"<dup@test>": 1}
    assert server.post_attempts == {"<dup@test>": 2}
    assert server.accepted == {"<dup@test>": 1}


async def test_large_article_round_trip(server: FaultyNNTPServer) -> None:
    rng = random.Random(7)
    alphabet = b".abcdefghijklmnopqrstuvwxyz0123456789=+"
    lines = [bytes(rng.choices(alphabet, k=128)) for _ in range(5700)]
    lines[0] = b"." + lines[0][1:]
    body = b"".join(line + b"\r\n" for line in lines)
    assert len(body) > 700_000
    sent = article("<big@test>", body=body)
    async with connect(server) as client:
        assert await client.post(sent) == "240 Article received <big@test>"
        assert await client.cmd("BODY <big@test>") == "222 0 <big@test>"
        assert await client.block() == body
    assert server.articles["<big@test>"] == sent


async def test_pipelined_stat(server: FaultyNNTPServer) -> None:
    ids = [f"<stat{i}@test>" for i in range(200)]
    present = set(ids[::3])
    for mid in present:
        server.articles[mid] = article(mid)
    async with connect(server) as client:
        client.send("".join(f"STAT {mid}\r\n" for mid in ids))
        replies = [await client.line() for _ in ids]
    expected = [f"223 0 {mid}" if mid in present else "430 No such article" for mid in ids]
    assert replies == expected


# --- authentication ---------------------------------------------------------------------------


async def test_auth_required_and_failures(auth_server: FaultyNNTPServer) -> None:
    async with connect(auth_server) as client:
        for command in ("POST", "STAT <x@y>", "ARTICLE <x@y>", "HEAD <x@y>", "BODY <x@y>"):
            assert await client.cmd(command) == "480 Authentication required"
        assert (await client.cmd("DATE")).startswith("111 ")
        assert (await client.cmd("AUTHINFO PASS s3cret")).startswith("482 ")
        assert await client.cmd("AUTHINFO USER alice") == "381 Password required"
        assert await client.cmd("AUTHINFO PASS wrong") == "481 Authentication failed"
        assert await client.cmd("STAT <x@y>") == "480 Authentication required"
        assert await client.cmd("AUTHINFO USER mallory") == "381 Password required"
        assert await client.cmd("AUTHINFO PASS s3cret") == "481 Authentication failed"
        assert await client.cmd("AUTHINFO USER alice") == "381 Password required"
        assert await client.cmd("AUTHINFO PASS s3cret") == "281 Authentication accepted"
        assert await client.cmd("STAT <x@y>") == "430 No such article"
        assert await client.post(article("<auth@x>")) == "240 Article received <auth@x>"
    assert "AUTHINFO PASS ****" in auth_server.commands
    assert not any("s3cret" in c or "wrong" in c for c in auth_server.commands)


async def test_auth_expires_after_n_commands(auth_server: FaultyNNTPServer) -> None:
    auth_server.faults.auth_expire_after = 2
    async with connect(auth_server) as client:
        assert await client.cmd("AUTHINFO USER alice") == "381 Password required"
        assert await client.cmd("AUTHINFO PASS s3cret") == "281 Authentication accepted"
        assert await client.cmd("STAT <x@y>") == "430 No such article"
        assert (await client.cmd("DATE")).startswith("111 ")
        assert await client.cmd("DATE") == "480 Authentication required"
        assert (await client.cmd("DATE")).startswith("111 ")
        assert await client.cmd("STAT <x@y>") == "480 Authentication required"
        assert await client.cmd("AUTHINFO USER alice") == "381 Password required"
        assert await client.cmd("AUTHINFO PASS s3cret") == "281 Authentication accepted"
        assert await client.cmd("STAT <x@y>") == "430 No such article"


async def test_auth_expiry_ignored_without_credentials(server: FaultyNNTPServer) -> None:
    server.faults.auth_expire_after = 0
    async with connect(server) as client:
        assert await client.cmd("STAT <x@y>") == "430 No such article"
        assert await client.cmd("STAT <x@y>") == "430 No such article"


# --- faults -----------------------------------------------------------------------------------


async def test_drop_after_340(server: FaultyNNTPServer) -> None:
    server.faults.drop_after_340 = 1
    async with connect(server) as client:
        assert await client.cmd("POST") == "340 Ok"
        client.send(wire(article("<drop340@test>")))
        assert await client.closed_by_server()
    assert server.articles == {}
    assert server.accepted == {}
    assert server.faults.drop_after_340 == 0
    async with connect(server) as client:
        assert await client.post(article("<drop340@test>")) == "240 Article received <drop340@test>"
    assert server.post_attempts == {"<drop340@test>": 2}


async def test_drop_after_article(server: FaultyNNTPServer) -> None:
    sent = article("<dropart@test>")
    server.faults.drop_after_article = 1
    async with connect(server) as client:
        assert await client.cmd("POST") == "340 Ok"
        client.send(wire(sent))
        assert await client.closed_by_server()
    assert server.articles == {"<dropart@test>": sent}
    assert server.accepted == {"<dropart@test>": 1}
    assert server.faults.drop_after_article == 0
    async with connect(server) as client:
        assert await client.post(sent) == "441 435 Duplicate"
        assert await client.cmd("STAT <dropart@test>") == "223 0 <dropart@test>"


async def test_reject_441(server: FaultyNNTPServer) -> None:
    server.faults.reject_441 = 2
    async with connect(server) as client:
        assert await client.post(article("<r@test>")) == "441 Posting failed"
        assert await client.post(article("<r@test>")) == "441 Posting failed"
        assert await client.cmd("STAT <r@test>") == "430 No such article"
        assert await client.post(article("<r@test>")) == "240 Article received <r@test>"
    assert server.post_attempts == {"<r@test>": 3}
    assert server.accepted == {"<r@test>": 1}


async def test_stall_until_client_gives_up(server: FaultyNNTPServer) -> None:
    server.faults.stall_posts = 1
    async with connect(server) as client:
        assert await client.cmd("POST") == "340 Ok"
        client.send(wire(article("<stall@test>")))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.reader.readline(), 0.2)
        assert server.connections_active == 1
    await eventually(lambda: server.connections_active == 0)
    assert server.articles == {}
    assert server.post_attempts == {"<stall@test>": 1}
    assert server.faults.stall_posts == 0


async def test_stall_is_bounded_by_stall_seconds(server: FaultyNNTPServer) -> None:
    server.faults.stall_posts = 1
    server.faults.stall_seconds = 0.1
    async with connect(server) as client:
        assert await client.cmd("POST") == "340 Ok"
        client.send(wire(article("<stall2@test>")))
        assert await client.closed_by_server()


async def test_lose_articles(server: FaultyNNTPServer) -> None:
    server.faults.lose_articles = 1
    sent = article("<lost@test>")
    async with connect(server) as client:
        assert await client.post(sent) == "240 Article received <lost@test>"
        assert await client.cmd("STAT <lost@test>") == "430 No such article"
        assert await client.cmd("ARTICLE <lost@test>") == "430 No such article"
        assert await client.post(sent) == "240 Article received <lost@test>"
        assert await client.cmd("STAT <lost@test>") == "223 0 <lost@test>"
    assert server.lost == {"<lost@test>": 1}
    assert server.accepted == {"<lost@test>": 2}


async def test_max_article_size(server: FaultyNNTPServer) -> None:
    small = article("<small@test>")
    server.faults.max_article_size = len(small)
    async with connect(server) as client:
        assert await client.post(small) == "240 Article received <small@test>"
        big = article("<big@test>", body=b"x" * 100 + b"\r\n")
        assert await client.post(big) == "441 Article is bigger than local limit"
    assert list(server.articles) == ["<small@test>"]


async def test_allowed_groups(server: FaultyNNTPServer) -> None:
    server.faults.allowed_groups = frozenset({"alt.binaries.test"})
    async with connect(server) as client:
        reply = await client.post(article("<g1@test>", groups="alt.other"))
        assert reply == "441 No valid newsgroups in alt.other"
        reply = await client.post(article("<g2@test>", groups="alt.other, alt.binaries.test"))
        assert reply == "240 Article received <g2@test>"
    assert list(server.articles) == ["<g2@test>"]


async def test_faults_apply_only_to_acceptable_articles(server: FaultyNNTPServer) -> None:
    server.faults.reject_441 = 1
    async with connect(server) as client:
        assert await client.post(article(None)) == "441 No Message-ID"
        assert server.faults.reject_441 == 1
        assert await client.post(article("<f@test>")) == "441 Posting failed"
        assert server.faults.reject_441 == 0


async def test_fault_counters_are_shared_and_not_double_spent(server: FaultyNNTPServer) -> None:
    server.faults.reject_441 = 2
    server.faults.reply_delay = 0.02  # widen the window in which posts overlap

    async def one(i: int) -> str:
        async with connect(server) as client:
            return await client.post(article(f"<c{i}@test>"))

    replies = await asyncio.gather(*(one(i) for i in range(6)))
    assert sorted(replies).count("441 Posting failed") == 2
    assert sum(r.startswith("240 ") for r in replies) == 4
    assert server.faults.reject_441 == 0
    assert server.max_concurrent_connections >= 2


async def test_reply_delay_is_latency_not_per_pipelined_command(
    server: FaultyNNTPServer,
) -> None:
    server.faults.reply_delay = 0.1
    async with connect(server) as client:
        start = time.monotonic()
        assert (await client.cmd("DATE")).startswith("111 ")
        assert time.monotonic() - start >= 0.09
        start = time.monotonic()
        client.send("STAT <x@y>\r\n" * 20)
        for _ in range(20):
            assert await client.line() == "430 No such article"
        elapsed = time.monotonic() - start
    assert 0.09 <= elapsed < 0.5


async def test_transit_mode() -> None:
    async with FaultyNNTPServer(transit_mode=True) as srv, connect(srv, greeting=None) as client:
        greeting = await client.line()
        assert greeting.startswith("200 ")
        assert "transit" in greeting
        caps = await _capabilities(client)
        assert "MODE-READER" in caps
        assert "READER" not in caps
        assert (await client.cmd("POST")).startswith("500 ")
        assert await client.cmd("MODE READER") == "200 Posting allowed"
        assert "READER" in await _capabilities(client)
        assert await client.post(article("<t@test>")) == "240 Article received <t@test>"


# --- lifecycle and statistics -----------------------------------------------------------------


async def test_statistics() -> None:
    async with FaultyNNTPServer(faults=Faults(lose_articles=1)) as srv:
        async with connect(srv) as c1, connect(srv) as c2:
            assert await c1.post(article("<s1@test>")) == "240 Article received <s1@test>"
            assert await c2.post(article("<s2@test>")) == "240 Article received <s2@test>"
            assert await c2.post(article("<s2@test>")) == "441 435 Duplicate"
            assert srv.connections_active == 2
        await eventually(lambda: srv.connections_active == 0)
        assert srv.statistics() == ServerStatistics(
            connections_opened=2,
            connections_active=0,
            max_concurrent_connections=2,
            articles_stored=1,
            posts=3,
            duplicates=1,
            lost=1,
        )


async def test_aclose_closes_clients_and_is_idempotent() -> None:
    srv = FaultyNNTPServer(faults=Faults(stall_posts=1))
    await srv.start()
    async with connect(srv) as idle, connect(srv) as stalled:
        assert await stalled.cmd("POST") == "340 Ok"
        stalled.send(wire(article("<x@test>")))
        await eventually(lambda: srv.post_attempts["<x@test>"] == 1)
        start = time.monotonic()
        await asyncio.wait_for(srv.aclose(), 1.0)
        assert time.monotonic() - start < 1.0
        assert srv.connections_active == 0
        assert await idle.closed_by_server()
        assert await stalled.closed_by_server()
    await srv.aclose()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(srv.host, srv.port)


async def test_script_mode_plays_raw_bytes_and_records_the_transcript() -> None:
    script: list[Step] = [
        Send(b"200 scripted\r\n", chunk=3, pause=0.001),
        Expect("line"),
        Send(b"340 go\r\n"),
        Expect("block"),
        Expect(4),
        Send(b"240 ok\r\n"),
        Close(),
    ]
    async with FaultyNNTPServer(script=script) as srv:
        async with connect(srv, greeting="200 scripted") as client:
            assert await client.cmd("POST") == "340 go"
            client.send(b"a\r\n.b\r\n.\r\nabcd")
            assert await client.line() == "240 ok"
            assert await client.closed_by_server()
        async with connect(srv, greeting="200 scripted"):
            pass  # every connection plays the script from its first step
    first = srv.transcripts[0]
    assert (
        b"".join(d for kind, d in first if kind == "sent")
        == b"200 scripted\r\n340 go\r\n240 ok\r\n"
    )
    assert [d for kind, d in first if kind == "sent"][:2] == [b"200", b" sc"]
    assert [d for kind, d in first if kind == "recv"] == [b"POST\r\n", b"a\r\n.b\r\n.\r\n", b"abcd"]
    assert len(srv.transcripts) == 2
    assert not srv.articles  # a script stores nothing


async def test_script_mode_abort_and_end_of_script() -> None:
    aborts = FaultyNNTPServer(script=[Send(b"200 x\r\n"), Close(abort=True)])
    async with aborts as srv, connect(srv, greeting="200 x") as client:
        assert await client.closed_by_server()
    ends = FaultyNNTPServer(script=[Send(b"200 x\r\n")])
    async with ends as srv, connect(srv, greeting="200 x") as client:
        client.send("QUIT\r\n")  # the script is over: nothing answers, nothing closes
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.reader.read(1), 0.05)


@pytest.fixture
def tls_contexts(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=x"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(key), "-out", str(cert), "-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    return server_ctx, ssl.create_default_context(cafile=str(cert))


async def test_tls(tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_ctx, client_ctx = tls_contexts
    srv = FaultyNNTPServer(ssl_context=server_ctx)
    await srv.start()
    reader, writer = await asyncio.open_connection(srv.host, srv.port, ssl=client_ctx)
    client = Client(reader, writer)
    try:
        assert (await client.line()).startswith("200 ")
        assert await client.post(article("<tls@test>")) == "240 Article received <tls@test>"
        await asyncio.wait_for(srv.aclose(), 1.0)
        assert await client.closed_by_server()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()
    assert list(srv.articles) == ["<tls@test>"]


# --- internals: block reading and dot-stuffing ------------------------------------------------

_line = st.binary(max_size=12).map(lambda b: b.replace(b"\r", b"r").replace(b"\n", b"n"))
_dotty_line = st.one_of(_line, _line.map(lambda b: b"." + b))


@settings(max_examples=80, deadline=None)
@given(
    lines=st.lists(st.tuples(_dotty_line, st.sampled_from([b"\r\n", b"\n"])), max_size=8),
    final=st.sampled_from([b".\r\n", b".\n"]),
    cuts=st.lists(st.integers(0, 200), max_size=6),
)
def test_block_reader_in_arbitrary_chunks(
    lines: list[tuple[bytes, bytes]], final: bytes, cuts: list[int]
) -> None:
    """Blocks split anywhere, with CRLF or bare LF endings, read back as CRLF lines."""
    expected = b"".join(line + b"\r\n" for line, _ in lines)
    stuffed = b"".join((b"." + line if line[:1] == b"." else line) + eol for line, eol in lines)
    data = stuffed + final + b"NEXT\r\n"
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    chunks = [data[a:b] for a, b in itertools.pairwise(points)]

    async def scenario() -> tuple[bytes, bytes]:
        stream = asyncio.StreamReader()
        buffered = BufferedReader(stream, asyncio.get_running_loop())
        reading = asyncio.ensure_future(buffered.read_block())
        for chunk in chunks:
            stream.feed_data(chunk)
            await asyncio.sleep(0)
        block = await reading
        return unstuff(block), await buffered.readline()

    block, next_line = asyncio.run(scenario())
    assert block == expected
    assert next_line == b"NEXT"


# --- make_tree --------------------------------------------------------------------------------


def test_make_tree(tmp_path: Path) -> None:
    spec: dict[str, int | bytes] = {"a.bin": 1000, "sub/dir/b.bin": 1000, "c.txt": b"fixed"}
    files = make_tree(tmp_path / "one", spec, seed=3)
    root = (tmp_path / "one").absolute()
    assert set(files) == {root / "a.bin", root / "sub" / "dir" / "b.bin", root / "c.txt"}
    for path, content in files.items():
        assert path.is_absolute()
        assert path.read_bytes() == content
    assert files[root / "c.txt"] == b"fixed"
    assert len(files[root / "a.bin"]) == 1000
    assert files[root / "a.bin"] != files[root / "sub" / "dir" / "b.bin"]

    again = make_tree(tmp_path / "two", spec, seed=3)
    assert [again[tmp_path / "two" / p.relative_to(root)] for p in files] == list(files.values())
    other = make_tree(tmp_path / "three", {"a.bin": 1000}, seed=4)
    assert other[tmp_path / "three" / "a.bin"] != files[root / "a.bin"]


@pytest.mark.parametrize("bad", ["../escape", "/abs/path", "", "a/../../b"])
def test_make_tree_rejects_paths_outside_root(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="relative path"):
        make_tree(tmp_path, {bad: 1})


def test_make_tree_rejects_bad_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="size"):
        make_tree(tmp_path, {"x": -1})
