"""The SQLite store's connection: aiosqlite (WAL, busy timeout), transactions, errors.

One connection per store object; every state change is one ``BEGIN IMMEDIATE``
transaction, so a second process waits (up to the busy timeout) rather than
seeing half a change. Rows come back as plain dicts (``rows``, ``one``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite

from postie import fsutil
from postie.errors import StoreError, StoreFull, StoreLocked, StoreMissing
from postie.store.lease import WORKER_TTL
from postie.store.sqlite.migrate import migrate
from postie.store.sqlite.sql import query


class StoreBase:
    """Opening, migrating, closing and the transaction plumbing of the store."""

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        worker_ttl: float = WORKER_TTL,
        create: bool = True,
        in_memory: bool = False,
    ) -> None:
        self.path = path
        self.location = str(path)
        self.busy_timeout = busy_timeout
        self._create_missing = create and not in_memory
        self._in_memory = in_memory
        self.worker_ttl = worker_ttl
        self._clock = clock
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

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
        if not self._in_memory:
            self._check_path()
        if self._create_missing:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the folder for the store {self.path}: {exc}"
                ) from None
        db = await self._connect()
        self._db = db
        db.row_factory = sqlite3.Row
        try:
            await db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            async with db.execute("PRAGMA journal_mode = WAL") as cursor:
                await cursor.fetchone()
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA foreign_keys = ON")
            await migrate(db, str(self.path))
        except sqlite3.Error as exc:
            await self.aclose()
            raise self._error(exc, "open") from None
        except BaseException:
            await self.aclose()
            raise

    def _check_path(self) -> None:
        """What SQLite would only call "unable to open database file", said plainly."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self._create_missing:
                return
            raise StoreMissing(
                f"no transfer store at {self.path} (nothing was recorded there; check --db,"
                " POSTIE_DB or store.path)"
            ) from None
        except OSError as exc:
            raise StoreError(
                f"cannot open the transfer store {self.path}: {exc.strerror or exc}"
            ) from None
        if stat.S_ISDIR(st.st_mode):
            raise StoreError(
                f"the transfer store {self.path} is a folder: --db (POSTIE_DB, store.path) names"
                f" the store's file, such as {self.path / 'postie.db'}"
            )

    async def _connect(self) -> aiosqlite.Connection:
        """The connection. Without ``create`` SQLite itself refuses to make the file
        (``mode=rw``): a store that vanished since ``open`` looked is not made either;
        ``in_memory``: a database in memory, the file is never touched (``mode=memory``)."""
        if self._create_missing:
            connection = aiosqlite.connect(
                self.path, isolation_level=None, timeout=self.busy_timeout
            )
        else:
            import urllib.parse  # only for the commands that read a store

            mode = "memory" if self._in_memory else "rw"
            uri = f"file:{urllib.parse.quote(os.fspath(self.path.absolute()))}?mode={mode}"
            connection = aiosqlite.connect(
                uri, uri=True, isolation_level=None, timeout=self.busy_timeout
            )
        try:
            return await connection
        except sqlite3.Error as exc:
            # aiosqlite stops its worker thread when the connect fails, and the thread then
            # hands the stop's result to this event loop: wait for it, or it finds the loop
            # closed (asyncio.run returned) and prints "RuntimeError: Event loop is closed"
            # tracebacks under the error (omnilib/aiosqlite#241)
            thread = getattr(connection, "_thread", None)
            if isinstance(thread, threading.Thread) and thread.is_alive():
                await asyncio.to_thread(thread.join, 5.0)
            if not self._create_missing and not self._in_memory and not self.path.exists():
                raise StoreMissing(f"no transfer store at {self.path}") from None
            raise StoreError(f"cannot open the transfer store {self.path}: {exc}") from None

    async def aclose(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await asyncio.shield(db.close())

    def now(self) -> float:
        """The store's clock: ``time.time`` unless another was given (tests)."""
        return self._clock()

    # --- plumbing -----------------------------------------------------------------------

    def _error(self, exc: sqlite3.Error, doing: str) -> StoreError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return StoreLocked(
                f"the transfer store {self.path} is locked by another process"
                f" (waited {self.busy_timeout:g} s to {doing}); try again when it is done,"
                " or use another --db"
            )
        if "full" in text or ("disk I/O error" in text and self._no_room()):
            # SQLITE_FULL ("database or disk is full"), or an I/O error (opening the WAL's
            # files on a full disk) where nothing is free
            return StoreFull(
                f"no space left on the device for the transfer store {self.path}"
                f" ({fsutil.free_text(self.path.parent)} free) to {doing}; nothing recorded is"
                " lost: free some space and run the same command again"
            )
        return StoreError(f"transfer store {self.path}: {doing} failed: {text}")

    def _no_room(self) -> bool:
        free = fsutil.free_bytes(self.path.parent)
        return free is not None and free < 64 * 1024

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError(f"the transfer store {self.path} is not open")
        return self._db

    @asynccontextmanager
    async def _transaction(self, doing: str) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            db = self.db
            try:
                await db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._error(exc, doing) from None
            except BaseException:
                # Cancelled while BEGIN was queued: it still runs in aiosqlite's thread,
                # so end it, or the next transaction finds one open.
                await self._rollback(db)
                raise
            try:
                yield db
            except sqlite3.Error as exc:
                await self._rollback(db)
                raise self._error(exc, doing) from None
            except BaseException:
                await self._rollback(db)
                raise
            try:
                await db.execute("COMMIT")
            except sqlite3.Error as exc:
                await self._rollback(db)
                raise self._error(exc, doing) from None

    @staticmethod
    async def _rollback(db: aiosqlite.Connection) -> None:
        """ROLLBACK, queued even if this task is cancelled again (aiosqlite runs its
        requests in order, so it lands before the next transaction's BEGIN)."""

        async def rollback() -> None:
            with contextlib.suppress(sqlite3.OperationalError):  # no transaction open
                await db.execute("ROLLBACK")

        await asyncio.shield(rollback())

    async def _returning(self, name: str, doing: str, **params: Any) -> list[dict[str, Any]]:
        """Run the changing statement ``name`` (``... RETURNING``) as a transaction of its
        own; return the rows it changed."""
        async with self._transaction(doing) as db, db.execute(query(name), params) as cursor:
            return await rows(cursor)

    async def _fetch(self, name: str, doing: str, **params: Any) -> list[dict[str, Any]]:
        async with self._lock:
            try:
                async with self.db.execute(query(name), params) as cursor:
                    return await rows(cursor)
            except sqlite3.Error as exc:
                raise self._error(exc, doing) from None


async def rows(cursor: aiosqlite.Cursor) -> list[dict[str, Any]]:
    """The cursor's rows as plain dicts of column to value."""
    return [dict(row) for row in await cursor.fetchall()]


async def one(cursor: aiosqlite.Cursor) -> dict[str, Any] | None:
    row = await cursor.fetchone()
    return dict(row) if row is not None else None
