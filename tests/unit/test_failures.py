"""Verification failures in the store: only misses are stored, worked on under leases."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from postie.store import open_store
from postie.store.api import Store
from postie.testing import ManualClock
from tests.unit.test_store import new_transfer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def store(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Store]:
    async with open_store(tmp_path / "postie.db", busy_timeout=5, clock=clock) as opened:
        yield opened


async def test_a_miss_is_stored_once_and_counts_its_checks(store: Store) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=60)
    await store.record_misses(tid, 2, [(1, "one@x"), (3, "three@x")], next_attempt_at=5)
    await store.record_misses(tid, 2, [(3, "three@x")], next_attempt_at=9, error="430")
    rows = {f.part: f for f in await store.failures(tid)}
    assert sorted(rows) == [1, 3]
    assert (rows[1].check_count, rows[1].next_attempt_at, rows[1].state) == (1, 5, "pending")
    assert (rows[3].check_count, rows[3].next_attempt_at, rows[3].last_error) == (2, 9, "430")
    assert rows[3].message_id == "three@x"


async def test_claims_take_due_unleased_rows_only(store: Store, clock: ManualClock) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=60)
    now = store.now()
    await store.record_misses(tid, 1, [(1, "a@x"), (2, "b@x")], next_attempt_at=now - 1)
    await store.record_misses(tid, 2, [(1, "later@x")], next_attempt_at=now + 3600)
    first = await store.claim_failures(owner="w1", lease=60, limit=10)
    assert sorted(f.message_id for f in first) == ["a@x", "b@x"]
    assert all(f.lease_owner == "w1" for f in first)
    assert await store.claim_failures(owner="w2", lease=60, limit=10) == ()
    # a lease that ran out makes the row due again, for anyone
    clock.advance(61)
    later = await store.claim_failures(owner="w2", lease=60, limit=1)
    assert len(later) == 1
    assert later[0].lease_owner == "w2"
    clock.advance(200)
    assert (await store.sweep(retention=1e9)).failure_leases == 2
    assert all(f.lease_owner is None for f in await store.failures(tid))


async def test_resolve_and_reschedule_need_the_lease(store: Store, clock: ManualClock) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=60)
    now = store.now()
    await store.record_misses(tid, 1, [(1, "a@x"), (2, "b@x")], next_attempt_at=now - 1)
    a, b = await store.claim_failures(owner="w1", lease=60, limit=10)
    await store.resolve_failures([a.key], owner="w2")  # not its lease: nothing happens
    assert len(await store.failures(tid)) == 2
    await store.resolve_failures([a.key], owner="w1")
    assert [f.part for f in await store.failures(tid)] == [2]
    assert not await store.reschedule_failure(
        b.key, owner="w2", repost_count=1, check_count=2, next_attempt_at=now, error=None
    )
    assert await store.reschedule_failure(
        b.key,
        owner="w1",
        repost_count=1,
        check_count=3,
        next_attempt_at=now + 30,
        error="441 435 Duplicate",
        exhausted=True,
    )
    (row,) = await store.failures(tid)
    assert (row.state, row.repost_count, row.check_count, row.lease_owner) == (
        "exhausted",
        1,
        3,
        None,
    )
    assert row.last_error == "441 435 Duplicate"
    clock.advance(60)
    assert await store.claim_failures(owner="w1", lease=60, limit=10) == ()


async def test_failures_go_with_their_transfer(store: Store) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=60)
    await store.record_misses(tid, 1, [(1, "a@x")], next_attempt_at=0)
    await store.delete(tid)
    assert await store.failures(tid) == ()


_CLAIMER = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from pathlib import Path
    from postie.store import open_store

    async def main() -> None:
        claimed = []
        async with open_store(Path(sys.argv[1]), busy_timeout=30) as store:
            await asyncio.sleep(max(0.0, float(sys.argv[4]) - time.time()))  # start together
            while True:
                batch = await store.claim_failures(owner=sys.argv[2], lease=3600, limit=7)
                if not batch:
                    break
                claimed.extend(f.part for f in batch)
                await asyncio.sleep(0.003)  # work on the batch: the other one claims meanwhile
        Path(sys.argv[3]).write_text(json.dumps(claimed))

    asyncio.run(main())
    """
)


def _race(db: Path, outputs: list[Path]) -> list[set[int]]:
    """Two processes claim batches from the same store until nothing is left."""
    start = str(time.time() + 2.0)  # both processes are up by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIMER, str(db), f"worker{i}", str(out), start], cwd=REPO
        )
        for i, out in enumerate(outputs, start=1)
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    return [set(json.loads(out.read_text())) for out in outputs]


async def test_two_processes_never_hold_the_same_row(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    async with open_store(db) as store:
        tid = await store.create(new_transfer(), owner="a", lease=60)
        await store.record_misses(
            tid, 1, [(part, f"{part}@x") for part in range(1, 601)], next_attempt_at=0
        )
    first, second = _race(db, [tmp_path / "w1.json", tmp_path / "w2.json"])
    assert not first & second, f"{len(first & second)} rows were claimed by both"
    assert first | second == set(range(1, 601))
    assert first
    assert second, "one process claimed everything: the test did not race"
