"""A small NNTP server that misbehaves on purpose, for tests.

Posting to Usenet goes wrong in ways that are hard to provoke against a real server: a
connection dies right after the server said "340 send article", the server stores the article
but the "240" never makes it back, a provider answers "240" and then quietly loses the article,
authentication silently expires halfway through a long session, or a reply simply never comes.
A posting engine is only as good as its handling of exactly those cases, so this module ships a
server that can be told to do each of them, deterministically, from inside a test.

:class:`FaultyNNTPServer` speaks the part of RFC 3977 (NNTP) and RFC 4643 (AUTHINFO USER/PASS)
that a poster uses: ``CAPABILITIES``, ``MODE READER``, ``AUTHINFO``, ``POST``, ``STAT``,
``ARTICLE``/``HEAD``/``BODY``, ``DATE`` and ``QUIT``.  It runs on the caller's asyncio event loop,
uses only the standard library, keeps every article it accepted in memory and records what it
saw (commands, post attempts, acceptances, duplicates), so a test can assert on the server's
view of the conversation, not only on the client's.  It is part of the installed package on
purpose: users can point their own integration tests at it as well.

The fault model
---------------
Faults are described by a mutable :class:`Faults` instance (``server.faults``), which a test may
change at any time, even while clients are connected.  Most faults are counters meaning "the
next N posts": each time a fault fires its counter is decremented.  The counters are shared by
all connections of a server; taking one is a check-and-decrement with no ``await`` in between,
so on the single-threaded event loop two concurrent connections can never both spend the last
unit of a counter.

A ``POST`` goes through these steps, and the faults hook into them in this order:

1. ``drop_after_340`` is checked when the ``POST`` command arrives: the server answers 340,
   reads the article, and then aborts the connection without a reply and without storing it.
2. The article is read and checked: it must have a ``Message-ID`` (this server never assigns
   one) and a ``Newsgroups`` header; then ``max_article_size`` and ``allowed_groups`` apply,
   and an already-stored Message-ID gets ``441 435 Duplicate``.
3. Only an article that would otherwise be accepted takes the remaining faults:
   ``stall_posts`` (no reply ever; the server waits until the client hangs up),
   ``reject_441`` (``441 Posting failed``), ``lose_articles`` (answered 240 but never stored,
   so ``STAT`` answers 430 and a repost is accepted again) and ``drop_after_article`` (stored,
   then the connection is aborted before the 240 goes out, as if the reply were lost).

Two faults are not counters: ``auth_expire_after`` makes authentication expire after that many
commands on a connection (the next command gets ``480`` and the client has to send
``AUTHINFO`` again), and ``reply_delay`` delays every reply, simulating a link's latency: a reply
is sent no earlier than ``reply_delay`` seconds after the command it answers arrived, so
pipelined commands share one delay rather than each paying it in turn.

:func:`make_tree` is a small companion helper that fills a directory with files of given sizes
and deterministic content, for tests that need something to post; :class:`ManualClock` is a
store's clock a test moves forward.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import random
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from types import TracebackType

__all__ = ["Faults", "FaultyNNTPServer", "ServerStatistics", "make_tree"]

_BUFFER_LIMIT = 64 * 1024 * 1024
_READ_CHUNK = 256 * 1024
_AUTH_COMMANDS = frozenset({"POST", "STAT", "ARTICLE", "BODY", "HEAD"})
_RETRIEVAL = {"ARTICLE": 220, "HEAD": 221, "BODY": 222, "STAT": 223}


@dataclass
class Faults:
    """What a :class:`FaultyNNTPServer` should do wrong; mutable while the server runs.

    The integer fields are counters for "the next N posts", decremented as the fault fires and
    shared by all connections of the server.  See the module documentation for the order in
    which they are applied to a ``POST``.
    """

    drop_after_340: int = 0
    """Next N ``POST`` commands: send 340, read the article, abort the connection unreplied."""
    drop_after_article: int = 0
    """Next N acceptable articles: store the article, then abort before sending 240."""
    reject_441: int = 0
    """Next N acceptable articles: answer ``441 Posting failed`` and store nothing."""
    auth_expire_after: int | None = None
    """After this many commands since the last ``AUTHINFO``, the next command gets 480."""
    stall_posts: int = 0
    """Next N acceptable articles: store nothing, never reply, wait for the client to close."""
    stall_seconds: float = 3600.0
    """Upper bound on how long a stalled post waits before the server closes the connection."""
    lose_articles: int = 0
    """Next N acceptable articles: answer 240 but do not store them (``STAT`` gives 430)."""
    lose_for_good: int = 0
    """Next N acceptable articles: answer 240 but do not store them, and lose every later post
    of the same Message-ID too (an article a provider will never keep)."""
    stat_errors: int = 0
    """Next N ``STAT`` commands: answer ``403 Internal fault`` (a server error, not a 430)."""
    rewrite_ids: int = 0
    """Next N acceptable articles: store them under a Message-ID of the server's choosing,
    named in the 240 reply (RFC 3977 allows it); the client's ID is then unknown."""
    reply_delay: float = 0.0
    """Seconds between a command's arrival and its reply (simulated latency)."""
    max_article_size: int | None = None
    """Larger articles get ``441 Article is bigger than local limit``."""
    allowed_groups: frozenset[str] | None = None
    """If set, articles posted to none of these groups get ``441 No valid newsgroups in ...``."""


@dataclass(frozen=True)
class ServerStatistics:
    """A snapshot of a :class:`FaultyNNTPServer`'s counters."""

    connections_opened: int
    connections_active: int
    max_concurrent_connections: int
    articles_stored: int
    posts: int
    """Articles fully received after a 340, whatever happened to them afterwards."""
    duplicates: int
    lost: int


class _ConnectionClosed(Exception):
    """The peer closed the connection (or sent more than the buffer limit without a newline)."""


class _BufferedReader:
    """Command lines and dot-terminated blocks, from our own buffer over a StreamReader.

    A private buffer (rather than ``StreamReader.readuntil``) lets the article reader recognise
    a terminating ``.`` line right at the start of the block, accept bare LF line endings, and
    search a large article for its terminator incrementally.
    """

    def __init__(self, reader: asyncio.StreamReader, loop: asyncio.AbstractEventLoop) -> None:
        self._reader = reader
        self._loop = loop
        self._buf = bytearray()
        self.arrival = loop.time()
        """Loop time at which the most recently buffered bytes arrived."""

    async def _fill(self) -> None:
        chunk = await self._reader.read(_READ_CHUNK)
        if not chunk:
            raise _ConnectionClosed
        self._buf += chunk
        self.arrival = self._loop.time()
        if len(self._buf) > _BUFFER_LIMIT:
            raise _ConnectionClosed

    async def readline(self) -> bytes:
        """Return the next line without its line ending (CRLF or bare LF)."""
        start = 0
        while (end := self._buf.find(b"\n", start)) < 0:
            start = len(self._buf)
            await self._fill()
        line = bytes(self._buf[:end])
        del self._buf[: end + 1]
        return line.removesuffix(b"\r")

    async def read_block(self) -> bytes:
        """Return a multi-line block up to (excluding) its ``.`` line, still dot-stuffed.

        The result is empty or ends with a line ending; bytes after the ``.`` line stay buffered
        for the next command.
        """
        search_from = 0
        while True:
            found = _find_terminator(self._buf, search_from)
            if found is not None:
                content_end, block_end = found
                block = bytes(self._buf[:content_end])
                del self._buf[:block_end]
                return block
            # A terminator could straddle the end of the buffer ("\n", "\n.", "\n.\r").
            search_from = max(0, len(self._buf) - 3)
            await self._fill()

    async def discard_until_eof(self) -> None:
        """Read and drop everything until the peer closes the connection."""
        self._buf.clear()
        with contextlib.suppress(_ConnectionClosed):
            while True:
                await self._fill()
                self._buf.clear()


def _find_terminator(buf: bytearray, start: int) -> tuple[int, int] | None:
    """Find the first line consisting of a single ``.`` in ``buf``.

    Returns ``(content_end, block_end)``: the block's content is ``buf[:content_end]`` and the
    ``.`` line ends at ``block_end``.  ``None`` means more data is needed.  ``start`` is where
    to resume searching for ``"\\n."`` after an unsuccessful call.
    """
    if buf.startswith(b".\r\n"):
        return 0, 3
    if buf.startswith(b".\n"):
        return 0, 2
    crlf = buf.find(b"\n.\r\n", start)
    lf = buf.find(b"\n.\n", start, crlf + 2 if crlf >= 0 else len(buf))
    if lf >= 0:
        return lf + 1, lf + 3
    if crlf >= 0:
        return crlf + 1, crlf + 4
    return None


def _unstuff(block: bytes) -> bytes:
    """Turn a received dot-stuffed block into CRLF-terminated lines without the stuffing.

    Per RFC 3977 section 3.1.1 the leading dot of every line that starts with one is dropped
    (a correct client only sends such lines stuffed, i.e. starting with ``..``).
    """
    if not block:
        return b""
    if block.count(b"\n") == block.count(b"\r\n"):  # CRLF only: the fast path
        if block.startswith(b"."):
            block = block[1:]
        return block.replace(b"\r\n.", b"\r\n")
    lines = block.split(b"\n")
    lines.pop()  # the block ends with a line ending, so the last piece is empty
    out = [(line[1:] if line.startswith(b".") else line).removesuffix(b"\r") for line in lines]
    out.append(b"")
    return b"\r\n".join(out)


def _stuff(data: bytes) -> bytes:
    """Dot-stuff CRLF-terminated ``data`` for sending as a multi-line block (no ``.`` line)."""
    if not data:
        return b""
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    if data.startswith(b"."):
        data = b"." + data
    return data.replace(b"\r\n.", b"\r\n..")


def _split_article(article: bytes) -> tuple[bytes, bytes]:
    """Split stored article bytes into (headers, body), each CRLF-terminated or empty."""
    if article.startswith(b"\r\n"):
        return b"", article[2:]
    head, sep, body = article.partition(b"\r\n\r\n")
    if not sep:
        return article, b""
    return head + b"\r\n", body


def _parse_headers(head: bytes) -> dict[str, str]:
    """Parse a header block (unfolding continuation lines); names are lower-cased.

    When a header occurs more than once the first occurrence wins.
    """
    headers: dict[str, str] = {}
    unfolded: list[str] = []
    for raw in head.decode("utf-8", "surrogateescape").split("\r\n"):
        if raw[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += " " + raw.strip()
        elif raw:
            unfolded.append(raw)
    for line in unfolded:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), value.strip())
    return headers


def _valid_message_id(mid: str) -> bool:
    return (
        len(mid) >= 3
        and mid.startswith("<")
        and mid.endswith(">")
        and not any(c.isspace() or c in "<>" for c in mid[1:-1])
    )


class FaultyNNTPServer:
    """An in-process NNTP server for tests, with injectable faults.

    Use it as an async context manager; with ``port=0`` (the default) it listens on a free port,
    available as :attr:`port` once started::

        async with FaultyNNTPServer(faults=Faults(reject_441=1)) as server:
            ...  # connect to server.host, server.port

    Everything the server observed is available as attributes: :attr:`articles` (stored
    articles by Message-ID, un-dot-stuffed, CRLF line endings, without the ``.`` line),
    :attr:`post_attempts`, :attr:`accepted`, :attr:`duplicates`, :attr:`lost`,
    :attr:`commands` (``AUTHINFO PASS`` arguments redacted) and connection counts; see also
    :meth:`statistics`.

    With ``username`` and ``password`` set, ``POST``, ``STAT``, ``ARTICLE``, ``HEAD`` and
    ``BODY`` need ``AUTHINFO USER``/``PASS`` first.  Without them any ``AUTHINFO`` is accepted.
    ``posting_allowed=False`` greets with 201 and answers ``POST`` with 440.  In
    ``transit_mode`` the server greets as a transit server and answers ``POST`` with 500 until
    the client sends ``MODE READER``.
    """

    def __init__(
        self,
        *,
        faults: Faults | None = None,
        username: str | None = None,
        password: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        posting_allowed: bool = True,
        transit_mode: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        greeting: str | None = None,
    ) -> None:
        self.faults: Faults = faults if faults is not None else Faults()
        self.username = username
        self.password = password
        self.host = host
        self.port = port
        self.posting_allowed = posting_allowed
        self.transit_mode = transit_mode
        self.ssl_context = ssl_context
        self.greeting = greeting  # replaces the greeting line (to hide transit mode, say)

        self.articles: dict[str, bytes] = {}
        self.post_attempts: collections.Counter[str] = collections.Counter()
        self.accepted: collections.Counter[str] = collections.Counter()
        self.duplicates: collections.Counter[str] = collections.Counter()
        self.lost: collections.Counter[str] = collections.Counter()
        self.lost_articles: dict[str, bytes] = {}
        """The bytes of the last lost post of each Message-ID (to compare a re-post with)."""
        self.doomed: set[str] = set()
        """Message-IDs lost for good (``lose_for_good``): every post of them is lost."""
        self.commands: list[str] = []
        self.connections_opened = 0
        self.max_concurrent_connections = 0
        self.posts = 0

        self._server: asyncio.Server | None = None
        self._handlers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._closed = False

    @property
    def requires_auth(self) -> bool:
        """Whether credentials are configured (and so reader commands need ``AUTHINFO``)."""
        return self.username is not None or self.password is not None

    @property
    def connections_active(self) -> int:
        """Number of client connections currently being served."""
        return len(self._handlers)

    async def start(self) -> None:
        """Start listening (what ``async with`` does); :attr:`port` is then the bound port."""
        if self._server is not None:
            raise RuntimeError("server already started")
        if self._closed:
            raise RuntimeError("server already closed")
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def __aenter__(self) -> FaultyNNTPServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop listening and close every client connection; calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        server = self._server
        if server is not None:
            server.close()
        # Let connections accepted just before close() get their handler task started, so
        # that they are registered (and see ``_closed``) before we cancel what is registered.
        for _ in range(3):
            await asyncio.sleep(0)
        while self._handlers:
            handlers = list(self._handlers.items())
            for task, writer in handlers:
                writer.transport.abort()
                task.cancel()
            await asyncio.gather(*(task for task, _ in handlers), return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    def statistics(self) -> ServerStatistics:
        """Return a snapshot of the server's counters."""
        return ServerStatistics(
            connections_opened=self.connections_opened,
            connections_active=self.connections_active,
            max_concurrent_connections=self.max_concurrent_connections,
            articles_stored=len(self.articles),
            posts=self.posts,
            duplicates=sum(self.duplicates.values()),
            lost=sum(self.lost.values()),
        )

    def _take(self, name: str) -> bool:
        """Spend one unit of the fault counter ``name``; False if it is exhausted.

        There is no ``await`` between the check and the decrement, so concurrent connections
        (all on one event loop) cannot both spend the last unit.
        """
        faults = self.faults
        remaining: int = getattr(faults, name)
        if remaining <= 0:
            return False
        setattr(faults, name, remaining - 1)
        return True

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers[task] = writer
        self.connections_opened += 1
        self.max_concurrent_connections = max(self.max_concurrent_connections, len(self._handlers))
        try:
            if not self._closed:
                await _Session(self, reader, writer).run()
        except (_ConnectionClosed, ConnectionError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            if not self._closed:
                raise
            # Cancelled by aclose(): end normally.  (Python 3.11's start_server logs an
            # error for a connection task that ends cancelled.)
        finally:
            del self._handlers[task]
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()


class _Session:
    """The state of one client connection."""

    def __init__(
        self,
        server: FaultyNNTPServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.server = server
        self.reader = _BufferedReader(reader, loop)
        self.writer = writer
        self.loop = loop
        self.authenticated = False
        self.pending_user: str | None = None
        self.commands_since_auth = 0
        self.reader_mode = not server.transit_mode

    async def send(self, *lines: str, data: bytes = b"", arrival: float | None = None) -> None:
        """Send reply lines (and an optional raw block), honouring ``reply_delay``."""
        delay = self.server.faults.reply_delay
        if delay > 0:
            since = self.reader.arrival if arrival is None else arrival
            wait = since + delay - self.loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        payload = "".join(line + "\r\n" for line in lines).encode("utf-8", "surrogateescape")
        self.writer.write(payload + data)
        await self.writer.drain()

    async def run(self) -> None:
        server = self.server
        if server.transit_mode:
            greeting = "200 postie-testing ready (transit mode)"
        elif server.posting_allowed:
            greeting = "200 postie-testing ready (posting ok)"
        else:
            greeting = "201 postie-testing ready (no posting)"
        await self.send(server.greeting or greeting, arrival=self.loop.time())
        while True:
            raw = await self.reader.readline()
            line = raw.decode("utf-8", "surrogateescape")
            words = line.split()
            verb = words[0].upper() if words else ""
            args = words[1:]
            if verb == "AUTHINFO" and len(args) >= 2 and args[0].upper() == "PASS":
                server.commands.append(f"{words[0]} {args[0]} ****")
            else:
                server.commands.append(line)
            if not verb:
                await self.send("501 Syntax error")
                continue
            if await self.auth_expired(verb):
                continue
            if verb == "QUIT":
                await self.send("205 Bye")
                return
            if verb in _AUTH_COMMANDS and server.requires_auth and not self.authenticated:
                await self.send("480 Authentication required")
                continue
            if verb == "POST":
                if not await self.post(args):
                    return
            elif verb in _RETRIEVAL:
                await self.retrieve(verb, args)
            elif verb == "AUTHINFO":
                await self.authinfo(args)
            elif verb == "MODE":
                await self.mode(args)
            elif verb == "CAPABILITIES":
                await self.capabilities()
            elif verb == "DATE":
                await self.send("111 " + datetime.now(UTC).strftime("%Y%m%d%H%M%S"))
            else:
                await self.send("500 Unknown command")

    async def auth_expired(self, verb: str) -> bool:
        """Apply ``auth_expire_after``; True if the command was answered with 480."""
        if not (self.server.requires_auth and self.authenticated):
            return False
        if verb in ("AUTHINFO", "QUIT"):
            return False
        limit = self.server.faults.auth_expire_after
        if limit is not None and self.commands_since_auth >= limit:
            self.authenticated = False
            self.commands_since_auth = 0
            await self.send("480 Authentication required")
            return True
        self.commands_since_auth += 1
        return False

    async def authinfo(self, args: list[str]) -> None:
        server = self.server
        sub = args[0].upper() if args else ""
        if sub not in ("USER", "PASS") or len(args) < 2:
            await self.send("501 Syntax error")
            return
        if self.authenticated:
            await self.send("502 Already authenticated")
            return
        value = " ".join(args[1:])
        if sub == "USER":
            self.pending_user = value
            await self.send("381 Password required")
            return
        if self.pending_user is None:
            await self.send("482 Authentication commands issued out of sequence")
            return
        user, self.pending_user = self.pending_user, None
        if not server.requires_auth or (user == server.username and value == server.password):
            self.authenticated = True
            self.commands_since_auth = 0
            await self.send("281 Authentication accepted")
        else:
            await self.send("481 Authentication failed")

    async def mode(self, args: list[str]) -> None:
        if [a.upper() for a in args] != ["READER"]:
            await self.send("501 Syntax error")
            return
        self.reader_mode = True
        if self.server.posting_allowed:
            await self.send("200 Posting allowed")
        else:
            await self.send("201 Posting prohibited")

    async def capabilities(self) -> None:
        server = self.server
        lines = ["101 Capability list:", "VERSION 2", "IMPLEMENTATION postie-testing"]
        if self.reader_mode:
            lines.append("READER")
            if server.posting_allowed:
                lines.append("POST")
        else:
            lines.append("MODE-READER")
        if server.requires_auth and not self.authenticated:
            lines.append("AUTHINFO USER")
        lines.append(".")
        await self.send(*lines)

    async def retrieve(self, verb: str, args: list[str]) -> None:
        if not args or not args[0].startswith("<"):
            if not args or args[0].isdigit():
                await self.send("412 No newsgroup selected")
            else:
                await self.send("501 Syntax error")
            return
        mid = args[0]
        if verb == "STAT" and self.server._take("stat_errors"):
            await self.send("403 Internal fault")
            return
        article = self.server.articles.get(mid)
        if article is None:
            await self.send("430 No such article")
            return
        status = f"{_RETRIEVAL[verb]} 0 {mid}"
        if verb == "STAT":
            await self.send(status)
            return
        head, body = _split_article(article)
        block = {"ARTICLE": article, "HEAD": head, "BODY": body}[verb]
        await self.send(status, data=_stuff(block) + b".\r\n")

    async def post(self, args: list[str]) -> bool:
        """Handle ``POST``; False if the connection has to be closed afterwards."""
        server = self.server
        if args:
            await self.send("501 Syntax error")
            return True
        if not self.reader_mode:
            await self.send("500 Unknown command (transit mode; send MODE READER first)")
            return True
        if not server.posting_allowed:
            await self.send("440 Posting not permitted")
            return True
        drop = server._take("drop_after_340")
        await self.send("340 Ok")
        article = _unstuff(await self.reader.read_block())
        server.posts += 1
        head, _ = _split_article(article)
        headers = _parse_headers(head)
        mid = headers.get("message-id", "")
        if mid:
            server.post_attempts[mid] += 1
        if drop:
            self.writer.transport.abort()
            return False
        faults = server.faults
        if not mid:
            await self.send("441 No Message-ID")
        elif not _valid_message_id(mid):
            await self.send(f"441 Bad Message-ID {mid}")
        elif "newsgroups" not in headers:
            await self.send("441 No Newsgroups header")
        elif faults.max_article_size is not None and len(article) > faults.max_article_size:
            await self.send("441 Article is bigger than local limit")
        elif faults.allowed_groups is not None and not (
            {g.strip() for g in headers["newsgroups"].split(",")} & faults.allowed_groups
        ):
            await self.send(f"441 No valid newsgroups in {headers['newsgroups']}")
        elif mid in server.articles:
            server.duplicates[mid] += 1
            await self.send("441 435 Duplicate")
        elif server._take("stall_posts"):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.reader.discard_until_eof(), faults.stall_seconds)
            return False
        elif server._take("reject_441"):
            await self.send("441 Posting failed")
        elif mid in server.doomed or server._take("lose_for_good"):
            server.doomed.add(mid)
            server.lost[mid] += 1
            server.lost_articles[mid] = article
            server.accepted[mid] += 1
            await self.send(f"240 Article received {mid}")
        elif server._take("lose_articles"):
            server.lost[mid] += 1
            server.lost_articles[mid] = article
            server.accepted[mid] += 1
            await self.send(f"240 Article received {mid}")
        elif server._take("rewrite_ids"):
            new = f"<rewritten.{len(server.articles)}.{mid[1:-1]}>"
            server.articles[new] = article
            server.accepted[new] += 1
            await self.send(f"240 Article received {new}")
        else:
            server.articles[mid] = article
            server.accepted[mid] += 1
            if server._take("drop_after_article"):
                self.writer.transport.abort()
                return False
            await self.send(f"240 Article received {mid}")
        return True


def make_tree(root: Path, spec: Mapping[str, int | bytes], *, seed: int = 0) -> dict[Path, bytes]:
    """Create files under ``root`` as described by ``spec``; return ``{absolute path: content}``.

    Keys are relative POSIX paths (intermediate directories are created).  A ``bytes`` value is
    written as is; an ``int`` value means that many pseudo-random bytes, derived from ``seed``
    and the path alone, so the same spec and seed always give the same content.
    """
    base = root.absolute()
    created: dict[Path, bytes] = {}
    for rel, value in spec.items():
        parts = PurePosixPath(rel).parts
        if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
            raise ValueError(f"not a relative path inside the tree: {rel!r}")
        if isinstance(value, bytes):
            content = value
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            digest = hashlib.sha256(f"{seed}\0{rel}".encode()).digest()
            content = random.Random(int.from_bytes(digest[:8], "big")).randbytes(value)
        else:
            raise ValueError(f"size must be a non-negative int or bytes, got {value!r}: {rel!r}")
        path = base.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        created[path] = content
    return created


class ManualClock:
    """A clock to give a store (``open_store(path, clock=clock)``): the real time plus
    an offset a test moves with ``advance``, so leases and due times run out without
    waiting for them."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds
