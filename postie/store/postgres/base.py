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
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Self

import asyncpg

from postie.errors import StoreError, StoreMissing, StoreUnreachable
from postie.store.lease import WORKER_TTL
from postie.store.postgres.migrate import migrate
from postie.store.postgres.sql import Conn, query

POOL_SIZE = 4  # connections per store object at most


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
    ) -> None:
        self.url = url
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
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=POOL_SIZE,
                timeout=self.busy_timeout,
                server_settings={"application_name": "postie"},
            )
        except BaseException as exc:
            raise self._connect_error(exc) from None
        try:
            async with self._pool.acquire() as conn:
                await migrate(conn, self.location, create=self._create)
                await self._sync_clock(conn)
        except asyncpg.PostgresError as exc:
            await self.aclose()
            raise self._error(exc, "open") from None
        except BaseException:
            await self.aclose()
            raise

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
        if isinstance(exc, OSError | asyncpg.ConnectionDoesNotExistError):
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

    @asynccontextmanager
    async def _transaction(self, doing: str) -> AsyncIterator[Conn]:
        """One connection of the pool in one transaction: committed when the block ends,
        rolled back when it raises."""
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                yield conn
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise self._error(exc, doing) from None

    async def _returning(self, name: str, doing: str, **params: Any) -> list[dict[str, Any]]:
        """Run the changing statement ``name`` (``... RETURNING``) as a transaction of its
        own; return the rows it changed."""
        q = query(name)
        try:
            return [dict(r) for r in await self.pool.fetch(q.sql, *q.args(params))]
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise self._error(exc, doing) from None

    async def _fetch(self, name: str, doing: str, **params: Any) -> list[dict[str, Any]]:
        return await self._returning(name, doing, **params)


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
