"""The TLS transport (a non-blocking ``ssl.SSLSocket`` on postie's own transport) against
a real TLS peer on loopback: a thread with a blocking ``SSLSocket``, read on demand, and
socket buffers of 4 KiB, so that an article stops half way through ``SSL_write``."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest

from postie import errors
from postie.nntp import socket_transport, tls_transport
from postie.nntp.connection import make_ssl_context
from postie.nntp.settings import ServerSettings
from postie.nntp.socket_transport import HIGH_WATER, SocketTransport
from postie.nntp.tls_transport import TLSTransport
from postie.nntp.transport import _NOT_TLS
from tests.unit.test_socket_transport import Recorder

HOST = "127.0.0.1"


@pytest.fixture
def server_context(tls_certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_certificate)
    return context


@pytest.fixture
def client_context(tls_certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls_certificate[0]))


class Peer:
    """A loopback server whose one connection is served by a thread, blocking: TLS at once,
    after a plain exchange (STARTTLS), or never. It reads only when asked to."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.listener.bind((HOST, 0))
        self.listener.listen()
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.conn: socket.socket | None = None

    async def accept(self, *, tls: bool = True, ragged_eof_is_error: bool = False) -> None:
        def accept() -> socket.socket:
            conn, _ = self.listener.accept()
            conn.settimeout(10)
            if not tls:
                return conn
            return self.context.wrap_socket(
                conn, server_side=True, suppress_ragged_eofs=not ragged_eof_is_error
            )

        self.conn = await asyncio.to_thread(accept)

    async def upgrade(self) -> None:
        """STARTTLS: the TLS handshake on the plain connection."""
        assert self.conn is not None
        conn = self.conn
        self.conn = await asyncio.to_thread(self.context.wrap_socket, conn, server_side=True)

    async def read(self, count: int) -> bytes:
        """``count`` bytes, or fewer if the connection ends first."""

        def read() -> bytes:
            assert self.conn is not None
            out = bytearray()
            while len(out) < count:
                chunk = self.conn.recv(min(count - len(out), 1 << 20))
                if not chunk:
                    break
                out += chunk
            return bytes(out)

        return await asyncio.to_thread(read)

    async def send(self, data: bytes) -> None:
        assert self.conn is not None
        await asyncio.to_thread(self.conn.sendall, data)

    def reset(self) -> None:
        """Close with RST (SO_LINGER 0), dropping what was not read."""
        assert self.conn is not None
        self.conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)
        self.conn.close()
        self.conn = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.listener.close()


async def _tls_socket(peer: Peer, context: ssl.SSLContext, **accept: bool) -> ssl.SSLSocket:
    accepted = asyncio.ensure_future(peer.accept(**accept))
    sock = await socket_transport.open_socket(HOST, peer.port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    try:
        return await tls_transport.handshake(sock, context, HOST)
    finally:
        await accepted


async def _connected(
    server: ssl.SSLContext, client: ssl.SSLContext, **accept: bool
) -> tuple[Peer, Recorder, TLSTransport]:
    peer = Peer(server)
    tls = await _tls_socket(peer, client, **accept)
    proto = Recorder()
    transport = TLSTransport(asyncio.get_running_loop(), tls, proto)
    await proto.made
    return peer, proto, transport


async def _until(condition: Any, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


def test_large_buffers_arrive_in_order_through_partial_writes(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def main() -> None:
        peer, proto, transport = await _connected(server_context, client_context)
        try:
            tls = transport.get_extra_info("ssl_object")
            assert isinstance(tls, ssl.SSLSocket)
            assert transport.get_extra_info("socket") is tls
            assert transport.get_extra_info("cipher") is not None
            assert tls.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            chunks = [os.urandom(n) for n in (1, 700_001, 13, 0, 1_500_000, 64 * 1024)]
            expected = b"".join(chunks)
            transport.writelines(chunks[:3])
            transport.write(chunks[3])
            transport.writelines(chunks[3:])
            # the peer has not read yet: SSL_write stopped in the first big buffer
            assert transport.get_write_buffer_size() > HIGH_WATER
            assert proto.events == ["made", "pause"]
            got = await peer.read(len(expected))
            await asyncio.wait_for(proto.resumed.wait(), 5)
            assert hashlib.sha256(got).digest() == hashlib.sha256(expected).digest()
            assert transport.get_write_buffer_size() == 0
            assert proto.events == ["made", "pause", "resume"]
        finally:
            transport.abort()
            peer.close()

    asyncio.run(main())


def test_small_buffers_written_together_are_joined_into_one_record() -> None:
    big = bytes(tls_transport._RECORD)
    joined = tls_transport._join_small([b"head", big, b"=yend\r\n", b".\r\n", b"POST\r\n"])
    assert joined == [b"head", big, b"=yend\r\n.\r\nPOST\r\n"]
    assert tls_transport._join_small([b"", b"a", memoryview(b"b")]) == [b"ab"]
    assert tls_transport._join_small([big, big]) == [big, big]


def test_close_sends_what_is_queued_then_close_notify(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def main() -> None:
        # the peer counts an EOF without close_notify as an error: reading to the end
        # proves that close_notify came, after the last byte
        peer, proto, transport = await _connected(
            server_context, client_context, ragged_eof_is_error=True
        )
        try:
            payload = os.urandom(3_000_000)
            transport.write(payload)
            transport.close()
            assert transport.is_closing()
            with pytest.raises(errors.ConnectionLost):
                transport.write(b"more")
            assert await peer.read(len(payload) + 1) == payload  # +1: reads on until EOF
            assert await asyncio.wait_for(proto.lost, 5) is None
            assert proto.events[-1] == "lost"
        finally:
            peer.close()

    asyncio.run(main())


def test_abort_drops_the_queue_and_sends_no_close_notify(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def main() -> None:
        peer, proto, transport = await _connected(
            server_context, client_context, ragged_eof_is_error=True
        )
        try:
            transport.write(os.urandom(4_000_000))
            transport.abort()
            transport.abort()
            assert await asyncio.wait_for(proto.lost, 5) is None
            await asyncio.sleep(0)
            assert proto.events.count("lost") == 1
            assert transport.get_write_buffer_size() == 0
            with pytest.raises((ssl.SSLEOFError, ConnectionResetError)):
                await peer.read(5_000_000)
        finally:
            peer.close()

    asyncio.run(main())


def test_replies_are_delivered_and_close_notify_is_eof_then_lost(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def main() -> None:
        peer, proto, transport = await _connected(server_context, client_context)
        try:
            await peer.send(b"200 hello\r\n")
            await _until(lambda: proto.received)
            assert bytes(proto.received) == b"200 hello\r\n"
            assert isinstance(peer.conn, ssl.SSLSocket)
            plain = await asyncio.to_thread(peer.conn.unwrap)  # close_notify, then FIN
            plain.close()
            peer.conn = None
            assert await asyncio.wait_for(proto.lost, 5) is None
            assert proto.events == ["made", "eof", "lost"]
        finally:
            transport.abort()
            peer.close()

    asyncio.run(main())


def test_bytes_openssl_holds_are_read_without_the_socket_signalling_them(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def main() -> None:
        peer, proto, transport = await _connected(server_context, client_context)
        try:
            # a read buffer smaller than the record: the rest stays decrypted in OpenSSL
            # (pending()), and the socket has nothing more to say about it
            transport._buffer = memoryview(bytearray(7))
            reply = b"224 overview follows " + b"x" * 1000 + b"\r\n"
            await peer.send(reply)
            await _until(lambda: len(proto.received) >= len(reply))
            assert bytes(proto.received) == reply
        finally:
            transport.abort()
            peer.close()

    asyncio.run(main())


def test_a_peer_that_closes_mid_article_is_reported_lost_with_the_error(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def main() -> None:
        peer, proto, transport = await _connected(server_context, client_context)
        try:
            transport.write(os.urandom(8_000_000))
            assert len(await peer.read(100_000)) == 100_000
            peer.reset()
            exc = await asyncio.wait_for(proto.lost, 5)
            assert isinstance(exc, OSError)  # ECONNRESET or EPIPE, from SSL_write or SSL_read
            assert proto.events.count("lost") == 1
            assert transport.is_closing()
            with pytest.raises(errors.ConnectionLost):
                transport.write(b".\r\n")
        finally:
            transport.abort()
            peer.close()

    asyncio.run(main())


class Flaky:
    """The transport's ``SSLSocket`` with ``SSLWantReadError`` or ``SSLWantWriteError`` put
    into its next calls of ``send``, ``recv_into`` or ``unwrap``: what a TLS 1.2
    renegotiation, the answer to a TLS 1.3 key update or a full socket do, which no test
    peer can be made to do on demand."""

    def __init__(self, tls: ssl.SSLSocket) -> None:
        self.tls = tls
        self.errors: dict[str, list[ssl.SSLError]] = {"send": [], "recv_into": [], "unwrap": []}
        self.calls: dict[str, int] = {"send": 0, "recv_into": 0, "unwrap": 0}
        self.sends: list[int] = []

    def _call(self, name: str) -> None:
        self.calls[name] += 1
        if self.errors[name]:
            raise self.errors[name].pop(0)

    def send(self, data: memoryview) -> int:
        self.sends.append(len(data))
        self._call("send")
        return self.tls.send(data)

    def recv_into(self, buffer: memoryview) -> int:
        self._call("recv_into")
        return self.tls.recv_into(buffer)

    def unwrap(self) -> socket.socket:
        self._call("unwrap")
        return self.tls.unwrap()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tls, name)


def _flaky(transport: TLSTransport) -> Flaky:
    flaky = Flaky(transport._tls)
    setattr(transport, "_tls", flaky)  # noqa: B010 (not an SSLSocket: no type for mypy)
    return flaky


def test_a_write_that_wants_a_read_is_retried_when_the_socket_is_readable(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    server_context.num_tickets = 0  # nothing to read until the peer sends its reply

    async def main() -> None:
        peer, proto, transport = await _connected(server_context, client_context)
        flaky = _flaky(transport)
        try:
            flaky.errors["send"] = [ssl.SSLWantReadError()]
            transport.write(b"POST\r\n")
            await asyncio.sleep(0.05)  # writable all along: no busy retry meanwhile
            assert flaky.sends == [6]
            assert transport.get_write_buffer_size() == 6
            await peer.send(b"340 go\r\n")
            assert await peer.read(6) == b"POST\r\n"
            assert flaky.sends == [6, 6]
            await _until(lambda: proto.received)
            assert bytes(proto.received) == b"340 go\r\n"
            assert transport.get_write_buffer_size() == 0
        finally:
            transport.abort()
            peer.close()

    asyncio.run(main())


def test_a_write_that_wants_a_read_while_closing_still_goes_out(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    server_context.num_tickets = 0

    async def main() -> None:
        peer, proto, transport = await _connected(server_context, client_context)
        flaky = _flaky(transport)
        try:
            flaky.errors["send"] = [ssl.SSLWantReadError()]
            transport.write(b"QUIT\r\n")
            transport.close()  # stops reading for the protocol, not for the write
            await asyncio.sleep(0.05)
            assert not proto.lost.done()
            await peer.send(b"205 bye\r\n")
            assert await peer.read(7) == b"QUIT\r\n"
            assert await asyncio.wait_for(proto.lost, 5) is None
            assert bytes(proto.received) == b""  # closing: nothing more for the protocol
        finally:
            transport.abort()
            peer.close()

    asyncio.run(main())


def test_a_read_that_wants_a_write_is_retried_when_the_socket_is_writable(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def main() -> None:
        peer, proto, transport = await _connected(server_context, client_context)
        flaky = _flaky(transport)
        try:
            flaky.errors["recv_into"] = [ssl.SSLWantWriteError()]
            await peer.send(b"200 hello\r\n")
            await _until(lambda: proto.received)
            assert bytes(proto.received) == b"200 hello\r\n"
            transport.write(b"QUIT\r\n")  # and the transport goes on as before
            assert await peer.read(6) == b"QUIT\r\n"
        finally:
            transport.abort()
            peer.close()

    asyncio.run(main())


def test_a_write_that_wants_a_read_after_a_full_socket_does_not_spin(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    server_context.num_tickets = 0

    async def main() -> None:
        peer, _, transport = await _connected(server_context, client_context)
        flaky = _flaky(transport)
        try:
            # the socket is full (the writer waits), then the retry wants a read: the
            # writer must stop, or it would retry for as long as the socket is writable
            flaky.errors["send"] = [ssl.SSLWantWriteError(), ssl.SSLWantReadError()]
            transport.write(b"POST\r\n")
            await asyncio.sleep(0.05)
            assert flaky.sends == [6, 6]
            await peer.send(b"340 go\r\n")
            assert await peer.read(6) == b"POST\r\n"
            assert flaky.sends == [6, 6, 6]
        finally:
            transport.abort()
            peer.close()

    asyncio.run(main())


def test_a_write_retried_after_a_read_can_wait_for_a_full_socket_again(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    server_context.num_tickets = 0

    async def main() -> None:
        peer, _, transport = await _connected(server_context, client_context)
        flaky = _flaky(transport)
        try:
            flaky.errors["send"] = [ssl.SSLWantReadError(), ssl.SSLWantWriteError()]
            transport.write(b"POST\r\n")
            await peer.send(b"340 go\r\n")  # readable: the retry finds the socket full
            assert await peer.read(6) == b"POST\r\n"  # and goes out when it is writable
            assert flaky.sends == [6, 6, 6]
        finally:
            transport.abort()
            peer.close()

    asyncio.run(main())


def test_a_read_that_wants_a_write_waits_for_the_writer_alone(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    server_context.num_tickets = 0

    async def main() -> None:
        peer, proto, transport = await _connected(server_context, client_context)
        flaky = _flaky(transport)
        try:
            # the reader stops until the socket is writable; were it left on, it would
            # read again at once (the bytes are still there) and so would the writer
            flaky.errors["recv_into"] = [ssl.SSLWantWriteError()]
            await peer.send(b"200 hello\r\n")
            await _until(lambda: proto.received)
            await asyncio.sleep(0.05)
            assert bytes(proto.received) == b"200 hello\r\n"
            assert flaky.calls["recv_into"] == 2
        finally:
            transport.abort()
            peer.close()

    asyncio.run(main())


def test_close_notify_waits_for_a_full_socket(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def main() -> None:
        peer, proto, transport = await _connected(
            server_context, client_context, ragged_eof_is_error=True
        )
        flaky = _flaky(transport)
        try:
            flaky.errors["unwrap"] = [ssl.SSLWantWriteError()]
            transport.write(b"QUIT\r\n")
            transport.close()
            assert await asyncio.wait_for(proto.lost, 5) is None
            assert flaky.calls["unwrap"] == 2
            assert await peer.read(7) == b"QUIT\r\n"  # and close_notify: no ragged EOF
        finally:
            peer.close()

    asyncio.run(main())


def test_starttls_hands_the_plain_socket_over_to_tls(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        peer = Peer(server_context)
        accepted = asyncio.ensure_future(peer.accept(tls=False))
        plain_proto = Recorder()
        plain = await socket_transport.connect(plain_proto, HOST, peer.port)
        await accepted
        await plain_proto.made
        try:
            plain.write(b"STARTTLS\r\n")
            assert await peer.read(10) == b"STARTTLS\r\n"
            await peer.send(b"382 go ahead\r\n")
            await _until(lambda: plain_proto.received)
            plain.write(os.urandom(3_000_000))  # queued: the socket cannot be handed over
            with pytest.raises(errors.ConnectionLost):
                plain.detach()
            await peer.read(3_000_000)
            await _until(lambda: plain.get_write_buffer_size() == 0)
            sock = plain.detach()
            assert plain.is_closing()
            upgraded = asyncio.ensure_future(peer.upgrade())
            tls = await tls_transport.handshake(sock, client_context, HOST)
            await upgraded
            proto = Recorder()
            transport = TLSTransport(loop, tls, proto)
            await proto.made
            transport.write(b"QUIT\r\n")
            assert await peer.read(6) == b"QUIT\r\n"  # read by the peer's SSLSocket
            await peer.send(b"205 bye\r\n")
            await _until(lambda: proto.received)
            assert bytes(proto.received) == b"205 bye\r\n"
            assert "lost" not in plain_proto.events  # the plain transport let go quietly
            transport.close()
            assert await asyncio.wait_for(proto.lost, 5) is None
        finally:
            peer.close()

    asyncio.run(main())


def test_handshake_rejects_a_certificate_it_does_not_trust(
    server_context: ssl.SSLContext,
) -> None:
    async def main() -> None:
        peer = Peer(server_context)
        accepted = asyncio.ensure_future(peer.accept(tls=False))
        sock = await socket_transport.open_socket(HOST, peer.port)
        await accepted
        server_side = asyncio.ensure_future(peer.upgrade())
        try:
            with pytest.raises(ssl.SSLCertVerificationError):
                await tls_transport.handshake(sock, ssl.create_default_context(), HOST)
            assert sock.fileno() == -1  # taken over, and closed with the connection
            with pytest.raises(ssl.SSLError, match="alert unknown ca"):  # the server is told
                await server_side
        finally:
            peer.close()

    asyncio.run(main())


def test_handshake_with_a_server_that_does_not_speak_tls(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def main() -> None:
        peer = Peer(server_context)
        accepted = asyncio.ensure_future(peer.accept(tls=False))
        sock = await socket_transport.open_socket(HOST, peer.port)
        await accepted
        try:
            await peer.send(b"200 news.example ready\r\n")
            with pytest.raises(ssl.SSLError) as caught:
                await tls_transport.handshake(sock, client_context, HOST)
            assert caught.value.reason in _NOT_TLS
        finally:
            peer.close()

    asyncio.run(main())


def test_handshake_with_a_server_that_hangs_up(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def main() -> None:
        peer = Peer(server_context)
        accepted = asyncio.ensure_future(peer.accept(tls=False))
        sock = await socket_transport.open_socket(HOST, peer.port)
        await accepted
        try:
            peer.reset()
            with pytest.raises((ssl.SSLEOFError, ConnectionError)):
                await tls_transport.handshake(sock, client_context, HOST)
        finally:
            peer.close()

    asyncio.run(main())


def test_handshake_cut_short_by_a_timeout_closes_the_connection(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    async def main() -> None:
        peer = Peer(server_context)
        accepted = asyncio.ensure_future(peer.accept(tls=False))
        sock = await socket_transport.open_socket(HOST, peer.port)
        await accepted
        try:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):  # the server never answers the ClientHello
                    await tls_transport.handshake(sock, client_context, HOST)
            hello = await peer.read(1 << 16)  # the ClientHello, then EOF: the client hung up
            assert hello[:1] == b"\x16"  # a TLS handshake record
        finally:
            peer.close()

    asyncio.run(main())


def test_detach_hands_over_an_idle_plain_socket_only() -> None:
    async def main() -> None:
        with socket.create_server((HOST, 0)) as listener:
            proto = Recorder()
            transport = await socket_transport.connect(proto, HOST, listener.getsockname()[1])
            await proto.made
            sock = transport.detach()
            assert isinstance(transport, SocketTransport)
            assert sock.fileno() != -1
            transport.abort()  # no-op: the transport let go of the socket
            await asyncio.sleep(0)
            assert sock.fileno() != -1
            assert proto.events == ["made"]
            sock.close()

    asyncio.run(main())


def test_one_client_context_per_process_for_each_kind_of_check() -> None:
    def server(**fields: object) -> ServerSettings:
        return ServerSettings(host="news.example", ssl=True, **fields)  # type: ignore[arg-type]

    verifying = make_ssl_context(server())
    assert make_ssl_context(server(port=443, label="other")) is verifying
    assert verifying.verify_mode is ssl.CERT_REQUIRED
    assert verifying.check_hostname
    insecure = make_ssl_context(server(verify_cert=False))
    assert make_ssl_context(server(verify_cert=False, port=443)) is insecure
    assert insecure.verify_mode is ssl.CERT_NONE
    assert not insecure.check_hostname
    assert insecure.cert_store_stats()["x509_ca"] == 0  # no CA store loaded for nothing
    assert insecure.minimum_version >= ssl.TLSVersion.TLSv1_2  # the defaults otherwise
