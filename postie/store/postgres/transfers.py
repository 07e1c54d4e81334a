"""The PostgreSQL store's transfers: what was planned and how far posting got.

The same behaviour as the SQLite store's (``postie.store.sqlite.transfers``): per-file
acknowledged watermarks advanced in checkpoints, a transfer's lease taken only when it
is free, the caller's own, expired, or its worker was reaped as dead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from postie.errors import StoreError, TransferBusy, UsageError
from postie.store.postgres.base import execute, executemany, fetch
from postie.store.postgres.sql import Conn
from postie.store.postgres.workers import WorkerQueries
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


class TransferQueries(WorkerQueries):
    """Transfer state changes, each one transaction."""

    async def create(self, new: NewTransfer, *, owner: str, lease: float) -> int:
        files = new.files
        tried: list[float] = []  # the clock of each run: a run that did commit left it

        async def work(conn: Conn) -> int:
            now = self.now()
            tried.append(now)
            (row,) = await fetch(
                conn,
                "insert_transfer",
                name=new.name,
                roots=json.dumps(list(new.roots)),
                roots_key=new.roots_key,
                files_key=new.files_key,
                options=json.dumps(new.options, sort_keys=True),
                nzb_path=new.nzb_path,
                manifest_path=str(new.manifest_path),
                owner=owner,
                expires=now + lease,
                now=now,
            )
            transfer_id = int(row["id"])
            if files:
                await execute(
                    conn,
                    "insert_files",
                    transfer_id=transfer_id,
                    manifest_path=str(new.manifest_path),
                    now=now,
                    file_ids=[f.file_id for f in files],
                    roles=[str(f.role) for f in files],
                    source_paths=[os.fsencode(f.source_path) for f in files],
                    names=[f.name for f in files],
                    sizes=[f.size for f in files],
                    mtimes=[f.mtime_ns for f in files],
                    article_counts=[f.article_count for f in files],
                    cleanups=[str(f.cleanup) for f in files],
                )
            return transfer_id

        async def recheck(conn: Conn) -> int | None:
            rows = await fetch(
                conn,
                "created_transfer",
                manifest_path=str(new.manifest_path),
                owner=owner,
                times=tried,
            )
            return int(rows[0]["id"]) if rows else None

        return await self._atomic("record a new transfer", work, recheck=recheck)

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
            "uploaded_of", "look for a transfer", roots_key=roots_key, files_key=files_key
        )
        return transfer_row(rows[0]) if rows else None

    async def last_unfinished(self) -> Transfer | None:
        rows = await self._fetch("last_unfinished", "look for a transfer")
        return transfer_row(rows[0]) if rows else None

    async def summaries(self, limit: int = 50) -> tuple[TransferSummary, ...]:
        rows = await self._fetch("list_transfers", "list transfers", limit=limit)
        ids = [int(row["id"]) for row in rows]
        counts = {
            row["transfer_id"]: row
            for row in await self._fetch("file_counts", "count files", ids=ids)
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
        clock: list[float] = []

        async def work(conn: Conn) -> list[dict[str, Any]]:
            clock[:] = [now := self.now()]
            return await fetch(
                conn, "claim", id=transfer_id, owner=owner, expires=now + lease, now=now
            )

        taken = await self._atomic("claim a transfer", work)
        now = clock[0]
        if not taken:
            current = await self.get(transfer_id)
            if current is None:
                raise StoreError(f"no transfer {transfer_id} in {self.location}")
            raise _busy(transfer_id, current, now)

    async def abandon(self, transfer_id: int, *, owner: str, reason: str | None = None) -> None:
        await self.reap_workers()
        done = await self._atomic(
            "abandon a transfer",
            lambda conn: fetch(
                conn, "abandon", id=transfer_id, owner=owner, reason=reason, now=self.now()
            ),
        )
        if done:
            return
        current = await self.get(transfer_id)
        now = self.now()
        if current is None:
            raise UsageError(f"no transfer {transfer_id} in {self.location}")
        if not current.unfinished:
            state = current.display_state
            raise UsageError(
                f"transfer {transfer_id} is {state}: only an unfinished one is abandoned"
            )
        raise _busy(transfer_id, current, now)

    async def release(self, transfer_id: int, *, owner: str) -> None:
        async def work(conn: Conn) -> None:
            await execute(conn, "release", id=transfer_id, owner=owner, now=self.now())

        await self._atomic("release a transfer", work)

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
        accepted = tuple(accepted)  # (a run after a lost connection reads them again)

        async def work(conn: Conn) -> None:
            now = self.now()
            renewed = await fetch(
                conn,
                "renew",
                id=transfer_id,
                owner=owner,
                expires=now + lease,
                manifest_bytes=manifest_bytes,
                now=now,
            )
            if not renewed:
                raise TransferBusy(
                    f"transfer {transfer_id} was taken over by another process"
                    " while this one was posting it"
                )
            if all_uploaded:
                await execute(conn, "set_all_uploaded", transfer_id=transfer_id, now=now)
            uploaded = [f.file_id for f in files if f.state == UploadState.UPLOADED]
            if uploaded:
                await execute(
                    conn, "set_uploaded", transfer_id=transfer_id, file_ids=uploaded, now=now
                )
            await executemany(
                conn,
                "set_progress",
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
            await executemany(
                conn,
                "insert_accepted_id",
                [
                    {"transfer_id": transfer_id, "file_id": f, "part": p, "message_id": m}
                    for f, p, m in accepted
                ],
            )

        await self._atomic("save progress", work)

    async def finish(
        self,
        transfer_id: int,
        *,
        state: TransferState,
        error: str | None = None,
        nzb_path: str | None = None,
        check_at: float | None = None,
    ) -> None:
        async def work(conn: Conn) -> None:
            now = self.now()
            if check_at is not None:
                await execute(conn, "schedule_checks", id=transfer_id, at=check_at, now=now)
            await execute(
                conn,
                "set_transfer_state",
                id=transfer_id,
                state=state,
                error=error,
                nzb_path=nzb_path,
                finished_at=now if state not in UNFINISHED else None,
                now=now,
            )

        await self._atomic("record the transfer's outcome", work)

    async def rewind(
        self,
        transfer_id: int,
        marks: Mapping[int, int],
        *,
        owner: str,
        manifest_bytes: int,
    ) -> None:
        async def work(conn: Conn) -> None:
            now = self.now()
            held = await fetch(
                conn,
                "rewind_manifest",
                id=transfer_id,
                owner=owner,
                manifest_bytes=manifest_bytes,
                now=now,
            )
            if not held:
                raise TransferBusy(f"transfer {transfer_id} is not held by this process")
            await executemany(
                conn,
                "rewind_file",
                [
                    {"transfer_id": transfer_id, "file_id": f, "acked": acked, "now": now}
                    for f, acked in marks.items()
                ],
            )

        await self._atomic("rewind a salvaged transfer", work)

    async def set_targets(
        self, transfer_id: int, targets: Mapping[str, str], *, nzb_path: str
    ) -> None:
        async def work(conn: Conn) -> None:
            await execute(
                conn,
                "set_targets",
                id=transfer_id,
                targets=json.dumps(dict(targets)),
                nzb_path=nzb_path,
                now=self.now(),
            )

        await self._atomic("record where the NZBs go", work)

    async def delete(self, transfer_id: int) -> None:
        async def work(conn: Conn) -> None:
            await execute(conn, "drop_transfer_manifest", id=transfer_id)
            await execute(conn, "delete_transfer", id=transfer_id)

        await self._atomic("delete a transfer", work)


def _busy(transfer_id: int, current: Transfer, now: float) -> TransferBusy:
    left = (current.lease_expires or now) - now
    return TransferBusy(
        f"transfer {transfer_id} is being posted by another process"
        f" ({current.lease_owner}); its lease runs out in {max(0.0, left):.0f} s"
    )
