"""STAT every segment of an NZB: which articles does a server not have?

Works for any NZB, also one postie did not write. The Message-IDs are STATed
in pipelined batches over the pool's connections (see ``postie.nntp.stat``).
"""

from __future__ import annotations

import time

import msgspec

from postie.nntp.pool import ConnectionPool
from postie.nntp.stat import stat_all
from postie.nzb import Nzb


class MissingSegment(msgspec.Struct, frozen=True):
    """A segment of the NZB the server does not have."""

    file: int  # 1-based, the order of the NZB
    subject: str
    number: int
    message_id: str


class SegmentCheck(msgspec.Struct, frozen=True):
    """The result of STATing every segment of an NZB."""

    server: str
    files: int
    checked: int
    missing: tuple[MissingSegment, ...]
    elapsed: float

    @property
    def complete(self) -> bool:
        return not self.missing


async def check_segments(pool: ConnectionPool, document: Nzb) -> SegmentCheck:
    """STAT every segment of ``document`` on ``pool``'s server."""
    started = time.monotonic()
    items = [
        MissingSegment(index, f.subject, s.number, s.message_id)
        for index, f in enumerate(document.files, start=1)
        for s in f.segments
    ]
    found = await stat_all(
        pool.connection, [m.message_id for m in items], width=pool.max_connections
    )
    missing = [m for m, there in zip(items, found, strict=True) if not there]
    return SegmentCheck(
        pool.label, len(document.files), len(items), tuple(missing), time.monotonic() - started
    )
