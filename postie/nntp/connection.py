"""One NNTP connection: greeting, TLS, authentication, POST and pipelined STAT.

The connection speaks NNTP through :class:`~postie.nntp.transport.ReplyStream`
(the IO edge) and :mod:`postie.nntp.protocol` (the rules). Every wait has a
timeout (connect, reply, post). Any failure in the middle of an exchange leaves
the connection ``broken``: the pool throws it away instead of reusing it.

A POST that fails after the first article byte was written raises
:class:`PostInDoubt`: the server may or may not have the article, so the caller
must STAT before posting again (a re-post would make a duplicate).
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import ssl
import sys
import time
from collections.abc import Iterable, Sequence
from types import TracebackType

import msgspec

from postie import errors
from postie.article.ids import bracketed
from postie.nntp import protocol, socket_transport, tls_transport
from postie.nntp.protocol import Reply
from postie.nntp.settings import ModeReader, ServerSettings
from postie.nntp.transport import ReplyStream, connect_error, server_prefix, tls_error

STAT_WINDOW = 256
_POST = protocol.encode_command("POST")


class PostInDoubt(errors.RetryableError):
    """The connection failed after the article was sent: STAT before posting again."""


class Greeting(msgspec.Struct, frozen=True):
    """The server's greeting (200: posting allowed, 201: not)."""

    reply: Reply

    @property
    def posting_allowed(self) -> bool:
        return self.reply.code == 200


def make_ssl_context(server: ServerSettings) -> ssl.SSLContext:
    """The TLS client context for ``server``: one per process for verifying connections
    and one for those that do not, shared by every connection (loading the system's CA
    certificates takes ~20 ms of CPU; it was once per connection)."""
    return _client_context(verify=server.verify_cert)


@functools.cache
def _client_context(*, verify: bool) -> ssl.SSLContext:
    if verify:
        return ssl.create_default_context()
    # what create_default_context() makes, without the CA certificates nothing will read
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    keylog = os.environ.get("SSLKEYLOGFILE")
    if keylog and not sys.flags.ignore_environment:
        context.keylog_filename = keylog
    return context


class NNTPConnection:
    """An open, greeted (and, when configured, authenticated) NNTP connection."""

    def __init__(self, server: ServerSettings) -> None:
        self.server = server
        self._stream: ReplyStream | None = None
        self.greeting: Greeting | None = None
        self.capabilities: tuple[str, ...] | None = None
        self.broken = False
        self.closed = False
        self.authenticated = False
        self._moded = False
        self.primed = False  # a POST was sent ahead and its 340 is still to be read
        self.created = time.monotonic()
        self.last_used = self.created

    @property
    def label(self) -> str:
        return self.server.label

    async def __aenter__(self) -> NNTPConnection:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- opening -----------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, read the greeting, TLS, authenticate, MODE READER.

        A failure to connect is mapped at the IO edge
        (:func:`~postie.nntp.transport.connect_error`,
        :func:`~postie.nntp.transport.tls_error`); a server that accepts the connection
        and never greets is :class:`~postie.errors.ServerNotAnswering`."""
        server = self.server
        context = make_ssl_context(server) if server.ssl or server.starttls else None
        stream = ReplyStream(self.label)
        try:
            await self._connect(stream, context)
            self._stream = stream
            reply = await self._greeting()
            if reply.code not in (200, 201):
                raise protocol.error_for(reply, f"{self.label} greeting")
            self.greeting = Greeting(reply)
            if server.starttls:
                await self._starttls(context)
            if server.mode_reader is ModeReader.ALWAYS or (
                server.mode_reader is ModeReader.AUTO and "transit" in reply.line.lower()
            ):
                # Before AUTHINFO: INN hands the connection to nnrpd on MODE READER,
                # and RFC 4643 lets a server forget authentication at that point.
                await self.mode_reader()
            if server.username and not self.authenticated:
                await self.authenticate()
        except BaseException:
            await self.aclose()
            raise

    async def _connect(self, stream: ReplyStream, context: ssl.SSLContext | None) -> None:
        """TCP (and, with implicit TLS, the handshake), within the connect timeout."""
        server = self.server
        loop = asyncio.get_running_loop()
        sock: socket.socket | None = None
        connected = False
        try:
            async with asyncio.timeout(server.connect_timeout):
                sock = await socket_transport.open_socket(server.host, server.port)
                if server.ssl:
                    assert context is not None
                    tls = await tls_transport.handshake(sock, context, server.host)
                    tls_transport.TLSTransport(loop, tls, stream)
                else:  # plain TCP, or before STARTTLS
                    socket_transport.SocketTransport(loop, sock, stream)
            connected = True
        except OSError as exc:  # DNS, TCP, TLS and the timeout are all OSErrors
            if sock is None:
                raise connect_error(exc, server) from exc
            raise tls_error(exc, server) from exc
        finally:
            if not connected:
                stream.abort()
                if sock is not None:
                    sock.close()  # nothing if the handshake took it over (and closed it)

    async def _greeting(self) -> Reply:
        server = self.server
        try:
            return await self._read_reply(server.connect_timeout)
        except errors.NNTPTimeout as exc:
            hint = (
                ""
                if server.ssl
                else ": is this a TLS port? try --ssl instead of --starttls"
                if server.starttls
                else ": is this a TLS port? try --ssl"
            )
            raise errors.ServerNotAnswering(
                f"{server_prefix(server)}no greeting from {server.host}:{server.port} within"
                f" {server.connect_timeout:g}s{hint}"
            ) from exc
        except errors.ConnectionLost as exc:  # a busy server, a connection limit: may pass
            if exc.reply is not None:
                raise  # "400 too many connections": the server said why
            raise errors.ConnectFailed(
                f"{server_prefix(server)}{server.host}:{server.port} closed the connection"
                " before its greeting"
            ) from exc
        except errors.ProtocolError as exc:
            raise errors.ServerUnreachable(
                f"{server_prefix(server)}{server.host}:{server.port} does not speak NNTP:"
                f" {exc}: is this an NNTP port?",
                reply=exc.reply,
            ) from exc

    async def _starttls(self, context: ssl.SSLContext | None) -> None:
        assert context is not None
        reply = await self.command("STARTTLS")
        if reply.code != 382:
            raise protocol.error_for(reply, f"{self.label} STARTTLS")
        stream = self._stream
        assert stream is not None
        plain = stream.transport
        assert isinstance(plain, socket_transport.SocketTransport)
        if stream.unread:  # bytes sent before TLS must not pass for bytes sent under it
            self.broken = True
            raise errors.ProtocolError(f"{self.label}: the server sent more than its 382")
        sock = plain.detach()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.server.connect_timeout):
                tls = await tls_transport.handshake(sock, context, self.server.host)
        except OSError as exc:  # ssl.SSLError and TimeoutError are OSErrors
            self.broken = True
            raise tls_error(exc, self.server) from exc
        stream.set_transport(tls_transport.TLSTransport(loop, tls, stream))

    async def mode_reader(self) -> Reply:
        self._moded = True
        reply = await self.command("MODE", "READER")
        if reply.code == 480 and self.server.username:
            await self.authenticate()
            reply = await self.command("MODE", "READER")
        if reply.code in (200, 201):
            self.greeting = Greeting(reply)
        return reply

    async def authenticate(self) -> None:
        """AUTHINFO USER/PASS; raises AuthenticationFailed with the server's reply."""
        username = self.server.username
        if not username:
            raise errors.AuthenticationFailed(
                f"{self.label} asks for authentication and no username is configured"
            )
        reply = await self.command("AUTHINFO", "USER", username)
        if reply.code == 381:
            password = self.server.secret()
            if password is None:
                raise errors.AuthenticationFailed(
                    f"{self.label} asks for a password and none is configured", reply=reply.line
                )
            reply = await self._exchange(protocol.encode_command("AUTHINFO", "PASS", password))
        if reply.code != 281:
            raise protocol.error_for(reply, f"{self.label} refused login")
        self.authenticated = True

    async def fetch_capabilities(self) -> tuple[str, ...]:
        reply = await self.command("CAPABILITIES")
        if reply.code != 101 or reply.lines is None:
            self.capabilities = ()
        else:
            self.capabilities = tuple(line.decode("utf-8", "replace") for line in reply.lines)
        return self.capabilities

    # --- exchanges ---------------------------------------------------------------------

    async def command(self, verb: str, *args: str) -> Reply:
        """Send one command and return its reply (no 480 handling)."""
        if self.primed:
            raise errors.ProtocolError(f"{self.label}: a POST is outstanding; cannot send {verb}")
        return await self._exchange(protocol.encode_command(verb, *args))

    async def _exchange(self, data: bytes) -> Reply:
        if self._write(data):
            await self._drain(self.server.reply_timeout)
        return await self._read_reply(self.server.reply_timeout)

    async def post(self, article: Sequence[bytes], *, prime_next: bool = False) -> Reply:
        """POST one article (CRLF lines, already dot-stuffed, ending in CRLF).

        Returns the final reply (240, 441, ...); the caller classifies it with
        :func:`protocol.post_outcome`. Re-authenticates once on 480. With
        ``prime_next`` the next ``POST`` goes out right behind the article
        (pipelining); the next call reads its 340 instead of sending POST again.
        """
        if self.primed:
            self.primed = False
            reply = self._reply_now() or await self._read_reply(self.server.reply_timeout)
        else:
            reply = await self.command("POST")
        if reply.code == 500 and self.server.mode_reader is ModeReader.AUTO and not self._moded:
            # a mode-switching server that did not say so in its greeting; if it
            # forgets the login on MODE READER, the 480 below logs in again
            await self.mode_reader()
            reply = await self.command("POST")
        if reply.code == 480 and self.server.username:
            await self.authenticate()
            reply = await self.command("POST")
        if reply.code != 340:
            raise protocol.error_for(reply, f"{self.label} POST")
        if self._stream is not None and self._stream.unread:
            # more than the 340: a reply to no command, which must not be taken for the
            # article's answer (a "240" that came before the article is no 240)
            self.broken = True
            raise errors.ProtocolError(
                f"{self.label}: the server sent more than its 340 before the article"
            )
        try:
            full = self._write(*article, protocol.TERMINATOR, *((_POST,) if prime_next else ()))
            self.primed = prime_next
            timeout = self.server.post_timeout
            if full:
                await self._drain(timeout)
            reply = await self._read_reply(timeout)
        except (errors.ConnectionLost, errors.NNTPTimeout, errors.ProtocolError) as exc:
            raise PostInDoubt(str(exc)) from exc
        return reply

    async def stat(self, message_id: str) -> bool:
        """True when the server has the article (223), False on 430."""
        result = await self.stat_many([message_id])
        return result[0]

    async def stat_many(self, message_ids: Iterable[str]) -> list[bool]:
        """STAT many articles, pipelined ``STAT_WINDOW`` deep; answers in order."""
        if self.primed:
            raise errors.ProtocolError(f"{self.label}: a POST is outstanding; cannot STAT")
        ids = list(message_ids)
        found: list[bool] = []
        sent = 0
        timeout = self.server.reply_timeout
        while len(found) < len(ids):
            # refill the window in one write once half of it is answered (a write, and
            # so a send(), per command cost more than the rest of the exchange)
            if sent < len(ids) and sent - len(found) <= STAT_WINDOW // 2:
                upto = min(len(ids), len(found) + STAT_WINDOW)
                full = self._write(
                    b"".join(
                        protocol.encode_command("STAT", bracketed(mid)) for mid in ids[sent:upto]
                    )
                )
                sent = upto
                if full:
                    await self._drain(timeout)
            reply = await self._read_reply(timeout)
            if reply.code == 480 and self.server.username and sent == len(found) + 1:
                await self.authenticate()
                sent -= 1
                continue
            if reply.code == 223:
                found.append(True)
            elif reply.code == 430:
                found.append(False)
            else:
                self.broken = self.broken or sent > len(found) + 1
                raise protocol.error_for(reply, f"{self.label} STAT {ids[len(found)]}")
        return found

    async def quit(self) -> None:
        if self.broken or self.closed or self._stream is None:
            return
        try:
            if self._write(protocol.encode_command("QUIT")):
                await self._drain(2.0)
            await self._read_reply(2.0)
        except errors.PostieError:
            pass

    async def aclose(self) -> None:
        """Close the socket (idempotent; does not send QUIT)."""
        if self.closed:
            return
        self.closed = True
        stream, self._stream = self._stream, None
        if stream is not None:
            if self.broken:
                stream.abort()
            else:
                stream.close()

    # --- IO helpers --------------------------------------------------------------------

    def _write(self, *data: bytes) -> bool:
        """Send ``data``; True when the caller must ``_drain`` (the transport is full).
        ``last_used`` moves when the reply is read."""
        stream = self._stream
        if stream is None or self.broken:
            raise errors.ConnectionLost(f"{self.label}: connection is closed")
        try:
            return stream.write(*data)
        except errors.NNTPError:
            self.broken = True
            raise

    async def _drain(self, timeout: float) -> None:
        stream = self._stream
        if stream is None:
            raise errors.ConnectionLost(f"{self.label}: connection is closed")
        try:
            await stream.drain(timeout)
        except errors.NNTPError:
            self.broken = True
            raise

    def _reply_now(self) -> Reply | None:
        """A reply received already (checked as ``_read_reply`` checks it), without a
        coroutine; None when there is none yet (or the connection is gone: then
        ``_read_reply`` says so)."""
        stream = self._stream
        if stream is None or self.broken:
            return None
        reply = stream.reply_nowait()
        return None if reply is None else self._checked(reply)

    async def _read_reply(self, timeout: float) -> Reply:
        stream = self._stream
        if stream is None or self.broken:
            raise errors.ConnectionLost(f"{self.label}: connection is closed")
        try:
            reply = stream.reply_nowait() or await stream.read_reply(timeout)
        except errors.NNTPError:
            self.broken = True
            raise
        return self._checked(reply)

    def _checked(self, reply: Reply) -> Reply:
        self.last_used = time.monotonic()
        if reply.code == 400:
            self.broken = True
            raise errors.ConnectionLost(
                f"{self.label}: server is closing: {reply.line}", reply=reply.line
            )
        return reply
