"""The verification service: prove every article arrived, re-post what did not.

A background loop of the Runtime. Each pass:

1. **scans** (``scan``): claims the files whose check is due (the propagation
   delay after their upload) one transfer at a time, streams the transfer's
   manifest and STATs every article of those files in pipelined batches on the
   verify connections. Only the misses are stored; a file without any is verified.
2. **misses** (``misses``): claims a batch of due misses under a lease and STATs
   them again. Found: forgotten. Missing with re-posts left: re-posted with the
   **same Message-ID** through the engine (WorkerSlots, ByteBudget), the body
   re-read from the source and its CRC32 checked against the manifest; checked
   again after the propagation delay. ``441 435 Duplicate`` on a re-post means the
   server claims the ID: it is not counted as posted, only rechecked. Missing with
   no re-post left: rechecked with exponential backoff until ``max_checks``, then
   exhausted. A STAT error (not a 430) spends nothing.
3. **outcomes**: a file is verified when no miss is left, verification_failed
   when one is exhausted; the transfer follows its files.
4. **finalize**: a verified transfer gets its hook and cleanup (``finalize``).

Every claim is a lease in the store, so several processes can share the work. The
parts share the service's state and counters through a ``Work`` (``work``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType

import msgspec

from postie import errors
from postie.config import FinalizeConfig, VerifyConfig, validate
from postie.par2.make import par2_workdir
from postie.runtime.runtime import Runtime
from postie.store.api import Failure, FinalizeState, Store, Transfer, VerifyState
from postie.verify.finalize import FinalizeFailed, finalize
from postie.verify.misses import recheck
from postie.verify.scan import scan
from postie.verify.sweeper import Sweeper
from postie.verify.work import Work

log = logging.getLogger(__name__)

MAX_ROUNDS = 100  # claims per kind per pass, so one pass always ends


class VerifyStatistics(msgspec.Struct, frozen=True):
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
        self._work = Work(runtime, store, owner=owner, config=config)

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

    @property
    def refused(self) -> errors.PostieError | None:
        """A server that refused STAT or POST, once one did: waiting on it is futile."""
        return self._work.refused

    def statistics(self) -> VerifyStatistics:
        c = self._work.counters
        return VerifyStatistics(
            phase=c.phase,
            passes=c.passes,
            scans=c.scans,
            checked=c.checked,
            missing=c.missing,
            rechecked=c.rechecked,
            found_later=c.found_later,
            reposted=c.reposted,
            claimed=c.claimed,
            exhausted=c.exhausted,
            stat_errors=c.stat_errors,
            finalized=c.finalized,
            finalize_failures=c.finalize_failures,
            check_seconds=c.check_seconds,
        )

    async def wait(self, transfer_id: int) -> Transfer:
        """Wait until the transfer is verified and finalized, or verification failed.

        The state is read with the condition held, before each wait: a pass that decided
        the transfer notifies with the condition held too, so it cannot slip in between
        the look and the wait (a pass that ended first was missed, and the waiter slept
        until the next poll: seen as a resumed post that did not end)."""
        self.kick()
        while True:
            async with self._passed:
                decided = await self._decided(transfer_id)
                if decided is not None:
                    return decided
                await self._passed.wait()

    async def _decided(self, transfer_id: int) -> Transfer | None:
        """The transfer once verified and finalized, or failed; None while undecided."""
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
        return None

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
            except errors.StoreUnreachable:
                raise  # its server stayed away past store.reconnect_timeout: the loop ends
            except (errors.StoreError, errors.ManifestError, errors.NNTPError) as exc:
                log.warning("verification pass ended early (will try again): %s", exc)
            self._work.counters.phase = "waiting"
            self._work.counters.passes += 1
            async with self._passed:
                self._passed.notify_all()
            delay = self.config.poll_interval
            with contextlib.suppress(errors.StoreError):
                due = await self.store.next_due(self.only, self.servers)
                if due is not None:
                    delay = min(delay, max(0.05, due - self.store.now()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._kick.wait()
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

    # --- scans and misses ---------------------------------------------------------------

    async def _scan(self, transfer_id: int, files: tuple[int, ...]) -> None:
        await scan(self._work, transfer_id, files)

    async def _recheck(self, failures: tuple[Failure, ...]) -> None:
        await recheck(self._work, failures)

    # --- finalize -----------------------------------------------------------------------

    async def _finalize(self, transfer: Transfer) -> None:
        try:
            await self.store.claim(transfer.id, owner=self.owner, lease=self.config.lease)
        except errors.TransferBusy:
            return
        self._work.counters.phase = "finalizing"
        policy = self._policy(transfer)
        try:
            files = await self.store.files(transfer.id)
            done = await finalize(
                transfer,
                files,
                policy.hook,
                manifests=self.store.manifests,
                move_to=policy.move_originals,
            )
        except FinalizeFailed as exc:
            self._work.counters.finalize_failures += 1
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
        self._work.counters.finalized += 1
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
            return validate(FinalizeConfig, recorded)
        return self.finalize_config
