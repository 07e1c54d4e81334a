"""Delivering one article: post it until the server has it, by the retry rules
(docs/design.md, "Retry rules (engine)").

Retries keep the Message-ID. After a timeout or a dropped connection once the
article was sent (:class:`PostInDoubt`) the next attempt STATs first, so an
article that did arrive is not posted twice. ``441 435 Duplicate`` followed by
STAT 223 counts as posted. A refusal that no retry can change (too large, bad
newsgroups, no posting allowed, bad credentials) stops the job (``JobFailed``), and
so does a server that cannot be reached (the pool retried what could pass:
``ConnectionPool.worth_retrying``); retries given up fail the file only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from postie import crashpoints, errors
from postie.article.ids import bare
from postie.article.plan import Segment
from postie.config import PostingConfig
from postie.nntp import protocol
from postie.nntp.connection import PostInDoubt
from postie.nntp.pool import ConnectionPool
from postie.nntp.protocol import PostOutcome
from postie.runtime.lane import Lane
from postie.runtime.limits import WorkerSlots
from postie.runtime.state import FileState

log = logging.getLogger(__name__)


class Delivery:
    """Posts a job's articles one at a time and counts what it did.

    ``claim_duplicates`` (re-posts of articles a STAT did not find): ``441 435`` is
    recorded in the file's ``claimed`` set instead of being confirmed by STAT.
    """

    def __init__(
        self,
        posting: PostingConfig,
        groups: tuple[str, ...],
        slots: WorkerSlots,
        *,
        claim_duplicates: bool,
        on_file_done: Callable[[FileState], None] | None,
    ) -> None:
        self.posting = posting
        self.groups = groups
        self.slots = slots
        self.claim_duplicates = claim_duplicates
        self._on_file_done = on_file_done
        self._stopped = False
        self.posted_bytes = 0
        self.posted_articles = 0
        self.retries = 0
        self.checked = 0  # STATs: of articles in doubt, and after 441 435
        self.duplicates = 0
        self.pipelined = 0
        self.active: dict[str, int] = {}  # file name -> its articles on the wire

    def stop(self) -> None:
        """The job stopped: an article not yet posted is given up at its next attempt."""
        self._stopped = True

    async def post(
        self,
        lane: Lane,
        state: FileState,
        segment: Segment,
        article: tuple[bytes, ...],
        *,
        has_next: bool,
    ) -> None:
        """Post one article and record it in its file's state (or fail the file)."""
        name = state.plan.name
        self.active[name] = self.active.get(name, 0) + 1
        try:
            accepted = await self._deliver(lane, state, segment, article, has_next=has_next)
        except errors.FileFailed as exc:
            state.fail(exc)
            return
        finally:
            left = self.active[name] - 1
            if left:
                self.active[name] = left
            else:
                del self.active[name]
        if accepted is not None and bare(accepted) != segment.message_id:
            state.rewritten(segment.number, accepted)
        state.ack(segment.number)
        crashpoints.reached("acked")
        # the first part's: its length itself, not a new int equal to it (one per small
        # file, 100,000 files: 3 MB held for the run)
        state.posted_bytes = (
            state.posted_bytes + segment.length if state.posted_bytes else segment.length
        )
        self.posted_bytes += segment.length
        self.posted_articles += 1
        self._part_done(state)

    def found(self, state: FileState, segment: Segment) -> None:
        """A part already on the server was measured (a resume): it counts as done."""
        state.ack(segment.number)
        self._part_done(state)

    def _part_done(self, state: FileState) -> None:
        state.part_done()
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
        attempts = 0
        in_doubt = False
        last = ""
        while True:
            if self._stopped:
                raise errors.FileFailed(f"{_where(state, segment)}: job stopped")
            if attempts > self.posting.max_retries:
                raise errors.FileFailed(
                    f"{_where(state, segment)}: gave up after {attempts} attempts: {last}",
                    reply=last,
                )
            if attempts:
                self.retries += 1
                await asyncio.sleep(min(30.0, self.posting.retry_delay * 2 ** (attempts - 1)))
            pool = lane.pool
            conn = lane.conn if lane.conn is not None else await lane.open()
            reusable = False
            try:
                if in_doubt:
                    self.checked += 1
                    if await conn.stat(mid):
                        reusable = True
                        return None
                    in_doubt = False
                prime = has_next and lane.may_prime()
                reply = await conn.post(article, prime_next=prime)
                self.pipelined += prime
                reusable = True
            except PostInDoubt as exc:
                in_doubt = True
                attempts += 1
                last = str(exc)
                log.warning("%s: %s; will STAT before posting again", _where(state, segment), exc)
                continue
            except (errors.RetryableError, errors.ProtocolError) as exc:
                # a garbled reply breaks only this connection: a fresh one may do
                attempts += 1
                last = str(exc)
                log.warning("%s: %s; retrying", _where(state, segment), exc)
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
                state.claim(segment.number, last)
                log.info("%s: %s (the server claims the ID)", _where(state, segment), last)
                return None
            if outcome is PostOutcome.DUPLICATE:
                lane.close()  # the STAT goes on another connection; never hold two slots
                if await self._confirm(pool, mid):
                    self.duplicates += 1
                    log.info(
                        "%s: the server already has it (%s; STAT confirms)",
                        _where(state, segment),
                        last,
                    )
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
                    f"{pool.label} refused the newsgroups {','.join(self.groups)}: {reply.line}",
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
            log.warning("%s: %s; retrying", _where(state, segment), reply.line)

    async def _confirm(self, pool: ConnectionPool, message_id: str) -> bool:
        """STAT after ``441 435 Duplicate``: does the server really have it?"""
        self.checked += 1
        try:
            async with self.slots.slot(), pool.connection() as conn:
                return await conn.stat(message_id)
        except (errors.RetryableError, errors.ProtocolError):
            return False
        except errors.GiveUp as exc:  # the server cannot be reached: the job stops
            raise errors.JobFailed(str(exc), reply=exc.reply) from exc


def _where(state: FileState, segment: Segment) -> str:
    """The article, as a message names it (made only when one is)."""
    parts = len(state.plan.segments)
    return f"{state.plan.name} part {segment.number}/{parts} <{segment.message_id}>"
