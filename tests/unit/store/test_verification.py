"""The store's verification side: leased scans, missing articles, outcomes, what is
due when, finalizing.

Behaviour every implementation keeps (see conftest.IMPLEMENTATIONS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from postie.store.api import Store, TransferState
from postie.testing import ManualClock
from tests.unit.store.helpers import must_get, new_transfer, uploaded


async def test_a_scan_is_due_after_its_delay_and_leased_to_one_worker(
    store: Store, tmp_path: Path, clock: ManualClock
) -> None:
    tid = await uploaded(store, tmp_path)
    now = store.now()
    assert await store.claim_check(owner="a", lease=60) is None  # not asked
    await store.finish(tid, state=TransferState.UPLOADED, check_at=now + 10)
    assert await store.next_due() == pytest.approx(now + 10)
    assert await store.claim_check(owner="a", lease=60) is None  # not yet
    clock.advance(11)
    assert await store.claim_check(owner="a", lease=60) == (tid, (1, 2))
    clock.advance(1)
    assert await store.claim_check(owner="b", lease=60) is None  # leased
    # a worker that died: its lease runs out and the scan is due again
    clock.advance(60)
    assert await store.claim_check(owner="b", lease=60) == (tid, (1, 2))


async def test_outcomes_follow_the_misses(store: Store, tmp_path: Path) -> None:
    tid = await uploaded(store, tmp_path)
    await store.finish(tid, state=TransferState.UPLOADED, check_at=0.0)
    claim = await store.claim_check(owner="w", lease=60)
    assert claim == (tid, (1, 2))
    await store.finish_check(
        tid, owner="w", files=(1, 2), misses={2: [(3, "m@x")]}, next_attempt_at=0.0
    )
    states = {f.file_id: f.verify_state for f in await store.files(tid)}
    assert states == {1: "verified", 2: "pending"}
    assert (await must_get(store, tid)).verify_state == "pending"
    (miss,) = await store.claim_failures(owner="w", lease=60, limit=10)
    await store.reschedule_failure(
        miss.key,
        owner="w",
        repost_count=1,
        check_count=5,
        next_attempt_at=0.0,
        error="430",
        exhausted=True,
    )
    assert await store.settle(tid) == "verification_failed"
    states = {f.file_id: f.verify_state for f in await store.files(tid)}
    assert states == {1: "verified", 2: "verification_failed"}
    # asked again: outcomes and misses are forgotten, every file is checked afresh
    await store.schedule_checks(tid, at=0.0, again=True)
    assert await store.failures(tid) == ()
    assert (await must_get(store, tid)).verify_state == "pending"
    await store.claim_check(owner="w", lease=60)
    await store.finish_check(tid, owner="w", files=(1, 2), misses={}, next_attempt_at=0.0)
    found = await store.get(tid)
    assert found is not None
    assert found.verify_state == "verified"
    assert found.display_state == "verified"
    assert await store.finalizable() == ()  # the poster still holds it
    await store.release(tid, owner="poster")
    assert [t.id for t in await store.finalizable()] == [tid]


async def test_a_file_never_scanned_is_never_verified(store: Store, tmp_path: Path) -> None:
    tid = await uploaded(store, tmp_path)
    assert await store.settle(tid) == "pending"
    assert {f.verify_state for f in await store.files(tid)} == {"pending"}


async def test_a_scan_result_from_a_worker_that_lost_its_lease_is_ignored(
    store: Store, tmp_path: Path, clock: ManualClock
) -> None:
    tid = await uploaded(store, tmp_path, files=1)
    await store.finish(tid, state=TransferState.UPLOADED, check_at=0.0)
    await store.claim_check(owner="slow", lease=1)
    clock.advance(2)
    await store.claim_check(owner="fast", lease=60)
    await store.finish_check(
        tid, owner="slow", files=(1,), misses={1: [(1, "a@b")]}, next_attempt_at=0.0
    )
    assert await store.failures(tid) == ()
    (row,) = await store.files(tid)
    assert row.verify_state == "pending"
    assert row.check_owner == "fast"


async def test_a_transfer_is_checked_only_against_the_server_it_was_posted_to(
    store: Store, tmp_path: Path
) -> None:
    """A daemon configured for server B must not STAT (and then re-post everything of)
    a transfer a CLI run posted to server A on the same store."""
    posted_to_a = await uploaded(store, tmp_path, options={"servers": ["a.example:119"]})
    legacy = await uploaded(store, tmp_path / "old")  # recorded no server
    for tid in (posted_to_a, legacy):
        await store.finish(tid, state=TransferState.UPLOADED, check_at=0.0)
    await store.record_misses(posted_to_a, 1, [(1, "x@y")], next_attempt_at=0.0)
    only_b = ["b.example:563"]
    assert await store.claim_check(owner="w", lease=60, servers=only_b) == (legacy, (1, 2))
    assert await store.claim_check(owner="w", lease=60, servers=only_b) is None
    assert await store.claim_failures(owner="w", lease=60, limit=10, servers=only_b) == ()
    assert await store.next_due(servers=only_b) is not None  # the legacy scan's lease
    both = ["b.example:563", "a.example:119"]
    claimed = await store.claim_check(owner="w", lease=60, servers=both)
    assert claimed == (posted_to_a, (1, 2))
    (miss,) = await store.claim_failures(owner="w", lease=60, limit=10, servers=both)
    assert miss.transfer_id == posted_to_a


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
