"""Verification workers in separate processes on one store, SQLite or PostgreSQL
(each test runs on both: one file, or one database as instances on several machines
share).

The store holds 200 missing articles of one transfer (the server has them all, so
a worker that claims one STATs it, finds it and forgets it). Each worker logs
every claim. Three workers started together: no article is claimed by two, and the
server is asked for each exactly once (the round checks every article once). A
worker killed while holding leases leaves them to the others: if the dead worker was
on another host, only once they ran out; on this host (its process is provably gone)
at once.

(The scans of one transfer's files are claimed whole by one worker, by design of
``claim_check``: they are not spread over the workers.)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from postie.store import open_store
from postie.store.api import NewFile, NewTransfer
from postie.store.lease import new_owner
from postie.testing import Faults, FaultyNNTPServer
from tests import postgres

REPO = Path(__file__).resolve().parents[2]
ARTICLES = 200


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where the workers' store is: an SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path / "postie.db")
        return
    with postgres.fresh() as url:
        yield url


async def seeded_store(db: str, tmp_path: Path, server: FaultyNNTPServer) -> str:
    async with open_store(db) as store:
        tid = await store.create(
            NewTransfer(
                name="job",
                roots=(str(tmp_path),),
                roots_key="r",
                files_key="f",
                options={},
                nzb_path=None,
                manifest_path=tmp_path / "none.manifest.zst",
                files=(NewFile(1, tmp_path / "a.bin", "a.bin", 1, 1, ARTICLES),),
            ),
            owner=new_owner(),
            lease=1,
        )
        assert tid == 1
        ids = [(part, f"{part}.{os.urandom(4).hex()}@workers.test") for part in range(1, 201)]
        await store.record_misses(1, 1, ids, next_attempt_at=0.0)
    for _, mid in ids:
        server.articles[f"<{mid}>"] = b"stored"
    return db


async def worker(
    db: str, port: int, log: Path, lease: float, *extra: str, go: bool = True
) -> asyncio.subprocess.Process:
    """A worker process, ready (imported, store open); started unless ``go`` is False
    (then ``start`` it: two workers started together race for the same rows)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.verify_worker",
        db,
        str(port),
        str(log),
        str(lease),
        *extra,
        cwd=REPO,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert await asyncio.wait_for(proc.stdout.readline(), 60) == b"ready\n"
    if go:
        await start(proc)
    return proc


async def start(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdin is not None
    proc.stdin.write(b"go\n")
    await proc.stdin.drain()


def claims(log: Path) -> list[dict[str, object]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def keys(entries: list[dict[str, object]]) -> list[tuple[int, int, int]]:
    return [tuple(k) for e in entries for k in e["keys"]]  # type: ignore[attr-defined]


async def test_three_workers_never_process_the_same_row(tmp_path: Path, db: str) -> None:
    async with FaultyNNTPServer(faults=Faults(reply_delay=0.002)) as server:
        await seeded_store(db, tmp_path, server)
        logs = [tmp_path / f"w{i}.jsonl" for i in range(3)]
        procs = [await worker(db, server.port, log, 60.0, go=False) for log in logs]
        for proc in procs:
            await start(proc)
        codes = await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), 120)
        assert codes == [0, 0, 0]
        stats = Counter(c.split()[1] for c in server.commands if c.startswith("STAT "))
    taken = [keys(claims(log)) for log in logs]
    for mine in taken:
        assert mine, "every worker should have had work"
        assert len(set(mine)) == len(mine)
    for i, mine in enumerate(taken):
        for theirs in taken[i + 1 :]:
            assert not set(mine) & set(theirs), "an article was claimed by two workers"
    assert sum(len(mine) for mine in taken) == ARTICLES
    # the round asked the server for every article once: none twice, none left out
    assert len(stats) == ARTICLES
    assert set(stats.values()) == {1}
    async with open_store(db) as store:
        assert await store.failures(1) == ()


async def killed_holder(
    tmp_path: Path, server: FaultyNNTPServer, db: str, lease: float, *flags: str
) -> tuple[dict[str, object], set[tuple[int, int, int]]]:
    held_log = tmp_path / "held.jsonl"
    holder = await worker(db, server.port, held_log, lease, "hold", *flags)
    assert holder.stdout is not None
    line = await asyncio.wait_for(holder.stdout.readline(), 60)
    assert line.strip() == b"holding"
    holder.send_signal(signal.SIGKILL)
    await holder.wait()
    (held,) = claims(held_log)
    held_keys = set(keys([held]))
    assert len(held_keys) == 7
    return held, held_keys


async def test_a_killed_workers_leases_are_taken_over_after_they_expire(
    tmp_path: Path, db: str
) -> None:
    """The dead worker was on another host: its leases must run out first."""
    lease = 3.0
    async with FaultyNNTPServer() as server:
        await seeded_store(db, tmp_path, server)
        held, held_keys = await killed_holder(tmp_path, server, db, lease, "elsewhere")
        other_log = tmp_path / "other.jsonl"
        other = await worker(db, server.port, other_log, lease)
        assert await asyncio.wait_for(other.wait(), 120) == 0
        taken_at = time.time()
    entries = claims(other_log)
    assert set(keys(entries)) | held_keys == {(1, 1, p) for p in range(1, ARTICLES + 1)}
    for entry in entries:
        if set(keys([entry])) & held_keys:
            # taken over only once the dead worker's lease ran out
            assert float(entry["t"]) >= float(held["t"]) + lease - 0.05  # type: ignore[arg-type]
    assert taken_at >= float(held["t"]) + lease  # type: ignore[arg-type]
    async with open_store(db) as store:
        assert await store.failures(1) == ()


async def test_a_killed_worker_of_this_host_is_taken_over_at_once(tmp_path: Path, db: str) -> None:
    lease = 60.0
    async with FaultyNNTPServer() as server:
        await seeded_store(db, tmp_path, server)
        held, held_keys = await killed_holder(tmp_path, server, db, lease)
        other_logs = [tmp_path / "other1.jsonl", tmp_path / "other2.jsonl"]
        others = [await worker(db, server.port, log, lease, go=False) for log in other_logs]
        for proc in others:
            await start(proc)
        codes = await asyncio.wait_for(asyncio.gather(*(p.wait() for p in others)), 60)
        assert codes == [0, 0]
    entries = [e for log in other_logs for e in claims(log)]
    first, second = (keys(claims(log)) for log in other_logs)
    assert not set(first) & set(second), "an article was claimed by two workers"
    assert held_keys <= set(keys(entries))
    assert set(keys(entries)) == {(1, 1, p) for p in range(1, ARTICLES + 1)}
    assert max(float(e["t"]) for e in entries) < float(held["t"]) + lease  # type: ignore[arg-type]
