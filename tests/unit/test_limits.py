"""Tests for postie.runtime.limits: WorkerSlots, ByteBudget and default_budget."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postie.runtime.limits import ByteBudget, WorkerSlots, default_budget

MiB = 1024 * 1024


async def settle(rounds: int = 5) -> None:
    """Let every ready task run until it blocks."""
    for _ in range(rounds):
        await asyncio.sleep(0)


# --- WorkerSlots -----------------------------------------------------------------------------


def test_slots_need_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        WorkerSlots(0)


async def test_slots_never_exceed_total_with_many_tasks() -> None:
    slots = WorkerSlots(3)
    active = 0
    most = 0
    done = 0

    async def worker(seed: int) -> None:
        nonlocal active, most, done
        async with slots.slot():
            active += 1
            most = max(most, active)
            assert slots.statistics().in_use <= 3
            for _ in range(seed % 4 + 1):
                await asyncio.sleep(0)
            active -= 1
        done += 1

    await asyncio.gather(*(worker(i) for i in range(60)))
    assert done == 60
    assert most == 3
    stats = slots.statistics()
    assert (stats.total, stats.in_use, stats.waiting, stats.peak_in_use) == (3, 0, 0, 3)


async def test_try_acquire() -> None:
    slots = WorkerSlots(2)
    assert slots.try_acquire()
    assert slots.try_acquire()
    assert not slots.try_acquire()
    assert slots.statistics().in_use == 2
    slots.release()
    assert slots.try_acquire()


async def test_slots_are_handed_over_in_fifo_order() -> None:
    slots = WorkerSlots(1)
    await slots.acquire()
    order: list[str] = []

    async def waiter(name: str) -> None:
        await slots.acquire()
        order.append(name)

    tasks = [asyncio.create_task(waiter(name)) for name in "abc"]
    await settle()
    assert slots.statistics().waiting == 3
    assert order == []

    slots.release()
    # The slot went straight to "a": nobody can take it in between.
    assert slots.statistics().in_use == 1
    assert not slots.try_acquire()
    await settle()
    assert order == ["a"]
    slots.release()
    await settle()
    assert order == ["a", "b"]
    slots.release()
    await settle()
    assert order == ["a", "b", "c"]
    await asyncio.gather(*tasks)
    slots.release()
    assert slots.statistics().in_use == 0


async def test_try_acquire_does_not_jump_the_queue() -> None:
    slots = WorkerSlots(1)
    await slots.acquire()
    task = asyncio.create_task(slots.acquire())
    await settle()
    slots.release()  # handed to the waiter
    assert not slots.try_acquire()
    await task
    slots.release()
    assert slots.try_acquire()


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    slots = WorkerSlots(1)
    await slots.acquire()
    task = asyncio.create_task(slots.acquire())
    await settle()
    assert slots.statistics().waiting == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert slots.statistics().waiting == 0
    slots.release()
    assert slots.statistics().in_use == 0
    assert slots.try_acquire()


async def test_waiter_cancelled_after_the_handover_passes_the_slot_on() -> None:
    slots = WorkerSlots(1)
    await slots.acquire()
    first = asyncio.create_task(slots.acquire())
    second = asyncio.create_task(slots.acquire())
    await settle()
    slots.release()  # handed to `first`, which has not run yet
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)  # `first` gave its slot to `second`
    assert slots.statistics().in_use == 1
    slots.release()
    assert slots.statistics().in_use == 0


async def test_waiter_cancelled_then_release_in_the_same_step() -> None:
    # cancel() and release() before the cancelled task gets to run: the release skips the
    # cancelled waiter; the task must still end with CancelledError and leak nothing.
    slots = WorkerSlots(1)
    await slots.acquire()
    task = asyncio.create_task(slots.acquire())
    await settle()
    task.cancel()
    slots.release()
    with pytest.raises(asyncio.CancelledError):
        await task
    stats = slots.statistics()
    assert (stats.in_use, stats.waiting) == (0, 0)


async def test_waiters_are_counted_by_group() -> None:
    """A job's own waiting workers do not count against its lanes; anyone else's do,
    and a waiter stops counting once the slot is handed to it or it is cancelled."""
    slots = WorkerSlots(1)
    job, other = object(), object()
    await slots.acquire(job)
    own = asyncio.create_task(slots.acquire(job))
    await settle()
    assert slots.waiting == 1
    assert slots.waiting_except(job) == 0
    assert slots.waiting_except(other) == 1
    foreign = asyncio.create_task(slots.acquire("verify"))
    anonymous = asyncio.create_task(slots.acquire())
    await settle()
    assert slots.waiting_except(job) == 2
    slots.release()  # handed to `own` (FIFO)
    assert slots.waiting_except(job) == 2
    assert slots.waiting_except("verify") == 1
    await asyncio.wait_for(own, 1)
    foreign.cancel()
    with pytest.raises(asyncio.CancelledError):
        await foreign
    assert slots.waiting_except(job) == 1  # the anonymous one
    slots.release()
    await asyncio.wait_for(anonymous, 1)
    assert slots.waiting == 0
    assert slots.waiting_except(job) == 0
    slots.release()


async def test_several_waiters_of_one_group_are_all_counted() -> None:
    """Two waiting workers of one job both count as its own, until each is handed a slot."""
    slots = WorkerSlots(1)
    job = object()
    await slots.acquire("holder")
    own = [asyncio.create_task(slots.acquire(job)) for _ in range(2)]
    await settle()
    foreign = asyncio.create_task(slots.acquire("verify"))
    await settle()
    assert (slots.waiting, slots.waiting_except(job), slots.waiting_except("verify")) == (3, 1, 2)
    slots.release()  # handed to the first of `own`
    await asyncio.wait_for(own[0], 1)
    assert (slots.waiting, slots.waiting_except(job), slots.waiting_except("verify")) == (2, 1, 1)
    slots.release()
    await asyncio.wait_for(own[1], 1)
    assert (slots.waiting, slots.waiting_except(job)) == (1, 1)
    slots.release()
    await asyncio.wait_for(foreign, 1)
    slots.release()
    assert slots.statistics().in_use == 0


def test_fresh_limiters_report_nothing_used() -> None:
    """Before anything is taken, the peak is zero (not one)."""
    assert WorkerSlots(3).statistics().peak_in_use == 0
    assert ByteBudget(100).statistics().peak_in_use == 0


async def test_slot_context_releases_on_error() -> None:
    slots = WorkerSlots(1)

    async def fail_inside() -> None:
        async with slots.slot():
            assert slots.statistics().in_use == 1
            raise KeyError("boom")

    with pytest.raises(KeyError):
        await fail_inside()
    assert slots.statistics().in_use == 0


def test_slots_release_without_acquire_raises() -> None:
    slots = WorkerSlots(2)
    with pytest.raises(RuntimeError, match="released more often than acquired"):
        slots.release()
    assert slots.try_acquire()
    slots.release()
    with pytest.raises(RuntimeError):
        slots.release()
    assert slots.statistics().in_use == 0


# --- ByteBudget ----------------------------------------------------------------------------


def test_budget_needs_a_positive_capacity() -> None:
    with pytest.raises(ValueError, match="positive capacity"):
        ByteBudget(0)


def test_clamp() -> None:
    budget = ByteBudget(100)
    assert budget.clamp(0) == 1
    assert budget.clamp(-5) == 1
    assert budget.clamp(1) == 1
    assert budget.clamp(100) == 100
    assert budget.clamp(101) == 100
    assert budget.clamp(10**12) == 100


async def test_budget_try_acquire_and_release() -> None:
    budget = ByteBudget(100)
    assert budget.try_acquire(60)
    assert budget.try_acquire(40)
    assert not budget.try_acquire(1)
    assert budget.statistics().in_use == 100
    budget.release(40)
    assert budget.try_acquire(30)
    assert budget.statistics().in_use == 90


def test_budget_try_acquire_reserves_what_clamp_says() -> None:
    """As ``acquire`` does: the caller releases ``clamp(nbytes)``."""
    for asked, taken in ((0, 1), (-5, 1), (1, 1), (100, 100), (500, 100)):
        budget = ByteBudget(100)
        assert budget.try_acquire(asked)
        assert budget.statistics().in_use == taken == budget.clamp(asked)
        budget.release(taken)


async def test_budget_is_fifo_a_waiting_big_request_blocks_later_small_ones() -> None:
    budget = ByteBudget(100)
    assert await budget.acquire(60) == 60
    order: list[int] = []

    async def request(n: int) -> None:
        got = await budget.acquire(n)
        order.append(got)

    big = asyncio.create_task(request(50))
    await settle()
    small = asyncio.create_task(request(10))  # 60 + 10 fits, but the 50 came first
    await settle()
    assert order == []
    assert not budget.try_acquire(10)
    stats = budget.statistics()
    assert (stats.in_use, stats.waiting, stats.waiting_bytes) == (60, 2, 60)

    budget.release(60)
    await asyncio.gather(big, small)
    assert order == [50, 10]
    assert budget.statistics().in_use == 60


async def test_over_capacity_request_is_clamped_and_runs_alone() -> None:
    budget = ByteBudget(100)
    assert await budget.acquire(1) == 1
    task = asyncio.create_task(budget.acquire(10_000))
    await settle()
    assert not task.done()  # waits for the whole budget
    assert budget.statistics().waiting_bytes == 100
    budget.release(1)
    assert await asyncio.wait_for(task, 1) == 100
    assert budget.statistics().in_use == 100
    assert not budget.try_acquire(1)  # nothing else runs beside it
    budget.release(100)
    assert budget.statistics().in_use == 0


async def test_cancelled_waiter_wakes_the_next() -> None:
    budget = ByteBudget(100)
    await budget.acquire(60)
    big = asyncio.create_task(budget.acquire(50))
    await settle()
    small = asyncio.create_task(budget.acquire(30))  # fits, but queued behind `big`
    await settle()
    assert not small.done()
    big.cancel()
    with pytest.raises(asyncio.CancelledError):
        await big
    # Nothing was released, yet `small` now fits and is at the head of the queue.
    assert await asyncio.wait_for(small, 1) == 30
    stats = budget.statistics()
    assert (stats.in_use, stats.waiting, stats.waiting_bytes) == (90, 0, 0)


async def test_budget_waiter_cancelled_after_the_grant_gives_it_back() -> None:
    budget = ByteBudget(100)
    await budget.acquire(100)
    first = asyncio.create_task(budget.acquire(70))
    second = asyncio.create_task(budget.acquire(70))
    await settle()
    budget.release(100)  # 70 granted to `first`, which has not run yet
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(second, 1) == 70
    assert budget.statistics().in_use == 70


async def test_budget_waiter_cancelled_then_release_in_the_same_step() -> None:
    budget = ByteBudget(100)
    await budget.acquire(100)
    task = asyncio.create_task(budget.acquire(50))
    await settle()
    task.cancel()
    budget.release(100)
    with pytest.raises(asyncio.CancelledError):
        await task
    stats = budget.statistics()
    assert (stats.in_use, stats.waiting) == (0, 0)


async def test_budget_statistics_peak() -> None:
    budget = ByteBudget(1000)
    async with budget.reserve(300) as a:
        assert a == 300
        async with budget.reserve(500) as b:
            assert b == 500
            assert budget.statistics().in_use == 800
        async with budget.reserve(100):
            pass
    stats = budget.statistics()
    assert (stats.capacity, stats.in_use, stats.peak_in_use) == (1000, 0, 800)


async def test_reserve_releases_on_error() -> None:
    budget = ByteBudget(100)

    async def fail_inside() -> None:
        async with budget.reserve(1000) as n:
            assert n == 100
            assert budget.statistics().in_use == 100
            raise KeyError("boom")

    with pytest.raises(KeyError):
        await fail_inside()
    assert budget.statistics().in_use == 0


def test_budget_release_more_than_reserved_raises() -> None:
    budget = ByteBudget(100)
    with pytest.raises(RuntimeError, match="released more than reserved"):
        budget.release(1)
    assert budget.try_acquire(10)
    with pytest.raises(RuntimeError):
        budget.release(11)
    assert budget.statistics().in_use == 10


@settings(max_examples=60, deadline=None)
@given(
    capacity=st.integers(1, 200),
    requests=st.lists(st.tuples(st.integers(0, 300), st.integers(0, 4)), min_size=1, max_size=25),
)
def test_budget_bounds_and_fifo_under_random_load(
    capacity: int, requests: list[tuple[int, int]]
) -> None:
    """Whatever the requests, held bytes never exceed capacity and grants come in FIFO order."""

    async def run() -> None:
        budget = ByteBudget(capacity)
        held = 0
        granted: list[int] = []

        async def user(i: int, n: int, hold: int) -> None:
            nonlocal held
            got = await budget.acquire(n)
            assert got == max(1, min(n, capacity))
            granted.append(i)
            held += got
            assert held <= capacity
            assert budget.statistics().in_use <= capacity
            for _ in range(hold):
                await asyncio.sleep(0)
            held -= got
            budget.release(got)

        tasks = [asyncio.create_task(user(i, n, h)) for i, (n, h) in enumerate(requests)]
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        assert granted == list(range(len(requests)))
        stats = budget.statistics()
        assert (stats.in_use, stats.waiting, stats.waiting_bytes) == (0, 0, 0)
        assert stats.peak_in_use <= capacity

    asyncio.run(run())


@settings(max_examples=60, deadline=None)
@given(
    capacity=st.integers(1, 100),
    requests=st.lists(
        st.tuples(st.integers(1, 150), st.integers(0, 3), st.none() | st.integers(0, 6)),
        min_size=1,
        max_size=20,
    ),
)
def test_budget_never_leaks_under_random_cancellation(
    capacity: int, requests: list[tuple[int, int, int | None]]
) -> None:
    """Tasks cancelled at random points leave the budget empty and never overfill it."""

    async def run() -> None:
        budget = ByteBudget(capacity)
        held = 0

        async def user(n: int, hold: int) -> None:
            nonlocal held
            async with budget.reserve(n) as got:
                held += got
                try:
                    assert held <= capacity
                    for _ in range(hold):
                        await asyncio.sleep(0)
                finally:
                    held -= got

        async def cancel_later(task: asyncio.Task[None], after: int) -> None:
            for _ in range(after):
                await asyncio.sleep(0)
            task.cancel()

        tasks = [asyncio.create_task(user(n, hold)) for n, hold, _ in requests]
        cancellers = [
            asyncio.create_task(cancel_later(task, after))
            for task, (_, _, after) in zip(tasks, requests, strict=True)
            if after is not None
        ]
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
        await asyncio.gather(*cancellers)
        for result in results:
            assert result is None or isinstance(result, asyncio.CancelledError), repr(result)
        stats = budget.statistics()
        assert (stats.in_use, stats.waiting, stats.waiting_bytes) == (0, 0, 0)
        assert stats.peak_in_use <= capacity

    asyncio.run(run())


@settings(max_examples=40, deadline=None)
@given(total=st.integers(1, 6), holds=st.lists(st.integers(0, 3), min_size=1, max_size=30))
def test_slots_bound_under_random_load(total: int, holds: list[int]) -> None:
    async def run() -> None:
        slots = WorkerSlots(total)
        active = 0
        order: list[int] = []

        async def user(i: int, hold: int) -> None:
            nonlocal active
            async with slots.slot():
                order.append(i)
                active += 1
                assert active <= total
                for _ in range(hold):
                    await asyncio.sleep(0)
                active -= 1

        await asyncio.wait_for(asyncio.gather(*(user(i, h) for i, h in enumerate(holds))), 5)
        assert order == list(range(len(holds)))  # FIFO
        stats = slots.statistics()
        assert (stats.in_use, stats.waiting) == (0, 0)
        assert 1 <= stats.peak_in_use <= total

    asyncio.run(run())


# --- default_budget ------------------------------------------------------------------------


def test_default_budget_has_a_floor_of_32_mib() -> None:
    assert default_budget(1, 1024) == 32 * MiB
    assert default_budget(1, 716_800) == 32 * MiB


def test_default_budget_has_a_ceiling_of_256_mib() -> None:
    assert default_budget(500, 716_800) == 256 * MiB
    assert default_budget(50, 16 * MiB) == 256 * MiB


def test_default_budget_in_between_follows_connections_and_article_size() -> None:
    # (2 per connection + 4 read ahead) x (raw + encoded article, encoded ~ 1/16 larger)
    encoded = 716_800 * 2 + 716_800 // 16
    assert default_budget(20, 716_800) == 44 * encoded
    assert 32 * MiB < default_budget(20, 716_800) < 256 * MiB
    assert default_budget(21, 716_800) > default_budget(20, 716_800)


@given(connections=st.integers(1, 1000), article_size=st.integers(1024, 16 * MiB))
def test_default_budget_is_always_within_bounds(connections: int, article_size: int) -> None:
    value = default_budget(connections, article_size)
    assert 32 * MiB <= value <= 256 * MiB
    # Never below what the connections need at the floor: monotonic in connections.
    assert default_budget(connections + 1, article_size) >= value
