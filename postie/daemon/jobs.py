"""A daemon's jobs as they run: what each worker runs now (``Running``), what the
jobs ended since the start posted (``JobCounts``), and the transfer service's progress
for one job as log lines (``JobReporter``)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import msgspec

from postie.runtime.state import JobStatistics
from postie.store.api import Job, Store
from postie.transfers.outcome import Done
from postie.verify.service import VerifyStatistics

log = logging.getLogger("postie.daemon")


class JobCounts(msgspec.Struct):
    """The jobs this daemon ended since it started, and what they posted."""

    done: int = 0
    failed: int = 0
    posted_bytes: int = 0
    posted_articles: int = 0


class Running(msgspec.Struct):
    """A job a worker runs now, and (once it posts) its transfer and progress."""

    job: Job
    transfer_id: int | None = None
    statistics: Callable[[], JobStatistics] | None = None


class JobReporter:
    """The transfer service's progress for one job: log lines, the job's transfer (in
    ``store``, under the daemon's ``owner``), what it posted (``counts``)."""

    def __init__(self, store: Store, owner: str, counts: JobCounts, item: Running) -> None:
        self.store = store
        self.owner = owner
        self.counts = counts
        self.item = item

    def note(self, text: str) -> None:
        log.info("job %d: %s", self.item.job.id, text)

    def warning(self, text: str) -> None:
        log.warning("job %d: %s", self.item.job.id, text)

    def error(self, text: str) -> None:
        log.warning("job %d: %s", self.item.job.id, text)  # the job's outcome says the rest

    def phase(self, describe: Callable[[], str]) -> AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()

    @contextlib.asynccontextmanager
    async def posting(
        self, transfer_id: int, statistics: Callable[[], JobStatistics]
    ) -> AsyncIterator[None]:
        self.item.transfer_id = transfer_id
        self.item.statistics = statistics
        job = self.item.job
        await self.store.set_job_transfer(job.id, transfer_id, owner=self.owner)
        yield

    def posted(self, done: Done) -> None:
        outcome = done.outcome
        assert outcome is not None
        posted = sum(s.posted_bytes for s in outcome.result.files)
        self.counts.posted_bytes += posted
        self.counts.posted_articles += outcome.result.plan.article_count
        if not done.uploaded:
            return  # the job fails with the reason
        log.info(
            "job %d posted: %d files, %.1f MB in %.1f s; NZB %s (transfer %d, verification"
            " follows)",
            self.item.job.id,
            done.files,
            posted / 1e6,
            outcome.result.elapsed,
            ", ".join(str(p) for p in outcome.written) or "-",
            done.transfer_id,
        )

    def verifying(
        self, statistics: Callable[[], VerifyStatistics]
    ) -> AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()
