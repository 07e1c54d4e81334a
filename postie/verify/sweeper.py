"""The sweeper: forget finished transfers past their retention, reclaim stale leases.

Runs once at start and then every ``verify.sweep_interval``. Finished means
finalized (verified, hook run, cleanup done), or uploaded by a run that asked
for no verification. Their rows go (files, misses and rewritten IDs with them)
and so do any manifests left. Dead workers are reaped (their leases released)
and leases whose time ran out are cleared. A PAR2 work folder no transfer
refers to (the run that made it was killed before its transfer was recorded)
goes once it is a day old. A database error is logged and tried again next
time, never fatal.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from postie import errors
from postie.config import VerifyConfig
from postie.store.api import Store

log = logging.getLogger(__name__)


ORPHAN_AGE = 86400.0  # seconds: no PAR2 run takes a day, so its folder is abandoned


@dataclass(frozen=True, slots=True)
class SweepReport:
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
                await asyncio.to_thread(path.unlink)
                manifests += 1
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("sweep: cannot delete the manifest %s: %s", path, exc.strerror)
        leases = (
            reaped.leases + result.failure_leases + result.check_leases + result.transfer_leases
        )
        orphans = 0
        if self.par2_dir is not None:
            try:
                used = await self.store.par2_folders()
            except errors.StoreError as exc:
                log.warning("sweep: PAR2 folders not checked: %s", exc)
            else:
                orphans = await asyncio.to_thread(_remove_orphans, self.par2_dir, used)
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


def _remove_orphans(folder: Path, used: set[Path], now: float | None = None) -> int:
    """Remove the PAR2 job folders under ``folder`` that no transfer refers to and that
    are older than ORPHAN_AGE; return how many."""
    now = time.time() if now is None else now
    removed = 0
    try:
        children = list(folder.iterdir())
    except OSError:
        return 0
    for child in children:
        try:
            if not child.is_dir() or child in used or now - child.stat().st_mtime < ORPHAN_AGE:
                continue
            shutil.rmtree(child)
            removed += 1
        except OSError as exc:
            log.warning("sweep: cannot remove the PAR2 folder %s: %s", child, exc.strerror)
    return removed
