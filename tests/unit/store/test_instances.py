"""Instances: the name each worker runs as, who holds each lease, and jobs an instance
cannot read deferred to the others (``postie.store.deferral``).

Behaviour every implementation keeps (see conftest.IMPLEMENTATIONS)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from postie.store.api import Job, JobState, LeaseKind, Process, Store
from postie.store.lease import default_instance, new_owner
from postie.testing import ManualClock
from tests.unit.store.conftest import Backend
from tests.unit.store.helpers import new_transfer
from tests.unit.store.test_workers import ELSEWHERE, holding_everything

DEFER = 600.0


async def daemon(store: Store, instance: str, *, host: str | None = None) -> str:
    """A live daemon worker of ``instance`` (this process, or one of ``host``): its owner."""
    process = Process.current() if host is None else Process(host, 4242, 1)
    who = f"{process.host}/{process.pid}/{instance}/0badc0de"
    await store.register_worker(who, name="daemon", process=process, instance=instance)
    return who


async def queued(store: Store, path: str = "/shared/job") -> Job:
    job = await store.enqueue(Path(path), relative=Path(path).name)
    assert job is not None
    return job


async def claimed(store: Store, who: str, instance: str) -> Job | None:
    return await store.claim_job(owner=who, lease=120, instance=instance)


async def defer(store: Store, job: Job, who: str, instance: str) -> Job | None:
    return await store.defer_job(
        job.id,
        owner=who,
        instance=instance,
        reason="No such file or directory",
        until=store.now() + DEFER,
    )


# --- instance names and lease holders ---------------------------------------------------


async def test_a_worker_keeps_its_instance_and_defaults_to_host_and_pid(store: Store) -> None:
    named, unnamed = new_owner(), new_owner() + "x"
    async with (
        store.worker(named, name="daemon", instance="nas-1"),
        store.worker(unnamed, name="post"),
    ):
        found = {w.owner: w for w in await store.workers()}
        assert found[named].instance == found[named].shown == "nas-1"
        short = socket.gethostname().split(".")[0]
        assert found[unnamed].instance == default_instance() == f"{short}-{os.getpid()}"
    assert await store.workers() == ()


async def test_every_lease_shows_its_holders_instance(store: Store, tmp_path: Path) -> None:
    me = new_owner()
    async with store.worker(me, name="daemon", instance="nas-1"):
        posting, checked, job = await holding_everything(store, me, tmp_path)
        stranger = await store.create(
            new_transfer("stranger", roots_key="roots-2"), owner="a/1/2/nobody", lease=3600
        )
        leases = await store.leases()
    expires = {lease.expires for lease in leases}
    assert all(e > 0 for e in expires)
    got = {
        (lease.kind, lease.ref, lease.owner, lease.instance, lease.worker, lease.count)
        for lease in leases
    }
    assert got == {
        (LeaseKind.JOB, job, me, "nas-1", "daemon", 1),
        (LeaseKind.TRANSFER, posting, me, "nas-1", "daemon", 1),
        (LeaseKind.CHECK, checked, me, "nas-1", "daemon", 2),
        (LeaseKind.FAILURE, checked, me, "nas-1", "daemon", 2),
        (LeaseKind.TRANSFER, stranger, "a/1/2/nobody", None, None, 1),
    }
    # a lease whose owner has no worker row shows the owner
    assert {lease.holder for lease in leases} == {"nas-1", "a/1/2/nobody"}
    # released leases (the worker ended) are held by nobody: only the stranger's is left
    assert [(lease.kind, lease.ref) for lease in await store.leases()] == [
        (LeaseKind.TRANSFER, stranger)
    ]


async def test_a_lease_that_ran_out_is_held_by_nobody(store: Store, clock: ManualClock) -> None:
    job = await queued(store)
    assert await store.claim_job(owner="gone", lease=60) is not None
    assert [lease.ref for lease in await store.leases()] == [job.id]
    clock.advance(61)
    assert await store.leases() == ()


# --- deferring a job an instance cannot read ---------------------------------------------


async def test_a_deferred_job_is_left_to_the_other_instances(store: Store) -> None:
    a, b = await daemon(store, "nas-a"), await daemon(store, "nas-b", host=ELSEWHERE)
    job = await queued(store)
    taken = await claimed(store, a, "nas-a")
    assert taken is not None
    assert taken.attempts == 1
    after = await defer(store, taken, a, "nas-a")
    assert after is not None
    assert (after.state, after.attempts, after.lease_owner) == (JobState.QUEUED, 0, None)
    assert after.last_error == (
        "nas-a cannot read /shared/job: No such file or directory; left to the other instances"
    )
    assert await claimed(store, a, "nas-a") is None  # not by the instance that deferred it
    by_b = await claimed(store, b, "nas-b")
    assert by_b is not None
    assert by_b.id == job.id


async def test_a_job_no_live_instance_can_read_fails_naming_them(store: Store) -> None:
    a, b = await daemon(store, "nas-a"), await daemon(store, "nas-b", host=ELSEWHERE)
    job = await queued(store)
    taken = await claimed(store, a, "nas-a")
    assert taken is not None
    await defer(store, taken, a, "nas-a")
    taken = await claimed(store, b, "nas-b")
    assert taken is not None
    after = await defer(store, taken, b, "nas-b")
    assert after is not None
    assert after.state == JobState.FAILED
    assert after.last_error == (
        "no instance can read /shared/job (nas-a: No such file or directory; nas-b: No such"
        " file or directory); postie queue retry puts it back"
    )
    assert after.finished_at is not None
    # retried: every instance may take it again
    await store.retry_job(job.id)
    assert await claimed(store, a, "nas-a") is not None


async def test_a_daemon_alone_fails_an_unreadable_job_at_once(store: Store) -> None:
    a = await daemon(store, "solo")
    await store.register_worker("poster", name="post", instance="cli")  # not a daemon
    job = await queued(store, "/gone/folder")
    taken = await claimed(store, a, "solo")
    assert taken is not None
    after = await defer(store, taken, a, "solo")
    assert after is not None
    assert (after.id, after.state) == (job.id, JobState.FAILED)
    assert after.last_error is not None
    assert after.last_error.startswith("no instance can read /gone/folder (solo: No such file")


async def test_a_daemon_whose_heartbeat_stopped_is_not_left_the_job(
    backend: Backend, clock: ManualClock
) -> None:
    async with backend.open(worker_ttl=60) as store:
        a = await daemon(store, "nas-a")
        await daemon(store, "nas-b", host=ELSEWHERE)
        await queued(store)
        clock.advance(61)  # nas-b (another host) stopped beating; nas-a is this process
        taken = await claimed(store, a, "nas-a")
        assert taken is not None
        after = await defer(store, taken, a, "nas-a")
        assert after is not None
        assert after.state == JobState.FAILED


async def test_retry_clears_the_deferrals_of_a_queued_job(store: Store) -> None:
    a = await daemon(store, "nas-a")
    await daemon(store, "nas-b", host=ELSEWHERE)
    job = await queued(store)
    taken = await claimed(store, a, "nas-a")
    assert taken is not None
    await defer(store, taken, a, "nas-a")
    assert await claimed(store, a, "nas-a") is None
    await store.retry_job(job.id)  # e.g. the folder is mounted on nas-a now
    again = await claimed(store, a, "nas-a")
    assert again is not None
    assert again.id == job.id


async def test_a_deferral_runs_out(store: Store, clock: ManualClock) -> None:
    a = await daemon(store, "nas-a")
    await daemon(store, "nas-b", host=ELSEWHERE)
    job = await queued(store)
    taken = await claimed(store, a, "nas-a")
    assert taken is not None
    await defer(store, taken, a, "nas-a")
    clock.advance(DEFER - 1)
    await store.heartbeat(f"{ELSEWHERE}/4242/nas-b/0badc0de")
    assert await claimed(store, a, "nas-a") is None
    clock.advance(2)
    again = await claimed(store, a, "nas-a")
    assert again is not None
    assert again.id == job.id


async def test_only_the_holder_defers_a_job(store: Store) -> None:
    a = await daemon(store, "nas-a")
    job = await queued(store)
    assert await claimed(store, a, "nas-a") is not None
    assert await defer(store, job, "someone-else", "nas-x") is None
    found = await store.job(job.id)
    assert found is not None
    assert (found.state, found.lease_owner) == (JobState.RUNNING, a)
