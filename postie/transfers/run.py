"""Running a prepared transfer: STAT what may be there, post the rest, write the NZB.

``TransferRun`` posts a transfer that ``postie.transfers.create`` made or found again:
it STATs the parts an interrupted run may have delivered (``postie.transfers.doubt``),
posts the others through the engine (each article's Message-ID durable in frame 0, and
a frontier past it, before it goes out), checkpoints each file's acknowledged watermark
once a second (the CRC lines it passes synced first), records the outcome (and, when
the upload is complete, when verification is due) and writes the NZBs from the
manifest's lines (those read back on resume and those this run synced), so they list
parts posted before a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Container, Mapping
from pathlib import Path

import msgspec

from postie import crashpoints, errors
from postie.article.plan import FilePlan
from postie.nntp.connection import NNTPConnection
from postie.nntp.stat import stat_all
from postie.runtime.engine import PostingJob
from postie.runtime.runtime import Runtime
from postie.runtime.state import FileState, JobResult
from postie.store.api import FileProgress, Store, TransferState, UploadState
from postie.transfers.doubt import in_doubt, resumes
from postie.transfers.nzbs import check_manifest, write_nzbs
from postie.transfers.prepared import LEASE_SECONDS, Prepared
from postie.transfers.tables import AllBut, ByIndex, Saved, upload_state_of

log = logging.getLogger(__name__)


class Outcome(msgspec.Struct, frozen=True):
    """What a TransferRun's post did: the NZBs written and the files that failed."""

    transfer_id: int
    result: JobResult
    written: tuple[Path, ...]
    failures: tuple[errors.PostieError, ...]
    resumed: bool
    stat_checked: int
    stat_missing: int
    uploaded: bool = False  # every file posted and the NZB written: the transfer is done
    reason: str | None = None  # why it is not (the first few failures)
    missing: tuple[str, ...] = ()  # files not posted whole (names, or paths never planned)
    nzb_error: str | None = None  # every file posted, but the NZB could not be written

    @property
    def complete(self) -> bool:
        return not self.failures


class TransferRun:
    """Posts a prepared transfer: STAT what may be there, post the rest, write the NZB."""

    def __init__(
        self,
        runtime: Runtime,
        store: Store,
        prepared: Prepared,
        *,
        owner: str,
        checkpoint_interval: float = 1.0,
        check_delay: float | None = None,
        partial_nzb: bool = True,
    ) -> None:
        self.runtime = runtime
        self.check_delay = check_delay  # verification: STAT this long after the upload
        self.partial_nzb = partial_nzb  # an NZB of the finished files when some failed
        self.store = store
        self.prepared = prepared
        self.owner = owner
        self.interval = checkpoint_interval
        self.stat_checked = 0
        self.stat_missing = 0
        self.measured = 0  # of the parts found: read again for a CRC line lost in the crash
        self.job: PostingJob | None = None
        self._unsynced: errors.ManifestError | None = None  # a checkpoint could not sync
        self._saved = Saved(0)
        self._states: Mapping[int, FileState] = {}
        self._all_saved = False
        self._lost_saved: set[int] = set()
        self._renewed = time.monotonic()  # when the last checkpoint renewing the lease began

    async def check_server(self) -> PostingJob:
        """STAT the parts that may have arrived before a crash; build the job."""
        prepared = self.prepared
        doubtful = in_doubt(prepared)
        present = await self._stat([mid for _, _, mid in doubtful]) if doubtful else []
        self.stat_checked = len(doubtful)
        self.stat_missing = present.count(False)
        there: dict[int, set[int]] = {}
        for (index, number, _), found in zip(doubtful, present, strict=True):
            if found:
                there.setdefault(index, set()).add(number)
        resume, refused = resumes(prepared, there)
        prepared.lost.update(refused)
        self.measured = sum(len(r.measure) for r in resume.values())
        self.job = PostingJob(
            self.runtime,
            prepared.plan,
            prepared.posting,
            manifest=prepared.writer,
            resume=resume,
            failed=prepared.lost,
        )
        self._track(self.job, fresh=True)
        if prepared.resumed:  # parts found on the server moved watermarks: save them all once
            self.job.tally.keep(set(self._states))
        return self.job

    async def _stat(self, ids: list[str]) -> list[bool]:
        """STAT on the first upload server, each connection holding a WorkerSlot."""
        pool = self.runtime.upload_pools[0]

        @contextlib.asynccontextmanager
        async def connect() -> AsyncIterator[NNTPConnection]:
            async with self.runtime.slots.slot(), pool.connection() as conn:
                yield conn

        return await stat_all(connect, ids, width=pool.max_connections)

    async def post(self) -> Outcome:
        """Post, checkpointing as it goes; write the NZBs the manifest allows."""
        job = self.job if self.job is not None else await self.check_server()
        prepared = self.prepared
        stop = asyncio.Event()
        self._renewed = time.monotonic()
        checkpoints = asyncio.create_task(self._checkpoints(stop), name="checkpoints")
        fatal: BaseException | None = None
        result: JobResult | None = None
        try:
            result = await job.run()
        except errors.PostieError as exc:
            fatal = exc
        finally:
            stop.set()  # let a checkpoint in progress finish rather than cancel it
            await checkpoints
            await self.checkpoint()
        prepared.writer.close()
        if fatal is None and self._unsynced is not None:
            fatal = self._unsynced  # the last CRC lines could not be made durable
        if fatal is not None:
            await self.store.finish(
                prepared.transfer_id, state=TransferState.INCOMPLETE, error=str(fatal)
            )
            await self.store.release(prepared.transfer_id, owner=self.owner)
            raise fatal
        assert result is not None
        failures: list[errors.PostieError] = [s.error for s in result.files if s.error is not None]
        done = AllBut({s.plan.index for s in result.files if not s.done} - prepared.finished_before)
        missing = (
            *(f.name for f in prepared.plan.files if f.index not in done),
            *(p.partition(": ")[0] for p in prepared.not_collected),
        )
        nzb_error: str | None = None
        await check_manifest(prepared)
        try:
            written = await asyncio.to_thread(self._write_nzbs, done)
        except errors.NzbNotWritten as exc:
            written, nzb_error = [], str(exc)
        complete = not failures and not missing and nzb_error is None
        reason = (
            None
            if complete
            else nzb_error
            or "; ".join([*prepared.not_collected, *(str(f) for f in failures)][:3])
            or "not every file was posted"
        )
        await self.store.finish(
            prepared.transfer_id,
            state=TransferState.UPLOADED if complete else TransferState.INCOMPLETE,
            error=reason,
            nzb_path=os.fsdecode(written[0]) if len(written) == 1 else None,
            check_at=self.store.now() + self.check_delay
            if complete and self.check_delay is not None
            else None,
        )
        await self.store.release(prepared.transfer_id, owner=self.owner)
        crashpoints.reached("uploaded")
        return Outcome(
            prepared.transfer_id,
            result,
            tuple(written),
            tuple(failures),
            prepared.resumed,
            self.stat_checked,
            self.stat_missing,
            uploaded=complete,
            reason=reason,
            missing=missing,
            nzb_error=nzb_error,
        )

    async def _checkpoints(self, stop: asyncio.Event) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await stop.wait()
            if stop.is_set():
                return
            try:
                await self._renewing()
            except (errors.TransferBusy, errors.StoreUnreachable) as exc:
                # another process holds the transfer now, or the store's server stayed
                # away past store.reconnect_timeout (while it is away, a checkpoint waits)
                if self.job is not None:
                    self.job.stop(exc)
                return
            except errors.StoreError as exc:
                log.warning("checkpoint not saved (will try again): %s", exc)

    async def _renewing(self) -> None:
        """A checkpoint (it renews the transfer's lease). One that has not got through
        by half the lease after the last one did (the store's server is away: it waits
        for it) holds the job: no article is started while the lease could run out and
        another instance take the transfer over; the next one that gets through lets it
        go on, and one that finds the lease taken stops it (``TransferBusy``)."""
        job = self.job
        started = time.monotonic()
        saving = asyncio.create_task(self.checkpoint(), name="checkpoint")
        held = False
        try:
            left = self._renewed + LEASE_SECONDS / 2 - started
            done, _ = await asyncio.wait({saving}, timeout=max(0.0, left))
            if not done and job is not None:
                job.hold(True)
                held = True
            await saving
            self._renewed = started
        except BaseException:
            saving.cancel()
            raise
        finally:
            if held and job is not None:
                job.hold(False)

    def _track(self, job: PostingJob, *, fresh: bool) -> None:
        """Index the job's files; ``fresh``: as they are now is what the store has."""
        self._states = ByIndex(job.states)
        self._saved = Saved(max(self._states, default=0))
        if fresh:
            for s in job.states:
                self._saved.put(s.plan.index, s.watermark, None)

    async def checkpoint(self) -> None:
        """Save watermarks, file states and rewritten IDs that changed: one transaction.

        Only the files whose progress moved since the last checkpoint are looked at
        (the engine's tally), so a checkpoint costs what changed, not the folder's size.
        What is saved is taken first, then the manifest writer syncs every CRC line
        queued so far (every part acknowledged by then had its line queued before it
        was posted), and only then does the store get those watermarks and the
        manifest's durable length: a watermark never passes a CRC line that is not
        durable."""
        job = self.job
        if job is None:
            return
        changed = job.tally.take()
        try:
            await self._save(job, changed)
        except BaseException:
            job.tally.keep(changed)  # looked at again next time
            raise

    async def _save(self, job: PostingJob, changed: set[int]) -> None:
        progress: list[FileProgress] = []
        accepted: list[tuple[int, int, str]] = []
        unsaved: list[tuple[FileState, int]] = []
        lost = self.prepared.lost
        # the end of a complete run: one statement marks every file, not a row each
        all_uploaded = not lost and job.tally.done == len(job.states)
        if not self._states:  # a job not built by check_server: save what changed
            self._track(job, fresh=False)
        states = self._states
        for index in sorted(changed):
            if index in lost:
                continue
            state = states[index]
            # dropped only once saved: a failed checkpoint must not lose them
            accepted.extend((index, number, mid) for number, mid in state.unsaved_ids)
            unsaved.append((state, len(state.unsaved_ids)))
            if all_uploaded:
                continue
            upload_state = upload_state_of(state)
            mark = state.watermark
            if self._saved.get(index) != (mark, upload_state):
                progress.append(
                    FileProgress(
                        index,
                        mark,
                        upload_state,
                        str(state.error) if state.error is not None else None,
                    )
                )
        for index, problem in lost.items():
            if index not in self._lost_saved:
                kind = (
                    UploadState.SOURCE_MISSING
                    if isinstance(problem, errors.SourceMissing)
                    else UploadState.SOURCE_CHANGED
                )
                progress.append(FileProgress(index, 0, kind, str(problem)))
        try:
            durable = await self.prepared.writer.sync()
        except errors.ManifestError as exc:
            # nothing may move past lines that are not durable: the job stops, and only
            # what does not depend on them is saved (rewritten IDs, lost files, the lease)
            self._unsynced = exc
            job.stop(exc)
            job.tally.keep({p.file_id for p in progress if p.file_id not in lost})
            progress = [p for p in progress if p.file_id in lost]
            all_uploaded = False
            durable = self.prepared.writer.size
        await self.store.checkpoint(
            self.prepared.transfer_id,
            owner=self.owner,
            lease=LEASE_SECONDS,
            manifest_bytes=durable,
            files=progress,
            accepted=accepted,
            all_uploaded=all_uploaded,
        )
        if all_uploaded and not self._all_saved:
            self._all_saved = True
            for s in job.states:
                self._saved.put(s.plan.index, s.watermark, UploadState.UPLOADED)
        for state, saved in unsaved:
            state.ids_saved(saved)
        crashpoints.reached("checkpoint")
        for item in progress:
            if item.file_id in lost:
                self._lost_saved.add(item.file_id)
            else:
                self._saved.put(item.file_id, item.acked, item.state)

    def _write_nzbs(self, done: Container[int]) -> list[Path]:
        prepared = self.prepared
        return write_nzbs(prepared, done, self._accepted(), self._sizes, partial=self.partial_nzb)

    def _sizes(self, file: FilePlan) -> list[int]:
        """A file's article sizes from its manifest lines: those read back when the
        transfer was resumed and those this run made durable (the engine records a
        part's size as it writes its line), so no line has to be read again. Asked a
        file at a time as the NZB is written."""
        state = self._states.get(file.index)  # set when the job was built
        known = state.part_sizes() if state is not None else [0] * len(file.segments)
        for number, line in self.prepared.recorded.get(file.index, {}).items():
            if not known[number - 1]:
                known[number - 1] = line.size
        return known

    def _accepted(self) -> dict[tuple[int, int], str]:
        ids = dict(self.prepared.accepted)
        if self.job is not None:
            for state in self.job.states:
                for number, mid in state.accepted_ids.items():
                    ids[(state.plan.index, number)] = mid
        return ids


@contextlib.asynccontextmanager
async def stop_on(event: asyncio.Event | None, stop: Callable[[], None]) -> AsyncIterator[None]:
    """Call ``stop`` if ``event`` is set while the body runs."""
    if event is None:
        yield
        return

    async def watch() -> None:
        await event.wait()
        stop()

    task = asyncio.create_task(watch())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
