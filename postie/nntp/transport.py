"""The IO edge of an NNTP connection: an asyncio Protocol with deadlines.

Bytes from the socket go straight into the sans-IO
:class:`~postie.nntp.protocol.ReplyParser` in ``data_received``; a waiting
reader is woken only when a whole reply is there. No StreamReader in between,
no copy of the received bytes, no future per read.

Timeouts are deadlines checked by one timer per connection, not an
``asyncio.timeout`` per read: arming a deadline is a float store, and the timer
fires (and re-arms itself at the current deadline) at most once per timeout
period. When a deadline passes the transport is aborted and the waiting call
raises :class:`~postie.errors.NNTPTimeout`. OS errors are mapped to postie's
errors here and nowhere else.
"""

from __future__ import annotations

import asyncio
import collections
import os
import re
import socket
import ssl

from postie import errors
from postie.nntp.protocol import Reply, ReplyParser
from postie.nntp.settings import ServerSettings
from postie.nntp.socket_transport import SocketTransport

_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


class ReplyStream(asyncio.Protocol):
    """Receives replies, sends commands and articles, enforces deadlines."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._parser = ReplyParser()
        self._replies: collections.deque[Reply] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._lost: BaseException | None = None
        self._closed = False
        self._deadline: float | None = None
        self._timeout = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timed_out = False
        self._quickack: socket.socket | None = None
        self._read_since_write = False  # a reply was read since our last write
        self._gathers = False  # the transport sends a list of buffers without joining

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._gathers = isinstance(transport, SocketTransport)
        sock = transport.get_extra_info("socket")
        self._quickack = sock if _QUICKACK is not None and sock is not None else None
        self._ack_now()

    def _ack_now(self) -> None:
        # With pipelined POSTs a server answers "240" and "340" back to back. A server
        # that keeps Nagle's algorithm on (INN's nnrpd does) holds the "340" until our
        # ACK of the "240" arrives, and Linux delays that ACK by up to 40 ms: measured
        # here, 50 ms per article. Setting TCP_QUICKACK sends a pending ACK at once (and
        # the kernel clears the flag again). It is set only where it pays: when a reader
        # is about to wait for a reply after having read one, with nothing written since
        # that could carry the ACK (the "340" behind a "240", the next of pipelined STAT
        # replies); not after every read, which cost a system call per reply even when
        # the next reply was already there or our next write carried the ACK.
        sock = self._quickack
        if sock is not None and _QUICKACK is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            except OSError:
                self._quickack = None

    def data_received(self, data: bytes) -> None:
        try:
            replies = self._parser.feed(data)
        except errors.ProtocolError as exc:
            self._fail(exc)
            return
        if replies:
            self._replies.extend(replies)
            self._wake_reader()

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._lost is None:
            self._lost = exc or ConnectionResetError("server closed the connection")
        self._wake_reader()
        self._wake_drain()
        self._cancel_timer()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_drain()

    # --- used by the connection ------------------------------------------------------------

    @property
    def broken(self) -> bool:
        return self._lost is not None or self._closed

    @property
    def unread(self) -> bool:
        """Something was received and not read yet: a whole reply or a part of one."""
        return bool(self._replies) or not self._parser.idle

    def write(self, *data: bytes) -> bool:
        """Send the buffers in order, without copying them: one ``sendmsg`` on plain TCP
        (:class:`~postie.nntp.socket_transport.SocketTransport`), one ``SSL_write`` each
        over TLS (:class:`~postie.nntp.tls_transport.TLSTransport`). Another transport
        gets one write each (asyncio's ``writelines`` joins them first, a copy).

        True when the transport asked to pause writing: ``drain`` before more. (A
        connection lost meanwhile shows at the next read as at a drain.)"""
        transport = self.transport
        if self._lost is not None or self._closed or transport is None:
            raise self._error()
        self._read_since_write = False
        if self._gathers:
            transport.writelines(data)
        else:
            for chunk in data:
                transport.write(chunk)
        return self._paused

    async def drain(self, timeout: float) -> None:
        if self.broken:
            raise self._error()
        if not self._paused:
            return
        self._arm(timeout)
        try:
            while self._paused and not self.broken:
                self._drain_waiter = self._loop.create_future()
                await self._drain_waiter
        finally:
            self._drain_waiter = None
            self._deadline = None
        if self.broken:
            raise self._error()

    def reply_nowait(self) -> Reply | None:
        """The next reply if it is here already (no coroutine for ``read_reply``)."""
        if self._replies:
            self._read_since_write = True
            return self._replies.popleft()
        return None

    async def read_reply(self, timeout: float) -> Reply:
        if self._replies:
            self._read_since_write = True
            return self._replies.popleft()
        if self._lost is not None or self._closed:
            raise self._error()
        if self._read_since_write and self._quickack is not None:
            self._ack_now()  # the peer may hold this reply until it has our ACK
        self._arm(timeout)
        try:
            while not self._replies:
                if self.broken:
                    raise self._error()
                self._waiter = self._loop.create_future()
                await self._waiter
        finally:
            self._waiter = None
            self._deadline = None
        self._read_since_write = True
        return self._replies.popleft()

    def set_transport(self, transport: asyncio.Transport) -> None:
        """After STARTTLS: the TLS transport replaces the plain one (which calls
        ``connection_made`` again, soon)."""
        self.transport = transport
        self._gathers = isinstance(transport, SocketTransport)

    def abort(self) -> None:
        self._cancel_timer()
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self._cancel_timer()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    # --- internals ---------------------------------------------------------------------

    def _error(self) -> errors.NNTPError:
        if self._timed_out:
            return errors.NNTPTimeout(f"{self.label}: no reply within {self._timeout:g}s")
        lost = self._lost
        if isinstance(lost, errors.NNTPError):
            return lost
        if lost is None:
            return errors.ConnectionLost(f"{self.label}: connection is closed")
        return errors.ConnectionLost(f"{self.label}: {os_reason(lost)}")

    def _fail(self, exc: BaseException) -> None:
        if self._lost is None:
            self._lost = exc
        self._wake_reader()
        self._wake_drain()
        if self.transport is not None:
            self.transport.abort()

    def _wake_reader(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_drain(self) -> None:
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _arm(self, timeout: float) -> None:
        deadline = self._loop.time() + timeout
        self._deadline = deadline
        self._timeout = timeout
        timer = self._timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._timer = self._loop.call_at(deadline, self._check_deadline)

    def _check_deadline(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None or self._closed:
            return
        if self._loop.time() >= deadline:
            self._timed_out = True
            self._fail(errors.NNTPTimeout(f"{self.label}: no reply within {self._timeout:g}s"))
        else:
            self._timer = self._loop.call_at(deadline, self._check_deadline)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def os_reason(exc: BaseException) -> str:
    """What went wrong, in the words of the OS (or of OpenSSL, or of the resolver)."""
    if isinstance(exc, ssl.SSLError):  # its errno is OpenSSL's, not the OS's
        return ssl_reason(exc)
    if isinstance(exc, socket.gaierror):  # its errno is an EAI_* code, not the OS's
        return str(exc.strerror or exc)
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)
    if isinstance(exc, OSError) and exc.strerror:
        return str(exc.strerror)
    return str(exc) or type(exc).__name__


_SSL_NOISE = re.compile(r"^\[[A-Z0-9_]+: [A-Z0-9_]+\] |\s*\(_ssl\.c:\d+\)$")


def ssl_reason(exc: ssl.SSLError) -> str:
    """OpenSSL's reason without its decorations: ``wrong version number``."""
    verify_message = getattr(exc, "verify_message", None)  # set by a failed verification
    if verify_message:
        return str(verify_message)
    text = _SSL_NOISE.sub("", str(exc.strerror or exc))
    return text or str(getattr(exc, "reason", None) or exc).lower().replace("_", " ")


# OpenSSL's reasons for a handshake that met something other than TLS: a plain NNTP
# greeting ("200 ...") is no TLS record.
_NOT_TLS = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "UNKNOWN_PROTOCOL",
        "HTTP_REQUEST",
        "PACKET_LENGTH_TOO_LONG",
        "RECORD_LAYER_FAILURE",
    }
)


def server_prefix(server: ServerSettings) -> str:
    """The server's name before a message that names its address anyway."""
    return "" if server.label == f"{server.host}:{server.port}" else f"{server.label}: "


def connect_error(exc: OSError, server: ServerSettings) -> errors.NNTPError:
    """The postie error for a failure to resolve ``server``'s name or to connect to it.

    Named for what happened, classed by what the caller does next: a name that does not
    resolve is :class:`~postie.errors.ServerUnreachable` (a temporary resolver failure is
    retryable); a refused connection or none in time is
    :class:`~postie.errors.ServerNotAnswering`; anything else (a reset, an unreachable
    network) is :class:`~postie.errors.ConnectFailed`, which may pass.
    """
    who, address = server_prefix(server), f"{server.host}:{server.port}"
    if isinstance(exc, socket.gaierror):
        text = f"{who}cannot resolve {server.host}: {os_reason(exc)}"
        if exc.errno == socket.EAI_AGAIN:  # "Temporary failure in name resolution"
            return errors.ConnectFailed(text)
        return errors.ServerUnreachable(text)
    if isinstance(exc, TimeoutError):
        return errors.ServerNotAnswering(
            f"{who}no connection to {address} within {server.connect_timeout:g}s"
        )
    if isinstance(exc, ConnectionRefusedError):
        return errors.ServerNotAnswering(f"{who}connection refused: nothing listens on {address}")
    return errors.ConnectFailed(f"{who}cannot connect to {address}: {os_reason(exc)}")


def tls_error(exc: OSError, server: ServerSettings) -> errors.NNTPError:
    """The postie error for a failed TLS handshake with ``server`` (implicit or STARTTLS).

    A certificate that does not verify, or a peer that does not speak TLS at all, is
    :class:`~postie.errors.ServerUnreachable`; no handshake in time is
    :class:`~postie.errors.ServerNotAnswering`; a connection closed during the handshake
    (or any other OS error) is :class:`~postie.errors.ConnectFailed`.
    """
    who, address = server_prefix(server), f"{server.host}:{server.port}"
    failed = f"{who}TLS handshake with {address} failed"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return errors.ServerUnreachable(
            f"{who}TLS certificate of {server.host} rejected: {ssl_reason(exc)}"
            " (--insecure, or verify_cert: false in the config, skips this check:"
            " only for a server you trust)"
        )
    if isinstance(exc, ssl.SSLError) and getattr(exc, "reason", None) in _NOT_TLS:
        if server.starttls:
            return errors.ServerUnreachable(
                f"{failed}: the server did not speak TLS after STARTTLS"
            )
        return errors.ServerUnreachable(
            f"{failed}: the server did not speak TLS: is port {server.port} a TLS port?"
            " try without --ssl"
        )
    if isinstance(exc, TimeoutError):
        return errors.ServerNotAnswering(f"{failed}: no answer within {server.connect_timeout:g}s")
    if isinstance(exc, ssl.SSLEOFError | ConnectionError):
        return errors.ConnectFailed(f"{failed}: the server closed the connection")
    if isinstance(exc, ssl.SSLError):  # a TLS version or cipher the two sides do not share
        return errors.ServerUnreachable(f"{failed}: {ssl_reason(exc)}")
    return errors.ConnectFailed(f"{failed}: {os_reason(exc)}")
