"""A pool of NNTP connections to one server.

The pool decides under no await (asyncio is single-threaded, so a decision made
without awaiting is atomic) and does IO afterwards: ``acquire`` first takes an
idle connection or reserves the right to open a new one, then connects outside
the decision. At most ``max_connections`` exist at any time, counting the ones
being opened.

Idle connections older than ``idle_timeout`` are closed instead of reused.
A failed connect is retried only when the error can pass (``worth_retrying``): a
dropped connection or a busy server, not a name that does not resolve or a TLS
setting that does not match the port. Retries back off exponentially (0.5 s
doubling to 30 s, counted per acquire, so that many workers failing together do
not push each other's delays up); after ``connect_retries`` of them an acquire
gives up with :class:`~postie.errors.ServerUnreachable` ("... after N attempts").
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from types import TracebackType

import msgspec

from postie import errors
from postie.nntp.connection import NNTPConnection
from postie.nntp.settings import ServerSettings

log = logging.getLogger(__name__)

_sleep = asyncio.sleep  # tests replace it to observe the backoff
BACKOFF_START = 0.5
BACKOFF_MAX = 30.0


class PoolStatistics(msgspec.Struct, frozen=True):
    """What the pool holds and has done, at one moment (``ConnectionPool.statistics()``)."""

    server: str
    max_connections: int
    open: int
    idle: int
    in_use: int
    connecting: int
    waiting: int
    connects: int
    connect_failures: int
    discarded: int


class ConnectionPool:
    """Connections to one server, shared by every job in the process."""

    def __init__(
        self,
        server: ServerSettings,
        *,
        max_connections: int | None = None,
        connection_factory: Callable[[ServerSettings], NNTPConnection] = NNTPConnection,
    ) -> None:
        self.server = server
        self.max_connections = max_connections or server.max_connections
        self._factory = connection_factory
        self._idle: collections.deque[NNTPConnection] = collections.deque()
        self._in_use: set[NNTPConnection] = set()
        self._connecting = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False
        self._connects = 0
        self._failures_in_row = 0
        self._connect_failures = 0
        self._discarded = 0
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def label(self) -> str:
        return self.server.label

    async def __aenter__(self) -> ConnectionPool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def statistics(self) -> PoolStatistics:
        return PoolStatistics(
            server=self.label,
            max_connections=self.max_connections,
            open=len(self._idle) + len(self._in_use),
            idle=len(self._idle),
            in_use=len(self._in_use),
            connecting=self._connecting,
            waiting=len(self._waiters),
            connects=self._connects,
            connect_failures=self._connect_failures,
            discarded=self._discarded,
        )

    @property
    def waiting(self) -> int:
        """Tasks waiting for a connection of this pool."""
        return len(self._waiters)

    def _total(self) -> int:
        return len(self._idle) + len(self._in_use) + self._connecting

    def _take_idle(self) -> NNTPConnection | None:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()  # most recently used first: keeps the warmest sockets busy
            if conn.broken or conn.closed or now - conn.last_used > self.server.idle_timeout:
                self._close_later(conn)
                continue
            self._in_use.add(conn)
            return conn
        return None

    async def acquire(self) -> NNTPConnection:
        """A connection for the caller's exclusive use; give it back with ``release``."""
        while True:
            if self._closed:
                raise errors.Stopped(f"{self.label}: pool is closed")
            conn = self._take_idle()
            if conn is not None:
                return conn
            if self._total() < self.max_connections:
                self._connecting += 1
                break
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif waiter.done() and not waiter.cancelled():
                    self._wake()  # we were woken but leave: pass the turn on
                raise
        try:
            conn = await self._connect()
        except BaseException:
            self._connecting -= 1
            self._wake()
            raise
        self._connecting -= 1
        self._in_use.add(conn)
        return conn

    async def _connect(self) -> NNTPConnection:
        attempts = 0
        while True:
            if attempts:
                await _sleep(min(BACKOFF_MAX, BACKOFF_START * 2 ** (attempts - 1)))
            conn = self._factory(self.server)
            try:
                await conn.open()
            except errors.NNTPError as exc:
                self._connect_failures += 1
                self._failures_in_row += 1
                attempts += 1
                if not self.worth_retrying(exc):
                    raise
                if attempts > self.server.connect_retries:
                    if attempts == 1:
                        raise errors.ServerUnreachable(str(exc), reply=exc.reply) from exc
                    raise errors.ServerUnreachable(
                        f"{exc} (after {attempts} attempts)", reply=exc.reply
                    ) from exc
                level = logging.WARNING if self._failures_in_row == 1 else logging.INFO
                log.log(level, "%s (retrying)", exc)
                continue
            self._failures_in_row = 0
            self._connects += 1
            return conn

    def worth_retrying(self, exc: errors.NNTPError) -> bool:
        """Whether a connect that failed with ``exc`` is tried again (the one rule).

        Errors that can pass are: a retryable error (a connection reset or closed, a
        timeout, a busy server, a resolver that failed for now). Errors that cannot
        pass stop at once: an unreachable server (the name does not resolve, TLS does
        not match the port, the certificate is refused), a refused login, no
        permission. One depends on the past: nothing answering (refused, no connection
        or no greeting in time) from a server this pool never reached means a wrong
        host, port or TLS setting, while a server it has reached is restarting or
        overloaded, which passes.
        """
        if isinstance(exc, errors.RetryableError):
            return True
        return isinstance(exc, errors.ServerNotAnswering) and self._connects > 0

    def release(self, conn: NNTPConnection, *, reusable: bool = True) -> None:
        """Give a connection back; a broken one (or ``reusable=False``) is closed."""
        self._in_use.discard(conn)
        if (
            reusable
            and not conn.broken
            and not conn.closed
            and not conn.primed
            and not self._closed
        ):
            self._idle.append(conn)
        else:
            self._discarded += 1
            self._close_later(conn)
        self._wake()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[NNTPConnection]:
        conn = await self.acquire()
        try:
            yield conn
        except BaseException:
            self.release(conn, reusable=False)
            raise
        self.release(conn)

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _close_later(self, conn: NNTPConnection) -> None:
        task = asyncio.get_running_loop().create_task(conn.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """QUIT idle connections, close all (idempotent, shielded from cancellation)."""
        if self._closed and not self._idle and not self._in_use and not self._closing:
            return
        self._closed = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        conns = list(self._idle) + list(self._in_use)
        self._idle.clear()
        self._in_use.clear()

        async def close_all() -> None:
            async def one(conn: NNTPConnection) -> None:
                if not conn.broken:
                    await conn.quit()
                await conn.aclose()

            await asyncio.gather(*(one(c) for c in conns), return_exceptions=True)
            if self._closing:
                await asyncio.gather(*self._closing, return_exceptions=True)

        await asyncio.shield(close_all())
