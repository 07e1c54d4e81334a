"""Workers and leases: heartbeats, who counts as dead, taking over a dead worker's
leases, and two claimers on one database never holding the same row.

Behaviour every implementation keeps (see conftest.IMPLEMENTATIONS)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import msgspec
import pytest

from postie.errors import TransferBusy
from postie.store import lease as lease_module
from postie.store.api import JobState, Process, Store, TransferState, Worker
from postie.store.lease import dead_workers, new_owner
from postie.testing import ManualClock
from tests.unit.store.conftest import Backend
from tests.unit.store.helpers import must_get, new_transfer, uploaded

HOST = socket.gethostname()
ELSEWHERE = "elsewhere.invalid"  # another machine sharing the store


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def live_pid() -> Iterator[int]:
    """The pid of a process of this host that runs for the whole test."""
    proc = subprocess.Popen(["sleep", "60"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def owner(process: Process) -> str:
    """An owner string as lease.new_owner() builds it, for any process."""
    start = "?" if process.start is None else str(process.start)
    return f"{process.host}/{process.pid}/{start}/0badc0de"


async def registered(store: Store, process: Process, name: str = "post") -> str:
    """A worker of ``process`` (which need not be this one): its owner."""
    who = owner(process)
    await store.register_worker(who, name=name, process=process)
    return who


async def holding_everything(store: Store, who: str, tmp_path: Path) -> tuple[int, int, int]:
    """Leases of every kind held by ``who`` (for an hour): a transfer, a scan of another
    transfer's files, its missing articles, and a running job. Returns the transfer ids
    and the job id."""
    posting = await store.create(new_transfer("posting"), owner=who, lease=3600)
    checked = await uploaded(store, tmp_path)
    await store.release(checked, owner="poster")
    await store.finish(checked, state=TransferState.UPLOADED, check_at=0.0)
    await store.record_misses(checked, 1, [(1, "a@x"), (2, "b@x")], next_attempt_at=0.0)
    assert await store.claim_check(owner=who, lease=3600, only=checked) == (checked, (1, 2))
    assert len(await store.claim_failures(owner=who, lease=3600, limit=10, only=checked)) == 2
    job = await store.enqueue(tmp_path / "job", relative="job")
    assert job is not None
    claimed = await store.claim_job(owner=who, lease=3600)
    assert claimed is not None
    return posting, checked, claimed.id


async def holders(store: Store, posting: int, checked: int, job: int) -> set[str | None]:
    """Who holds each of the leases ``holding_everything`` made."""
    found = await store.job(job)
    assert found is not None
    return {
        (await must_get(store, posting)).lease_owner,
        *(f.check_owner for f in await store.files(checked)),
        *(f.lease_owner for f in await store.failures(checked)),
        found.lease_owner,
    }


# --- who is dead ------------------------------------------------------------------------


def worker(n: int, process: Process, heartbeat_at: float) -> Worker:
    who = f"{owner(process)}-{n}"
    return Worker(who, process.host, process.pid, process.start, "w", 0.0, heartbeat_at)


def test_who_is_dead_is_decided_from_the_worker_rows(live_pid: int) -> None:
    now = 1000.0
    me = Process.current()
    start = lease_module._start_time(live_pid)
    assert start is not None
    assert me.start is not None
    rows = [
        worker(0, Process.current(), heartbeat_at=0.0),  # this process: never dead
        worker(1, Process(HOST, dead_pid(), None), heartbeat_at=now),  # gone, fresh beat
        worker(2, Process(HOST, live_pid, start + 1), heartbeat_at=now),  # pid reused
        worker(3, Process(HOST, live_pid, start), heartbeat_at=now),  # alive
        worker(4, Process(HOST, live_pid, None), heartbeat_at=now),  # alive, start unknown
        worker(5, Process(ELSEWHERE, 1, 1), heartbeat_at=now - 59),  # beating
        worker(6, Process(ELSEWHERE, 2, 1), heartbeat_at=now - 61),  # stopped beating
        # a live process of this host that stopped beating is dead all the same (hung)
        worker(7, Process(HOST, live_pid, start), heartbeat_at=now - 61),
        # an earlier process that had this process's pid
        worker(8, msgspec.structs.replace(me, start=(me.start or 0) - 1), heartbeat_at=now),
    ]
    dead = dead_workers(rows, now=now, ttl=60.0)
    assert dead == {
        rows[1].owner: True,
        rows[2].owner: True,
        rows[6].owner: False,
        rows[7].owner: False,
        rows[8].owner: True,
    }


# --- the worker context ---------------------------------------------------------------------


async def test_a_worker_is_registered_while_it_runs_and_releases_its_leases_when_done(
    store: Store, tmp_path: Path
) -> None:
    me = new_owner()
    async with store.worker(me, name="post"):
        (row,) = await store.workers()
        assert (row.owner, row.name, row.host, row.pid) == (me, "post", HOST, Process.current().pid)
        assert row.process_start == Process.current().start
        leased = await holding_everything(store, me, tmp_path)
        assert await holders(store, *leased) == {me}
    assert await store.workers() == ()
    assert await holders(store, *leased) == {None}
    assert [j.id for j in await store.requeue_interrupted(owner="next")] == [leased[2]]


async def test_a_worker_left_by_an_error_releases_its_leases_too(store: Store) -> None:
    me = new_owner()
    made: list[int] = []

    async def interrupted() -> None:
        async with store.worker(me, name="post"):
            made.append(await store.create(new_transfer(), owner=me, lease=3600))
            raise KeyError("interrupted")

    with pytest.raises(KeyError):
        await interrupted()
    assert (await must_get(store, made[0])).lease_owner is None
    assert await store.workers() == ()


async def test_a_worker_beats_its_heartbeat_in_the_background(backend: Backend) -> None:
    clock = backend.clock
    async with backend.open(worker_ttl=0.3) as store, store.worker("me", name="daemon"):
        (first,) = await store.workers()
        clock.advance(100)  # the beat records the store's time
        for _ in range(100):
            await asyncio.sleep(0.02)
            (row,) = await store.workers()
            if row.heartbeat_at > first.heartbeat_at:
                break
        assert row.heartbeat_at >= first.heartbeat_at + 100


async def test_a_worker_taken_for_dead_registers_again(backend: Backend) -> None:
    async with backend.open(worker_ttl=0.3) as store, store.worker("me", name="daemon"):
        tid = await store.create(new_transfer(), owner="me", lease=3600)
        assert await store.deregister_worker("me") == 1  # as a reaper would
        assert not await store.heartbeat("me")
        for _ in range(100):
            await asyncio.sleep(0.02)
            if await store.workers():
                break
        assert [w.owner for w in await store.workers()] == ["me"]
        # what was released stays released: it was taken over in the meantime
        assert (await must_get(store, tid)).lease_owner is None


# --- taking over ------------------------------------------------------------------------------


async def test_a_dead_process_of_this_host_is_taken_over_at_once(
    store: Store, tmp_path: Path
) -> None:
    gone = await registered(store, Process(HOST, dead_pid(), None))
    leased = await holding_everything(store, gone, tmp_path)
    posting, checked, job = leased
    me = new_owner()
    # the claim of a transfer reaps the dead first: no waiting for the hour's lease
    await store.claim(posting, owner=me, lease=60)
    assert (await must_get(store, posting)).lease_owner == me
    assert await store.workers() == ()
    assert await holders(store, *leased) - {me} == {None}
    assert await store.claim_check(owner=me, lease=60) == (checked, (1, 2))
    assert len(await store.claim_failures(owner=me, lease=60, limit=10)) == 2
    assert [j.id for j in await store.requeue_interrupted(owner=me)] == [job]
    found = await store.job(job)
    assert found is not None
    assert (found.state, found.attempts) == (JobState.QUEUED, 0)  # the attempt given back


async def test_interrupted_jobs_of_a_dead_process_come_back_at_once(store: Store) -> None:
    gone = await registered(store, Process(HOST, dead_pid(), None), name="daemon")
    queued = await store.enqueue(Path("/w/a"), relative="a")
    assert queued is not None
    assert await store.claim_job(owner=gone, lease=3600) is not None
    back = await store.requeue_interrupted(owner=new_owner())
    assert [j.id for j in back] == [queued.id]


async def test_verification_leases_of_a_dead_process_are_reaped_at_once(
    store: Store, tmp_path: Path
) -> None:
    gone = await registered(store, Process(HOST, dead_pid(), None), name="verify")
    _, checked, _ = await holding_everything(store, gone, tmp_path)
    assert await store.claim_failures(owner="me", lease=60, limit=10) == ()
    reaped = await store.reap_workers()
    assert reaped.owners == (gone,)
    assert reaped.leases == 6  # a transfer, two scans, two misses, a job
    assert await store.claim_check(owner="me", lease=60) == (checked, (1, 2))
    assert len(await store.claim_failures(owner="me", lease=60, limit=10)) == 2
    assert (await store.reap_workers()).owners == ()


async def test_a_reused_pid_is_a_dead_process(store: Store, live_pid: int) -> None:
    start = lease_module._start_time(live_pid)  # alive, but started at another time
    assert start is not None
    reused = await registered(store, Process(HOST, live_pid, start + 1))
    tid = await store.create(new_transfer(), owner=reused, lease=3600)
    await store.claim(tid, owner="me", lease=60)
    assert (await must_get(store, tid)).lease_owner == "me"


@pytest.mark.parametrize("holder", ["other-host", "live-process", "no-worker"])
async def test_a_live_or_unknown_holder_keeps_its_lease(
    store: Store, live_pid: int, holder: str
) -> None:
    if holder == "other-host":
        who = await registered(store, Process(ELSEWHERE, dead_pid(), 1))  # its pid means nothing
    elif holder == "live-process":
        who = await registered(store, Process(HOST, live_pid, lease_module._start_time(live_pid)))
    else:  # leases of an owner that never registered only run out
        who = owner(Process(HOST, dead_pid(), None))
    tid = await store.create(new_transfer(), owner=who, lease=3600)
    with pytest.raises(TransferBusy, match=r"lease runs out in 3[56]\d\d s") as info:
        await store.claim(tid, owner="me", lease=60)
    assert who in str(info.value)
    assert (await must_get(store, tid)).lease_owner == who


async def test_a_worker_whose_heartbeat_stopped_loses_its_leases_after_the_ttl(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    """Two workers on another machine hold leases for an hour; one stops beating its
    heartbeat (the machine lost power). After the TTL its leases are free; the other's,
    which kept beating, are not."""
    stopped = await registered(store, Process(ELSEWHERE, 100, 1))
    beating = await registered(store, Process(ELSEWHERE, 200, 1))
    stopped_leases = await holding_everything(store, stopped, tmp_path / "a")
    beating_leases = await holding_everything(store, beating, tmp_path / "b")
    clock.advance(40)
    assert await store.heartbeat(beating)
    assert (await store.reap_workers()).owners == ()  # within the TTL: both alive
    clock.advance(40)  # 80 s since the stopped one's last beat, 40 since the other's
    assert await store.heartbeat(beating)
    reaped = await store.reap_workers()
    assert reaped.owners == (stopped,)
    assert await holders(store, *stopped_leases) == {None}
    assert await holders(store, *beating_leases) == {beating}
    assert [w.owner for w in await store.workers()] == [beating]
    assert not await store.heartbeat(stopped)  # a late beat finds its row gone


# --- two claimers on one database ---------------------------------------------------------


async def claim_all(
    stores: tuple[Store, Store], claim: Callable[[Store, str], Awaitable[list[object]]]
) -> list[list[object]]:
    """Four claimers (two on each store object) claim until nothing is left; what each
    got."""

    async def claimer(store: Store, name: str) -> list[object]:
        got: list[object] = []
        while batch := await claim(store, name):
            got.extend(batch)
            await asyncio.sleep(0)  # let the others claim meanwhile
        return got

    return list(
        await asyncio.gather(
            *(claimer(s, f"w{i}.{n}") for i, s in enumerate(stores) for n in (1, 2))
        )
    )


def disjoint_and_complete(claimed: list[list[object]], expected: set[object]) -> None:
    every = [key for got in claimed for key in got]
    assert len(every) == len(set(every)), "something was claimed twice"
    assert set(every) == expected
    assert sum(1 for got in claimed if got) >= 2, "one claimer took everything: no race"


async def test_two_claimers_never_get_the_same_job(backend: Backend) -> None:
    async with backend.open() as one, backend.open() as two:
        ids: set[object] = set()
        for n in range(120):
            job = await one.enqueue(Path(f"/w/{n}"), relative=str(n), priority=n % 3)
            assert job is not None
            ids.add(job.id)

        async def claim(store: Store, name: str) -> list[object]:
            job = await store.claim_job(owner=name, lease=60)
            return [job.id] if job is not None else []

        disjoint_and_complete(await claim_all((one, two), claim), ids)


async def test_two_claimers_never_get_the_same_missing_article(backend: Backend) -> None:
    async with backend.open() as one, backend.open() as two:
        tid = await one.create(new_transfer(), owner="a", lease=60)
        await one.record_misses(tid, 1, [(p, f"{p}@x") for p in range(1, 401)], next_attempt_at=0)

        async def claim(store: Store, name: str) -> list[object]:
            return [f.key for f in await store.claim_failures(owner=name, lease=60, limit=7)]

        disjoint_and_complete(
            await claim_all((one, two), claim), {(tid, 1, p) for p in range(1, 401)}
        )


async def test_two_claimers_never_get_the_same_scan(backend: Backend, tmp_path: Path) -> None:
    async with backend.open() as one, backend.open() as two:
        expected: set[object] = set()
        for n in range(40):
            tid = await uploaded(one, tmp_path / str(n), files=3)
            await one.finish(tid, state=TransferState.UPLOADED, check_at=0.0)
            expected |= {(tid, f) for f in (1, 2, 3)}

        async def claim(store: Store, name: str) -> list[object]:
            taken = await store.claim_check(owner=name, lease=60)
            if taken is None:
                return []
            tid, files = taken
            assert files == (1, 2, 3)  # a transfer's due scans go to one claimer together
            return [(tid, f) for f in files]

        disjoint_and_complete(await claim_all((one, two), claim), expected)
