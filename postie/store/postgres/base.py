"""The PostgreSQL store's connections, clock, transactions and errors.

A small asyncpg pool per store object (a few connections: the heartbeat, a
checkpoint and a claim do not wait for each other); every state change is one
transaction on one connection of it; reads are single statements.

**The clock.** Leases, heartbeats and due times are compared against the store's
``now()``, and on PostgreSQL that is the database server's clock, so instances on
hosts whose clocks disagree still agree on when a lease runs out. ``now()`` is
``time.monotonic()`` plus an offset to the server's ``clock_timestamp()``, measured
when the store opens and again at every heartbeat (half the round trip taken off):
no round trip per call, and a host clock that jumps does not move it. The statements
take ``:now`` from it, the same statements whatever the clock, so a test can hand the
store a clock it moves (``clock=``); such a clock is used as it is.

**The location.** The URL, with any password taken out, is what messages show; the
password (from the URL, ``PGPASSWORD`` or the password file, which asyncpg reads like
libpq) is never logged.

**A lost connection.** When the server goes away (restarted, the network cut), every
statement waits for it here, in one place (``_atomic``, ``_fetch``, ``_returning``): the
first to see it logs one warning, one of the waiters probes with backoff, the one that
gets through logs one line that it is back, and every waiter runs its statement again.
What is run again is safe to run again: a statement that failed before it was sent, a
read, or a transaction that gives the same result when its first run did commit (the
connection can break while COMMIT is on the wire: its outcome is then unknown). Every
state change of this store is written that way (leases, heartbeats, watermarks and
states are set, not added to; inserts are ``ON CONFLICT``), and the three that are not
(a new transfer, a job claim, rescheduling a missing article) first look for what a run
whose answer was lost did, by the clock value it wrote (``recheck``). A
claim of verification work whose answer was lost leaves leases nobody knows of: they
run out and the work is claimed again. Only when the server stays away longer than
``reconnect_timeout`` (``store.reconnect_timeout``) does a statement fail, with one
``StoreUnreachable`` that says to run the same command again; from then on every
statement that loses the connection fails at once (the command is ending).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Self, TypeVar

import asyncpg
import msgspec

from postie.errors import StoreError, StoreMissing, StoreUnreachable
from postie.store.lease import WORKER_TTL
from postie.store.postgres.migrate import migrate
from postie.store.postgres.sql import Conn, query

POOL_SIZE = 4  # connections per store object at most
RECONNECT_TIMEOUT = 300.0  # seconds a lost server is waited for (store.reconnect_timeout)
FIRST_PROBE = 0.2  # seconds before the first try to reach a lost server; doubling up to
LAST_PROBE = 5.0  # this

log = logging.getLogger(__name__)
T = TypeVar("T")


def redact(url: str) -> str:
    """``url`` without its password (in the authority or as a ``password=`` parameter)."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        netloc = f"{userinfo.split(':', 1)[0]}@{host}"
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if k.lower() != "password"]
    return urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path, urllib.parse.urlencode(kept), parts.fragment)
    )


class StoreBase:
    """Opening, migrating, closing, the clock and the transaction plumbing."""

    def __init__(
        self,
        url: str,
        *,
        busy_timeout: float = 10.0,
        clock: Callable[[], float] | None = None,
        worker_ttl: float = WORKER_TTL,
        create: bool = True,
        reconnect_timeout: float = RECONNECT_TIMEOUT,
    ) -> None:
        self.url = url
        self.reconnect_timeout = reconnect_timeout
        self._outage: _Outage | None = None  # the server is away (see the module's docstring)
        self._probing = asyncio.Lock()
        self.location = redact(url)
        self.path = None  # not a file: manifests and PAR2 work need folders of their own
        self.busy_timeout = busy_timeout
        self.worker_ttl = worker_ttl
        self._create = create
        self._clock = clock
        self._offset = 0.0  # server clock - time.monotonic()
        self._pool: asyncpg.Pool | None = None
        parts = urllib.parse.urlsplit(url)
        self._server = f"{parts.hostname or os.environ.get('PGHOST', 'localhost')}:" + str(
            parts.port or os.environ.get("PGPORT", 5432)
        )
        self._database = parts.path.lstrip("/") or os.environ.get("PGDATABASE", "")
        self._user = urllib.parse.unquote(parts.username or os.environ.get("PGUSER", ""))

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def open(self) -> None:
        # no floor of connections kept open: asyncpg would restore it in the background,
        # logging a traceback per try while the server is away (see _wait_back)
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=0,
                max_size=POOL_SIZE,
                timeout=self.busy_timeout,
                server_settings={"application_name": "postie"},
            )
            conn = await self._pool.acquire()
        except BaseException as exc:
            await self.aclose()
            raise self._connect_error(exc) from None
        try:
            await migrate(conn, self.location, create=self._create)
            await self._sync_clock(conn)
        except asyncpg.PostgresError as exc:
            await self._pool.release(conn)
            await self.aclose()
            raise self._error(exc, "open") from None
        except BaseException:
            await self._pool.release(conn)
            await self.aclose()
            raise
        await self._pool.release(conn)

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.shield(_close(pool, self.busy_timeout))

    # --- the clock ------------------------------------------------------------------------

    def now(self) -> float:
        """The store's clock: the database server's (see the module's docstring), or the
        clock given (tests)."""
        if self._clock is not None:
            return self._clock()
        return time.monotonic() + self._offset

    async def _sync_clock(self, conn: Conn) -> None:
        before = time.monotonic()
        server = await conn.fetchval(query("server_clock").sql)
        self._follow(float(server), before, time.monotonic())

    def _follow(self, server: float, before: float, after: float) -> None:
        """The offset from one reading of the server's clock, taken by a statement sent
        at ``before`` whose answer came at ``after`` (monotonic seconds)."""
        self._offset = server - (before + after) / 2

    # --- plumbing -------------------------------------------------------------------------

    def _connect_error(self, exc: BaseException) -> BaseException:
        where = f"the PostgreSQL server {self._server}"
        if isinstance(exc, asyncpg.InvalidPasswordError):
            return StoreError(
                f"{where} refused the password of user {self._user or '(default)'} (from the"
                f" URL, PGPASSWORD or the password file) for the store {self.location}"
            )
        if isinstance(exc, asyncpg.InvalidCatalogNameError):
            return StoreMissing(
                f"there is no database {self._database!r} on {where} (the store"
                f" {self.location}); create it first (createdb), postie makes only its tables"
            )
        if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
            return StoreError(f"{where} refused user {self._user or '(default)'}: {exc}")
        if isinstance(exc, TimeoutError):
            return StoreUnreachable(
                f"{where} did not answer within {self.busy_timeout:g} s (the store"
                f" {self.location}); is it up, and is the address right?"
            )
        if isinstance(exc, OSError):
            # asyncio's "Connect call failed (...)" has the errno: say what it means
            # (a name that does not resolve: negative, its strerror says it)
            errno = exc.errno or 0
            why = os.strerror(errno) if errno > 0 else exc.strerror or str(exc)
            return StoreUnreachable(
                f"cannot reach {where} ({why.lower()}) for the store {self.location}: is it"
                " running, and are the host and port right? (--db, POSTIE_DB or store.url)"
            )
        if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
            return StoreError(f"cannot open the store {self.location}: {exc}")
        return exc

    def _error(self, exc: BaseException, doing: str) -> StoreError:
        if _lost(exc):
            return StoreUnreachable(
                f"lost the connection to the PostgreSQL server {self._server} (the store"
                f" {self.location}) to {doing}"
            )
        return StoreError(f"transfer store {self.location}: {doing} failed: {exc}")

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError(f"the transfer store {self.location} is not open")
        return self._pool

    async def _atomic(
        self,
        doing: str,
        work: Callable[[Conn], Awaitable[T]],
        *,
        recheck: Callable[[Conn], Awaitable[T | None]] | None = None,
    ) -> T:
        """``work(conn)`` as one transaction, its result; run again when the connection is
        lost, once the server is back (see the module's docstring). ``work`` takes its
        clock (``self.now()``) afresh each run, and must give the same result when its
        earlier run did commit; unless ``recheck`` is given: after a run whose outcome is
        unknown, ``recheck(conn)`` (its own transaction) returns what that run did, or
        None when it did not commit (then ``work`` runs again)."""
        unknown = False
        while True:
            sent = False
            try:
                async with self.pool.acquire() as conn:
                    sent = True
                    if unknown and recheck is not None:
                        async with conn.transaction():
                            found = await recheck(conn)
                        if found is not None:
                            return found
                    async with conn.transaction():
                        return await work(conn)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                if not _lost(exc):
                    raise self._error(exc, doing) from None
                unknown = unknown or sent
                await self._wait_back(exc, doing)

    @asynccontextmanager
    async def _transaction(self, doing: str) -> AsyncIterator[Conn]:
        """One connection of the pool in one transaction: committed when the block ends,
        rolled back when it raises. A server that is away is waited for before the block
        (nothing was sent yet); a connection lost inside it is ``StoreUnreachable``: a
        block is not run again (``_atomic`` is)."""
        while True:
            try:
                conn = await self.pool.acquire()
                break
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                if not _lost(exc):
                    raise self._error(exc, doing) from None
                await self._wait_back(exc, doing)
        try:
            async with conn.transaction():
                yield conn
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise self._error(exc, doing) from None
        finally:
            await self.pool.release(conn)

    async def _returning(self, name: str, doing: str, **params: Any) -> list[dict[str, Any]]:
        """Run the changing statement ``name`` (``... RETURNING``) as a transaction of its
        own; return the rows it changed. Run again after a lost connection with the same
        ``params``: for statements that may run twice, with no clock in their
        parameters (``_atomic`` takes the clock afresh)."""
        return await self._atomic(doing, lambda conn: fetch(conn, name, **params))

    async def _fetch(self, name: str, doing: str, **params: Any) -> list[dict[str, Any]]:
        """The rows of the reading statement ``name``."""
        return await self._returning(name, doing, **params)

    # --- a lost server --------------------------------------------------------------------

    async def _wait_back(self, exc: BaseException, doing: str) -> None:
        """Return once the server answers again after ``exc`` lost it; raise
        ``StoreUnreachable`` when it stays away past ``reconnect_timeout``."""
        outage = self._outage
        if outage is None:
            outage = self._outage = _Outage(time.monotonic(), _why(exc))
            # every connection of the pool is taken as dead: each is made anew when next
            # used, so none found dead once the server is back counts as a second loss
            await self.pool.expire_connections()
            log.warning(
                "lost the database %s (%s) while trying to %s; waiting for it to come back"
                " (up to %g s, store.reconnect_timeout)",
                self.location,
                outage.why,
                doing,
                self.reconnect_timeout,
            )
        async with self._probing:
            if self._outage is not outage:
                return  # another waiter's probe got through
            delay = FIRST_PROBE
            while not outage.gave_up:
                left = outage.since + self.reconnect_timeout - time.monotonic()
                if left <= 0:
                    outage.gave_up = True
                    break
                await asyncio.sleep(min(delay, left))
                delay = min(2 * delay, LAST_PROBE)
                try:
                    async with asyncio.timeout(self.busy_timeout), self.pool.acquire() as conn:
                        await self._sync_clock(conn)
                except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as probe:
                    if not _lost(probe):
                        raise self._error(probe, doing) from None
                    continue
                self._outage = None
                log.warning(
                    "the database %s is back after %.0f s; going on",
                    self.location,
                    time.monotonic() - outage.since,
                )
                return
        raise StoreUnreachable(
            f"the database {self.location} has been away for more than"
            f" {self.reconnect_timeout:g} s (store.reconnect_timeout; {outage.why}): what it"
            " recorded is safe; run the same command again once it is up to go on"
        )


class _Outage(msgspec.Struct):
    """The server is away: since when (monotonic), why, and whether waiting ended."""

    since: float
    why: str
    gave_up: bool = False


def _lost(exc: BaseException) -> bool:
    """True when ``exc`` says the connection to the server is gone (or cannot be made
    now), not that a statement or the login was refused."""
    if isinstance(exc, OSError):  # refused, reset, timed out (TimeoutError is one)
        return True
    if isinstance(exc, asyncpg.ConnectionRejectionError):
        return False  # pg_hba.conf said no: not transient
    if isinstance(
        exc,
        asyncpg.PostgresConnectionError
        | asyncpg.AdminShutdownError
        | asyncpg.CrashShutdownError
        | asyncpg.CannotConnectNowError
        | asyncpg.TooManyConnectionsError,
    ):
        return True
    return (
        isinstance(exc, asyncpg.InterfaceError)
        and "connection" in str(exc)
        and ("closed" in str(exc) or "lost" in str(exc))
    )


def _why(exc: BaseException) -> str:
    """A few words on how the server was lost."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "no answer"
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno).lower()
    if isinstance(exc, asyncpg.AdminShutdownError | asyncpg.CrashShutdownError):
        return "the server shut down"
    if isinstance(exc, asyncpg.CannotConnectNowError):
        return "the server is starting or stopping"
    return "connection closed"


async def _close(pool: asyncpg.Pool, timeout: float) -> None:
    """Close the pool gracefully, or at once when a connection is not given back in
    time (a statement left running by a cancelled task)."""
    try:
        async with asyncio.timeout(timeout):
            await pool.close()
    except TimeoutError:
        pool.terminate()


async def fetch(conn: Conn, statement: str, /, **params: Any) -> list[dict[str, Any]]:
    """The rows of the named ``statement`` on ``conn`` (in its transaction)."""
    q = query(statement)
    return [dict(r) for r in await conn.fetch(q.sql, *q.args(params))]


async def execute(conn: Conn, statement: str, /, **params: Any) -> None:
    q = query(statement)
    await conn.execute(q.sql, *q.args(params))


async def executemany(conn: Conn, statement: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        q = query(statement)
        await conn.executemany(q.sql, [q.args(r) for r in rows])
