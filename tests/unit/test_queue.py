"""The daemon's queue in the store: order, dedupe, leases, retries, pause."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from postie import errors
from postie.store.store import TransferStore


async def test_priority_then_fifo_and_one_lease_per_job(tmp_path: Path) -> None:
    async with TransferStore(tmp_path / "db") as store:
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


async def test_the_same_path_is_never_queued_twice(tmp_path: Path) -> None:
    async with TransferStore(tmp_path / "db") as store:
        job = await store.enqueue(Path("/w/a"), relative="a", size=10, files=1)
        assert job is not None
        assert await store.enqueue(Path("/w/a"), relative="a", size=10, files=1) is None
        claimed = await store.claim_job(owner="w", lease=60)
        assert claimed is not None
        assert await store.enqueue(Path("/w/a"), relative="a", size=99, files=1) is None
        await store.end_job(claimed.id, owner="w", state="done")
        # the same content again (a restarted watcher): not posted twice
        assert await store.enqueue(Path("/w/a"), relative="a", size=10, files=1) is None
        # changed content: a new job
        assert await store.enqueue(Path("/w/a"), relative="a", size=11, files=1) is not None
    # and the database itself refuses two active jobs of one path
    with sqlite3.connect(tmp_path / "db") as db, pytest.raises(sqlite3.IntegrityError):
        db.execute(
            "INSERT INTO jobs (path, relative, created_at, updated_at) VALUES ('/w/a', 'a', 0, 0)"
        )


async def test_retries_wait_and_failures_can_be_retried(tmp_path: Path) -> None:
    async with TransferStore(tmp_path / "db") as store:
        job = await store.enqueue(Path("/w/a"), relative="a")
        assert job is not None
        claimed = await store.claim_job(owner="w", lease=60)
        assert claimed is not None
        await store.end_job(job.id, owner="w", state="queued", error="boom", retry_at=2e10)
        assert await store.claim_job(owner="w", lease=60) is None  # not due yet
        await store.end_job(job.id, owner="w", state="failed", error="boom")  # not ours now
        found = await store.job(job.id)
        assert found is not None
        assert (found.state, found.last_error, found.attempts) == ("queued", "boom", 1)
        with pytest.raises(errors.UsageError, match="only failed or removed"):
            await store.retry_job(job.id)
        await store.remove_job(job.id)
        await store.retry_job(job.id)
        again = await store.job(job.id)
        assert again is not None
        assert (again.state, again.attempts, again.next_attempt_at) == ("queued", 0, 0)
        with pytest.raises(errors.UsageError, match="no job 99"):
            await store.remove_job(99)


@pytest.mark.parametrize("other", ["queued", "running"])
async def test_retry_while_another_job_of_the_path_is_active_is_a_usage_error(
    tmp_path: Path, other: str
) -> None:
    """Retrying a failed job while a newer job of the same path is queued or running gives
    the clear usage error (not the database's UNIQUE constraint), and changes nothing."""
    async with TransferStore(tmp_path / "db") as store:
        old = await store.enqueue(Path("/w/a"), relative="a", size=10, files=1)
        assert old is not None
        claimed = await store.claim_job(owner="w", lease=60)
        assert claimed is not None
        await store.end_job(old.id, owner="w", state="failed", error="boom")
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
            f"job {old.id} is failed: only failed or removed jobs can be retried, and only"
            " when their path is not queued or running in another job"
        )
        found, active = await store.job(old.id), await store.job(new.id)
        assert found is not None
        assert active is not None
        assert (found.state, found.last_error) == ("failed", "boom")
        assert active.state == other


async def test_pause_stops_claims_and_interrupted_jobs_come_back(tmp_path: Path) -> None:
    async with TransferStore(tmp_path / "db") as store:
        await store.enqueue(Path("/w/a"), relative="a")
        await store.set_paused(True)
        assert await store.paused()
        assert await store.claim_job(owner="w", lease=60) is None
        await store.set_paused(False)
        dead = "otherhost/1/1/x"
        claimed = await store.claim_job(owner=dead, lease=0.0)  # its lease runs out at once
        assert claimed is not None
        back = await store.requeue_interrupted(owner="me")
        assert [j.id for j in back] == [claimed.id]
        found = await store.job(claimed.id)
        assert found is not None
        assert (found.state, found.attempts) == ("queued", 0)  # the attempt is given back
        live = await store.claim_job(owner="live/1/1/y", lease=600)
        assert live is not None
        assert await store.requeue_interrupted(owner="me") == []  # a live lease stays
