"""TLS on postie's own transport: a non-blocking ``ssl.SSLSocket``, no memory BIO.

asyncio's TLS (3.11's ``sslproto``) has OpenSSL encrypt into a memory BIO, reads the
records back out as a new ``bytes`` and hands them to its socket transport, which copies
again whatever the socket does not take at once; its ``writelines`` joins an article's
buffers first, a copy of the whole article. Here OpenSSL takes the caller's buffers as
they are, copies 16 KiB at a time into its record buffer, encrypts it there and writes
the record to the socket itself, with the GIL released while a whole article goes out:
no copy in Python, none in asyncio. Measurements, and the variants measured and not
kept (``TCP_CORK``, memory BIOs with one ``sendmsg`` per article): docs/performance.md,
"TLS on the fast path".

:class:`TLSTransport` is :class:`~postie.nntp.socket_transport.SocketTransport` (queue,
flow control, close and abort) with other system calls. What differs from plain TCP:

* ``SSLSocket`` has no ``sendmsg``: each queued buffer is one ``send`` (``SSL_write``,
  one record and one ``write`` per 16 KiB). Small buffers written together (the
  article's tail, the terminator, the next ``POST``) are joined first, so that they
  make one record, not three.
* ``SSL_write`` is all or nothing (Python does not set
  ``SSL_MODE_ENABLE_PARTIAL_WRITE``): when the socket fills in the middle of an
  article it raises ``SSLWantWriteError`` with part of it sent, and must be called
  again with the same buffer. The buffer stays at the head of the queue, unsliced,
  until a call returns its whole length.
* Each direction can need the other: a write can want a read (a TLS 1.2
  renegotiation), a read can want a write (the answer to a TLS 1.3 key update when the
  socket is full). The transport then waits for the other readiness, then retries.
* A read returns at most one record, and OpenSSL may hold decrypted bytes that the
  socket no longer signals (``pending()``): reading goes on while there are any.
* ``close()`` sends close_notify after the queued bytes, once the socket takes it
  (without waiting for the peer's); ``abort()`` and errors do not.

The handshake (:func:`handshake`) is ``do_handshake()`` on the non-blocking socket,
retried when the loop says the socket is ready; STARTTLS hands the plain transport's
socket over (:meth:`SocketTransport.detach`) and runs the same handshake on it.

Kernel TLS (``SSL_OP_ENABLE_KTLS``, then plain ``sendmsg`` on the socket) would also
spare the copy into OpenSSL's record buffer; Python 3.11 has no ``ssl.OP_ENABLE_KTLS``
and the kernel postie is measured on is built without ``CONFIG_TLS``, so it is not used.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterable
from typing import Any

from postie.nntp.socket_transport import SocketTransport

# TLS's largest record (plaintext): smaller buffers written together are joined, so that
# they go out in one record instead of one each.
_RECORD = 16 * 1024
_READ_SIZE = 64 * 1024


async def handshake(
    sock: socket.socket, context: ssl.SSLContext, server_hostname: str
) -> ssl.SSLSocket:
    """The TLS client handshake on a connected non-blocking socket, which it takes over
    (``sock`` is detached; on failure the connection is closed). Raises what OpenSSL
    raises (``ssl.SSLCertVerificationError``, ``ssl.SSLError``, ``OSError``), which the
    caller maps with :func:`~postie.nntp.transport.tls_error`; the caller bounds the
    wait (``asyncio.timeout``)."""
    try:
        tls = context.wrap_socket(
            sock, server_hostname=server_hostname, do_handshake_on_connect=False
        )
    except BaseException:
        sock.close()
        raise
    try:
        loop = asyncio.get_running_loop()
        while True:
            try:
                tls.do_handshake()
            except ssl.SSLWantReadError:
                await _ready(loop, tls.fileno(), write=False)
            except ssl.SSLWantWriteError:
                await _ready(loop, tls.fileno(), write=True)
            else:
                return tls
    except BaseException:
        tls.close()
        raise


async def _ready(loop: asyncio.AbstractEventLoop, fd: int, *, write: bool) -> None:
    waiter: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not waiter.done():
            waiter.set_result(None)

    if write:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await waiter
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


class TLSTransport(SocketTransport):
    """asyncio transport over a non-blocking ``ssl.SSLSocket`` whose handshake is done:
    buffers are encrypted where they are, one ``SSL_write`` each."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: ssl.SSLSocket, protocol: asyncio.Protocol
    ) -> None:
        super().__init__(loop, sock, protocol)
        self._tls = sock
        self._buffer = memoryview(bytearray(_READ_SIZE))
        self._write_waits_read = False  # SSL_write wants the socket readable
        self._read_waits_write = False  # SSL_read wants the socket writable
        self._notify = True  # close_notify is still to be sent after close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "ssl_object":
            return self._tls
        if name == "peercert":
            return self._tls.getpeercert()
        if name == "cipher":
            return self._tls.cipher()
        return super().get_extra_info(name, default)

    # --- writing ---------------------------------------------------------------------------

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        super().writelines(_join_small(list_of_data))

    def _send(self, views: list[bytes | memoryview]) -> int:
        sent = 0
        for view in views:
            try:
                count = self._tls.send(view)
            except ssl.SSLWantWriteError:  # part of it may be out: retry the same view
                break
            except ssl.SSLWantReadError:
                self._write_waits_read = True
                self._loop.remove_writer(self._fd)
                if not self._reading:  # closing: read readiness only to retry the write
                    self._loop.add_reader(self._fd, self._read_ready)
                break
            sent += count
            if count < len(view):
                break
        return sent

    def _wait_writable(self) -> None:
        if not self._write_waits_read:
            super()._wait_writable()

    def _write_ready(self) -> None:
        if self._read_waits_write:
            self._read_waits_write = False
            if not self._pending:
                self._loop.remove_writer(self._fd)
            if self._reading:
                self._loop.add_reader(self._fd, self._read_ready)
            self._read_ready()
            if self._closed or not self._pending:
                return
        super()._write_ready()

    # --- reading ---------------------------------------------------------------------------

    def pause_reading(self) -> None:
        super().pause_reading()
        if self._write_waits_read and not self._closed:  # the write still needs to know
            self._loop.add_reader(self._fd, self._read_ready)

    def _read_ready(self) -> None:
        if self._write_waits_read:
            self._write_waits_read = False
            if not self._reading:
                self._loop.remove_reader(self._fd)
            self._write_ready()
            if self._pending and not self._write_waits_read and not self._closed:
                self._loop.add_writer(self._fd, self._write_ready)
            if not self._reading:
                return
        tls, buffer = self._tls, self._buffer
        while True:
            try:
                count = tls.recv_into(buffer)
            except ssl.SSLWantReadError:
                return
            except ssl.SSLWantWriteError:
                self._read_waits_write = True
                self._loop.remove_reader(self._fd)  # until the socket takes the write
                self._loop.add_writer(self._fd, self._write_ready)
                return
            except OSError as exc:
                self._force_close(exc)
                return
            if not count:  # close_notify, or an EOF without it (suppress_ragged_eofs)
                self._eof()
                return
            self._protocol.data_received(bytes(buffer[:count]))
            if not self._reading or not tls.pending():
                return

    # --- closing ---------------------------------------------------------------------------

    def _lost(self, exc: Exception | None) -> None:
        if exc is None and self._notify and not self._aborted and not self._closed:
            # close() sent everything queued: close_notify next, once the socket takes it
            try:
                self._tls.unwrap()
            except ssl.SSLWantWriteError:
                self._loop.add_writer(self._fd, self._lost, None)
                return
            except (OSError, ValueError):
                pass  # sent (SSLWantReadError: the peer's is not awaited), or cannot be
            self._notify = False
        super()._lost(exc)

    def _close_socket(self) -> None:
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        self._tls.close()


def _join_small(
    buffers: Iterable[bytes | bytearray | memoryview],
) -> list[bytes | bytearray | memoryview]:
    """``buffers`` with each run of two or more smaller than a record joined into one."""
    out: list[bytes | bytearray | memoryview] = []
    run: list[bytes | bytearray | memoryview] = []
    for data in buffers:
        if memoryview(data).nbytes < _RECORD:
            run.append(data)
            continue
        if run:
            out.append(run[0] if len(run) == 1 else b"".join(run))
            run = []
        out.append(data)
    if run:
        out.append(run[0] if len(run) == 1 else b"".join(run))
    return out
