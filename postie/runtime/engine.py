"""The posting engine: keep every connection busy across all files of a job.

Articles flow through four stages, each bounded only by the ByteBudget:

1. the *producer* walks the plan in order; for each article to post it reserves
   bytes in the ByteBudget, then hands "read and yEnc-encode" to the Runtime's
   thread pool;
2. the *journal* takes the encodes in the same order, records each part's
   CRC32, checks a re-posted part against the CRC its manifest line holds (a
   mismatch means the source changed: the file stops, nothing more of it is
   posted), builds the article and its manifest line;
3. the *flusher* hands the gathered lines to the manifest writer's own thread
   as one frame and waits for it to be durable (group commit: while one frame
   syncs, the next batch gathers; a batch grows up to ``FLUSH_BATCH`` lines
   while the connections still have articles to post) and only then lets those
   articles go: no article is posted before its manifest line is on disk;
4. one *worker* per upload connection posts articles, holding a WorkerSlot
   while one is on the wire, and releases the reservation when the article is
   acknowledged or given up. Each file keeps an acknowledged watermark (every
   part at or below it has its 240) for the checkpoints of the transfer store.

The whole-file CRC32 of the last part's ``=yend`` line is combined from the
part CRCs (those of parts posted earlier come from the manifest), no second read.

Retries keep the Message-ID. After a timeout or a dropped connection once the
article was sent (:class:`PostInDoubt`) the next attempt STATs first, so an
article that did arrive is not posted twice. ``441 435 Duplicate`` followed by
STAT 223 counts as posted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from postie import crashpoints, errors
from postie.article.build import ArticleBuilder
from postie.article.ids import bare
from postie.article.plan import JobPlan, Segment
from postie.config import PostingConfig
from postie.manifest import ArticleRecord, ManifestWriter
from postie.nntp import protocol
from postie.nntp.connection import PostInDoubt
from postie.nntp.pool import ConnectionPool
from postie.nntp.protocol import PostOutcome
from postie.runtime.lane import Lane
from postie.runtime.runtime import Runtime
from postie.runtime.state import FileResume, FileState, JobResult, JobStatistics, Tally

log = logging.getLogger(__name__)

RESERVE_OVERHEAD = 4096
FLUSH_BATCH = 16  # manifest lines per frame, unless the connections would wait for them
_EMPTY = object()  # nothing to look ahead at (None is the end-of-work marker)


@dataclass(slots=True, eq=False)
class _Item:
    """One article in flight: read and encoded (``future``), then posted."""

    state: FileState
    segment: Segment
    future: asyncio.Future[tuple[bytes, int]]
    reserved: int
    article: tuple[bytes, ...] = ()
    record: ArticleRecord | None = None  # a new manifest line to make durable first


class PostingJob:
    """Posts the files of one plan through a Runtime.

    With a ``manifest`` writer every article's line is made durable before the
    article is posted; ``resume`` says, per file index, what an earlier run did.
    ``claim_duplicates`` (re-posts of articles a STAT did not find): ``441 435``
    is recorded in the file's ``claimed`` set instead of being confirmed by STAT.
    """

    def __init__(
        self,
        runtime: Runtime,
        plan: JobPlan,
        posting: PostingConfig,
        *,
        manifest: ManifestWriter | None = None,
        resume: Mapping[int, FileResume] | None = None,
        failed: Mapping[int, errors.FileFailed] | None = None,
        on_file_done: Callable[[FileState], None] | None = None,
        claim_duplicates: bool = False,
    ) -> None:
        self.runtime = runtime
        self.claim_duplicates = claim_duplicates
        self.plan = plan
        self.posting = posting
        self.builder = ArticleBuilder(plan, posting)
        self.manifest = manifest
        resume = resume or {}
        failed = failed or {}
        self.tally = Tally()
        states = []
        for f in plan.files:
            before = resume.get(f.index, FileResume())
            states.append(
                FileState(
                    plan=f,
                    pending=()
                    if f.index in failed
                    else tuple(
                        s.number
                        for s in f.segments
                        if s.number > before.watermark and s.number not in before.done
                    ),
                    crcs=[None] * len(f.segments),
                    sizes=[0] * len(f.segments),
                    recorded=before.recorded,
                    watermark=before.watermark,
                    acked_above={n for n in before.done if n > before.watermark},
                    tally=self.tally,
                )
            )
        for state in states:
            if state.plan.index in failed:
                state.fail(failed[state.plan.index])
        self.states = tuple(states)
        self._on_file_done = on_file_done
        self._encoded: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._batch: list[_Item] = []
        self._kick = asyncio.Event()
        self._journal_done = False
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._live: set[_Item] = set()
        self._fatal: errors.PostieError | None = None
        self._started = 0.0
        self._posted_bytes = 0
        self._posted_articles = 0
        self._retries = 0
        self._checked = 0
        self._duplicates = 0
        self._pipelined = 0
        self._active: dict[str, int] = {}
        self._to_post_bytes = sum(
            s.plan.segments[n - 1].length for s in self.states for n in s.pending
        )
        self._to_post = sum(len(s.pending) for s in self.states)
        self._low_water = max(1, sum(p.max_connections for p in runtime.upload_pools) // 2)

    def statistics(self) -> JobStatistics:
        return JobStatistics(
            total_bytes=self.plan.total_bytes,
            posted_bytes=self._posted_bytes + self.plan.total_bytes - self._to_post_bytes,
            total_articles=self.plan.article_count,
            posted_articles=self._posted_articles + self.plan.article_count - self._to_post,
            files_total=len(self.states),
            files_done=self.tally.done,
            files_failed=self.tally.failed,
            current_files=tuple(self._active),
            retries=self._retries,
            checked_in_doubt=self._checked,
            duplicates_confirmed=self._duplicates,
            pipelined_posts=self._pipelined,
            manifest_frames=self.manifest.frames if self.manifest is not None else 0,
            elapsed=time.monotonic() - self._started if self._started else 0.0,
            resumed_bytes=self.plan.total_bytes - self._to_post_bytes,
        )

    @property
    def fatal(self) -> errors.PostieError | None:
        return self._fatal

    async def run(self) -> JobResult:
        """Post everything; raise JobFailed when the server refuses the job as a whole."""
        self._started = time.monotonic()
        workers: list[asyncio.Task[None]] = []
        for pool in self.runtime.upload_pools:
            workers.extend(
                asyncio.create_task(self._worker(pool), name=f"post-{pool.label}-{i}")
                for i in range(pool.max_connections)
            )
        stages = [
            asyncio.create_task(self._produce(), name="produce"),
            asyncio.create_task(self._journal(len(workers)), name="journal"),
        ]
        if self.manifest is not None:
            stages.append(asyncio.create_task(self._flush(len(workers)), name="flush"))
        tasks = (*stages, *workers)
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for item in list(self._live):
                self._release(item)
            for state in self.states:
                if state.remaining and state.error is None and self._fatal is not None:
                    state.fail(errors.FileFailed(f"{state.plan.name}: {self._fatal}"))
        if self._fatal is not None:
            raise self._fatal
        return JobResult(self.plan, self.states, time.monotonic() - self._started)

    def stop(self, reason: str) -> None:
        """Stop taking articles: those on the wire finish their exchange, the rest are
        left for a later run; ``run`` then raises ``Stopped``."""
        self._stop(errors.Stopped(reason))

    def _stop(self, error: errors.PostieError) -> None:
        if self._fatal is None:
            self._fatal = error
        self._kick.set()

    def _release(self, item: _Item) -> None:
        if item in self._live:
            self._live.discard(item)
            item.future.cancel()
            item.article = ()
            self.runtime.budget.release(item.reserved)

    # --- producer ----------------------------------------------------------------------

    async def _produce(self) -> None:
        encoder = self.runtime.encoder
        budget = self.runtime.budget
        try:
            for state in self.states:
                path = str(state.plan.path)
                for number in state.pending:
                    if self._fatal is not None:
                        return
                    if state.error is not None:
                        break
                    segment = state.plan.segments[number - 1]
                    wanted = 2 * segment.length + RESERVE_OVERHEAD
                    if budget.try_acquire(wanted):
                        reserved = budget.clamp(wanted)
                    else:
                        self._kick.set()  # the batch may be due (the queue may be low)
                        reserved = await budget.acquire(wanted)
                    try:
                        future = encoder.submit(path, segment.offset, segment.length)
                    except BaseException:
                        budget.release(reserved)
                        raise
                    item = _Item(state, segment, future, reserved)
                    self._live.add(item)
                    self._encoded.put_nowait(item)
        finally:
            self._encoded.put_nowait(None)

    # --- journal and flusher ----------------------------------------------------------------

    async def _journal(self, workers: int) -> None:
        try:
            while True:
                item = await self._encoded.get()
                if item is None or self._fatal is not None:
                    break
                if not await self._prepare(item):
                    self._release(item)
                    continue
                if self.manifest is None:
                    self._queue.put_nowait(item)
                elif item.record is None and not self._batch:
                    self._queue.put_nowait(item)  # already durable: a re-post
                else:
                    self._batch.append(item)
                    if self._flush_due():
                        self._kick.set()
        finally:
            self._journal_done = True
            self._kick.set()
            if self.manifest is None:
                for _ in range(workers):
                    self._queue.put_nowait(None)

    async def _flush(self, workers: int) -> None:
        assert self.manifest is not None
        manifest = self.manifest
        try:
            while True:
                await self._kick.wait()
                self._kick.clear()
                while self._fatal is None and self._flush_due():
                    batch, self._batch = self._batch, []
                    records = [i.record for i in batch if i.record is not None]
                    if records:
                        try:
                            await manifest.submit(records)
                        except errors.ManifestError as exc:
                            for item in batch:
                                self._release(item)
                            self._stop(exc)
                            break
                        crashpoints.reached("frame")
                    for item in batch:
                        self._queue.put_nowait(item)
                if (self._journal_done and not self._batch) or self._fatal is not None:
                    return
        finally:
            for _ in range(workers):
                self._queue.put_nowait(None)

    def _flush_due(self) -> bool:
        """Write a frame now? Batches grow (fewer, larger frames: each costs a thread
        hop and an fdatasync) while the connections have articles enough to post.

        Not merely because the producer waits for the ByteBudget: on a slow link it
        always does (every byte of the budget is in flight), and frames of one line
        each cost ~10% more CPU per article at 20 ms (284 frames for 375 articles;
        36 without this rule). The articles the batch holds are released by the
        low-water rule before the workers run dry."""
        if not self._batch:
            return False
        return (
            len(self._batch) >= FLUSH_BATCH
            or self._queue.qsize() < self._low_water
            or self._journal_done
        )

    async def _prepare(self, item: _Item) -> bool:
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
        state.crcs[number - 1] = pcrc
        file_crc = None
        if number == len(state.plan.segments):
            file_crc = state.whole_crc()
            if file_crc is None:
                return False  # an earlier part failed; the file has its error
        article = self.builder.article(state.plan, segment, body, pcrc, file_crc)
        del body
        size = sum(len(b) for b in article)
        state.sizes[number - 1] = size
        item.article = article
        if recorded is None and self.manifest is not None:
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

    async def _worker(self, pool: ConnectionPool) -> None:
        lane = Lane(pool, self.runtime.slots, self)
        queue = self._queue
        try:
            item = await queue.get()
            while item is not None:
                if self._batch and queue.qsize() < self._low_water:
                    self._kick.set()  # about to run dry: the flusher must not wait longer
                # Look one article ahead: with it in hand the lane may send its POST
                # right behind the current article (pipelining).
                ahead = queue.get_nowait() if not queue.empty() else _EMPTY
                try:
                    if self._fatal is None and item.state.error is None:
                        await self._post_item(lane, item, has_next=isinstance(ahead, _Item))
                except errors.JobFailed as exc:
                    self._stop(exc)
                finally:
                    self._release(item)
                if ahead is None:  # the end-of-work marker, taken as the look-ahead
                    break
                if isinstance(ahead, _Item):
                    item = ahead
                else:
                    item = await queue.get()
        finally:
            lane.close()

    async def _post_item(self, lane: Lane, item: _Item, *, has_next: bool) -> None:
        state, segment = item.state, item.segment
        article = item.article
        name = state.plan.name
        self._active[name] = self._active.get(name, 0) + 1
        try:
            accepted = await self._deliver(lane, state, segment, article, has_next=has_next)
        except errors.FileFailed as exc:
            state.fail(exc)
            return
        finally:
            left = self._active[name] - 1
            if left:
                self._active[name] = left
            else:
                del self._active[name]
        if accepted is not None and bare(accepted) != segment.message_id:
            state.accepted_ids[segment.number] = accepted
            state.unsaved_ids.append((segment.number, accepted))
        state.ack(segment.number)
        crashpoints.reached("acked")
        state.part_done()
        state.posted_bytes += segment.length
        self._posted_bytes += segment.length
        self._posted_articles += 1
        if state.remaining == 0 and state.error is None:
            crashpoints.reached("file-done")
            if self._on_file_done is not None:
                self._on_file_done(state)

    async def _deliver(
        self,
        lane: Lane,
        state: FileState,
        segment: Segment,
        article: tuple[bytes, ...],
        *,
        has_next: bool,
    ) -> str | None:
        """Post one article until the server has it; return the accepted Message-ID."""
        mid = segment.message_id
        where = f"{state.plan.name} part {segment.number}/{len(state.plan.segments)} <{mid}>"
        attempts = 0
        in_doubt = False
        last = ""
        while True:
            if self._fatal is not None:
                raise errors.FileFailed(f"{where}: job stopped")
            if attempts > self.posting.max_retries:
                raise errors.FileFailed(
                    f"{where}: gave up after {attempts} attempts: {last}", reply=last
                )
            if attempts:
                self._retries += 1
                await asyncio.sleep(min(30.0, self.posting.retry_delay * 2 ** (attempts - 1)))
            pool = lane.pool
            conn = await lane.open()
            reusable = False
            try:
                if in_doubt:
                    self._checked += 1
                    if await conn.stat(mid):
                        reusable = True
                        return None
                    in_doubt = False
                prime = has_next and lane.may_prime()
                reply = await conn.post(article, prime_next=prime)
                self._pipelined += prime
                reusable = True
            except PostInDoubt as exc:
                in_doubt = True
                attempts += 1
                last = str(exc)
                log.warning("%s: %s; will STAT before posting again", where, exc)
                continue
            except errors.RetryableError as exc:
                attempts += 1
                last = str(exc)
                log.warning("%s: %s; retrying", where, exc)
                continue
            except errors.AuthenticationRequired as exc:
                raise errors.JobFailed(str(exc), reply=exc.reply) from exc
            except errors.GiveUp as exc:
                raise errors.JobFailed(str(exc), reply=exc.reply) from exc
            finally:
                lane.finish(reusable=reusable)
            outcome = protocol.post_outcome(reply)
            if outcome is PostOutcome.ACCEPTED:
                return protocol.message_id_in(reply.line)
            last = reply.line
            if outcome is PostOutcome.DUPLICATE and self.claim_duplicates:
                # a re-post of a missing article: the server claims the ID, yet a STAT
                # did not find it; not posted, the caller rechecks later
                state.claimed[segment.number] = last
                log.info("%s: %s (the server claims the ID)", where, last)
                return None
            if outcome is PostOutcome.DUPLICATE:
                lane.close()  # the STAT goes on another connection; never hold two slots
                if await self._confirm(pool, mid):
                    self._duplicates += 1
                    log.info("%s: the server already has it (%s; STAT confirms)", where, last)
                    return None
                attempts += 1
                continue
            if outcome is PostOutcome.TOO_LARGE:
                raise errors.JobFailed(
                    f"{pool.label} refused an article of {sum(map(len, article))} bytes as too"
                    f" large ({reply.line}); use a smaller --article-size",
                    reply=reply.line,
                )
            if outcome is PostOutcome.GROUP_REFUSED:
                raise errors.JobFailed(
                    f"{pool.label} refused the newsgroups {','.join(self.plan.groups)}:"
                    f" {reply.line}",
                    reply=reply.line,
                )
            if outcome is PostOutcome.NOT_PERMITTED:
                raise errors.JobFailed(
                    f"{pool.label} does not allow posting: {reply.line}", reply=reply.line
                )
            if outcome is PostOutcome.REAUTH:
                # a fresh connection logs in as it opens
                attempts += 1
                lane.finish(reusable=False)
                continue
            attempts += 1
            log.warning("%s: %s; retrying", where, reply.line)

    async def _confirm(self, pool: ConnectionPool, message_id: str) -> bool:
        """STAT after ``441 435 Duplicate``: does the server really have it?"""
        self._checked += 1
        try:
            async with self.runtime.slots.slot(), pool.connection() as conn:
                return await conn.stat(message_id)
        except errors.RetryableError:
            return False
