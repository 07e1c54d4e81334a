"""Claim throughput of the store: N queued jobs claimed by W workers until none is left,
SQLite against PostgreSQL (issue 16).

    .venv/bin/python -m bench.claims [--jobs 10000] [--workers 4] [--pg URL]   (from the repo)

Each worker is a store object of its own (SQLite: its own connection to one file;
PostgreSQL: its own pool) running one claim after another, ``claim_job`` then
``end_job(done)``: what a daemon does per job, without the posting. The PostgreSQL URL
defaults to the cluster of ``scripts/postgres``; a fresh database is made and dropped.
Prints jobs per second for each store and checks that every job was claimed once.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from postie.store import open_store
from postie.store.api import JobState, Store
from tests import postgres


async def run(location: str, jobs: int, workers: int) -> float:
    async with open_store(location) as first:
        for n in range(jobs):
            await first.enqueue(Path(f"/bench/{n}"), relative=str(n), priority=n % 3)
    stores: list[Store] = [open_store(location, busy_timeout=60) for _ in range(workers)]
    for store in stores:
        await store.__aenter__()

    async def worker(store: Store, name: str) -> list[int]:
        got: list[int] = []
        while (job := await store.claim_job(owner=name, lease=60)) is not None:
            await store.end_job(job.id, owner=name, state=JobState.DONE)
            got.append(job.id)
        return got

    try:
        start = time.perf_counter()
        claimed = await asyncio.gather(*(worker(s, f"w{i}") for i, s in enumerate(stores)))
        seconds = time.perf_counter() - start
    finally:
        for store in stores:
            await store.aclose()
    every = [i for got in claimed for i in got]
    assert len(every) == len(set(every)) == jobs, "a job claimed twice, or one left"
    print(f"  per worker: {[len(got) for got in claimed]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--pg", default=postgres.URL)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        seconds = asyncio.run(run(str(Path(folder) / "bench.db"), args.jobs, args.workers))
        print(
            f"sqlite:     {args.jobs} jobs, {args.workers} workers: {seconds:.2f} s,"
            f" {args.jobs / seconds:,.0f} jobs/s"
        )
    postgres.URL = args.pg
    with postgres.fresh(migrated=False) as url:
        seconds = asyncio.run(run(url, args.jobs, args.workers))
        print(
            f"postgresql: {args.jobs} jobs, {args.workers} workers: {seconds:.2f} s,"
            f" {args.jobs / seconds:,.0f} jobs/s"
        )


if __name__ == "__main__":
    main()
