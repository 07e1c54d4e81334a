"""The stages of a posting job, from the plan to the connections.

Articles flow through four stages, each bounded only by the ByteBudget:

1. the *producer* walks the plan in order; for each article to post it reserves
   bytes in the ByteBudget, then hands "read and yEnc-encode" to the Runtime's
   thread pool;
2. the *journal* takes the encodes in the same order, records each part's
   CRC32, checks a re-posted part against the CRC its manifest line holds (a
   mismatch means the source changed: the file stops, nothing more of it is
   posted), builds the article and its manifest line. Manifest version 2 (every
   Message-ID already durable in frame 0): it queues the part's CRC line with the
   writer, which no article waits for (a checkpoint syncs them before the store's
   watermark moves past them), and hands the article on at once, unless its place in
   the plan's order is at or past the last durable *frontier*: then a frontier line
   ``FRONTIER_STEP`` articles further is made durable first (asked for half a step
   early, so it is usually there when needed). A part found on the server whose CRC
   line was lost (a resume) is only measured: its line queued, nothing posted;
3. version 1 only, the *flusher* hands the gathered lines to the manifest writer's
   own thread as one frame and waits for it to be durable (group commit: while one
   frame syncs, the next batch gathers; a batch grows up to ``FLUSH_BATCH`` lines
   while the connections still have articles to post) and only then lets those
   articles go: no article is posted before its manifest line is on disk;
4. one *worker* per upload connection posts articles (by the rules of
   :mod:`postie.runtime.delivery`), holding a WorkerSlot while one is on the wire,
   and releases the reservation when the article is acknowledged or given up. Each
   file keeps an acknowledged watermark (every part at or below it has its 240) for
   the checkpoints of the transfer store.

The whole-file CRC32 of the last part's ``=yend`` line is combined from the
part CRCs (those of parts posted earlier come from the manifest), no second read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import msgspec

from postie import errors
from postie.article.build import ArticleBuilder
from postie.article.plan import Segment
from postie.manifest import ArticleRecord, ManifestWriter
from postie.nntp.pool import ConnectionPool
from postie.runtime.delivery import Delivery
from postie.runtime.handoff import Handoff
from postie.runtime.lane import Lane
from postie.runtime.runtime import Runtime
from postie.runtime.state import FileState

RESERVE_OVERHEAD = 4096
# Articles in flight at most (read, encoded, waiting for or on a connection): each takes
# at least budget/MAX_IN_FLIGHT of the byte budget. Small files' articles cost far more
# than their bytes in bookkeeping (~2.5 KiB for a 1 KiB article), and 32 MiB of 1 KiB
# articles was 5,461 in flight, where a few hundred keep every connection busy.
MAX_IN_FLIGHT = 1024
FLUSH_BATCH = 16  # version 1: lines per frame, unless the connections would wait for them
FRONTIER_STEP = 1024  # version 2: articles a frontier line covers beyond the last one
_EMPTY = object()  # nothing to look ahead at (None is the end-of-work marker)


class InFlight(msgspec.Struct, eq=False):
    """One article in flight: read and encoded (``future``), then posted."""

    state: FileState
    segment: Segment
    future: asyncio.Future[tuple[bytes, int]]
    reserved: int
    article: tuple[bytes, ...] = ()
    record: ArticleRecord | None = None  # a new manifest line to make durable first


class Pipeline:
    """The producer, journal, flusher and workers of one job, and the articles between
    them. ``fatal`` is the error that stopped the job, if any: every stage stops at it.
    """

    def __init__(
        self,
        runtime: Runtime,
        states: Sequence[FileState],
        builder: ArticleBuilder,
        manifest: ManifestWriter | None,
        delivery: Delivery,
    ) -> None:
        self.runtime = runtime
        self.states = states
        self.builder = builder
        self.manifest = manifest
        self.delivery = delivery
        self.fatal: errors.PostieError | None = None
        self._encoded: Handoff[InFlight | None] = Handoff()
        self._batch: list[InFlight] = []
        self._kick = asyncio.Event()
        self._journal_done = False
        self._queue: Handoff[InFlight | None] = Handoff()
        self._live: set[InFlight] = set()
        self._low_water = max(1, sum(p.max_connections for p in runtime.upload_pools) // 2)
        self._v1 = manifest is not None and manifest.version == 1
        self._crc_lines = manifest is not None and not self._v1
        self._covered = manifest.frontier if manifest is not None else 0  # durable frontier
        self._asked: asyncio.Future[int] | None = None  # the next frontier, being written
        self._asked_for = 0
        self._go = asyncio.Event()  # cleared: no worker starts an article (``hold``)
        self._go.set()

    def stop(self, error: errors.PostieError) -> None:
        """Stop the job with ``error`` (the first one given is kept)."""
        if self.fatal is None:
            self.fatal = error
            self.delivery.stop()
        self._kick.set()
        self._go.set()  # held workers see the error and post nothing more

    def hold(self, held: bool) -> None:
        """``held``: workers start no article (those on the wire finish) until released
        (False); the other stages go on up to the ByteBudget."""
        if held:
            self._go.clear()
        else:
            self._go.set()

    def release_all(self) -> None:
        """Give back the reservations of the articles still in flight (the job ended)."""
        for item in list(self._live):
            self._release(item)

    def _release(self, item: InFlight) -> None:
        if item in self._live:
            self._live.discard(item)
            item.future.cancel()
            item.article = ()
            self.runtime.budget.release(item.reserved)

    # --- producer ----------------------------------------------------------------------

    async def produce(self) -> None:
        encoder = self.runtime.encoder
        budget = self.runtime.budget
        least = budget.capacity // MAX_IN_FLIGHT
        try:
            for state in self.states:
                path = str(state.plan.path)
                for number in state.pending:
                    if self.fatal is not None:
                        return
                    if state.error is not None:
                        break
                    segment = state.plan.segments[number - 1]
                    reserved = budget.clamp(max(least, 2 * segment.length + RESERVE_OVERHEAD))
                    if not budget.try_acquire(reserved):
                        if self._v1:
                            self._kick.set()  # the batch may be due (the queue may be low)
                        reserved = await budget.acquire(reserved)
                    try:
                        future = encoder.submit(path, segment.offset, segment.length)
                    except BaseException:
                        budget.release(reserved)
                        raise
                    item = InFlight(state, segment, future, reserved)
                    self._live.add(item)
                    self._encoded.put_nowait(item)
        finally:
            self._encoded.put_nowait(None)

    # --- journal and flusher ----------------------------------------------------------------

    async def journal(self, workers: int) -> None:
        ahead = FRONTIER_STEP // 2
        try:
            while True:
                item = await self._encoded.get()
                if item is None or self.fatal is not None:
                    break
                if not await self._prepare(item):
                    self._release(item)
                    continue
                if self._v1:
                    if item.record is None and not self._batch:
                        self._queue.put_nowait(item)  # already durable: a re-post
                    else:
                        self._batch.append(item)
                        if self._flush_due():
                            self._kick.set()
                    continue
                if self._crc_lines:
                    state, segment = item.state, item.segment
                    if segment.number in state.measure:  # on the server: its line was all
                        self._release(item)
                        self.delivery.found(state, segment)
                        continue
                    position = state.first + segment.number - 1
                    if position >= self._covered - ahead and not await self._cover(position):
                        self._release(item)
                        continue
                self._queue.put_nowait(item)
        finally:
            self._journal_done = True
            self._kick.set()
            if not self._v1:
                for _ in range(workers):
                    self._queue.put_nowait(None)

    async def _cover(self, position: int) -> bool:
        """Make sure a durable frontier lies past ``position`` before its article is
        handed to a connection (waiting for it only when it is not there yet), and ask
        for the next one early. False: the manifest cannot be written, the job stops."""
        while position >= self._covered:
            if self._asked is None:
                self._ask(position + FRONTIER_STEP)
            asked, frontier = self._asked, self._asked_for
            assert asked is not None
            try:
                await asked
            except errors.ManifestError as exc:
                self.stop(exc)
            if self.fatal is not None:
                return False
            self._covered = max(self._covered, frontier)
            if self._asked is asked:
                self._asked = None
        if self._asked is None and position >= self._covered - FRONTIER_STEP // 2:
            self._ask(self._covered + FRONTIER_STEP)
        return True

    def _ask(self, frontier: int) -> None:
        """Have the writer make a frontier line at ``frontier`` durable (with the CRC
        lines queued so far)."""
        assert self.manifest is not None
        asked = self.manifest.sync(frontier)
        self._asked, self._asked_for = asked, frontier

        def done(future: asyncio.Future[int]) -> None:
            if self._asked is future:
                self._asked = None
            if future.cancelled():
                return
            error = future.exception()
            if error is None:
                self._covered = max(self._covered, frontier)
            elif isinstance(error, errors.PostieError):
                self.stop(error)  # asked early, failed before anyone waited for it
            else:
                self.stop(errors.ManifestError(f"cannot append to the manifest: {error}"))

        asked.add_done_callback(done)

    async def flush(self, workers: int) -> None:
        """Version 1: the gathered lines as one frame, durable before their articles go."""
        assert self.manifest is not None
        manifest = self.manifest
        try:
            while True:
                await self._kick.wait()
                self._kick.clear()
                while self.fatal is None and self._flush_due():
                    batch, self._batch = self._batch, []
                    records = [i.record for i in batch if i.record is not None]
                    if records:
                        try:
                            await manifest.submit(records)
                        except errors.ManifestError as exc:
                            for item in batch:
                                self._release(item)
                            self.stop(exc)
                            break
                    for item in batch:
                        self._queue.put_nowait(item)
                if (self._journal_done and not self._batch) or self.fatal is not None:
                    return
        finally:
            for _ in range(workers):
                self._queue.put_nowait(None)

    def _flush_due(self) -> bool:
        """Write a frame now? Batches grow (fewer, larger frames: each costs a thread
        hop and an fdatasync) while the connections have articles enough to post.

        Not merely because the producer waits for the ByteBudget: on a slow link it
        always does (every byte of the budget is in flight), and frames of one line
        each would pay that cost for every article (measured in docs/performance.md,
        e03fd9e). The articles the batch holds are released by the low-water rule
        before the workers run dry."""
        if not self._batch:
            return False
        return (
            len(self._batch) >= FLUSH_BATCH
            or self._queue.qsize() < self._low_water
            or self._journal_done
        )

    async def _prepare(self, item: InFlight) -> bool:
        """Await the encode, check and record the CRC, build the article and its line."""
        state, segment = item.state, item.segment
        if state.error is not None:
            return False
        try:
            body, pcrc = await item.future
        except OSError as exc:
            state.fail(errors.FileFailed(f"{state.plan.path}: read failed: {exc.strerror or exc}"))
            return False
        number = segment.number
        recorded = state.recorded.get(number)
        if recorded is not None and recorded.crc32 != pcrc:
            state.fail(
                errors.SourceChanged(
                    f"{state.plan.path}: the file changed since it was planned (part {number}"
                    f" reads with CRC32 {pcrc:08x}, the manifest says {recorded.crc32:08x});"
                    " nothing more of it is posted"
                )
            )
            return False
        state.set_crc(number, pcrc)
        file_crc = None
        if number == len(state.plan.segments):
            file_crc = state.whole_crc()
            if file_crc is None:
                return False  # an earlier part failed; the file has its error
        article = self.builder.article(state.plan, segment, body, pcrc, file_crc)
        del body
        size = sum(map(len, article))
        state.set_size(number, size)
        item.article = article
        if recorded is None and self._crc_lines:
            assert self.manifest is not None
            self.manifest.add(state.plan.index, number, pcrc, size)
        elif recorded is None and self._v1:
            item.record = ArticleRecord(
                file=state.plan.index,
                part=number,
                offset=segment.offset,
                length=segment.length,
                message_id=segment.message_id,
                crc32=pcrc,
                size=size,
                subject=segment.subject,
                poster=segment.poster,
                wire_name=segment.wire_name,
            )
        return True

    # --- workers -----------------------------------------------------------------------

    async def work(self, pool: ConnectionPool) -> None:
        """One upload connection's worker: post ready articles until the end marker."""
        lane = Lane(pool, self.runtime.slots, self)  # the lanes' group: one per job
        queue = self._queue
        post = self.delivery.post
        try:
            item = await queue.get()
            while item is not None:
                if self._batch and queue.qsize() < self._low_water:
                    self._kick.set()  # about to run dry: the flusher must not wait longer
                # Look one article ahead: with it in hand the lane may send its POST
                # right behind the current article (pipelining).
                ahead = queue.get_nowait() if not queue.empty() else _EMPTY
                if not self._go.is_set():
                    await self._go.wait()
                try:
                    if self.fatal is None and item.state.error is None:
                        await post(
                            lane,
                            item.state,
                            item.segment,
                            item.article,
                            has_next=isinstance(ahead, InFlight),
                        )
                except errors.JobFailed as exc:
                    self.stop(exc)
                finally:
                    self._release(item)
                if ahead is None:  # the end-of-work marker, taken as the look-ahead
                    break
                if isinstance(ahead, InFlight):
                    item = ahead
                else:
                    item = await queue.get()
        finally:
            lane.close()
