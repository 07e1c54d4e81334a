"""The posting engine: keep every connection busy across all files of a job.

One producer walks the plan in order. For each article it first reserves bytes
in the ByteBudget, then hands "read and yEnc-encode" to the Runtime's thread
pool and queues the pending result; the queue is bounded only by the budget, so
read-ahead runs as far as memory allows. One worker per upload connection takes
articles from the queue, holds a WorkerSlot while the article is on the wire,
and releases the reservation when the article is acknowledged or given up.

The whole-file CRC32 of the last part's ``=yend`` line is combined from the
part CRCs as each encode finishes (no second read); the last part waits only
for the earlier parts' encodes, never for their posting.

Retries keep the Message-ID. After a timeout or a dropped connection once the
article was sent (:class:`PostInDoubt`) the next attempt STATs first, so an
article that did arrive is not posted twice. ``441 435 Duplicate`` followed by
STAT 223 counts as posted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from postie import errors
from postie.article import yenc
from postie.article.build import ArticleBuilder
from postie.article.plan import FilePlan, JobPlan, Segment
from postie.config import PostingConfig
from postie.nntp import protocol
from postie.nntp.connection import PostInDoubt
from postie.nntp.pool import ConnectionPool
from postie.nntp.protocol import PostOutcome
from postie.runtime.lane import Lane
from postie.runtime.runtime import Runtime

log = logging.getLogger(__name__)

RESERVE_OVERHEAD = 4096
_EMPTY = object()  # nothing to look ahead at (None is the end-of-work marker)


@dataclass
class FileState:
    """What the engine knows about one file while it is being posted."""

    plan: FilePlan
    remaining: int
    crcs: list[int | None]
    sizes: list[int]
    accepted_ids: dict[int, str] = field(default_factory=dict)
    crcs_known: int = 0
    crc_ready: asyncio.Event = field(default_factory=asyncio.Event)
    error: errors.PostieError | None = None
    posted_bytes: int = 0

    @property
    def done(self) -> bool:
        return self.remaining == 0 and self.error is None

    def whole_crc(self) -> int:
        crc = 0
        for seg, part in zip(self.plan.segments, self.crcs, strict=True):
            assert part is not None
            crc = yenc.combine_crc(crc, part, seg.length)
        return crc

    def record_crc(self, number: int, crc: int) -> None:
        if self.crcs[number - 1] is None:
            self.crcs[number - 1] = crc
            self.crcs_known += 1
            if self.crcs_known == len(self.crcs):
                self.crc_ready.set()

    def fail(self, error: errors.PostieError) -> None:
        if self.error is None:
            self.error = error
        self.crc_ready.set()


@dataclass(frozen=True, slots=True)
class JobStatistics:
    total_bytes: int
    posted_bytes: int
    total_articles: int
    posted_articles: int
    files_total: int
    files_done: int
    files_failed: int
    current_files: tuple[str, ...]
    retries: int
    checked_in_doubt: int
    duplicates_confirmed: int
    pipelined_posts: int
    elapsed: float


@dataclass(frozen=True)
class JobResult:
    plan: JobPlan
    files: tuple[FileState, ...]
    elapsed: float

    @property
    def failed(self) -> tuple[FileState, ...]:
        return tuple(f for f in self.files if f.error is not None or f.remaining)

    @property
    def complete(self) -> bool:
        return not self.failed and not self.plan.failed


@dataclass(slots=True)
class _Item:
    state: FileState
    segment: Segment
    future: asyncio.Future[tuple[bytes, int]]
    reserved: int


class PostingJob:
    """Posts the files of one plan through a Runtime."""

    def __init__(
        self,
        runtime: Runtime,
        plan: JobPlan,
        posting: PostingConfig,
        *,
        on_file_done: Callable[[FileState], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.plan = plan
        self.posting = posting
        self.builder = ArticleBuilder(plan, posting)
        self.states = tuple(
            FileState(
                plan=f,
                remaining=len(f.segments),
                crcs=[None] * len(f.segments),
                sizes=[0] * len(f.segments),
            )
            for f in plan.files
        )
        self._on_file_done = on_file_done
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._fatal: errors.PostieError | None = None
        self._started = 0.0
        self._posted_bytes = 0
        self._posted_articles = 0
        self._retries = 0
        self._checked = 0
        self._duplicates = 0
        self._pipelined = 0
        self._active: dict[str, int] = {}

    def statistics(self) -> JobStatistics:
        return JobStatistics(
            total_bytes=self.plan.total_bytes,
            posted_bytes=self._posted_bytes,
            total_articles=self.plan.article_count,
            posted_articles=self._posted_articles,
            files_total=len(self.states),
            files_done=sum(1 for s in self.states if s.done),
            files_failed=sum(1 for s in self.states if s.error is not None),
            current_files=tuple(self._active),
            retries=self._retries,
            checked_in_doubt=self._checked,
            duplicates_confirmed=self._duplicates,
            pipelined_posts=self._pipelined,
            elapsed=time.monotonic() - self._started if self._started else 0.0,
        )

    async def run(self) -> JobResult:
        """Post everything; raise JobFailed when the server refuses the job as a whole."""
        self._started = time.monotonic()
        workers: list[asyncio.Task[None]] = []
        for pool in self.runtime.upload_pools:
            workers.extend(
                asyncio.create_task(self._worker(pool), name=f"post-{pool.label}-{i}")
                for i in range(pool.max_connections)
            )
        producer = asyncio.create_task(self._produce(len(workers)), name="produce")
        try:
            await asyncio.gather(producer, *workers)
        finally:
            for task in (producer, *workers):
                task.cancel()
            await asyncio.gather(producer, *workers, return_exceptions=True)
            self._drain_queue()
        if self._fatal is not None:
            raise self._fatal
        return JobResult(self.plan, self.states, time.monotonic() - self._started)

    # --- producer ----------------------------------------------------------------------

    async def _produce(self, workers: int) -> None:
        encoder = self.runtime.encoder
        budget = self.runtime.budget
        try:
            for state in self.states:
                path = str(state.plan.path)
                for segment in state.plan.segments:
                    if self._fatal is not None:
                        return
                    if state.error is not None:
                        break
                    reserved = await budget.acquire(2 * segment.length + RESERVE_OVERHEAD)
                    try:
                        future = encoder.submit(path, segment.offset, segment.length)
                    except BaseException:
                        budget.release(reserved)
                        raise
                    future.add_done_callback(_crc_recorder(state, segment))
                    self._queue.put_nowait(_Item(state, segment, future, reserved))
        finally:
            for _ in range(workers):
                self._queue.put_nowait(None)

    def _drain_queue(self) -> None:
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not None:
                item.future.cancel()
                self.runtime.budget.release(item.reserved)

    # --- workers -----------------------------------------------------------------------

    async def _worker(self, pool: ConnectionPool) -> None:
        lane = Lane(pool, self.runtime.slots)
        queue = self._queue
        held: list[_Item] = []  # taken from the queue, reservation not yet released
        try:
            item = await queue.get()
            while item is not None:
                held.append(item)
                # Look one article ahead: with it in hand the lane may send its POST
                # right behind the current article (pipelining).
                ahead = queue.get_nowait() if not queue.empty() else _EMPTY
                if isinstance(ahead, _Item):
                    held.append(ahead)
                try:
                    if self._fatal is None and item.state.error is None:
                        await self._post_item(lane, item, has_next=isinstance(ahead, _Item))
                except errors.JobFailed as exc:
                    self._fatal = self._fatal or exc
                finally:
                    held.remove(item)
                    self.runtime.budget.release(item.reserved)
                if ahead is None:  # the end-of-work marker, taken as the look-ahead
                    break
                if isinstance(ahead, _Item):
                    held.remove(ahead)
                    item = ahead
                else:
                    item = await queue.get()
        finally:
            lane.close()
            for left in held:
                left.future.cancel()
                self.runtime.budget.release(left.reserved)

    async def _post_item(self, lane: Lane, item: _Item, *, has_next: bool) -> None:
        state, segment = item.state, item.segment
        try:
            body, pcrc = await item.future
        except OSError as exc:
            state.fail(errors.FileFailed(f"{state.plan.path}: read failed: {exc.strerror or exc}"))
            return
        file_crc = None
        if segment.number == len(state.plan.segments):
            await state.crc_ready.wait()
            if state.error is not None:
                return
            file_crc = state.whole_crc()
        article = self.builder.article(state.plan, segment, body, pcrc, file_crc)
        del body
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
        state.sizes[segment.number - 1] = sum(len(b) for b in article)
        if accepted is not None and accepted != segment.message_id:
            state.accepted_ids[segment.number] = accepted
        state.remaining -= 1
        state.posted_bytes += segment.length
        self._posted_bytes += segment.length
        self._posted_articles += 1
        if state.remaining == 0 and state.error is None and self._on_file_done is not None:
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
            if outcome is PostOutcome.DUPLICATE:
                lane.close()  # the STAT goes on another connection; never hold two slots
                if await self._confirm(pool, mid):
                    self._duplicates += 1
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


def _crc_recorder(
    state: FileState, segment: Segment
) -> Callable[[asyncio.Future[tuple[bytes, int]]], None]:
    def record(future: asyncio.Future[tuple[bytes, int]]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            state.fail(errors.FileFailed(f"{state.plan.path}: read failed: {reason}"))
            return
        state.record_crc(segment.number, future.result()[1])

    return record
