"""Par2Scheduler: at most ``max_concurrent_jobs`` PAR2 jobs in the whole process.

PAR2 creation holds a large buffer per run (``par2.memory_mb``, passed to the
tool with its thread count), so the cap applies per running job, not per job
queued: queued jobs wait their turn (FIFO). A job is one transfer's sets, made
one after another. Cancelling a job kills its tool and removes partial files.

Every Runtime has one, also when no PAR2 is made (``--no-par2``): the planner and
the runner (subprocess handling) are imported when a job is created, not with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import msgspec

from postie.config import Par2Config
from postie.runtime.limits import WorkerSlots

if TYPE_CHECKING:
    from postie.par2.plan import Par2Set
    from postie.par2.runner import Par2Run


class Par2Statistics(msgspec.Struct, frozen=True):
    """A snapshot of the scheduler's jobs."""

    max_jobs: int
    running: int
    waiting: int
    peak_running: int
    jobs_done: int
    jobs_failed: int
    seconds: float  # spent creating, all jobs


class Par2Scheduler:
    """``async with Par2Scheduler(config)``; ``await create(sets, folder)`` per job."""

    def __init__(self, config: Par2Config) -> None:
        self.config = config
        self._slots = WorkerSlots(config.max_concurrent_jobs)  # a FIFO semaphore with stats
        self._done = 0
        self._failed = 0
        self._seconds = 0.0

    async def __aenter__(self) -> Par2Scheduler:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None  # runs are owned by the tasks that await them

    @property
    def binary(self) -> Path:
        from postie.par2.runner import default_binary

        return self.config.binary or default_binary()

    def statistics(self) -> Par2Statistics:
        slots = self._slots.statistics()
        return Par2Statistics(
            slots.total,
            slots.in_use,
            slots.waiting,
            slots.peak_in_use,
            self._done,
            self._failed,
            self._seconds,
        )

    async def create(
        self,
        sets: Sequence[Par2Set],
        folder: Path,
        *,
        progress: Callable[[float], None] | None = None,
    ) -> list[Par2Run]:
        """Create every set of one job in ``folder`` once it is this job's turn.
        ``progress`` gets the share done (0..1) over all the job's sets."""
        from postie.par2.runner import create_set

        binary = self.binary
        total = sum(s.source_slices for s in sets) or 1
        async with self._slots.slot():
            started = time.monotonic()
            runs: list[Par2Run] = []
            done = 0
            try:
                for item in sets:

                    def report(
                        share: float, base: int = done, size: int = item.source_slices
                    ) -> None:
                        if progress is not None:
                            progress((base + share * size) / total)

                    runs.append(
                        await create_set(
                            binary,
                            item,
                            folder,
                            memory_mb=self.config.memory_mb,
                            threads=self.config.threads,
                            progress=report,
                        )
                    )
                    done += item.source_slices
            except BaseException:
                self._failed += 1
                for run in runs:  # a job is whole or nothing
                    for path in run.files:
                        path.unlink(missing_ok=True)
                raise
            finally:
                self._seconds += time.monotonic() - started
            self._done += 1
            return runs
