"""One NNTP connection over asyncio streams.

The connection owns the socket and a :class:`~postie.nntp.protocol.ReplyParser`;
all NNTP knowledge lives in the protocol module. Every wait has a timeout
(connect, reply, post). Any failure in the middle of an exchange leaves the
connection ``broken``: the pool throws it away instead of reusing it.

A POST that fails after the first article byte was written raises
:class:`PostInDoubt`: the server may or may not have the article, so the caller
must STAT before posting again (a re-post would make a duplicate).
"""

from __future__ import annotations

import asyncio
import collections
import os
import ssl
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType

from postie import errors
from postie.config import ServerConfig
from postie.nntp import protocol
from postie.nntp.protocol import Reply

READ_CHUNK = 256 * 1024
STAT_WINDOW = 256


class PostInDoubt(errors.RetryableError):
    """The connection failed after the article was sent: STAT before posting again."""


@dataclass(frozen=True, slots=True)
class Greeting:
    reply: Reply

    @property
    def posting_allowed(self) -> bool:
        return self.reply.code == 200


def make_ssl_context(server: ServerConfig) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not server.verify_cert:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class NNTPConnection:
    """An open, greeted (and, when configured, authenticated) NNTP connection."""

    def __init__(self, server: ServerConfig) -> None:
        self.server = server
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser = protocol.ReplyParser()
        self._replies: collections.deque[Reply] = collections.deque()
        self.greeting: Greeting | None = None
        self.capabilities: tuple[str, ...] | None = None
        self.broken = False
        self.closed = False
        self.authenticated = False
        self.created = time.monotonic()
        self.last_used = self.created
        self.articles_posted = 0

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
        """Connect, read the greeting, TLS, authenticate, MODE READER."""
        server = self.server
        timeouts = server.timeouts
        context = make_ssl_context(server) if server.ssl or server.starttls else None
        try:
            async with asyncio.timeout(timeouts.connect):
                self._reader, self._writer = await asyncio.open_connection(
                    server.host,
                    server.effective_port,
                    ssl=context if server.ssl else None,
                    server_hostname=server.host if server.ssl else None,
                    limit=READ_CHUNK,
                )
        except TimeoutError:
            raise errors.ConnectFailed(
                f"{self.label}: no connection within {timeouts.connect:g}s"
            ) from None
        except ssl.SSLCertVerificationError as exc:
            raise errors.GiveUp(
                f"{self.label}: TLS certificate rejected: {exc.verify_message}"
                " (set verify_cert: false only for a server you trust)"
            ) from None
        except (OSError, ssl.SSLError) as exc:
            raise errors.ConnectFailed(f"{self.label}: cannot connect: {_os_reason(exc)}") from None
        try:
            reply = await self._read_reply(timeouts.connect)
            if reply.code not in (200, 201):
                raise protocol.error_for(reply, f"{self.label} greeting")
            self.greeting = Greeting(reply)
            if server.starttls:
                await self._starttls(context)
            if server.mode_reader:
                # Before AUTHINFO: INN hands the connection to nnrpd on MODE READER,
                # and RFC 4643 lets a server forget authentication at that point.
                await self.mode_reader()
            if server.username and not self.authenticated:
                await self.authenticate()
        except BaseException:
            await self.aclose()
            raise

    async def _starttls(self, context: ssl.SSLContext | None) -> None:
        assert context is not None
        reply = await self.command("STARTTLS")
        if reply.code != 382:
            raise protocol.error_for(reply, f"{self.label} STARTTLS")
        assert self._writer is not None
        try:
            async with asyncio.timeout(self.server.timeouts.connect):
                await self._writer.start_tls(context, server_hostname=self.server.host)
        except ssl.SSLCertVerificationError as exc:
            raise errors.GiveUp(
                f"{self.label}: TLS certificate rejected: {exc.verify_message}"
            ) from None
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            self.broken = True
            raise errors.ConnectFailed(f"{self.label}: STARTTLS failed: {exc}") from None

    async def mode_reader(self) -> Reply:
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
        return await self._exchange(protocol.encode_command(verb, *args))

    async def _exchange(self, data: bytes) -> Reply:
        self._write(data)
        await self._drain(self.server.timeouts.reply)
        return await self._read_reply(self.server.timeouts.reply)

    async def post(self, article: Sequence[bytes]) -> Reply:
        """POST one article (CRLF lines, already dot-stuffed, ending in CRLF).

        Returns the final reply (240, 441, ...); the caller classifies it with
        :func:`protocol.post_outcome`. Re-authenticates once on 480.
        """
        reply = await self.command("POST")
        if reply.code == 480 and self.server.username:
            await self.authenticate()
            reply = await self.command("POST")
        if reply.code != 340:
            raise protocol.error_for(reply, f"{self.label} POST")
        try:
            writer = self._writer
            if writer is None:
                raise errors.ConnectionLost(f"{self.label}: connection is closed")
            # Separate writes, not writelines: on 3.11 writelines joins (a copy of the
            # whole article) before the transport copies whatever the socket did not take.
            for chunk in article:
                writer.write(chunk)
            writer.write(protocol.TERMINATOR)
            timeout = self.server.timeouts.post
            await self._drain(timeout)
            reply = await self._read_reply(timeout)
        except (errors.ConnectionLost, errors.NNTPTimeout) as exc:
            raise PostInDoubt(str(exc)) from exc
        self.articles_posted += 1
        return reply

    async def stat(self, message_id: str) -> bool:
        """True when the server has the article (223), False on 430."""
        result = await self.stat_many([message_id])
        return result[0]

    async def stat_many(self, message_ids: Iterable[str]) -> list[bool]:
        """STAT many articles, pipelined ``STAT_WINDOW`` deep; answers in order."""
        ids = list(message_ids)
        found: list[bool] = []
        sent = 0
        timeout = self.server.timeouts.reply
        while len(found) < len(ids):
            while sent < len(ids) and sent - len(found) < STAT_WINDOW:
                self._write(protocol.encode_command("STAT", _bracket(ids[sent])))
                sent += 1
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
        if self.broken or self.closed or self._writer is None:
            return
        try:
            self._write(protocol.encode_command("QUIT"))
            await self._drain(2.0)
            await self._read_reply(2.0)
        except errors.PostieError:
            pass

    async def aclose(self) -> None:
        """Close the socket (idempotent; does not send QUIT)."""
        if self.closed:
            return
        self.closed = True
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            try:
                async with asyncio.timeout(2.0):
                    await asyncio.shield(writer.wait_closed())
            except (OSError, ssl.SSLError, TimeoutError, asyncio.CancelledError):
                writer.transport.abort()

    # --- IO helpers --------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        writer = self._writer
        if writer is None or self.broken:
            raise errors.ConnectionLost(f"{self.label}: connection is closed")
        writer.write(data)
        self.last_used = time.monotonic()

    async def _drain(self, timeout: float) -> None:
        writer = self._writer
        if writer is None:
            raise errors.ConnectionLost(f"{self.label}: connection is closed")
        try:
            async with asyncio.timeout(timeout):
                await writer.drain()
        except TimeoutError:
            self.broken = True
            raise errors.NNTPTimeout(f"{self.label}: send stalled for {timeout:g}s") from None
        except (OSError, ssl.SSLError) as exc:
            self.broken = True
            raise errors.ConnectionLost(f"{self.label}: {_os_reason(exc)}") from None

    async def _read_reply(self, timeout: float) -> Reply:
        if self._replies:
            return self._replies.popleft()
        reader = self._reader
        if reader is None or self.broken:
            raise errors.ConnectionLost(f"{self.label}: connection is closed")
        try:
            async with asyncio.timeout(timeout):
                while not self._replies:
                    data = await reader.read(READ_CHUNK)
                    if not data:
                        self.broken = True
                        raise errors.ConnectionLost(f"{self.label}: server closed the connection")
                    self._replies.extend(self._parser.feed(data))
        except TimeoutError:
            self.broken = True
            raise errors.NNTPTimeout(f"{self.label}: no reply within {timeout:g}s") from None
        except (OSError, ssl.SSLError) as exc:
            self.broken = True
            raise errors.ConnectionLost(f"{self.label}: {_os_reason(exc)}") from None
        except errors.ProtocolError:
            self.broken = True
            raise
        self.last_used = time.monotonic()
        reply = self._replies.popleft()
        if reply.code == 400:
            self.broken = True
            raise errors.ConnectionLost(f"{self.label}: server is closing: {reply.line}")
        return reply


def _bracket(message_id: str) -> str:
    return message_id if message_id.startswith("<") else f"<{message_id}>"


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
