"""The PostgreSQL store's verification side: scans, misses, outcomes, finalizing,
sweeping.

The same behaviour as the SQLite store's (``postie.store.sqlite.verification``). The
claims of scans and missing articles skip the rows other instances hold locked
(``FOR UPDATE SKIP LOCKED``, see queries.sql), so instances that STAT one big
transfer at once get disjoint pieces of it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from postie.store.postgres.base import StoreBase, execute, executemany, fetch
from postie.store.postgres.sql import Conn
from postie.store.records import (
    Failure,
    FailureState,
    FinalizeState,
    SweepResult,
    Transfer,
    VerifyState,
)
from postie.store.rows import failure_row, transfer_row

SWEEP_BATCH = 500  # finished transfers deleted per sweep at most (the next sweep goes on)


class VerificationQueries(StoreBase):
    """Verification state changes, each one transaction."""

    async def schedule_checks(self, transfer_id: int, *, at: float, again: bool = False) -> None:
        async def work(conn: Conn) -> None:
            now = self.now()
            if again:
                await execute(conn, "reset_failures", id=transfer_id)
                await execute(conn, "reset_file_checks", id=transfer_id, at=at, now=now)
                await execute(conn, "reset_transfer_verification", id=transfer_id, now=now)
            else:
                await execute(conn, "schedule_checks", id=transfer_id, at=at, now=now)

        await self._atomic("schedule a verification", work)

    async def claim_check(
        self,
        *,
        owner: str,
        lease: float,
        only: int | None = None,
        servers: Sequence[str] | None = None,
    ) -> tuple[int, tuple[int, ...]] | None:
        async def work(conn: Conn) -> list[dict[str, Any]]:
            now = self.now()
            return await fetch(
                conn,
                "claim_check",
                owner=owner,
                expires=now + lease,
                now=now,
                only=only,
                servers=_servers(servers),
            )

        taken = await self._atomic("claim a verification", work)
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
        files = tuple(files)  # (a run after a lost connection reads them again)

        async def work(conn: Conn) -> None:
            now = self.now()
            rows = await fetch(conn, "held_checks", transfer_id=transfer_id, owner=owner)
            held = {int(r["file_id"]) for r in rows}
            for file_id, parts in misses.items():
                if file_id in held:
                    await executemany(
                        conn,
                        "record_miss",
                        _miss_rows(transfer_id, file_id, parts, next_attempt_at, error, now),
                    )
            await executemany(
                conn,
                "file_checked",
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
            await self._settle(conn, transfer_id, now)

        await self._atomic("record a verification", work)

    async def release_check(
        self, transfer_id: int, files: Iterable[int], *, owner: str, at: float, error: str
    ) -> None:
        files = tuple(files)

        async def work(conn: Conn) -> None:
            now = self.now()
            await executemany(
                conn,
                "release_check",
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

        await self._atomic("postpone a verification", work)

    async def settle(self, transfer_id: int) -> VerifyState:
        async def work(conn: Conn) -> VerifyState:
            return await self._settle(conn, transfer_id, self.now())

        return await self._atomic("settle a verification", work)

    async def _settle(self, conn: Conn, transfer_id: int, now: float) -> VerifyState:
        await execute(conn, "settle_files", id=transfer_id, now=now)
        (row,) = await fetch(conn, "file_verify_counts", id=transfer_id)
        state = VerifyState.PENDING
        # no file at all reads as "nothing pending", as SQLite's SUM over no rows (NULL) does
        if not row["pending"]:
            state = VerifyState.VERIFICATION_FAILED if row["failed"] else VerifyState.VERIFIED
        if state != VerifyState.PENDING:
            await execute(conn, "settle_transfer", id=transfer_id, state=state, now=now)
        current = await fetch(conn, "transfer_verify_state", id=transfer_id)
        return VerifyState(current[0]["verify_state"]) if current else state

    async def record_misses(
        self,
        transfer_id: int,
        file_id: int,
        misses: Iterable[tuple[int, str]],
        *,
        next_attempt_at: float,
        error: str | None = None,
    ) -> None:
        misses = tuple(misses)

        async def work(conn: Conn) -> None:
            now = self.now()
            await executemany(
                conn,
                "record_miss",
                _miss_rows(transfer_id, file_id, misses, next_attempt_at, error, now),
            )

        await self._atomic("record missing articles", work)

    async def claim_failures(
        self,
        *,
        owner: str,
        lease: float,
        limit: int,
        only: int | None = None,
        servers: Sequence[str] | None = None,
    ) -> tuple[Failure, ...]:
        async def work(conn: Conn) -> list[dict[str, Any]]:
            now = self.now()
            return await fetch(
                conn,
                "claim_failures",
                owner=owner,
                expires=now + lease,
                now=now,
                limit=limit,
                only=only,
                servers=_servers(servers),
            )

        taken = await self._atomic("claim missing articles", work)
        # RETURNING gives the rows in no particular order: earliest due first, as claimed
        claimed = sorted((failure_row(r) for r in taken), key=lambda f: (f.next_attempt_at, f.key))
        return tuple(claimed)

    async def resolve_failures(self, keys: Iterable[tuple[int, int, int]], *, owner: str) -> None:
        keys = tuple(keys)

        async def work(conn: Conn) -> None:
            await executemany(
                conn,
                "resolve_failure",
                [{"transfer_id": t, "file_id": f, "part": p, "owner": owner} for t, f, p in keys],
            )

        await self._atomic("forget found articles", work)

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
        transfer_id, file_id, part = key
        tried: list[float] = []  # the clock of each run: a run that did commit left it

        async def work(conn: Conn) -> bool:
            now = self.now()
            tried.append(now)
            changed = await fetch(
                conn,
                "reschedule_failure",
                transfer_id=transfer_id,
                file_id=file_id,
                part=part,
                owner=owner,
                state=FailureState.EXHAUSTED if exhausted else FailureState.PENDING,
                repost_count=repost_count,
                check_count=check_count,
                next_attempt_at=next_attempt_at,
                error=error,
                now=now,
            )
            return len(changed) == 1

        async def recheck(conn: Conn) -> bool | None:
            rows = await fetch(
                conn,
                "rescheduled_failure",
                transfer_id=transfer_id,
                file_id=file_id,
                part=part,
                times=tried,
            )
            return True if rows else None

        return await self._atomic("reschedule a missing article", work, recheck=recheck)

    async def failures(self, transfer_id: int) -> tuple[Failure, ...]:
        rows = await self._fetch("transfer_failures", "read missing articles", id=transfer_id)
        return tuple(failure_row(row) for row in rows)

    async def par2_folders(self) -> set[Path]:
        rows = await self._fetch("par2_paths", "read PAR2 files")
        return {Path(os.fsdecode(bytes(r["source_path"]))).parent for r in rows}

    async def verify_counts(self) -> dict[str, int]:
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
        rows = await self._fetch(
            "next_due", "look for verification work", only=only, servers=_servers(servers)
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
        async def work(conn: Conn) -> None:
            await execute(
                conn,
                "set_finalized",
                id=transfer_id,
                owner=owner,
                state=state,
                attempts=attempts,
                error=error,
                now=self.now(),
            )

        await self._atomic("record finalizing", work)

    async def sweep(self, *, retention: float) -> SweepResult:
        async def work(conn: Conn) -> SweepResult:
            now = self.now()
            rows = await fetch(
                conn, "sweepable", before=now - retention, now=now, limit=SWEEP_BATCH
            )
            gone = tuple((int(r["id"]), Path(r["manifest_path"])) for r in rows)
            if gone:
                await execute(conn, "delete_transfers", ids=[t for t, _ in gone])
            failures = len(await fetch(conn, "reclaim_expired_failures", now=now))
            checks = len(await fetch(conn, "reclaim_expired_checks", now=now))
            transfers = len(await fetch(conn, "reclaim_expired_transfers", now=now))
            return SweepResult(gone, failures, checks, transfers)

        return await self._atomic("sweep finished transfers", work)


def _servers(servers: Sequence[str] | None) -> list[str] | None:
    return list(servers) if servers is not None else None


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
