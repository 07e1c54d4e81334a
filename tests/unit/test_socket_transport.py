"""The zero-copy plain-TCP transport against real loopback sockets."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import socket

import pytest

from postie import errors
from postie.nntp import socket_transport
from postie.nntp.socket_transport import HIGH_WATER, SocketTransport
from postie.nntp.transport import ReplyStream


class Recorder(asyncio.Protocol):
    def __init__(self) -> None:
        self.events: list[str] = []
        self.received = bytearray()
        self.made = asyncio.get_running_loop().create_future()
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        self.resumed = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.events.append("made")
        self.made.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.received += data

    def eof_received(self) -> bool | None:
        self.events.append("eof")
        return None

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")
        self.resumed.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append("lost")
        self.lost.set_result(exc)


class Peer:
    """A loopback server whose one connection is read on demand (or not at all)."""

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # small buffers: a few hundred KB written is more than the connection holds
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.port = self.listener.getsockname()[1]
        self.conn: socket.socket | None = None

    async def accept(self) -> socket.socket:
        loop = asyncio.get_running_loop()
        self.listener.setblocking(False)
        conn, _ = await loop.sock_accept(self.listener)
        self.conn = conn
        return conn

    async def read_all(self, count: int) -> bytes:
        assert self.conn is not None
        loop = asyncio.get_running_loop()
        out = bytearray()
        while len(out) < count:
            chunk = await loop.sock_recv(self.conn, 1 << 20)
            if not chunk:
                break
            out += chunk
        return bytes(out)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.listener.close()


async def _connected() -> tuple[Peer, Recorder, SocketTransport]:
    peer = Peer()
    proto = Recorder()
    accepted = asyncio.ensure_future(peer.accept())
    transport = await socket_transport.connect(proto, "127.0.0.1", peer.port)
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    await accepted
    await proto.made
    return peer, proto, transport


def test_many_large_buffers_arrive_in_order_with_flow_control() -> None:
    async def main() -> None:
        peer, proto, transport = await _connected()
        try:
            sock = transport.get_extra_info("socket")
            assert isinstance(sock, socket.socket)
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            chunks = [os.urandom(n) for n in (1, 700_001, 13, 0, 1_500_000, 64 * 1024)]
            expected = b"".join(chunks)
            transport.writelines(chunks[:3])
            transport.write(chunks[3])
            transport.writelines(chunks[3:])
            # the peer has not read yet: far more than the socket takes is queued
            assert transport.get_write_buffer_size() > HIGH_WATER
            assert proto.events == ["made", "pause"]
            got = await peer.read_all(len(expected))
            await asyncio.wait_for(proto.resumed.wait(), 5)
            assert hashlib.sha256(got).digest() == hashlib.sha256(expected).digest()
            assert transport.get_write_buffer_size() == 0
            assert proto.events == ["made", "pause", "resume"]
        finally:
            transport.abort()
            peer.close()

    asyncio.run(main())


def test_close_sends_what_is_queued_first_then_reports_lost() -> None:
    async def main() -> None:
        peer, proto, transport = await _connected()
        try:
            payload = os.urandom(3_000_000)
            transport.write(payload)
            transport.close()
            assert transport.is_closing()
            with pytest.raises(errors.ConnectionLost):
                transport.write(b"more")
            got = await peer.read_all(len(payload) + 1)  # +1: reads on until EOF
            assert got == payload
            assert await asyncio.wait_for(proto.lost, 5) is None
            assert proto.events[-1] == "lost"
        finally:
            peer.close()

    asyncio.run(main())


def test_abort_drops_the_queue_and_reports_lost_once() -> None:
    async def main() -> None:
        peer, proto, transport = await _connected()
        try:
            transport.write(os.urandom(4_000_000))
            transport.abort()
            transport.abort()
            assert await asyncio.wait_for(proto.lost, 5) is None
            await asyncio.sleep(0)
            assert proto.events.count("lost") == 1
            assert transport.get_write_buffer_size() == 0
        finally:
            peer.close()

    asyncio.run(main())


def test_replies_are_delivered_and_peer_close_is_eof_then_lost() -> None:
    async def main() -> None:
        peer, proto, transport = await _connected()
        try:
            assert peer.conn is not None
            peer.conn.sendall(b"200 hello\r\n")
            for _ in range(100):
                if proto.received:
                    break
                await asyncio.sleep(0.01)
            assert bytes(proto.received) == b"200 hello\r\n"
            peer.conn.close()
            peer.conn = None
            assert await asyncio.wait_for(proto.lost, 5) is None
            assert proto.events == ["made", "eof", "lost"]
        finally:
            transport.abort()
            peer.close()

    asyncio.run(main())


def test_refused_connection_raises_the_os_error() -> None:
    async def main() -> None:
        with socket.create_server(("127.0.0.1", 0)) as probe:
            port = probe.getsockname()[1]
        proto = Recorder()
        with pytest.raises(ConnectionRefusedError) as info:
            await socket_transport.connect(proto, "127.0.0.1", port)
        assert info.value.errno == errno.ECONNREFUSED
        assert proto.events == []

    asyncio.run(main())


def test_write_to_a_reset_connection_reports_lost_with_the_error() -> None:
    async def main() -> None:
        peer, proto, transport = await _connected()
        try:
            assert peer.conn is not None
            # RST instead of FIN: SO_LINGER with a zero timeout
            peer.conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)
            peer.conn.close()
            peer.conn = None
            await asyncio.sleep(0.05)
            for _ in range(50):
                if proto.lost.done():
                    break
                transport.write(os.urandom(100_000))
                await asyncio.sleep(0.01)
            exc = await asyncio.wait_for(proto.lost, 5)
            assert exc is None or isinstance(exc, ConnectionError)
            assert "lost" in proto.events
        finally:
            transport.abort()
            peer.close()

    asyncio.run(main())


@pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="Linux TCP_QUICKACK")
def test_quickack_is_set_only_to_wait_for_a_reply_after_reading_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server with Nagle on holds a reply behind an earlier one until our ACK of it:
    a reader about to wait after having read a reply sends that ACK (TCP_QUICKACK). A
    wait right after a write needs none (the write carries the ACK), nor does a reply
    already received."""
    acks: list[str] = []
    monkeypatch.setattr(ReplyStream, "_ack_now", lambda self: acks.append("ack"))

    async def main() -> None:
        peer = Peer()
        stream = ReplyStream("peer")
        accepted = asyncio.ensure_future(peer.accept())
        await socket_transport.connect(stream, "127.0.0.1", peer.port)
        conn = await accepted
        try:
            await asyncio.sleep(0)
            acks.clear()  # the one of connection_made
            conn.sendall(b"200 hello\r\n")
            assert (await stream.read_reply(5)).code == 200  # waited: nothing read yet
            assert acks == []
            conn.sendall(b"240 ok\r\n340 go\r\n")
            stream.write(b"article\r\n.\r\nPOST\r\n")
            assert (await stream.read_reply(5)).code == 240  # waited right after a write
            assert (await stream.read_reply(5)).code == 340  # already there
            assert acks == []
            later = asyncio.ensure_future(stream.read_reply(5))  # waits after a read
            await asyncio.sleep(0.01)
            assert acks == ["ack"]
            conn.sendall(b"240 ok\r\n")
            assert (await later).code == 240
        finally:
            stream.abort()
            peer.close()

    asyncio.run(main())
