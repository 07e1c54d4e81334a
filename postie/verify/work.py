"""What the parts of a verification pass share: the Runtime whose verify connections
STAT, the store and the owner whose leases they hold, and the counters the service's
``statistics()`` reads.

A STAT error (not a 430) spends nothing: the work that met it is due again
``ERROR_RETRY`` seconds later, and a server that refuses STAT or POST is kept in
``refused`` for whoever waits on the service.
"""

from __future__ import annotations

import msgspec

from postie import errors
from postie.config import VerifyConfig
from postie.nntp.stat import stat_all
from postie.runtime.runtime import Runtime
from postie.store.api import Store

ERROR_RETRY = 5.0  # seconds before work that met a STAT error is tried again
NOT_FOUND = "430 not found by STAT"


class Counters(msgspec.Struct):
    """What ``VerifyStatistics`` reports, updated by the part of the pass at work."""

    phase: str = "waiting"
    passes: int = 0
    scans: int = 0
    checked: int = 0
    missing: int = 0
    rechecked: int = 0
    found_later: int = 0
    reposted: int = 0
    claimed: int = 0
    exhausted: int = 0
    stat_errors: int = 0
    finalized: int = 0
    finalize_failures: int = 0
    check_seconds: float = 0.0


class Work:
    """One verification service's state, as its scans, rechecks and finalizing see it."""

    def __init__(self, runtime: Runtime, store: Store, *, owner: str, config: VerifyConfig):
        self.runtime = runtime
        self.store = store
        self.owner = owner
        self.config = config
        self.counters = Counters()
        self.refused: errors.PostieError | None = None  # a server that refuses STAT or POST

    async def stat(self, ids: list[str]) -> list[bool]:
        """Which of ``ids`` the verify server has, STATed in pipelined batches."""
        return await stat_all(
            self.runtime.verify_connection, ids, width=self.runtime.verify_slots.total
        )

    def retry_at(self) -> float:
        """When work that met a STAT error is due again (on the store's clock)."""
        return self.store.now() + ERROR_RETRY
