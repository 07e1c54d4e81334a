"""The SQLite store's verification side: scans, misses, outcomes, finalizing, sweeping.

Only what a STAT did *not* find is stored (``verification_failures``); an
article that was there leaves no row. Work is leased: a worker claims due rows
(or a file's scan: ``check_owner``, ``check_expires``) by writing its owner and an
expiry in one statement, so two workers, also in two processes on one SQLite
file, never hold the same piece; a lease that ran out is due again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from postie.store.records import (
    Failure,
    FailureState,
    FinalizeState,
    SweepResult,
    Transfer,
    VerifyState,
)
from postie.store.rows import failure_row, transfer_row
from postie.store.sqlite.base import StoreBase, one, rows
from postie.store.sqlite.sql import query

SWEEP_BATCH = 500  # finished transfers deleted per sweep at most (the next sweep goes on)


class VerificationQueries(StoreBase):
    """Verification state changes, each one transaction."""

    async def schedule_checks(self, transfer_id: int, *, at: float, again: bool = False) -> None:
        """Ask for a STAT scan of the transfer's uploaded files at ``at``. ``again``:
        forget earlier outcomes and misses and check every file afresh."""
        now = self.now()
        async with self._transaction("schedule a verification") as db:
            params = {"id": transfer_id, "at": at, "now": now}
            if again:
                await db.execute(query("reset_failures"), params)
                await db.execute(query("reset_file_checks"), params)
                await db.execute(query("reset_transfer_verification"), params)
            else:
                await db.execute(query("schedule_checks"), params)

    async def claim_check(
        self,
        *,
        owner: str,
        lease: float,
        only: int | None = None,
        servers: Sequence[str] | None = None,
    ) -> tuple[int, tuple[int, ...]] | None:
        now = self.now()
        taken = await self._returning(
            "claim_check",
            "claim a verification",
            owner=owner,
            expires=now + lease,
            now=now,
            only=only,
            servers=_json(servers),
        )
        if not taken:
            return None
        (transfer_id,) = {int(r["transfer_id"]) for r in taken}
        return transfer_id, tuple(sorted(int(r["file_id"]) for r in taken))

    async def finish_check(
        self,
        transfer_id: int,
        *,
        owner: str,
        files: Iterable[int],
        misses: Mapping[int, Sequence[tuple[int, str]]],
        next_attempt_at: float,
        error: str | None = None,
    ) -> None:
        """A scan ended: store the misses (``file -> [(part, message_id)]``), mark the
        files without any verified. Only files ``owner`` still holds are changed."""
        now = self.now()
        async with self._transaction("record a verification") as db:
            async with db.execute(
                query("held_checks"), {"transfer_id": transfer_id, "owner": owner}
            ) as cur:
                held = {int(r["file_id"]) for r in await rows(cur)}
            for file_id, parts in misses.items():
                if file_id in held:
                    await db.executemany(
                        query("record_miss"),
                        _miss_rows(transfer_id, file_id, parts, next_attempt_at, error, now),
                    )
            await db.executemany(
                query("file_checked"),
                [
                    {
                        "transfer_id": transfer_id,
                        "file_id": f,
                        "owner": owner,
                        "missing": bool(misses.get(f)),
                        "now": now,
                    }
                    for f in files
                ],
            )
            await self._settle(db, transfer_id, now)

    async def release_check(
        self, transfer_id: int, files: Iterable[int], *, owner: str, at: float, error: str
    ) -> None:
        """A scan could not run (a STAT error): due again at ``at``, nothing spent."""
        now = self.now()
        async with self._transaction("postpone a verification") as db:
            await db.executemany(
                query("release_check"),
                [
                    {
                        "transfer_id": transfer_id,
                        "file_id": f,
                        "owner": owner,
                        "at": at,
                        "error": error,
                        "now": now,
                    }
                    for f in files
                ],
            )

    async def settle(self, transfer_id: int) -> VerifyState:
        async with self._transaction("settle a verification") as db:
            return await self._settle(db, transfer_id, self.now())

    async def _settle(self, db: aiosqlite.Connection, transfer_id: int, now: float) -> VerifyState:
        await db.execute(query("settle_files"), {"id": transfer_id, "now": now})
        async with db.execute(query("file_verify_counts"), {"id": transfer_id}) as cur:
            row = await one(cur)
        state = VerifyState.PENDING
        if row is not None and not row["pending"]:
            state = VerifyState.VERIFICATION_FAILED if row["failed"] else VerifyState.VERIFIED
        if state != VerifyState.PENDING:
            await db.execute(
                query("settle_transfer"), {"id": transfer_id, "state": state, "now": now}
            )
        async with db.execute(query("transfer_verify_state"), {"id": transfer_id}) as cur:
            current = await one(cur)
        return VerifyState(current["verify_state"]) if current is not None else state

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
        now = self.now()
        async with self._transaction("record missing articles") as db:
            await db.executemany(
                query("record_miss"),
                _miss_rows(transfer_id, file_id, misses, next_attempt_at, error, now),
            )

    async def claim_failures(
        self,
        *,
        owner: str,
        lease: float,
        limit: int,
        only: int | None = None,
        servers: Sequence[str] | None = None,
    ) -> tuple[Failure, ...]:
        now = self.now()
        taken = await self._returning(
            "claim_failures",
            "claim missing articles",
            owner=owner,
            expires=now + lease,
            now=now,
            limit=limit,
            only=only,
            servers=_json(servers),
        )
        # RETURNING gives the rows in no particular order: earliest due first, as claimed
        claimed = sorted((failure_row(r) for r in taken), key=lambda f: (f.next_attempt_at, f.key))
        return tuple(claimed)

    async def resolve_failures(self, keys: Iterable[tuple[int, int, int]], *, owner: str) -> None:
        """The articles are on the server after all: forget them (only rows ``owner``
        holds)."""
        now = self.now()
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
                    "state": FailureState.EXHAUSTED if exhausted else FailureState.PENDING,
                    "repost_count": repost_count,
                    "check_count": check_count,
                    "next_attempt_at": next_attempt_at,
                    "error": error,
                    "now": self.now(),
                },
            )
            return cursor.rowcount == 1

    async def failures(self, transfer_id: int) -> tuple[Failure, ...]:
        rows = await self._fetch("transfer_failures", "read missing articles", id=transfer_id)
        return tuple(failure_row(row) for row in rows)

    async def par2_folders(self) -> set[Path]:
        """The folders the recorded transfers' generated PAR2 files are in."""
        rows = await self._fetch("par2_paths", "read PAR2 files")
        return {Path(os.fsdecode(bytes(r["source_path"]))).parent for r in rows}

    async def verify_counts(self) -> dict[str, int]:
        """Uploaded transfers by what verification made of them (for status pages)."""
        rows = await self._fetch("verify_counts", "count verifications")
        counts: dict[str, int] = {}
        for r in rows:
            key = str(r["verify_state"])
            if key == VerifyState.VERIFIED and r["finalize_state"] == FinalizeState.FAILED:
                key = "finalize_failed"
            counts[key] = counts.get(key, 0) + int(r["n"])
        return counts

    async def next_due(
        self, only: int | None = None, servers: Sequence[str] | None = None
    ) -> float | None:
        """When the next piece of verification work is due (None: nothing left)."""
        rows = await self._fetch(
            "next_due", "look for verification work", only=only, servers=_json(servers)
        )
        due = rows[0]["due"] if rows else None
        return float(due) if due is not None else None

    # --- finalizing and sweeping ----------------------------------------------------------

    async def finalizable(self, *, only: int | None = None) -> tuple[Transfer, ...]:
        rows = await self._fetch(
            "finalizable", "look for verified transfers", now=self.now(), only=only
        )
        return tuple(transfer_row(r) for r in rows)

    async def set_finalized(
        self,
        transfer_id: int,
        *,
        owner: str,
        state: FinalizeState,
        attempts: int,
        error: str | None = None,
    ) -> None:
        async with self._transaction("record finalizing") as db:
            await db.execute(
                query("set_finalized"),
                {
                    "id": transfer_id,
                    "owner": owner,
                    "state": state,
                    "attempts": attempts,
                    "error": error,
                    "now": self.now(),
                },
            )

    async def sweep(self, *, retention: float) -> SweepResult:
        """Delete finished transfers past ``retention`` (their rows; the caller deletes the
        manifests returned) and reclaim every expired lease: one transaction."""
        now = self.now()
        async with self._transaction("sweep finished transfers") as db:
            async with db.execute(
                query("sweepable"), {"before": now - retention, "now": now, "limit": SWEEP_BATCH}
            ) as cur:
                gone = tuple((int(r["id"]), Path(r["manifest_path"])) for r in await rows(cur))
            await db.executemany(query("delete_transfer"), [{"id": t} for t, _ in gone])
            params = {"now": now}
            failures = (await db.execute(query("reclaim_expired_failures"), params)).rowcount
            checks = (await db.execute(query("reclaim_expired_checks"), params)).rowcount
            transfers = (await db.execute(query("reclaim_expired_transfers"), params)).rowcount
        return SweepResult(gone, failures, checks, transfers)


def _json(servers: Sequence[str] | None) -> str | None:
    return json.dumps(list(servers)) if servers is not None else None


def _miss_rows(
    transfer_id: int,
    file_id: int,
    misses: Iterable[tuple[int, str]],
    next_attempt_at: float,
    error: str | None,
    now: float,
) -> list[dict[str, Any]]:
    """``record_miss`` parameters for the parts of one file a STAT did not find."""
    return [
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
    ]
