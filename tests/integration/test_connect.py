"""Opening a connection that cannot work: each failure named for its likely cause and
classed by what the caller does next (against the fault server, plain and TLS)."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from postie import errors
from postie.nntp.connection import NNTPConnection
from postie.nntp.settings import ServerSettings
from postie.testing import Close, Expect, FaultyNNTPServer, Send


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=x"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(key), "-out", str(cert), "-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def settings(port: int, **fields: object) -> ServerSettings:
    return ServerSettings(host="127.0.0.1", port=port, **fields)  # type: ignore[arg-type]


async def open_fails(server: ServerSettings) -> errors.PostieError:
    conn = NNTPConnection(server)
    with pytest.raises(errors.PostieError) as caught:
        await conn.open()
    assert conn.closed
    return caught.value


async def test_tls_to_a_plain_port() -> None:
    async with FaultyNNTPServer() as server:
        exc = await open_fails(settings(server.port, ssl=True, verify_cert=False))
    assert type(exc) is errors.ServerUnreachable
    assert str(exc) == (
        f"TLS handshake with 127.0.0.1:{server.port} failed: the server did not speak TLS:"
        f" is port {server.port} a TLS port? try without --ssl"
    )


async def test_plain_to_a_tls_port(tls_server_context: ssl.SSLContext) -> None:
    async with FaultyNNTPServer(ssl_context=tls_server_context) as server:
        exc = await open_fails(settings(server.port, connect_timeout=0.3))
    assert type(exc) is errors.ServerNotAnswering
    assert str(exc) == (
        f"no greeting from 127.0.0.1:{server.port} within 0.3s: is this a TLS port? try --ssl"
    )


async def test_untrusted_certificate(tls_server_context: ssl.SSLContext) -> None:
    async with FaultyNNTPServer(ssl_context=tls_server_context) as server:
        exc = await open_fails(settings(server.port, ssl=True))
        async with NNTPConnection(settings(server.port, ssl=True, verify_cert=False)) as conn:
            assert conn.greeting is not None
    assert type(exc) is errors.ServerUnreachable
    assert str(exc) == (
        "TLS certificate of 127.0.0.1 rejected: self-signed certificate (--insecure, or"
        " verify_cert: false in the config, skips this check: only for a server you trust)"
    )


async def test_tls_server_that_never_greets(tls_server_context: ssl.SSLContext) -> None:
    async with FaultyNNTPServer(ssl_context=tls_server_context, script=[Expect("line")]) as server:
        exc = await open_fails(
            settings(server.port, ssl=True, verify_cert=False, connect_timeout=0.3)
        )
    assert type(exc) is errors.ServerNotAnswering
    assert str(exc) == f"no greeting from 127.0.0.1:{server.port} within 0.3s"


async def test_not_an_nntp_server() -> None:
    async with FaultyNNTPServer(script=[Send(b"SSH-2.0-OpenSSH_9.2\r\n")]) as server:
        exc = await open_fails(settings(server.port))
    assert type(exc) is errors.ServerUnreachable
    assert str(exc) == (
        f"127.0.0.1:{server.port} does not speak NNTP: not an NNTP reply: 'SSH-2.0-OpenSSH_9.2':"
        " is this an NNTP port?"
    )
    assert exc.reply == "SSH-2.0-OpenSSH_9.2"


async def test_refused_and_unresolvable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exc = await open_fails(settings(port))
    assert type(exc) is errors.ServerNotAnswering
    assert str(exc) == f"connection refused: nothing listens on 127.0.0.1:{port}"
    exc = await open_fails(ServerSettings(host="no-such-host.invalid", label="main"))
    assert type(exc) is errors.ServerUnreachable
    assert str(exc).startswith("main: cannot resolve no-such-host.invalid: ")


async def test_greeting_refusal_keeps_the_reply_line() -> None:
    async with FaultyNNTPServer(script=[Send(b"502 You have no permission to talk\r\n")]) as server:
        exc = await open_fails(settings(server.port))
    assert isinstance(exc, errors.GiveUp)
    assert exc.reply == "502 You have no permission to talk"


async def test_busy_greeting_keeps_the_reply_line_and_may_pass() -> None:
    async with FaultyNNTPServer(script=[Send(b"400 Too many connections\r\n")]) as server:
        exc = await open_fails(settings(server.port))
    assert isinstance(exc, errors.RetryableError)
    assert exc.reply == "400 Too many connections"
    assert str(exc) == f"127.0.0.1:{server.port}: server is closing: 400 Too many connections"


async def test_hang_up_before_the_greeting_may_pass() -> None:
    async with FaultyNNTPServer(script=[Close()]) as server:
        exc = await open_fails(settings(server.port))
    assert type(exc) is errors.ConnectFailed
    assert str(exc) == f"127.0.0.1:{server.port} closed the connection before its greeting"


async def test_starttls_to_a_tls_port(tls_server_context: ssl.SSLContext) -> None:
    async with FaultyNNTPServer(ssl_context=tls_server_context) as server:
        exc = await open_fails(settings(server.port, starttls=True, connect_timeout=0.3))
    assert str(exc) == (
        f"no greeting from 127.0.0.1:{server.port} within 0.3s: is this a TLS port?"
        " try --ssl instead of --starttls"
    )
