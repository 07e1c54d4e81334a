"""The posting engine: keep every connection busy across all files of a job.

A :class:`PostingJob` sets up each file's state from what an earlier run did, runs the
stages of :mod:`postie.runtime.pipeline` (producer, journal, flusher, one worker per
upload connection), which post each article by the retry rules of
:mod:`postie.runtime.delivery`, and reports what they did.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Mapping

from postie import errors
from postie.article.build import ArticleBuilder
from postie.article.plan import JobPlan
from postie.config import PostingConfig
from postie.manifest import ManifestWriter
from postie.runtime.delivery import Delivery
from postie.runtime.pipeline import Pipeline
from postie.runtime.runtime import Runtime
from postie.runtime.state import (
    NONE_ABOVE,
    FileResume,
    FileState,
    JobResult,
    JobStatistics,
    Tally,
    article_sizes,
)


class PostingJob:
    """Posts the files of one plan through a Runtime.

    With a ``manifest`` writer every article is recorded in it (version 2: its CRC line
    queued, a frontier durable before it is posted; version 1: its line durable before
    it is posted); ``resume`` says, per file index, what an earlier run did.
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
        first = 0
        nothing = FileResume()
        sizes = article_sizes(plan.article_count)
        for f in plan.files:
            before = resume.get(f.index, nothing)
            states.append(
                FileState(
                    plan=f,
                    pending=() if f.index in failed else _pending(len(f.segments), before),
                    sizes=sizes,
                    recorded=before.recorded,
                    measure=before.measure,
                    first=first,
                    watermark=before.watermark,
                    acked_above=frozenset(n for n in before.done if n > before.watermark)
                    if before.done
                    else NONE_ABOVE,
                    tally=self.tally,
                )
            )
            first += len(f.segments)
        for state in states:
            if state.plan.index in failed:
                state.fail(failed[state.plan.index])
        self.states = tuple(states)
        self._delivery = Delivery(
            posting,
            plan.groups,
            runtime.slots,
            claim_duplicates=claim_duplicates,
            on_file_done=on_file_done,
        )
        self._pipeline = Pipeline(runtime, self.states, self.builder, manifest, self._delivery)
        self._started = 0.0
        # parts only measured (on the server already) count as posted before this run
        self._to_post_bytes = sum(
            s.plan.segments[n - 1].length
            for s in self.states
            for n in s.pending
            if n not in s.measure
        )
        self._to_post = sum(len(s.pending) - len(s.measure) for s in self.states)

    def statistics(self) -> JobStatistics:
        delivery = self._delivery
        return JobStatistics(
            total_bytes=self.plan.total_bytes,
            posted_bytes=delivery.posted_bytes + self.plan.total_bytes - self._to_post_bytes,
            total_articles=self.plan.article_count,
            posted_articles=delivery.posted_articles + self.plan.article_count - self._to_post,
            files_total=len(self.states),
            files_done=self.tally.done,
            files_failed=self.tally.failed,
            current_files=tuple(delivery.active),
            retries=delivery.retries,
            checked_in_doubt=delivery.checked,
            duplicates_confirmed=delivery.duplicates,
            pipelined_posts=delivery.pipelined,
            manifest_frames=self.manifest.frames if self.manifest is not None else 0,
            elapsed=time.monotonic() - self._started if self._started else 0.0,
            resumed_bytes=self.plan.total_bytes - self._to_post_bytes,
        )

    @property
    def fatal(self) -> errors.PostieError | None:
        return self._pipeline.fatal

    async def run(self) -> JobResult:
        """Post everything; raise JobFailed when the server refuses the job as a whole."""
        self._started = time.monotonic()
        pipeline = self._pipeline
        workers: list[asyncio.Task[None]] = []
        for pool in self.runtime.upload_pools:
            workers.extend(
                asyncio.create_task(pipeline.work(pool), name=f"post-{pool.label}-{i}")
                for i in range(pool.max_connections)
            )
        stages = [
            asyncio.create_task(pipeline.produce(), name="produce"),
            asyncio.create_task(pipeline.journal(len(workers)), name="journal"),
        ]
        if self.manifest is not None and self.manifest.version == 1:
            stages.append(asyncio.create_task(pipeline.flush(len(workers)), name="flush"))
        tasks = (*stages, *workers)
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            pipeline.release_all()
            for state in self.states:
                if state.remaining and state.error is None and pipeline.fatal is not None:
                    state.fail(errors.FileFailed(f"{state.plan.name}: {pipeline.fatal}"))
        if pipeline.fatal is not None:
            raise pipeline.fatal
        return JobResult(self.plan, self.states, time.monotonic() - self._started)

    def hold(self, held: bool) -> None:
        """``held``: start posting no article (those on the wire finish) until released
        (False); its transfer's lease could not be renewed, say."""
        self._pipeline.hold(held)

    def stop(self, reason: str | errors.PostieError) -> None:
        """Stop taking articles: those on the wire finish their exchange, the rest are
        left for a later run; ``run`` then raises ``Stopped`` (or ``reason``, when it is
        an error: the lease was lost, say)."""
        self._pipeline.stop(errors.Stopped(reason) if isinstance(reason, str) else reason)


def _pending(parts: int, before: FileResume) -> tuple[int, ...]:
    """The parts of a file to post or measure, in the order they are read: parts to post
    first, then those only measured (on the server already, read again for their CRC
    line), then the last part if it is to be posted (its ``=yend`` carries the whole
    file's CRC32, combined from every part's)."""
    if not before.watermark and not before.done and not before.measure:
        return _every_part(parts)
    todo = [n for n in range(before.watermark + 1, parts + 1) if n not in before.done]
    if not before.measure:
        return tuple(todo)
    last = [parts] if todo and todo[-1] == parts and parts not in before.measure else []
    post = [n for n in todo if n not in before.measure and n != parts]
    return (*post, *sorted(before.measure), *last)


@functools.lru_cache(maxsize=64)
def _every_part(parts: int) -> tuple[int, ...]:
    """(1, ..., parts): one tuple shared by the files of the same part count."""
    return tuple(range(1, parts + 1))
