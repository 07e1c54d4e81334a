"""A plain-TCP asyncio transport that sends articles without copying them.

asyncio's own socket transport (3.11) copies whatever the socket does not take at
once: ``data[n:]`` makes a new ``bytes`` of the rest of the article, and its write
buffer (a ``bytearray``) copies that again. An article is ~730 KB and a socket takes a
part of it per send, so on a fast link most article bytes were copied twice on the
event loop thread, the thread that limits throughput (measured: 5-6% of postie's CPU
for a 1 GiB upload, all of it on the loop). Here the unsent rest stays a
``memoryview`` of the caller's buffer, and everything queued goes out with one
``sendmsg`` (scatter/gather: the article's head, body and tail, the terminator and
the next ``POST`` are one system call).

TLS (implicit or STARTTLS) goes through the same transport:
:class:`~postie.nntp.tls_transport.TLSTransport` replaces the system calls (``_send``,
``_read_ready``, ``_lost``) and keeps the queue, the flow control and the closing. The interface is
:class:`asyncio.Transport` as the :class:`~postie.nntp.transport.ReplyStream` protocol
uses it: ``write``/``writelines`` with ``pause_writing``/``resume_writing`` flow control,
``close`` (after the queued bytes), ``abort``, ``get_extra_info("socket")``; and
``detach`` (the socket handed over to TLS after STARTTLS).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import socket
from collections.abc import Iterable

from postie import errors

# Flow control as asyncio's defaults: pause the protocol above 64 KiB queued, resume at
# 16 KiB.
HIGH_WATER = 64 * 1024
LOW_WATER = 16 * 1024
# Buffers per sendmsg: far below IOV_MAX (1024 on Linux); an article is 3-5 of them.
_MAX_BUFFERS = 64
_READ_SIZE = 256 * 1024


async def connect(protocol: asyncio.Protocol, host: str, port: int) -> SocketTransport:
    """Connect to ``host:port`` and return the transport, with ``protocol`` attached (its
    ``connection_made`` is called soon)."""
    sock = await open_socket(host, port)
    return SocketTransport(asyncio.get_running_loop(), sock, protocol)


async def open_socket(host: str, port: int) -> socket.socket:
    """A non-blocking TCP socket connected to ``host:port``, trying each address in
    turn as asyncio does. Raises ``socket.gaierror`` when the name does not resolve and
    ``OSError`` when no address takes the connection (a ``ConnectionRefusedError`` when
    one of them refused it)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not infos:
        raise OSError(f"getaddrinfo({host!r}) returned no addresses")
    failures: list[OSError] = []
    for family, type_, proto, _, address in infos:
        sock = socket.socket(family, type_, proto)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            failures.append(exc)
            continue
        except BaseException:
            sock.close()
            raise
        if family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    if len(failures) == 1:
        raise failures[0]
    # every address failed: say how each did; a refusal anywhere says more than another
    # address's "unreachable" (OSError picks the subclass of the errno)
    refused = [exc.errno for exc in failures if isinstance(exc, ConnectionRefusedError)]
    errno = refused[0] if refused else failures[0].errno
    raise OSError(errno, "; ".join(str(exc) for exc in failures))


class SocketTransport(asyncio.Transport):
    """asyncio transport over a connected non-blocking TCP socket; zero-copy writes."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol: asyncio.Protocol
    ) -> None:
        extra: dict[str, object] = {"socket": sock}
        for key, read in (("peername", sock.getpeername), ("sockname", sock.getsockname)):
            with contextlib.suppress(OSError):
                extra[key] = read()
        super().__init__(extra)
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._pending: collections.deque[memoryview] = collections.deque()
        self._pending_size = 0
        self._protocol_paused = False
        self._reading = False
        self._closing = False
        self._closed = False
        self._aborted = False
        loop.call_soon(self._start, protocol)

    def _start(self, protocol: asyncio.Protocol) -> None:
        if self._closing:
            return
        protocol.connection_made(self)
        if not self._closing:
            self.resume_reading()

    # --- reading ---------------------------------------------------------------------------

    def is_reading(self) -> bool:
        return self._reading

    def pause_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self._fd)

    def resume_reading(self) -> None:
        if not self._reading and not self._closing:
            self._reading = True
            self._loop.add_reader(self._fd, self._read_ready)

    def _read_ready(self) -> None:
        try:
            data = self._sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._force_close(exc)
            return
        if data:
            self._protocol.data_received(data)
            return
        self._eof()

    def _eof(self) -> None:
        """The peer closed its side: tell the protocol; close unless it keeps writing."""
        self.pause_reading()
        if not self._protocol.eof_received():
            self.close()

    # --- writing ---------------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writelines((data,))

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        """Queue the buffers in order. They are referenced, not copied: the caller must not
        change a ``bytearray`` it passed until it has been sent (``bytes`` are safe)."""
        if self._closing:
            raise errors.ConnectionLost("write on a closed connection")
        # bytes as they are (sendmsg takes them; a view is made only of a part left
        # unsent); anything else as a view of its bytes, so that len() counts bytes
        buffers = [
            data if type(data) is bytes else memoryview(data).cast("B") for data in list_of_data
        ]
        if self._pending:
            self._queue(buffers)
        else:
            try:
                sent = self._send(
                    buffers if len(buffers) <= _MAX_BUFFERS else buffers[:_MAX_BUFFERS]
                )
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._force_close(exc)
                return
            if sent == sum(map(len, buffers)):  # all of it (the common case)
                return
            self._queue(_skip(buffers, sent))
            if not self._pending:
                return
            self._wait_writable()
        if not self._protocol_paused and self._pending_size > HIGH_WATER:
            self._protocol_paused = True
            self._protocol.pause_writing()

    def _send(self, views: list[bytes | memoryview]) -> int:
        """Send what the socket takes of ``views`` now; the number of bytes sent."""
        return self._sock.sendmsg(views)

    def _wait_writable(self) -> None:
        """Something is queued that the socket did not take: send it when it can."""
        self._loop.add_writer(self._fd, self._write_ready)

    def _queue(self, buffers: Iterable[bytes | memoryview]) -> None:
        for data in buffers:
            size = len(data)
            if size:
                self._pending.append(data if type(data) is memoryview else memoryview(data))
                self._pending_size += size

    def _write_ready(self) -> None:
        pending = self._pending
        try:
            sent = self._send(list(itertools.islice(pending, _MAX_BUFFERS)))
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._force_close(exc)
            return
        self._pending_size -= sent
        while sent:
            first = pending[0]
            if len(first) <= sent:
                sent -= len(first)
                pending.popleft()
            else:
                pending[0] = first[sent:]
                sent = 0
        if self._protocol_paused and self._pending_size <= LOW_WATER:
            self._protocol_paused = False
            self._protocol.resume_writing()
        if not pending:
            self._loop.remove_writer(self._fd)
            if self._closing:
                self._lost(None)

    def can_write_eof(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self._pending_size

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return LOW_WATER, HIGH_WATER

    # --- closing ---------------------------------------------------------------------------

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Close after the queued bytes are sent; ``connection_lost(None)`` follows."""
        if self._closing:
            return
        self._closing = True
        self.pause_reading()
        if not self._pending:
            self._loop.call_soon(self._lost, None)

    def abort(self) -> None:
        """Close now; queued bytes are dropped."""
        self._aborted = True
        self._force_close(None)

    def detach(self) -> socket.socket:
        """Hand the socket over (to TLS, after STARTTLS) and close the transport without
        closing the socket or calling ``connection_lost``. Nothing may be queued."""
        if self._closing or self._pending:
            raise errors.ConnectionLost("detach of a closing or busy connection")
        self.pause_reading()
        self._closing = self._closed = True
        return self._sock

    def _force_close(self, exc: Exception | None) -> None:
        if self._closed:
            return
        if self._pending:
            self._pending.clear()
            self._pending_size = 0
            self._loop.remove_writer(self._fd)
        if self._closing:  # close() waited for the queue: connection_lost is ours to call
            self._lost(exc)
            return
        self._closing = True
        self.pause_reading()
        self._loop.call_soon(self._lost, exc)

    def _lost(self, exc: Exception | None) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._close_socket()

    def _close_socket(self) -> None:
        self._sock.close()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        assert isinstance(protocol, asyncio.Protocol)
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def __repr__(self) -> str:
        state = "closed" if self._closed else "closing" if self._closing else "open"
        name = type(self).__name__
        return f"<{name} fd={self._fd} {state} pending={self._pending_size}>"

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self._sock.close()


def _skip(buffers: list[bytes | memoryview], sent: int) -> list[bytes | memoryview]:
    """``buffers`` without their first ``sent`` bytes (a part of one is a view of it)."""
    for i, data in enumerate(buffers):
        if sent < len(data):
            return [memoryview(data)[sent:], *buffers[i + 1 :]] if sent else buffers[i:]
        sent -= len(data)
    return []
