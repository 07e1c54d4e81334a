"""The store's queue (the daemon's): order, dedupe, leases, retries, pause.

Behaviour every implementation keeps (see conftest.IMPLEMENTATIONS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from postie import errors
from postie.store.api import JobState, Store
from postie.testing import ManualClock


async def test_priority_then_fifo_and_one_lease_per_job(store: Store) -> None:
    a = await store.enqueue(Path("/w/a"), relative="a")
    b = await store.enqueue(Path("/w/b"), relative="b", priority=5)
    c = await store.enqueue(Path("/w/c"), relative="c")
    assert a is not None
    assert b is not None
    assert c is not None
    first = await store.claim_job(owner="w1", lease=60)
    second = await store.claim_job(owner="w2", lease=60)
    third = await store.claim_job(owner="w1", lease=60)
    assert [j.id for j in (first, second, third) if j] == [b.id, a.id, c.id]
    assert await store.claim_job(owner="w3", lease=60) is None
    assert first is not None
    assert first.state == "running"
    assert first.attempts == 1


async def test_the_same_path_is_never_queued_twice(store: Store) -> None:
    job = await store.enqueue(Path("/w/a"), relative="a", size=10, files=1)
    assert job is not None
    assert await store.enqueue(Path("/w/a"), relative="a", size=10, files=1) is None
    claimed = await store.claim_job(owner="w", lease=60)
    assert claimed is not None
    assert await store.enqueue(Path("/w/a"), relative="a", size=99, files=1) is None
    await store.end_job(claimed.id, owner="w", state=JobState.DONE)
    # the same content again (a restarted watcher): not posted twice
    assert await store.enqueue(Path("/w/a"), relative="a", size=10, files=1) is None
    # changed content: a new job
    assert await store.enqueue(Path("/w/a"), relative="a", size=11, files=1) is not None


async def test_retries_wait_and_failures_can_be_retried(store: Store) -> None:
    job = await store.enqueue(Path("/w/a"), relative="a")
    assert job is not None
    claimed = await store.claim_job(owner="w", lease=60)
    assert claimed is not None
    await store.end_job(job.id, owner="w", state=JobState.QUEUED, error="boom", retry_at=2e10)
    assert await store.claim_job(owner="w", lease=60) is None  # not due yet
    await store.end_job(job.id, owner="w", state=JobState.FAILED, error="boom")  # not ours now
    found = await store.job(job.id)
    assert found is not None
    assert (found.state, found.last_error, found.attempts) == ("queued", "boom", 1)
    with pytest.raises(errors.UsageError, match="only failed, removed or deferred"):
        await store.retry_job(job.id)
    await store.remove_job(job.id)
    await store.retry_job(job.id)
    again = await store.job(job.id)
    assert again is not None
    assert (again.state, again.attempts, again.next_attempt_at) == ("queued", 0, 0)
    with pytest.raises(errors.UsageError, match="no job 99"):
        await store.remove_job(99)


async def test_pause_stops_claims_and_interrupted_jobs_come_back(
    store: Store, clock: ManualClock
) -> None:
    await store.enqueue(Path("/w/a"), relative="a")
    await store.set_paused(True)
    assert await store.paused()
    assert await store.claim_job(owner="w", lease=60) is None
    await store.set_paused(False)
    dead = "otherhost/1/1/x"
    claimed = await store.claim_job(owner=dead, lease=1.0)
    assert claimed is not None
    assert await store.requeue_interrupted(owner="me") == []  # its lease is live
    clock.advance(2)
    back = await store.requeue_interrupted(owner="me")
    assert [j.id for j in back] == [claimed.id]
    found = await store.job(claimed.id)
    assert found is not None
    assert (found.state, found.attempts) == ("queued", 0)  # the attempt is given back
    live = await store.claim_job(owner="live/1/1/y", lease=600)
    assert live is not None
    assert await store.requeue_interrupted(owner="me") == []  # a live lease stays


@pytest.mark.parametrize("other", ["queued", "running"])
async def test_retry_while_another_job_of_the_path_is_active_is_a_usage_error(
    store: Store, other: str
) -> None:
    """Retrying a failed job while a newer job of the same path is queued or running gives
    the clear usage error (not the database's UNIQUE constraint), and changes nothing."""
    old = await store.enqueue(Path("/w/a"), relative="a", size=10, files=1)
    assert old is not None
    claimed = await store.claim_job(owner="w", lease=60)
    assert claimed is not None
    await store.end_job(old.id, owner="w", state=JobState.FAILED, error="boom")
    new = await store.enqueue(Path("/w/a"), relative="a", size=11, files=1)  # changed
    assert new is not None
    if other == "running":
        running = await store.claim_job(owner="w", lease=60)
        assert running is not None
        assert running.id == new.id
    with pytest.raises(errors.UsageError) as info:
        await store.retry_job(old.id)
    assert type(info.value) is errors.UsageError
    assert str(info.value) == (
        f"job {old.id} is failed: only failed, removed or deferred jobs can be retried, and only"
        " when their path is not queued or running in another job"
    )
    found, active = await store.job(old.id), await store.job(new.id)
    assert found is not None
    assert active is not None
    assert (found.state, found.last_error) == ("failed", "boom")
    assert active.state == other
