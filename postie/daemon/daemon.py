"""The queue daemon: what lands in the watch folders is posted, durably, in a queue.

Start order: the store is opened (migrated) by the caller; then expired leases are
reclaimed, jobs interrupted by a crash go back to the queue (their transfers are
resumed from their manifests when the jobs run again), and only then do the workers,
the verification service (with its sweeper), the status endpoint (``status``) and
the watcher start. The queue's unique index on active paths closes the race between
that recovery and the watcher's first scan.

``max_concurrent_jobs`` workers take jobs continuously (a new job starts as soon
as a worker is free; no batch barrier). A job is done when its articles are
posted and its NZB written (mirroring the job's path under the output folder);
verification goes on in the background. A failing job is retried with
exponential backoff up to ``max_attempts``.

Several daemons may share one store, each under its instance name (``--instance``,
``daemon.instance``; default ``<short host name>-<pid>``), shown with every lease it
holds. A job whose path this instance cannot read (a folder not mounted here) is not
run and does not fail: it is deferred to the other instances for ``daemon.defer_for``
seconds, and fails only when no live daemon instance can read it
(``postie.store.deferral``).

The first stop request stops taking jobs and asks running ones to stop (articles
on the wire finish), waits up to ``shutdown_timeout`` and returns; their jobs go
back to the queue without spending an attempt, and the next start resumes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path

from postie import errors
from postie.config import Config
from postie.daemon.jobs import JobCounts, JobReporter, Running
from postie.daemon.status import Endpoint
from postie.daemon.watcher import Watcher
from postie.runtime.runtime import Runtime
from postie.store.api import Job, JobState, Store
from postie.transfers.prepared import job_name
from postie.transfers.queue import excluded_folders, job_rules, nzb_folders, unreadable
from postie.transfers.service import PostRequest, TransferService
from postie.verify.service import verification
from postie.verify.sweeper import Sweeper

log = logging.getLogger("postie.daemon")

JOB_LEASE = 120.0
IDLE_POLL = 1.0
PROBLEM_EVERY = 300.0  # seconds between repeats of the same watch problem in the log
TAKEOVER_EVERY = 5.0
"""Seconds between looks for jobs that another daemon on the same store was running when
it died (its process gone on this host, or its heartbeat or the job's lease run out):
they go back to the queue, and whichever daemon claims them resumes their transfers from
the manifests, with the same Message-IDs."""


class Daemon:
    def __init__(
        self, config: Config, store: Store, manifests: Path, *, owner: str, instance: str
    ) -> None:
        self.config = config
        self.store = store
        self.manifests = manifests
        self.owner = owner
        self.instance = instance
        self.started = time.time()
        self.running: dict[int, Running] = {}
        self.port: int | None = None  # the status endpoint's, once listening
        self.counts = JobCounts()
        self.runtime: Runtime | None = None  # once running
        self._stopping = asyncio.Event()
        self.failure: errors.StoreUnreachable | None = None  # the store's server stayed away
        self._wake = asyncio.Event()
        self._problems: dict[str, float] = {}
        self._transfers: TransferService | None = None
        self._exclude = excluded_folders(config, manifests)

    def stop(self) -> None:
        """Stop taking jobs; ask running ones to stop (see the module documentation)."""
        if self._stopping.is_set():
            return
        self._stopping.set()  # running jobs stop taking articles (TransferService.post)
        log.info("stopping: no new jobs; %d running job(s) stop", len(self.running))

    def lost_store(self, exc: errors.StoreUnreachable) -> None:
        """The store's server stayed away past ``store.reconnect_timeout`` (while it is
        away, every statement waits): stop; the command ends with ``exc``. Running jobs'
        leases run out, and the next start (of any daemon) takes them again."""
        if self.failure is None:
            self.failure = exc
        self.stop()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def wake(self) -> None:
        """Let an idle worker look for a job now rather than at its next poll."""
        self._wake.set()

    async def run(self) -> None:
        cfg = self.config
        report = await Sweeper(self.store, cfg.verify).sweep()
        if report is not None and report.leases:
            log.info("reclaimed %d expired leases", report.leases)
        for job in await self.store.requeue_interrupted(owner=self.owner):
            log.info("job %d interrupted before (%s): queued again", job.id, job.path)
        async with (
            Runtime(cfg) as runtime,
            verification(runtime, self.store, owner=self.owner),
            TransferService(
                cfg, self.store, owner=self.owner, manifests=self.manifests, runtime=runtime
            ) as transfers,
            contextlib.AsyncExitStack() as stack,
        ):
            self.runtime = runtime
            self._transfers = transfers
            if cfg.daemon.http.enabled:
                server = await stack.enter_async_context(Endpoint(self).server())
                self.port = server.port
                log.info("status on http://%s:%d/status", cfg.daemon.http.host, server.port)
            workers = [
                asyncio.create_task(self._worker(), name=f"job-worker-{i}")
                for i in range(cfg.daemon.max_concurrent_jobs)
            ]
            log.info(
                "ready: %d job slot(s), watching %s (instance %s, worker %s)",
                cfg.daemon.max_concurrent_jobs,
                ", ".join(str(w.path) for w in cfg.daemon.watch) or "nothing (queue add only)",
                self.instance,
                self.owner,
            )
            watcher = asyncio.create_task(self._watch(), name="watcher")
            takeover = asyncio.create_task(self._take_over(), name="takeover")
            await self._stopping.wait()
            watcher.cancel()
            takeover.cancel()
            _, pending = await asyncio.wait(workers, timeout=cfg.daemon.shutdown_timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(watcher, takeover, *workers, return_exceptions=True)
            if pending:
                log.warning(
                    "%d job(s) did not stop within %g s", len(pending), cfg.daemon.shutdown_timeout
                )
        log.info("stopped")

    # --- jobs -----------------------------------------------------------------------

    async def _worker(self) -> None:
        while not self._stopping.is_set():
            try:
                job = await self.store.claim_job(
                    owner=self.owner, lease=JOB_LEASE, instance=self.instance
                )
            except errors.StoreUnreachable as exc:
                self.lost_store(exc)
                return
            except errors.StoreError as exc:
                log.warning("cannot take a job (will try again): %s", exc)
                job = None
            if job is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(IDLE_POLL):
                        await self._wake.wait()
                continue
            await self._run_job(job)

    async def _run_job(self, job: Job) -> None:
        cfg = self.config
        problem = await asyncio.to_thread(unreadable, job.path)
        if problem is not None:
            await self._defer(job, problem)
            return
        item = Running(job)
        self.running[job.id] = item
        log.info("job %d started (attempt %d): %s", job.id, job.attempts, job.path)
        renew = asyncio.create_task(self._renew(job))
        try:
            await self._post(item)
        except errors.StoreUnreachable as exc:
            self.lost_store(exc)
        except errors.Stopped:
            log.info("job %d stopped; it resumes at the next start", job.id)
            await self._end(job, JobState.QUEUED, "stopped by the daemon", give_back=True)
        except errors.PostieError as exc:
            if self._stopping.is_set() and isinstance(exc, errors.JobFailed):
                await self._end(job, JobState.QUEUED, str(exc), give_back=True)
            elif job.attempts >= cfg.daemon.max_attempts:
                self.counts.failed += 1
                log.error("job %d failed for good after %d attempts: %s", job.id, job.attempts, exc)
                await self._end(job, JobState.FAILED, str(exc))
            else:
                delay = min(
                    cfg.daemon.retry_delay_max, cfg.daemon.retry_delay * 2 ** (job.attempts - 1)
                )
                log.warning(
                    "job %d failed (attempt %d of %d): %s; next try in %.0f s",
                    job.id,
                    job.attempts,
                    cfg.daemon.max_attempts,
                    exc,
                    delay,
                )
                await self._end(job, JobState.QUEUED, str(exc), retry_at=self.store.now() + delay)
        except Exception as exc:
            log.exception("job %d: unexpected error", job.id)
            await self._end(
                job, JobState.QUEUED, f"internal error: {exc}", retry_at=self.store.now() + 60
            )
        finally:
            renew.cancel()
            self.running.pop(job.id, None)

    async def _post(self, item: Running) -> None:
        cfg = self.config
        job = item.job
        assert self._transfers is not None
        rules, root = job_rules(cfg, job.root or job.path, self._exclude)
        nzb, name = await asyncio.to_thread(self._nzb_path, job)
        request = PostRequest(
            (job.path,),
            name,
            output=nzb,
            overwrite=True,
            rules=rules,
            root=root,
            wait=False,
            partial_nzb=False,  # the NZB folder is watched: only finished jobs land there
        )
        done = await self._transfers.post(
            request, JobReporter(self.store, self.owner, self.counts, item), stopping=self._stopping
        )
        if done.outcome is None:  # uploaded by an earlier transfer: verification goes on
            log.info("job %d: transfer %d uploaded it already", job.id, done.transfer_id)
            await self.store.set_job_transfer(job.id, done.transfer_id, owner=self.owner)
        elif not done.uploaded:
            raise errors.JobFailed(done.reason or "the transfer is incomplete")
        self.counts.done += 1
        await self._end(job, JobState.DONE)

    def _nzb_path(self, job: Job) -> tuple[Path, str]:
        """``output/relative.nzb`` (the NZB mirrors the job's place under its root), and
        the transfer's name."""
        folder = job.output or self.config.daemon.output or self.config.nzb.output
        if folder is None:
            raise errors.ConfigError("no NZB folder: set daemon.output or an output per watch root")
        path = folder / f"{job.relative}.nzb"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise errors.InputError(
                f"cannot create the NZB folder {path.parent}: {exc.strerror or exc}"
            ) from None
        if not os.access(path.parent, os.W_OK):
            raise errors.InputError(f"the NZB folder {path.parent} is not writable")
        return path, job_name([job.path])

    async def _defer(self, job: Job, reason: str) -> None:
        """This instance cannot read the job's path: leave it to the others, or fail it
        when no other live instance is left to read it (``postie.store.deferral``)."""
        until = self.store.now() + self.config.daemon.defer_for
        try:
            after = await self.store.defer_job(
                job.id, owner=self.owner, instance=self.instance, reason=reason, until=until
            )
        except errors.StoreError as exc:
            log.error(
                "job %d: cannot read %s (%s); not deferred: %s", job.id, job.path, reason, exc
            )
            return  # its lease runs out and it comes back
        if after is None:
            return  # not ours any more
        if after.state == JobState.FAILED:
            self.counts.failed += 1
            log.error("job %d failed: %s", job.id, after.last_error)
        else:
            log.warning("job %d deferred: %s", job.id, after.last_error)

    async def _end(
        self,
        job: Job,
        state: JobState,
        error: str | None = None,
        *,
        retry_at: float = 0.0,
        give_back: bool = False,
    ) -> None:
        try:
            await self.store.end_job(
                job.id,
                owner=self.owner,
                state=state,
                error=error,
                retry_at=retry_at,
                give_back=give_back,
            )
        except errors.StoreError as exc:
            log.error("job %d: its outcome (%s) was not saved: %s", job.id, state, exc)

    async def _renew(self, job: Job) -> None:
        while True:
            await asyncio.sleep(JOB_LEASE / 3)
            with contextlib.suppress(errors.StoreError):
                await self.store.renew_job(job.id, owner=self.owner, lease=JOB_LEASE)

    async def _take_over(self) -> None:
        """Queue again, while running, the jobs of daemons that died (see
        ``TAKEOVER_EVERY``); at start the same happens once before anything else."""
        while True:
            await asyncio.sleep(TAKEOVER_EVERY)
            try:
                back = await self.store.requeue_interrupted(owner=self.owner)
            except errors.StoreError as exc:
                log.warning("cannot look for interrupted jobs (will try again): %s", exc)
                continue
            for job in back:
                log.info("job %d was interrupted elsewhere (%s): queued again", job.id, job.path)
            if back:
                self.wake()

    # --- watching ---------------------------------------------------------------------

    async def _watch(self) -> None:
        cfg = self.config.daemon
        watcher = Watcher(cfg.watch, exclude=self._exclude, nzb_folders=nzb_folders(self.config))
        while True:
            result = await asyncio.to_thread(watcher.scan)
            now = time.monotonic()
            for problem in result.problems:
                key = f"{problem.path}: {problem.message}"
                if now - self._problems.get(key, -PROBLEM_EVERY) >= PROBLEM_EVERY:
                    self._problems[key] = now
                    log.warning("watch: %s", key)
            for candidate in result.ready:
                try:
                    job = await self.store.enqueue(
                        candidate.path,
                        relative=candidate.relative,
                        root=candidate.root,
                        output=candidate.output,
                        priority=candidate.priority,
                        size=candidate.size,
                        files=candidate.files,
                    )
                except errors.StoreError as exc:
                    log.warning("cannot queue %s (next scan tries again): %s", candidate.path, exc)
                    watcher.forget(candidate.path)
                    continue
                if job is not None:
                    log.info("job %d queued: %s (%.1f MB)", job.id, job.path, job.size / 1e6)
                    self.wake()
            await asyncio.sleep(cfg.scan_interval)
