"""The sweeper: forget finished transfers past their retention, reclaim stale leases.

Runs once at start and then every ``verify.sweep_interval``. Finished means
finalized (verified, hook run, cleanup done), or uploaded by a run that asked
for no verification. Their rows go (files, misses and rewritten IDs with them)
and so do any manifests left. Leases whose time ran out (a worker that died)
are cleared. A database error is logged and tried again next time, never fatal.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from postie import errors
from postie.config import VerifyConfig
from postie.store.store import TransferStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SweepReport:
    transfers: int
    manifests: int
    leases: int


class Sweeper:
    def __init__(self, store: TransferStore, config: VerifyConfig) -> None:
        self.store = store
        self.config = config
        self.sweeps = 0
        self.errors = 0
        self.last: SweepReport | None = None

    async def sweep(self) -> SweepReport | None:
        """One sweep; None (and a warning) when the store could not be swept."""
        try:
            result = await self.store.sweep(retention=self.config.retention)
        except errors.StoreError as exc:
            self.errors += 1
            log.warning("sweep skipped (will try again): %s", exc)
            return None
        manifests = 0
        for _, path in result.transfers:
            try:
                await asyncio.to_thread(path.unlink)
                manifests += 1
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("sweep: cannot delete the manifest %s: %s", path, exc.strerror)
        leases = result.failure_leases + result.check_leases + result.transfer_leases
        report = SweepReport(len(result.transfers), manifests, leases)
        self.sweeps += 1
        self.last = report
        if report.transfers or report.leases:
            log.info(
                "sweep: %d finished transfers deleted (%d manifests), %d expired leases reclaimed",
                report.transfers,
                report.manifests,
                report.leases,
            )
        return report

    async def run(self) -> None:
        """Sweep now and then every ``sweep_interval`` until cancelled."""
        while True:
            await self.sweep()
            await asyncio.sleep(self.config.sweep_interval)
