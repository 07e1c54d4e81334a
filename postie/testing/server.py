"""The fault-injecting NNTP server: listening, connections, what it stored and counted.

Each connection's conversation is a :class:`~postie.testing.session.Session`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
from collections.abc import Sequence
from types import TracebackType

from postie.testing.faults import Faults, ServerStatistics
from postie.testing.script import Step, Transcript, play
from postie.testing.session import Session
from postie.testing.wire import BufferedReader, ConnectionClosed


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

    With a ``script`` (see :mod:`postie.testing.script`) every connection plays it instead:
    raw bytes step by step, nothing stored, the faults unused; :attr:`transcripts` holds what
    each connection received and sent.
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
        script: Sequence[Step] | None = None,
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
        self.script = tuple(script) if script is not None else None
        self.transcripts: list[Transcript] = []
        """Script mode: per connection, what it received and sent (in order)."""

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
            if self._closed:
                pass
            elif self.script is not None:
                transcript: Transcript = []
                self.transcripts.append(transcript)
                loop = asyncio.get_running_loop()
                await play(self.script, BufferedReader(reader, loop), writer, transcript)
            else:
                await Session(self, reader, writer).run()
        except (ConnectionClosed, ConnectionError, ssl.SSLError):
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
