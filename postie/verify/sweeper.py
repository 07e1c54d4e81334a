"""The sweeper: forget finished transfers past their retention, reclaim stale leases.

Runs once at start and then every ``verify.sweep_interval``. Finished means
finalized (verified, hook run, cleanup done), or uploaded by a run that asked
for no verification. Their rows go (files, misses and rewritten IDs with them)
and so do any manifests left. Dead workers are reaped (their leases released)
and leases whose time ran out are cleared. A PAR2 work folder no transfer
refers to (the run that made it was killed before its transfer was recorded)
goes at once if the process that made it is gone, otherwise once it is a day
old (``postie.par2.workdir``). A database error is logged and tried again next
time, never fatal.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import msgspec

from postie import errors
from postie.config import VerifyConfig
from postie.par2.workdir import remove_abandoned
from postie.store.api import Store

log = logging.getLogger(__name__)


class SweepReport(msgspec.Struct, frozen=True):
    """What one pass of the sweeper removed."""

    transfers: int
    manifests: int
    leases: int
    par2_folders: int = 0


class Sweeper:
    def __init__(self, store: Store, config: VerifyConfig, *, par2_dir: Path | None = None) -> None:
        self.store = store
        self.config = config
        self.par2_dir = par2_dir
        self.sweeps = 0
        self.errors = 0
        self.last: SweepReport | None = None

    async def sweep(self) -> SweepReport | None:
        """One sweep; None (and a warning) when the store could not be swept."""
        try:
            reaped = await self.store.reap_workers()
            result = await self.store.sweep(retention=self.config.retention)
        except errors.StoreError as exc:
            self.errors += 1
            log.warning("sweep skipped (will try again): %s", exc)
            return None
        manifests = 0
        for _, path in result.transfers:
            try:
                manifests += await self.store.manifests.delete(path)
            except errors.ManifestError as exc:
                log.warning("sweep: %s", exc)
        leases = (
            reaped.leases + result.failure_leases + result.check_leases + result.transfer_leases
        )
        orphans = 0
        if self.par2_dir is not None:
            try:
                orphans = await remove_abandoned(self.par2_dir, self.store.par2_folders)
            except errors.StoreError as exc:
                log.warning("sweep: PAR2 folders not checked: %s", exc)
        report = SweepReport(len(result.transfers), manifests, leases, orphans)
        self.sweeps += 1
        self.last = report
        if report.transfers or report.leases or report.par2_folders:
            log.info(
                "sweep: %d finished transfers deleted (%d manifests), %d expired leases"
                " reclaimed, %d abandoned PAR2 folders removed",
                report.transfers,
                report.manifests,
                report.leases,
                report.par2_folders,
            )
        return report

    async def run(self) -> None:
        """Sweep now and then every ``sweep_interval`` until cancelled."""
        while True:
            await self.sweep()
            await asyncio.sleep(self.config.sweep_interval)
