"""The verification service: prove every article arrived, re-post what did not.

A background loop of the Runtime. Each pass:

1. **scans**: claims the files whose check is due (the propagation delay after
   their upload) one transfer at a time, streams the transfer's manifest and
   STATs every article of those files in pipelined batches on the verify
   connections. Only the misses are stored; a file without any is verified.
2. **misses**: claims a batch of due misses under a lease and STATs them again.
   Found: forgotten. Missing with re-posts left: re-posted with the **same
   Message-ID** through the engine (WorkerSlots, ByteBudget), the body re-read
   from the source and its CRC32 checked against the manifest; checked again
   after the propagation delay. ``441 435 Duplicate`` on a re-post means the
   server claims the ID: it is not counted as posted, only rechecked. Missing
   with no re-post left: rechecked with exponential backoff until
   ``max_checks``, then exhausted. A STAT error (not a 430) spends nothing.
3. **outcomes**: a file is verified when no miss is left, verification_failed
   when one is exhausted; the transfer follows its files.
4. **finalize**: a verified transfer gets its hook and cleanup (``finalize``).

Every claim is a lease in the store, so several processes can share the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

from postie import crashpoints, errors
from postie.config import FinalizeConfig, VerifyConfig
from postie.manifest import ArticleRecord, ManifestReader
from postie.nntp.stat import stat_all
from postie.par2.make import par2_workdir
from postie.runtime.runtime import Runtime
from postie.store.api import Failure, FinalizeState, Store, Transfer, VerifyState
from postie.verify.finalize import FinalizeFailed, finalize
from postie.verify.repost import Reposted, repost
from postie.verify.sweeper import Sweeper

log = logging.getLogger(__name__)

SCAN_CHUNK = 20_000  # manifest lines read (and STATed) at a time
ERROR_RETRY = 5.0  # seconds before work that met a STAT error is tried again
MAX_ROUNDS = 100  # claims per kind per pass, so one pass always ends
NOT_FOUND = "430 not found by STAT"


@dataclass(frozen=True, slots=True)
class VerifyStatistics:
    """A snapshot of the verification service's counters."""

    phase: str  # waiting, scanning, rechecking, re-posting, finalizing
    passes: int
    scans: int
    checked: int  # articles STATed by scans
    missing: int  # misses the scans found
    rechecked: int
    found_later: int
    reposted: int
    claimed: int  # re-posts met with 441 435
    exhausted: int
    stat_errors: int
    finalized: int
    finalize_failures: int
    check_seconds: float  # time spent in scans


def verification(
    runtime: Runtime,
    store: Store,
    *,
    owner: str,
    only: int | None = None,
    sweep: bool = True,
) -> VerificationService:
    """A VerificationService on ``runtime`` with its config's verify and finalize
    settings; ``async with`` it to run it."""
    return VerificationService(
        runtime,
        store,
        owner=owner,
        config=runtime.config.verify,
        finalize_config=runtime.config.finalize,
        only=only,
        sweep=sweep,
    )


def recheck_delay(config: VerifyConfig, checks: int) -> float:
    """Backoff before the next STAT of an article missing after ``checks`` STATs."""
    return float(min(config.backoff_max, config.backoff * 2 ** max(0, checks - 3)))


class VerificationService:
    """``async with VerificationService(...)``: runs its loop (and the sweeper) until exit.

    ``only``: work on that transfer alone (``postie post`` waiting for its own).
    """

    def __init__(
        self,
        runtime: Runtime,
        store: Store,
        *,
        owner: str,
        config: VerifyConfig,
        finalize_config: FinalizeConfig | None = None,
        only: int | None = None,
        sweep: bool = True,
    ) -> None:
        self.runtime = runtime
        self.store = store
        self.owner = owner
        self.config = config
        self.finalize_config = finalize_config or FinalizeConfig()
        self.only = only
        # a transfer is checked on the server it was posted to: the loop takes those
        # posted to this Runtime's upload servers; asked for one transfer, it takes it
        self.servers: tuple[str, ...] | None = (
            None if only is not None else tuple(p.label for p in runtime.upload_pools)
        )
        self.sweeper = (
            Sweeper(store, config, par2_dir=par2_workdir(runtime.config.par2, store.path))
            if sweep
            else None
        )
        self._kick = asyncio.Event()
        self._passed = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []
        self._phase = "waiting"
        self._passes = 0
        self._scans = 0
        self._checked = 0
        self._missing = 0
        self._rechecked = 0
        self._found_later = 0
        self._reposted = 0
        self._claimed = 0
        self._exhausted = 0
        self._stat_errors = 0
        self._finalized = 0
        self._finalize_failures = 0
        self._check_seconds = 0.0
        self.refused: errors.PostieError | None = None  # a server that refuses STAT or POST

    async def __aenter__(self) -> VerificationService:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def start(self) -> None:
        if self._tasks:
            return
        self._tasks.append(asyncio.create_task(self._loop(), name="verify"))
        if self.sweeper is not None:
            self._tasks.append(asyncio.create_task(self.sweeper.run(), name="sweep"))

    async def aclose(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def kick(self) -> None:
        """Look for due work now rather than at the next poll."""
        self._kick.set()

    def statistics(self) -> VerifyStatistics:
        return VerifyStatistics(
            phase=self._phase,
            passes=self._passes,
            scans=self._scans,
            checked=self._checked,
            missing=self._missing,
            rechecked=self._rechecked,
            found_later=self._found_later,
            reposted=self._reposted,
            claimed=self._claimed,
            exhausted=self._exhausted,
            stat_errors=self._stat_errors,
            finalized=self._finalized,
            finalize_failures=self._finalize_failures,
            check_seconds=self._check_seconds,
        )

    async def wait(self, transfer_id: int) -> Transfer:
        """Wait until the transfer is verified and finalized, or verification failed."""
        self.kick()
        while True:
            async with self._passed:
                await self._passed.wait()
            if self.refused is not None:
                raise self.refused
            loop = self._tasks[0] if self._tasks else None
            if loop is not None and loop.done():
                loop.result()  # raises what ended the loop
                raise errors.PostieError("the verification service stopped")
            transfer = await self.store.get(transfer_id)
            if transfer is None:
                raise errors.UsageError(f"transfer {transfer_id} is gone from the store")
            if transfer.verify_state == VerifyState.VERIFICATION_FAILED:
                return transfer
            verified = transfer.verify_state == VerifyState.VERIFIED
            if verified and transfer.finalize_state != FinalizeState.PENDING:
                return transfer

    # --- the loop -----------------------------------------------------------------------

    async def _loop(self) -> None:
        try:
            await self._passes_forever()
        finally:
            # wake anyone waiting, also when the loop ends with an error (they see it)
            async with self._passed:
                self._passed.notify_all()

    async def _passes_forever(self) -> None:
        while True:
            try:
                await self.run_pass()
            except (errors.StoreError, errors.ManifestError, errors.NNTPError) as exc:
                log.warning("verification pass ended early (will try again): %s", exc)
            self._phase = "waiting"
            self._passes += 1
            async with self._passed:
                self._passed.notify_all()
            delay = self.config.poll_interval
            with contextlib.suppress(errors.StoreError):
                due = await self.store.next_due(self.only, self.servers)
                if due is not None:
                    delay = min(delay, max(0.05, due - self.store.now()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), delay)
            self._kick.clear()

    async def run_pass(self) -> None:
        """One pass: due scans, due misses, finalizing (see the module documentation)."""
        config = self.config
        await self._take_over()
        for _ in range(MAX_ROUNDS):
            claim = await self.store.claim_check(
                owner=self.owner, lease=config.lease, only=self.only, servers=self.servers
            )
            if claim is None:
                break
            await self._scan(*claim)
        for _ in range(MAX_ROUNDS):
            failures = await self.store.claim_failures(
                owner=self.owner,
                lease=config.lease,
                limit=config.batch_size,
                only=self.only,
                servers=self.servers,
            )
            if not failures:
                break
            await self._recheck(failures)
        for transfer in await self.store.finalizable(only=self.only):
            await self._finalize(transfer)

    async def _take_over(self) -> None:
        """Release the leases of workers that are dead (a killed process of this host, a
        heartbeat that stopped anywhere): their work is due now, not when the leases run
        out."""
        reaped = await self.store.reap_workers()
        if reaped.owners:
            log.info("took over %d leases of %d ended processes", reaped.leases, len(reaped.owners))

    # --- scans --------------------------------------------------------------------------

    async def _stat(self, ids: list[str]) -> list[bool]:
        return await stat_all(
            self.runtime.verify_connection, ids, width=self.runtime.verify_slots.total
        )

    async def _scan(self, transfer_id: int, files: tuple[int, ...]) -> None:
        transfer = await self.store.get(transfer_id)
        if transfer is None:
            return
        self._phase = "scanning"
        started = time.monotonic()
        wanted = frozenset(files)
        accepted = await self.store.accepted_ids(transfer_id)
        misses: dict[int, list[tuple[int, str]]] = {}
        checked = 0
        try:
            reader = await asyncio.to_thread(
                ManifestReader, transfer.manifest_path, durable_bytes=transfer.manifest_bytes
            )
            lines = iter(reader)
            while True:
                chunk = await asyncio.to_thread(_take, lines, wanted, SCAN_CHUNK)
                if not chunk:
                    break
                ids = [accepted.get((r.file, r.part), r.message_id) for r in chunk]
                found = await self._stat(ids)
                for record, mid, there in zip(chunk, ids, found, strict=True):
                    if not there:
                        misses.setdefault(record.file, []).append((record.part, mid))
                checked += len(chunk)
        except (errors.NNTPError, errors.ManifestError) as exc:
            self._stat_errors += isinstance(exc, errors.NNTPError)
            log.warning("transfer %d: check postponed: %s", transfer_id, exc)
            await self.store.release_check(
                transfer_id,
                files,
                owner=self.owner,
                at=self.store.now() + ERROR_RETRY,
                error=f"check postponed: {exc}",
            )
            if isinstance(exc, errors.GiveUp):
                self.refused = exc
            return
        finally:
            self._check_seconds += time.monotonic() - started
        self._scans += 1
        self._checked += checked
        missing = sum(len(m) for m in misses.values())
        self._missing += missing
        log.info(
            "transfer %d: STATed %d articles of %d files on %s in %.2f s: %d missing",
            transfer_id,
            checked,
            len(files),
            self.runtime.verify_label,
            time.monotonic() - started,
            missing,
        )
        crashpoints.reached("scanned")
        await self.store.finish_check(
            transfer_id,
            owner=self.owner,
            files=files,
            misses=misses,
            next_attempt_at=self.store.now(),
            error=NOT_FOUND,
        )

    # --- misses -------------------------------------------------------------------------

    async def _recheck(self, failures: tuple[Failure, ...]) -> None:
        self._phase = "rechecking"
        try:
            found = await self._stat([f.message_id for f in failures])
        except errors.NNTPError as exc:
            self._stat_errors += 1
            log.warning(
                "STAT of %d missing articles failed (no attempt spent): %s", len(failures), exc
            )
            for f in failures:
                await self._reschedule(
                    f, next_at=self.store.now() + ERROR_RETRY, error=f"STAT: {exc}"
                )
            if isinstance(exc, errors.GiveUp):
                self.refused = exc
            return
        self._rechecked += len(failures)
        there = [f.key for f, ok in zip(failures, found, strict=True) if ok]
        self._found_later += len(there)
        if there:
            await self.store.resolve_failures(there, owner=self.owner)
        reposts: dict[int, list[Failure]] = {}
        now = self.store.now()
        for f, ok in zip(failures, found, strict=True):
            if ok:
                continue
            if f.repost_count < self.config.max_reposts:
                reposts.setdefault(f.transfer_id, []).append(f)
                continue
            checks = f.check_count + 1
            exhausted = checks >= self.config.max_checks
            self._exhausted += exhausted
            await self._reschedule(
                f,
                check_count=checks,
                next_at=now + recheck_delay(self.config, checks),
                error=_not_found(f, checks),
                exhausted=exhausted,
            )
        for transfer_id, items in reposts.items():
            await self._repost(transfer_id, items)
        for transfer_id in {f.transfer_id for f in failures}:
            await self.store.settle(transfer_id)

    async def _reschedule(
        self,
        f: Failure,
        *,
        next_at: float,
        error: str | None,
        repost_count: int | None = None,
        check_count: int | None = None,
        exhausted: bool = False,
    ) -> None:
        await self.store.reschedule_failure(
            f.key,
            owner=self.owner,
            repost_count=f.repost_count if repost_count is None else repost_count,
            check_count=f.check_count if check_count is None else check_count,
            next_attempt_at=next_at,
            error=error,
            exhausted=exhausted,
        )

    async def _repost(self, transfer_id: int, failures: list[Failure]) -> None:
        """Post the missing articles again: same Message-ID, body re-read and CRC-checked."""
        self._phase = "re-posting"
        transfer = await self.store.get(transfer_id)
        if transfer is None:
            return  # deleted meanwhile: its failures went with it
        files = await self.store.files(transfer_id)
        outcomes = await repost(self.runtime, transfer, files, failures)
        self._reposted += sum(1 for o in outcomes.values() if o.kind == "posted")
        self._claimed += sum(1 for o in outcomes.values() if o.kind == "claimed")
        crashpoints.reached("reposted")
        now = self.store.now()
        for f in failures:
            outcome = outcomes.get(f.part_key, Reposted("failed", "re-post: not attempted"))
            reply = outcome.reply
            checks = f.check_count + 1
            # after a 240 give the server its propagation delay; otherwise back off
            delay = (
                self.config.delay
                if outcome.kind == "posted"
                else recheck_delay(self.config, checks)
            )
            await self._reschedule(
                f,
                repost_count=f.repost_count + 1,
                check_count=checks,
                next_at=now + delay,
                error=reply,
            )

    # --- finalize -----------------------------------------------------------------------

    async def _finalize(self, transfer: Transfer) -> None:
        try:
            await self.store.claim(transfer.id, owner=self.owner, lease=self.config.lease)
        except errors.TransferBusy:
            return
        self._phase = "finalizing"
        policy = self._policy(transfer)
        try:
            files = await self.store.files(transfer.id)
            done = await finalize(transfer, files, policy.hook, move_to=policy.move_originals)
        except FinalizeFailed as exc:
            self._finalize_failures += 1
            log.error("transfer %d: finalizing failed; everything is kept: %s", transfer.id, exc)
            await self.store.set_finalized(
                transfer.id,
                owner=self.owner,
                state=FinalizeState.FAILED,
                attempts=exc.attempts,
                error=str(exc),
            )
            return
        except BaseException:
            await self.store.release(transfer.id, owner=self.owner)
            raise
        self._finalized += 1
        log.info(
            "transfer %d verified and finalized (hook runs %d, originals deleted %d)",
            transfer.id,
            done.hook_attempts,
            done.deleted_originals,
        )
        await self.store.set_finalized(
            transfer.id, owner=self.owner, state=FinalizeState.DONE, attempts=done.hook_attempts
        )

    def _policy(self, transfer: Transfer) -> FinalizeConfig:
        """The hook and cleanup the transfer was created with (its own record wins over
        this process's)."""
        recorded = transfer.options.get("finalize")
        if isinstance(recorded, dict):
            return FinalizeConfig.model_validate(recorded)
        return self.finalize_config


def _take(lines: Iterator[ArticleRecord], files: frozenset[int], n: int) -> list[ArticleRecord]:
    out: list[ArticleRecord] = []
    for record in lines:
        if record.file in files:
            out.append(record)
            if len(out) >= n:
                break
    return out


def _not_found(f: Failure, checks: int) -> str:
    note = f.last_error or ""
    # the re-post's reply: the whole note after a re-post, or what an earlier "not found"
    # kept of it (its own "(N checks, M re-posts)" is not a reply)
    _, found, kept = note.partition("; last ")
    repost = kept if found else note if note.startswith("re-post") else ""
    text = f"{NOT_FOUND} ({checks} checks, {f.repost_count} re-posts)"
    return f"{text}; last {repost}" if repost else text
