"""Scans: STAT every article of the files whose check is due, keep only the misses
(step 1 in ``postie.verify.service``).

The manifest's article identities (version 2: frame 0's planned lines; version 1: its
article lines) are read ``SCAN_CHUNK`` at a time off the event loop, and each article
STATed under the Message-ID the server accepted it with. An error postpones the
whole scan, nothing spent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

from postie import crashpoints, errors
from postie.manifest import ArticleRecord, PlannedRecord
from postie.verify.work import NOT_FOUND, Work

log = logging.getLogger("postie.verify.service")  # the service's log, whichever part writes

SCAN_CHUNK = 20_000  # manifest lines read (and STATed) at a time


async def scan(work: Work, transfer_id: int, files: tuple[int, ...]) -> None:
    """STAT the articles of ``files`` (a claim of ``work.owner``) of the transfer."""
    store, counters = work.store, work.counters
    transfer = await store.get(transfer_id)
    if transfer is None:
        return
    counters.phase = "scanning"
    started = time.monotonic()
    wanted = frozenset(files)
    accepted = await store.accepted_ids(transfer_id)
    misses: dict[int, list[tuple[int, str]]] = {}
    checked = 0
    try:
        reader = await store.manifests.reader(
            transfer.manifest_path, durable_bytes=transfer.manifest_bytes
        )
        lines = iter(reader)
        while True:
            chunk = await asyncio.to_thread(_take, lines, wanted, SCAN_CHUNK)
            if not chunk:
                break
            ids = [accepted.get((r.file, r.part), r.message_id) for r in chunk]
            found = await work.stat(ids)
            for record, mid, there in zip(chunk, ids, found, strict=True):
                if not there:
                    misses.setdefault(record.file, []).append((record.part, mid))
            checked += len(chunk)
    except (errors.NNTPError, errors.ManifestError) as exc:
        counters.stat_errors += isinstance(exc, errors.NNTPError)
        log.warning("transfer %d: check postponed: %s", transfer_id, exc)
        await store.release_check(
            transfer_id,
            files,
            owner=work.owner,
            at=work.retry_at(),
            error=f"check postponed: {exc}",
        )
        if isinstance(exc, errors.GiveUp):
            work.refused = exc
        return
    finally:
        counters.check_seconds += time.monotonic() - started
    counters.scans += 1
    counters.checked += checked
    missing = sum(len(m) for m in misses.values())
    counters.missing += missing
    log.info(
        "transfer %d: STATed %d articles of %d files on %s in %.2f s: %d missing",
        transfer_id,
        checked,
        len(files),
        work.runtime.verify_label,
        time.monotonic() - started,
        missing,
    )
    crashpoints.reached("scanned")
    await store.finish_check(
        transfer_id,
        owner=work.owner,
        files=files,
        misses=misses,
        next_attempt_at=store.now(),
        error=NOT_FOUND,
    )


def _take(
    lines: Iterator[ArticleRecord | PlannedRecord], files: frozenset[int], n: int
) -> list[ArticleRecord | PlannedRecord]:
    out: list[ArticleRecord | PlannedRecord] = []
    for record in lines:
        if record.file in files:
            out.append(record)
            if len(out) >= n:
                break
    return out
