"""The application layer: one sequence behind every way in.

``postie post``, ``postie resume``, ``postie verify ID`` and the daemon's jobs all
call :class:`TransferService`; none of them holds a step of its own:

1. **take the files**: the one walker (``postie.article.walk``) under the caller's
   rules; what is left out is reported by name;
2. **find or create the transfer**: the same files uploaded before and waiting for
   (or failed at) verification are verified, not posted again; an unfinished
   transfer of the same files is resumed (same Message-IDs); otherwise PAR2 is made
   and a new transfer created, its manifest written before anything is posted;
3. **run it**: STAT what an interrupted run may have posted, post the rest with
   checkpoints, write the NZB from the manifest's lines;
4. **verify** (when asked to wait): STAT every article, re-post what is missing
   with the same Message-ID, then finalize (hook, cleanup).

The result is a :class:`Done`: the caller renders it (the CLI as lines and an exit
status, the daemon as a job's state). A transfer is *uploaded* exactly when every
file was posted and its NZB written; every other end says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from types import TracebackType

import msgspec

from postie import errors
from postie.article.plan import Collected, collect
from postie.article.walk import WalkRules
from postie.config import Config
from postie.par2.make import Par2Step, par2_workdir
from postie.runtime import memory
from postie.runtime.runtime import Runtime
from postie.store.api import (
    FailureState,
    FinalizeState,
    Store,
    Transfer,
    TransferState,
    TransferSummary,
    VerifyState,
)
from postie.store.records import Failure
from postie.transfers.create import collected_key, for_paths, uploaded_for_paths
from postie.transfers.outcome import Details, Done, Ending, Quiet, Reporter
from postie.transfers.prepared import Prepared
from postie.transfers.resume import resume
from postie.transfers.run import TransferRun, stop_on

log = logging.getLogger(__name__)


class PostRequest(msgspec.Struct, frozen=True):
    """What to post and how (``postie post``, a daemon job)."""

    paths: tuple[Path, ...]
    name: str
    output: Path | None = None
    overwrite: bool = False
    rules: WalkRules = msgspec.field(default_factory=WalkRules)
    root: Path | None = None  # a daemon job: the watch root its links are confined to
    wait: bool = True  # wait for the verification (when it is on)
    again: bool = False  # post as a new transfer even if an earlier one posted these files
    # when some files fail, an NZB of the others; the daemon says no: programs that watch
    # its NZB folder would take a partial NZB for a finished job
    partial_nzb: bool = True


class TransferService:
    """``async with TransferService(config, store, owner=..., manifests=...)``.

    ``runtime``: a Runtime to share (the daemon's); otherwise the service makes its own
    when it first needs one and closes it on exit."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        owner: str,
        manifests: Path,
        runtime: Runtime | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.owner = owner
        self.manifests = manifests
        self._runtime = runtime
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> TransferService:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._stack.aclose()

    async def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = await self._stack.enter_async_context(Runtime(self.config))
        return self._runtime

    # --- post -------------------------------------------------------------------------

    async def post(
        self,
        request: PostRequest,
        reporter: Reporter | None = None,
        *,
        stopping: asyncio.Event | None = None,
    ) -> Done:
        """Take the files, then find, resume or create their transfer, run it, and
        (if ``request.wait``) see its verification through. ``stopping``: when set, the
        run stops taking articles and ``errors.Stopped`` is raised (it resumes later)."""
        reporter = reporter or Quiet()
        collected = await self.collect(request, reporter)
        uploaded = None
        key = collected_key(collected)
        if not request.again:
            uploaded = await uploaded_for_paths(self.store, list(request.paths), collected, key=key)
        if uploaded is not None:
            return await self._uploaded_before(uploaded, request.wait, reporter)
        runtime = await self.runtime()
        par2 = Par2Step(
            runtime.par2,
            self.config.par2,
            par2_workdir(self.config.par2, self.store.path),
            display=reporter.phase,
            recorded=self.store.par2_folders,
        )
        prepared = await for_paths(
            self.store,
            self.config,
            list(request.paths),
            name=request.name,
            output=request.output,
            overwrite=request.overwrite,
            owner=self.owner,
            manifests=self.manifests,
            collected=collected,
            key=key,
            par2=par2,
        )
        del collected  # the plan has what the run needs (a record each, 100,000 files: ~9 MB)
        return await self._run(
            prepared, request.wait, reporter, stopping, partial_nzb=request.partial_nzb
        )

    async def collect(self, request: PostRequest, reporter: Reporter) -> Collected:
        """The files of ``request`` by its rules; what is left out goes to ``reporter``."""
        collected = await asyncio.to_thread(
            collect, request.paths, request.rules, root=request.root
        )
        for problem in (*collected.warnings, *collected.skipped):
            reporter.warning(str(problem))
        for problem in collected.failed:
            reporter.error(str(problem))
        if not collected.files:
            shown = ", ".join(os.fsdecode(p) for p in request.paths)
            raise errors.InputError(f"nothing to post: {shown}")
        return collected

    async def _uploaded_before(self, found: Transfer, wait: bool, reporter: Reporter) -> Done:
        """The same files were uploaded by an earlier run: verify them (again, if that
        failed), post nothing."""
        if found.verify_state == VerifyState.VERIFIED and found.finalize_state != (
            FinalizeState.PENDING
        ):
            reporter.note(
                f"transfer {found.id} ({found.name}) posted these files and verified them"
                f" (NZB: {found.nzb_path or '-'}); nothing to post (--again posts them anew)"
            )
            return Done(Ending.ALREADY_UPLOADED, found)
        if not self.config.verify.enabled:
            reporter.note(
                f"transfer {found.id} ({found.name}) uploaded these files already; not posting"
                f" them again (postie verify {found.id} checks them)"
            )
            return Done(Ending.ALREADY_UPLOADED, found)
        again = found.verify_state == VerifyState.VERIFICATION_FAILED
        reporter.note(
            f"transfer {found.id} ({found.name}) was uploaded already;"
            + (" verifying it again" if again else " verifying it")
        )
        due = [f.next_check_at for f in await self.store.files(found.id) if f.next_check_at]
        if again or not due:
            await self.store.schedule_checks(
                found.id, at=self.store.now() + self.config.verify.delay, again=again
            )
        if not wait:
            return Done(Ending.UPLOADED, found)
        return await self._await_verification(found.id, reporter)

    # --- resume and verify ------------------------------------------------------------

    async def resume(
        self,
        transfer_id: int | None,
        reporter: Reporter | None = None,
        *,
        wait: bool = True,
        output: Path | None = None,
        overwrite: bool = False,
        salvage: bool = False,
    ) -> Done:
        """Finish an unfinished transfer (the newest one when ``transfer_id`` is None);
        ``output``: write its NZB there from now on; ``salvage``: its manifest is damaged,
        keep what it still holds."""
        reporter = reporter or Quiet()
        prepared = await resume(
            self.store,
            self.config,
            transfer_id,
            owner=self.owner,
            output=output,
            overwrite=overwrite,
            salvage=salvage,
        )
        for problem in prepared.lost.values():
            reporter.error(str(problem))
        return await self._run(prepared, wait, reporter, None)

    async def verify(self, transfer_id: int, reporter: Reporter | None = None) -> Done:
        """STAT every article of an uploaded transfer now, re-post what is missing, then
        finalize it once verified (``postie verify ID``)."""
        reporter = reporter or Quiet()
        found = await self.store.get(transfer_id)
        if found is None:
            raise errors.UsageError(f"no transfer {transfer_id} in {self.store.location}")
        if found.state != TransferState.UPLOADED:
            raise errors.UsageError(
                f"transfer {transfer_id} is {found.state}, not uploaded: finish it first"
                f" (postie resume {transfer_id})"
            )
        if found.finalize_state == FinalizeState.DONE:
            raise errors.UsageError(
                f"transfer {transfer_id} was verified and finalized (its manifest is gone);"
                f" check its NZB instead: postie verify {found.nzb_path or 'FILE.nzb'}"
            )
        await self.store.schedule_checks(transfer_id, at=self.store.now(), again=True)
        return await self._await_verification(transfer_id, reporter)

    async def abandon(self, transfer_id: int) -> Transfer:
        """Give an unfinished transfer up (``postie transfers abandon ID``): its record and
        manifest are kept, it is never resumed, and the next post of its files starts a
        new transfer."""
        await self.store.abandon(
            transfer_id, owner=self.owner, reason="abandoned (postie transfers abandon)"
        )
        found = await self.store.get(transfer_id)
        assert found is not None
        return found

    # --- what is recorded -------------------------------------------------------------

    async def summaries(self, limit: int = 50) -> tuple[TransferSummary, ...]:
        """The newest recorded transfers with their totals (``postie transfers``)."""
        return await self.store.summaries(limit)

    async def details(self, transfer_id: int) -> Details:
        """One transfer, its files and its missing articles (``postie transfers show``)."""
        found = await self.store.get(transfer_id)
        if found is None:
            raise errors.UsageError(f"no transfer {transfer_id} in {self.store.location}")
        files = await self.store.files(transfer_id)
        return Details(found, files, await self.store.failures(transfer_id))

    # --- the run ----------------------------------------------------------------------

    async def _run(
        self,
        prepared: Prepared,
        wait: bool,
        reporter: Reporter,
        stopping: asyncio.Event | None,
        *,
        partial_nzb: bool = True,
    ) -> Done:
        if prepared.resumed:
            reporter.note(f"resuming transfer {prepared.transfer_id} ({prepared.name})")
        runtime = await self.runtime()
        config = self.config
        run = TransferRun(
            runtime,
            self.store,
            prepared,
            owner=self.owner,
            checkpoint_interval=config.store.checkpoint_interval,
            check_delay=config.verify.delay if config.verify.enabled else None,
            partial_nzb=partial_nzb,
        )
        job = await run.check_server()
        if run.stat_checked:
            reporter.note(
                f"checked {run.stat_checked} articles that may have arrived before the"
                f" interruption: {run.stat_checked - run.stat_missing} on the server,"
                f" {run.stat_missing} to post again"
                + (
                    f" ({run.measured} found without their CRC line: read again for it)"
                    if run.measured
                    else ""
                )
            )
        if stopping is not None and stopping.is_set():
            prepared.writer.close()
            await self.store.release(prepared.transfer_id, owner=self.owner)
            raise errors.Stopped("stopped before posting")
        memory.give_back()  # what planning used and freed: held for the whole run otherwise
        async with (
            reporter.posting(prepared.transfer_id, job.statistics),
            stop_on(stopping, lambda: job.stop("stopped")),
        ):
            outcome = await run.post()
        found = await self.store.get(prepared.transfer_id)
        assert found is not None
        plan = prepared.plan
        done = Done(
            Ending.UPLOADED if outcome.uploaded else Ending.INCOMPLETE,
            found,
            outcome,
            files=len(plan.files),
            not_collected=len(prepared.not_collected),
            resumed=prepared.resumed,
            posted_before=plan.total_bytes - sum(s.posted_bytes for s in outcome.result.files),
        )
        reporter.posted(done)
        if not outcome.uploaded or not config.verify.enabled or not wait:
            return done
        verified = await self._await_verification(prepared.transfer_id, reporter)
        return done.verified_as(verified)

    async def _await_verification(self, transfer_id: int, reporter: Reporter) -> Done:
        """Run the verification of one transfer until it is decided (and finalized)."""
        # imported when it runs: not on every start of the CLI
        from postie.verify.service import verification

        runtime = await self.runtime()
        config = self.config
        async with verification(runtime, self.store, owner=self.owner, only=transfer_id) as service:
            async with reporter.verifying(service.statistics):
                found = await service.wait(transfer_id)
            stats = service.statistics()
        lost: tuple[Failure, ...] = ()
        if found.verify_state == VerifyState.VERIFICATION_FAILED:
            ending = Ending.VERIFICATION_FAILED
            failures = await self.store.failures(transfer_id)
            lost = tuple(f for f in failures if f.state == FailureState.EXHAUSTED)
        elif found.finalize_state == FinalizeState.FAILED:
            ending = Ending.FINALIZE_FAILED
        else:
            ending = Ending.VERIFIED
        return Done(
            ending,
            found,
            verify=stats,
            verify_label=runtime.verify_label,
            lost=lost,
            max_reposts=config.verify.max_reposts,
        )
