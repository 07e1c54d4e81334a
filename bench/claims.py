#!/usr/bin/env python3
"""Claim throughput of the queue: N queued jobs drained by W worker processes.

    python3 bench/claims.py                          # SQLite, 10,000 jobs, 4 workers
    python3 bench/claims.py --store postgresql://postie@127.0.0.1:55432/bench --store sqlite

Each store is filled with ``--jobs`` queued jobs by this process, then ``--workers``
processes each open the store and loop ``claim_job`` + ``end_job(done)`` until a claim
finds nothing; every worker starts at the same moment (a barrier). Reported per store:
wall seconds from the barrier to the last worker's end, claims per second, and how the
claims spread over the workers. Checked: every job ends done after exactly one attempt
(a job claimed twice would show as a second attempt, or as a claim that fails to end).

``sqlite`` (the default) is a fresh file under ``--dir``; any other ``--store`` is a
location ``open_store`` takes, which must hold no jobs (for PostgreSQL, an empty
database, e.g. ``createdb`` on the ``scripts/postgres`` cluster). Standard library and
postie only.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import queue
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from postie.errors import StoreLocked  # noqa: E402
from postie.store import open_store  # noqa: E402
from postie.store.api import JobState  # noqa: E402

LEASE = 600.0


async def _fill(location: str, jobs: int) -> None:
    async with open_store(location) as store:
        if sum((await store.job_counts()).values()):
            raise SystemExit(f"claims: {location} holds jobs already: give an empty store")
        for i in range(jobs):
            await store.enqueue(Path(f"/bench/job-{i:06d}"), relative=f"job-{i:06d}")


async def _drain(location: str, name: str, start: Any) -> tuple[int, int, float, float]:
    """Claim and end jobs until none is left; a claim that waited out the store's busy
    timeout is counted and tried again, as the daemon does."""
    async with open_store(location) as store:
        owner = f"bench-{name}-{os.getpid()}"
        start.wait()
        began = time.perf_counter()
        claimed = locked = 0
        while True:
            try:
                job = await store.claim_job(owner=owner, lease=LEASE)
                if job is None:
                    break
                await store.end_job(job.id, owner=owner, state=JobState.DONE)
            except StoreLocked:
                locked += 1
                continue
            claimed += 1
        return claimed, locked, began, time.perf_counter()


def _worker(location: str, name: str, start: Any, out: Any) -> None:
    out.put(asyncio.run(_drain(location, name, start)))


async def _check(location: str, jobs: int) -> str | None:
    async with open_store(location) as store:
        counts = await store.job_counts()
        if counts != {"done": jobs}:
            return f"jobs by state at the end: {counts} (expected {jobs} done)"
        listed = await store.jobs(limit=jobs)
        twice = [j.id for j in listed if j.attempts != 1]
        return f"jobs claimed more than once: {twice[:10]}" if twice else None


def measure(label: str, location: str, jobs: int, workers: int) -> dict[str, Any]:
    asyncio.run(_fill(location, jobs))
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(location, str(i), start, out)) for i in range(workers)
    ]
    for p in procs:
        p.start()
    time.sleep(1.0)  # every worker opened its store and waits at the barrier
    start.set()
    results: list[tuple[int, int, float, float]] = []
    while len(results) < len(procs):
        try:
            results.append(out.get(timeout=1.0))
        except queue.Empty:
            if any(p.exitcode not in (None, 0) for p in procs):
                raise SystemExit(f"claims: a worker failed on {label}") from None
    for p in procs:
        p.join()
    wall = max(r[3] for r in results) - min(r[2] for r in results)
    per_worker = sorted(r[0] for r in results)
    return {
        "store": label,
        "jobs": jobs,
        "workers": workers,
        "wall_s": round(wall, 3),
        "claims_per_s": round(jobs / wall),
        "per_worker": per_worker,
        "spread": round(statistics.pstdev(per_worker) / (jobs / workers), 3),
        "busy_timeouts": sum(r[1] for r in results),
        "error": asyncio.run(_check(location, jobs)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--store", action="append", help="sqlite, or a location (repeatable)")
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--dir", type=Path, default=Path("/dev/shm"), help="for the SQLite file")
    args = ap.parse_args(argv)
    failed = False
    for store in args.store or ["sqlite"]:
        with tempfile.TemporaryDirectory(dir=args.dir, prefix="postie-claims-") as tmp:
            location = str(Path(tmp) / "postie.db") if store == "sqlite" else store
            label = "sqlite" if store == "sqlite" else store.split("@")[-1]  # no password
            result = measure(label, location, args.jobs, args.workers)
        failed |= result["error"] is not None
        print(
            f"{result['store']}: {result['jobs']} jobs, {result['workers']} workers:"
            f" {result['wall_s']:.2f} s, {result['claims_per_s']} claims/s,"
            f" per worker {result['per_worker']},"
            f" {result['busy_timeouts']} claims waited out the busy timeout"
            + (f"; ERROR {result['error']}" if result["error"] else "")
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
