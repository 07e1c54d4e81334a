"""The transfer store: SQLite through aiosqlite (WAL, busy timeout, one writer).

It records what was planned (transfers and their files), where each file's
articles are described (the manifest) and how far posting got (a per-file
acknowledged watermark, advanced in batched checkpoints). Every state change is
one transaction. A transfer being worked on carries a lease ``(owner,
expires)``; another process may take it over only once the lease expired, so
two processes never post the same transfer at once.

Rows come back as frozen dataclasses; the SQL lives in ``queries.sql``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite

from postie.errors import StoreError, StoreLocked, TransferBusy
from postie.store.lease import owner_is_gone
from postie.store.migrate import migrate
from postie.store.sql import query

UNFINISHED = ("uploading", "incomplete")


def default_path() -> Path:
    """``$XDG_DATA_HOME/postie/postie.db`` (``~/.local/share/postie/postie.db``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "postie" / "postie.db"


@dataclass(frozen=True, slots=True)
class Transfer:
    id: int
    name: str
    state: str
    roots: tuple[str, ...]
    roots_key: str
    files_key: str
    options: dict[str, Any]
    nzb_path: str | None
    manifest_path: Path
    manifest_bytes: int
    lease_owner: str | None
    lease_expires: float | None
    last_error: str | None
    created_at: float
    updated_at: float
    finished_at: float | None

    @property
    def unfinished(self) -> bool:
        return self.state in UNFINISHED


@dataclass(frozen=True, slots=True)
class TransferFile:
    transfer_id: int
    file_id: int
    role: str
    source_path: Path
    name: str
    size: int
    mtime_ns: int
    manifest_path: Path
    article_count: int
    acked: int
    upload_state: str
    verify_state: str
    next_check_at: float | None
    cleanup: str
    last_error: str | None


@dataclass(frozen=True, slots=True)
class NewFile:
    """A file of a transfer about to be created."""

    file_id: int
    source_path: Path
    name: str
    size: int
    mtime_ns: int
    article_count: int
    role: str = "data"


@dataclass(frozen=True, slots=True)
class NewTransfer:
    name: str
    roots: tuple[str, ...]
    roots_key: str
    files_key: str
    options: dict[str, Any]
    nzb_path: str | None
    manifest_path: Path
    files: tuple[NewFile, ...]


@dataclass(frozen=True, slots=True)
class FileProgress:
    """One file's part of a checkpoint."""

    file_id: int
    acked: int
    state: str | None = None  # a new upload_state, if it changed
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """An article a STAT did not find (a ``verification_failures`` row)."""

    transfer_id: int
    file_id: int
    part: int
    message_id: str
    state: str
    repost_count: int
    check_count: int
    next_attempt_at: float
    lease_owner: str | None
    lease_expires: float | None
    last_error: str | None

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.transfer_id, self.file_id, self.part)


@dataclass(frozen=True, slots=True)
class TransferSummary:
    transfer: Transfer
    files: int
    bytes: int
    articles: int
    uploaded_files: int


class TransferStore:
    """``async with TransferStore(path) as store``: opens, migrates, closes."""

    def __init__(self, path: Path, *, busy_timeout: float = 10.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> TransferStore:
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
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder for the store {self.path}: {exc}") from None
        try:
            db = await aiosqlite.connect(self.path, isolation_level=None, timeout=self.busy_timeout)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the transfer store {self.path}: {exc}") from None
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

    async def aclose(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await asyncio.shield(db.close())

    # --- plumbing -----------------------------------------------------------------------

    def _error(self, exc: sqlite3.Error, doing: str) -> StoreError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return StoreLocked(
                f"the transfer store {self.path} is locked by another process"
                f" (waited {self.busy_timeout:g} s to {doing}); try again when it is done,"
                " or use another --db"
            )
        return StoreError(f"transfer store {self.path}: {doing} failed: {text}")

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

    async def _fetch(self, name: str, doing: str, **params: Any) -> list[sqlite3.Row]:
        async with self._lock:
            try:
                async with self.db.execute(query(name), params) as cursor:
                    return list(await cursor.fetchall())
            except sqlite3.Error as exc:
                raise self._error(exc, doing) from None

    # --- transfers ----------------------------------------------------------------------

    async def create(self, new: NewTransfer, *, owner: str, lease: float) -> int:
        """Record a transfer and its files in one transaction, leased to ``owner``."""
        now = time.time()
        async with self._transaction("record a new transfer") as db:
            cursor = await db.execute(
                query("insert_transfer"),
                {
                    "name": new.name,
                    "roots": json.dumps(list(new.roots)),
                    "roots_key": new.roots_key,
                    "files_key": new.files_key,
                    "options": json.dumps(new.options, sort_keys=True),
                    "nzb_path": new.nzb_path,
                    "manifest_path": str(new.manifest_path),
                    "owner": owner,
                    "expires": now + lease,
                    "now": now,
                },
            )
            transfer_id = cursor.lastrowid
            assert transfer_id is not None
            await db.executemany(
                query("insert_file"),
                [
                    {
                        "transfer_id": transfer_id,
                        "file_id": f.file_id,
                        "role": f.role,
                        "source_path": os.fsencode(f.source_path),
                        "name": f.name,
                        "size": f.size,
                        "mtime_ns": f.mtime_ns,
                        "manifest_path": str(new.manifest_path),
                        "article_count": f.article_count,
                        "now": now,
                    }
                    for f in new.files
                ],
            )
        return transfer_id

    async def get(self, transfer_id: int) -> Transfer | None:
        rows = await self._fetch("get_transfer", "read a transfer", id=transfer_id)
        return _transfer(rows[0]) if rows else None

    async def files(self, transfer_id: int) -> tuple[TransferFile, ...]:
        rows = await self._fetch("transfer_files", "read a transfer's files", id=transfer_id)
        return tuple(_file(row) for row in rows)

    async def unfinished(self, roots_key: str) -> tuple[Transfer, ...]:
        rows = await self._fetch("unfinished_by_roots", "look for a transfer", roots_key=roots_key)
        return tuple(_transfer(row) for row in rows)

    async def last_unfinished(self) -> Transfer | None:
        rows = await self._fetch("last_unfinished", "look for a transfer")
        return _transfer(rows[0]) if rows else None

    async def summaries(self, limit: int = 50) -> tuple[TransferSummary, ...]:
        rows = await self._fetch("list_transfers", "list transfers", limit=limit)
        counts = {
            row["transfer_id"]: row for row in await self._fetch("file_counts", "count files")
        }
        out = []
        for row in rows:
            c = counts.get(row["id"])
            out.append(
                TransferSummary(
                    _transfer(row),
                    files=int(c["files"]) if c else 0,
                    bytes=int(c["bytes"] or 0) if c else 0,
                    articles=int(c["articles"] or 0) if c else 0,
                    uploaded_files=int(c["uploaded"] or 0) if c else 0,
                )
            )
        return tuple(out)

    async def accepted_ids(self, transfer_id: int) -> dict[tuple[int, int], str]:
        rows = await self._fetch("accepted_ids", "read accepted Message-IDs", id=transfer_id)
        return {(int(r["file_id"]), int(r["part"])): str(r["message_id"]) for r in rows}

    # --- leases and progress ----------------------------------------------------------------

    async def claim(self, transfer_id: int, *, owner: str, lease: float) -> None:
        """Take the transfer's lease, or raise TransferBusy naming the holder.

        A lease held by a process of this host that is gone is taken over at once.
        """
        current = await self.get(transfer_id)
        if current is None:
            raise StoreError(f"no transfer {transfer_id} in {self.path}")
        gone = current.lease_owner if owner_is_gone(current.lease_owner) else None
        now = time.time()
        async with self._transaction("claim a transfer") as db:
            cursor = await db.execute(
                query("claim"),
                {
                    "id": transfer_id,
                    "owner": owner,
                    "gone": gone,
                    "expires": now + lease,
                    "now": now,
                },
            )
            taken = cursor.rowcount == 1
        if not taken:
            current = await self.get(transfer_id)
            if current is None:
                raise StoreError(f"no transfer {transfer_id} in {self.path}")
            left = (current.lease_expires or now) - now
            raise TransferBusy(
                f"transfer {transfer_id} is being posted by another process"
                f" ({current.lease_owner}); its lease runs out in {max(0.0, left):.0f} s"
            )

    async def release(self, transfer_id: int, *, owner: str) -> None:
        async with self._transaction("release a transfer") as db:
            await db.execute(
                query("release"), {"id": transfer_id, "owner": owner, "now": time.time()}
            )

    async def checkpoint(
        self,
        transfer_id: int,
        *,
        owner: str,
        lease: float,
        manifest_bytes: int,
        files: Sequence[FileProgress],
        accepted: Iterable[tuple[int, int, str]] = (),
        all_uploaded: bool = False,
    ) -> None:
        """Advance watermarks, record rewritten IDs and renew the lease: one transaction.

        ``all_uploaded``: every file has all its articles acknowledged; one statement
        says so for all of them (``files`` may then be empty)."""
        now = time.time()
        async with self._transaction("save progress") as db:
            cursor = await db.execute(
                query("renew"),
                {
                    "id": transfer_id,
                    "owner": owner,
                    "expires": now + lease,
                    "manifest_bytes": manifest_bytes,
                    "now": now,
                },
            )
            if cursor.rowcount != 1:
                raise TransferBusy(
                    f"transfer {transfer_id} was taken over by another process"
                    " while this one was posting it"
                )
            if all_uploaded:
                await db.execute(
                    query("set_all_uploaded"), {"transfer_id": transfer_id, "now": now}
                )
            await db.executemany(
                query("set_progress"),
                [
                    {
                        "transfer_id": transfer_id,
                        "file_id": f.file_id,
                        "acked": f.acked,
                        "state": f.state,
                        "error": f.error,
                        "now": now,
                    }
                    for f in files
                ],
            )
            await db.executemany(
                query("insert_accepted_id"),
                [
                    {"transfer_id": transfer_id, "file_id": f, "part": p, "message_id": m}
                    for f, p, m in accepted
                ],
            )

    async def finish(
        self,
        transfer_id: int,
        *,
        state: str,
        error: str | None = None,
        nzb_path: str | None = None,
    ) -> None:
        now = time.time()
        async with self._transaction("record the transfer's outcome") as db:
            await db.execute(
                query("set_transfer_state"),
                {
                    "id": transfer_id,
                    "state": state,
                    "error": error,
                    "nzb_path": nzb_path,
                    "finished_at": now if state not in UNFINISHED else None,
                    "now": now,
                },
            )

    # --- verification failures (leased) -------------------------------------------------

    async def record_misses(
        self,
        transfer_id: int,
        file_id: int,
        misses: Iterable[tuple[int, str]],
        *,
        next_attempt_at: float,
        error: str | None = None,
    ) -> None:
        """Store the parts a STAT did not find (``(part, message_id)``); a part already
        stored counts one more check. One transaction."""
        now = time.time()
        async with self._transaction("record missing articles") as db:
            await db.executemany(
                query("record_miss"),
                [
                    {
                        "transfer_id": transfer_id,
                        "file_id": file_id,
                        "part": part,
                        "message_id": message_id,
                        "next_attempt_at": next_attempt_at,
                        "error": error,
                        "now": now,
                    }
                    for part, message_id in misses
                ],
            )

    async def claim_failures(
        self, *, owner: str, lease: float, limit: int, now: float | None = None
    ) -> tuple[Failure, ...]:
        """Lease up to ``limit`` due failures to ``owner``: one write transaction, so two
        workers (two processes on one store) never hold the same row. Rows whose lease
        ran out are due again."""
        now = time.time() if now is None else now
        async with self._transaction("claim missing articles") as db:
            async with db.execute(query("due_failures"), {"now": now, "limit": limit}) as cur:
                rows = [_failure(row) for row in await cur.fetchall()]
            await db.executemany(
                query("lease_failure"),
                [
                    {
                        "transfer_id": f.transfer_id,
                        "file_id": f.file_id,
                        "part": f.part,
                        "owner": owner,
                        "expires": now + lease,
                        "now": now,
                    }
                    for f in rows
                ],
            )
        return tuple(
            dataclasses.replace(f, lease_owner=owner, lease_expires=now + lease) for f in rows
        )

    async def resolve_failures(self, keys: Iterable[tuple[int, int, int]], *, owner: str) -> None:
        """The articles are on the server after all: forget them (only rows ``owner``
        holds)."""
        now = time.time()
        async with self._transaction("forget found articles") as db:
            await db.executemany(
                query("resolve_failure"),
                [
                    {"transfer_id": t, "file_id": f, "part": p, "owner": owner, "now": now}
                    for t, f, p in keys
                ],
            )

    async def reschedule_failure(
        self,
        key: tuple[int, int, int],
        *,
        owner: str,
        repost_count: int,
        check_count: int,
        next_attempt_at: float,
        error: str | None,
        exhausted: bool = False,
    ) -> bool:
        """Record an attempt and release the lease; False if ``owner`` no longer held it."""
        transfer_id, file_id, part = key
        async with self._transaction("reschedule a missing article") as db:
            cursor = await db.execute(
                query("reschedule_failure"),
                {
                    "transfer_id": transfer_id,
                    "file_id": file_id,
                    "part": part,
                    "owner": owner,
                    "state": "exhausted" if exhausted else "pending",
                    "repost_count": repost_count,
                    "check_count": check_count,
                    "next_attempt_at": next_attempt_at,
                    "error": error,
                    "now": time.time(),
                },
            )
            return cursor.rowcount == 1

    async def reclaim_expired_failures(self, now: float | None = None) -> int:
        """Drop leases that ran out; return how many."""
        async with self._transaction("reclaim expired leases") as db:
            cursor = await db.execute(
                query("reclaim_expired_failures"), {"now": time.time() if now is None else now}
            )
            return cursor.rowcount

    async def failures(self, transfer_id: int) -> tuple[Failure, ...]:
        rows = await self._fetch("transfer_failures", "read missing articles", id=transfer_id)
        return tuple(_failure(row) for row in rows)

    async def delete(self, transfer_id: int) -> None:
        async with self._transaction("delete a transfer") as db:
            await db.execute(query("delete_transfer"), {"id": transfer_id})


def _transfer(row: sqlite3.Row) -> Transfer:
    return Transfer(
        id=int(row["id"]),
        name=str(row["name"]),
        state=str(row["state"]),
        roots=tuple(json.loads(row["roots"])),
        roots_key=str(row["roots_key"]),
        files_key=str(row["files_key"]),
        options=json.loads(row["options"]),
        nzb_path=row["nzb_path"],
        manifest_path=Path(row["manifest_path"]),
        manifest_bytes=int(row["manifest_bytes"]),
        lease_owner=row["lease_owner"],
        lease_expires=row["lease_expires"],
        last_error=row["last_error"],
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
        finished_at=row["finished_at"],
    )


def _failure(row: sqlite3.Row) -> Failure:
    return Failure(
        transfer_id=int(row["transfer_id"]),
        file_id=int(row["file_id"]),
        part=int(row["part"]),
        message_id=str(row["message_id"]),
        state=str(row["state"]),
        repost_count=int(row["repost_count"]),
        check_count=int(row["check_count"]),
        next_attempt_at=float(row["next_attempt_at"]),
        lease_owner=row["lease_owner"],
        lease_expires=row["lease_expires"],
        last_error=row["last_error"],
    )


def _file(row: sqlite3.Row) -> TransferFile:
    return TransferFile(
        transfer_id=int(row["transfer_id"]),
        file_id=int(row["file_id"]),
        role=str(row["role"]),
        source_path=Path(os.fsdecode(bytes(row["source_path"]))),
        name=str(row["name"]),
        size=int(row["size"]),
        mtime_ns=int(row["mtime_ns"]),
        manifest_path=Path(row["manifest_path"]),
        article_count=int(row["article_count"]),
        acked=int(row["acked"]),
        upload_state=str(row["upload_state"]),
        verify_state=str(row["verify_state"]),
        next_check_at=row["next_check_at"],
        cleanup=str(row["cleanup"]),
        last_error=row["last_error"],
    )
