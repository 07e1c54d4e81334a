"""Posting over TLS through postie's own transport (``postie.nntp.tls_transport``):
against the fault server (pipelined articles larger than the socket takes at once, a
server that hangs up in the middle of an article) and the local INN2's TLS port."""

from __future__ import annotations

import os
import random
import ssl
from pathlib import Path

import pytest

from postie import errors
from postie.nntp import tls_transport
from postie.nntp.connection import NNTPConnection, PostInDoubt
from postie.nntp.settings import ServerSettings
from postie.testing import Close, Expect, FaultyNNTPServer, Send
from postie.testing.script import Step
from tests.conftest import Inn, run_postie
from tests.integration.readback import rebuild_from_nzb, sha256


@pytest.fixture
def tls_server_context(tls_certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_certificate)
    return context


def settings(port: int, **fields: object) -> ServerSettings:
    return ServerSettings(
        host="127.0.0.1",
        port=port,
        ssl=True,
        verify_cert=False,
        **fields,  # type: ignore[arg-type]
    )


def article(message_id: str, size: int) -> list[bytes]:
    head = (
        "From: poster <p@example.com>\r\nNewsgroups: alt.binaries.test\r\n"
        f"Subject: tls {message_id}\r\nMessage-ID: {message_id}\r\n\r\n"
    ).encode()
    rng = random.Random(message_id)
    line = bytes(rng.randrange(ord("a"), ord("z") + 1) for _ in range(126)) + b"\r\n"
    return [head, line * (size // len(line)), b"=yend last line\r\n"]


async def test_pipelined_articles_over_tls_arrive_whole(
    tls_server_context: ssl.SSLContext,
) -> None:
    async with (
        FaultyNNTPServer(ssl_context=tls_server_context) as server,
        NNTPConnection(settings(server.port)) as conn,
    ):
        stream = conn._stream
        assert stream is not None
        assert isinstance(stream.transport, tls_transport.TLSTransport)
        ids = [f"<tls-{n}@test>" for n in range(5)]
        for n, mid in enumerate(ids):
            reply = await conn.post(article(mid, 2_000_000), prime_next=n < len(ids) - 1)
            assert reply.code == 240, reply.line
        assert await conn.stat_many(ids) == [True] * len(ids)
        for mid in ids:
            sent = b"".join(article(mid, 2_000_000))
            assert sha256(server.articles[mid]) == sha256(sent)
        await conn.quit()


async def test_a_server_that_hangs_up_mid_article_leaves_the_post_in_doubt(
    tls_server_context: ssl.SSLContext,
) -> None:
    script: list[Step] = [
        Send(b"200 ready\r\n"),
        Expect("line"),
        Send(b"340 send it\r\n"),
        Expect(100_000),
        Close(abort=True),
    ]
    async with FaultyNNTPServer(ssl_context=tls_server_context, script=script) as server:
        conn = NNTPConnection(settings(server.port))
        await conn.open()
        try:
            with pytest.raises(PostInDoubt) as caught:
                await conn.post(article("<cut@test>", 8_000_000))
            assert isinstance(caught.value.__cause__, errors.ConnectionLost)
            assert conn.broken
        finally:
            await conn.aclose()
        received = b"".join(data for kind, data in server.transcripts[0] if kind == "recv")
        assert received.startswith(b"POST\r\nFrom: poster")


@pytest.mark.inn
def test_folder_over_inn_tls_with_four_connections_reads_back(inn: Inn, tmp_path: Path) -> None:
    rng = random.Random(563)
    files = {f"part{n}.bin": rng.randbytes(size) for n, size in enumerate((1, 3_000_000, 9_999))}
    files["big.bin"] = os.urandom(12_000_000)
    source = tmp_path / "tls set"
    source.mkdir()
    for name, data in files.items():
        (source / name).write_bytes(data)
    out = tmp_path / "tls.nzb"
    run = run_postie(
        "post", source, "--host", "localhost", "--port", inn.tls_port, "--ssl",
        "--connections", "4", "--article-size", "300000", "-o", out, "--quiet",
        SSL_CERT_FILE=str(inn.cert),
    )  # fmt: skip
    assert run.returncode == 0, run.output
    rebuilt = rebuild_from_nzb(out, inn.host, inn.port)
    assert {name: sha256(r.data) for name, r in rebuilt.items()} == {
        name: sha256(data) for name, data in files.items()
    }


async def test_starttls_refuses_bytes_the_server_sent_before_tls() -> None:
    """Whatever follows the 382 in the clear must not pass for the first reply under TLS
    (a man in the middle could put it there)."""
    script: list[Step] = [
        Send(b"200 ready\r\n"),
        Expect("line"),
        Send(b"382 go ahead\r\n281 you are logged in\r\n"),
    ]
    async with FaultyNNTPServer(script=script) as server:
        conn = NNTPConnection(
            ServerSettings(host="127.0.0.1", port=server.port, starttls=True, verify_cert=False)
        )
        with pytest.raises(errors.ProtocolError) as caught:
            await conn.open()
        assert conn.closed
    assert str(caught.value) == f"127.0.0.1:{server.port}: the server sent more than its 382"
