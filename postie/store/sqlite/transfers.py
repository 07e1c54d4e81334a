"""The SQLite store's transfers: what was planned and how far posting got.

A transfer's files carry a per-file acknowledged watermark, advanced in batched
checkpoints. A transfer being worked on carries a lease ``(owner, expires)``;
another process may take it over only once the lease expired or its worker was
reaped as dead, so two processes never post the same transfer at once.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence

from postie.errors import StoreError, TransferBusy, UsageError
from postie.store.records import (
    UNFINISHED,
    FileProgress,
    NewTransfer,
    Transfer,
    TransferFile,
    TransferState,
    TransferSummary,
    UploadState,
)
from postie.store.rows import file_row, transfer_row
from postie.store.sqlite.sql import query, values
from postie.store.sqlite.workers import WorkerQueries

# files per INSERT statement, 11 parameters each: under SQLite's limit on parameters
# (32,766 since 3.32; 999 before)
FILES_PER_INSERT = 1000 if sqlite3.sqlite_version_info >= (3, 32) else 90
FILE_COLUMNS = 11


class TransferQueries(WorkerQueries):
    """Transfer state changes, each one transaction."""

    async def create(self, new: NewTransfer, *, owner: str, lease: float) -> int:
        now = self.now()
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
            manifest_path = str(new.manifest_path)
            # a chunk of rows at a time: 100,000 files' rows at once held ~22 MiB
            for start in range(0, len(new.files), FILES_PER_INSERT):
                chunk = new.files[start : start + FILES_PER_INSERT]
                await db.execute(
                    values("insert_files", len(chunk), FILE_COLUMNS),
                    [
                        value
                        for f in chunk
                        for value in (
                            transfer_id,
                            f.file_id,
                            f.role,
                            os.fsencode(f.source_path),
                            f.name,
                            f.size,
                            f.mtime_ns,
                            manifest_path,
                            f.article_count,
                            f.cleanup,
                            now,
                        )
                    ],
                )
        return transfer_id

    async def get(self, transfer_id: int) -> Transfer | None:
        rows = await self._fetch("get_transfer", "read a transfer", id=transfer_id)
        return transfer_row(rows[0]) if rows else None

    async def files(self, transfer_id: int) -> tuple[TransferFile, ...]:
        rows = await self._fetch("transfer_files", "read a transfer's files", id=transfer_id)
        return tuple(file_row(row) for row in rows)

    async def unfinished(self, roots_key: str) -> tuple[Transfer, ...]:
        rows = await self._fetch("unfinished_by_roots", "look for a transfer", roots_key=roots_key)
        return tuple(transfer_row(row) for row in rows)

    async def uploaded_of(self, roots_key: str, files_key: str) -> Transfer | None:
        rows = await self._fetch(
            "uploaded_of",
            "look for a transfer",
            roots_key=roots_key,
            files_key=files_key,
        )
        return transfer_row(rows[0]) if rows else None

    async def last_unfinished(self) -> Transfer | None:
        rows = await self._fetch("last_unfinished", "look for a transfer")
        return transfer_row(rows[0]) if rows else None

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
                    transfer_row(row),
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
        await self.reap_workers()  # a killed process's transfer is free at once
        now = self.now()
        taken = await self._returning(
            "claim", "claim a transfer", id=transfer_id, owner=owner, expires=now + lease, now=now
        )
        if not taken:
            current = await self.get(transfer_id)
            if current is None:
                raise StoreError(f"no transfer {transfer_id} in {self.path}")
            left = (current.lease_expires or now) - now
            raise TransferBusy(
                f"transfer {transfer_id} is being posted by another process"
                f" ({current.lease_owner}); its lease runs out in {max(0.0, left):.0f} s"
            )

    async def abandon(self, transfer_id: int, *, owner: str, reason: str | None = None) -> None:
        await self.reap_workers()
        now = self.now()
        done = await self._returning(
            "abandon",
            "abandon a transfer",
            id=transfer_id,
            owner=owner,
            reason=reason,
            now=now,
        )
        if done:
            return
        current = await self.get(transfer_id)
        if current is None:
            raise UsageError(f"no transfer {transfer_id} in {self.path}")
        if not current.unfinished:
            state = current.display_state
            raise UsageError(
                f"transfer {transfer_id} is {state}: only an unfinished one is abandoned"
            )
        left = (current.lease_expires or now) - now
        raise TransferBusy(
            f"transfer {transfer_id} is being posted by another process"
            f" ({current.lease_owner}); its lease runs out in {max(0.0, left):.0f} s"
        )

    async def release(self, transfer_id: int, *, owner: str) -> None:
        async with self._transaction("release a transfer") as db:
            await db.execute(
                query("release"), {"id": transfer_id, "owner": owner, "now": self.now()}
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
        now = self.now()
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
            uploaded = [f.file_id for f in files if f.state == UploadState.UPLOADED]
            if uploaded:
                await db.execute(
                    query("set_uploaded"),
                    {"transfer_id": transfer_id, "file_ids": json.dumps(uploaded), "now": now},
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
                    if f.state != UploadState.UPLOADED
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
        state: TransferState,
        error: str | None = None,
        nzb_path: str | None = None,
        check_at: float | None = None,
    ) -> None:
        now = self.now()
        async with self._transaction("record the transfer's outcome") as db:
            if check_at is not None:
                await db.execute(
                    query("schedule_checks"), {"id": transfer_id, "at": check_at, "now": now}
                )
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

    async def rewind(
        self,
        transfer_id: int,
        marks: Mapping[int, int],
        *,
        owner: str,
        manifest_bytes: int,
    ) -> None:
        now = self.now()
        async with self._transaction("rewind a salvaged transfer") as db:
            cursor = await db.execute(
                query("rewind_manifest"),
                {"id": transfer_id, "owner": owner, "manifest_bytes": manifest_bytes, "now": now},
            )
            if cursor.rowcount != 1:
                raise TransferBusy(f"transfer {transfer_id} is not held by this process")
            await db.executemany(
                query("rewind_file"),
                [
                    {"transfer_id": transfer_id, "file_id": f, "acked": acked, "now": now}
                    for f, acked in marks.items()
                ],
            )

    async def set_targets(
        self, transfer_id: int, targets: Mapping[str, str], *, nzb_path: str
    ) -> None:
        async with self._transaction("record where the NZBs go") as db:
            await db.execute(
                query("set_targets"),
                {
                    "id": transfer_id,
                    "targets": json.dumps(dict(targets)),
                    "nzb_path": nzb_path,
                    "now": self.now(),
                },
            )

    async def delete(self, transfer_id: int) -> None:
        async with self._transaction("delete a transfer") as db:
            await db.execute(query("delete_transfer"), {"id": transfer_id})
