"""Lane.may_prime: pipelining gives way to other jobs and to checks, not to its own job."""

from __future__ import annotations

import asyncio

from postie.nntp.pool import ConnectionPool
from postie.nntp.settings import ServerSettings
from postie.runtime.lane import Lane
from postie.runtime.limits import WorkerSlots


async def test_a_lane_keeps_pipelining_while_only_its_own_job_waits() -> None:
    slots = WorkerSlots(1)
    pool = ConnectionPool(ServerSettings(host="127.0.0.1", port=1, pipelining=True))
    job = object()
    lane = Lane(pool, slots, job)
    await slots.acquire(job)  # the lane's slot
    assert lane.may_prime()
    surplus = asyncio.create_task(slots.acquire(job))  # the job's worker without a slot
    await asyncio.sleep(0)
    assert lane.may_prime(), "a worker of the same job waiting must not stop pipelining"
    check = asyncio.create_task(slots.acquire("verify"))
    await asyncio.sleep(0)
    assert not lane.may_prime(), "a check waiting for a slot must make the lane give way"
    check.cancel()
    await asyncio.gather(check, return_exceptions=True)
    assert lane.may_prime()
    other_job = asyncio.create_task(slots.acquire(object()))
    await asyncio.sleep(0)
    assert not lane.may_prime(), "another job waiting must make the lane give way"
    for task in (surplus, other_job):
        task.cancel()
    await asyncio.gather(surplus, other_job, return_exceptions=True)
    no_pipelining = Lane(
        ConnectionPool(ServerSettings(host="127.0.0.1", port=1, pipelining=False)), slots, job
    )
    assert not no_pipelining.may_prime()
