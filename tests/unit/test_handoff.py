"""Handoff: the FIFO between a job's stages, as asyncio.Queue behaves for them."""

from __future__ import annotations

import asyncio

import pytest

from postie.runtime.handoff import Handoff


def test_items_come_out_in_order_and_get_nowait_says_empty() -> None:
    async def main() -> None:
        box: Handoff[int] = Handoff()
        assert box.empty()
        with pytest.raises(asyncio.QueueEmpty):
            box.get_nowait()
        for n in range(5):
            box.put_nowait(n)
        assert box.qsize() == 5
        assert [await box.get(), box.get_nowait(), await box.get()] == [0, 1, 2]
        assert box.qsize() == 2

    asyncio.run(main())


def test_waiting_getters_are_served_in_the_order_they_came() -> None:
    async def main() -> None:
        box: Handoff[str] = Handoff()
        got: list[tuple[int, str]] = []

        async def getter(n: int) -> None:
            got.append((n, await box.get()))

        tasks = [asyncio.create_task(getter(n)) for n in range(3)]
        await asyncio.sleep(0)  # all three wait
        for item in "abc":
            box.put_nowait(item)
        await asyncio.gather(*tasks)
        assert got == [(0, "a"), (1, "b"), (2, "c")]

    asyncio.run(main())


def test_a_getter_cancelled_after_it_was_woken_passes_its_turn_on() -> None:
    async def main() -> None:
        box: Handoff[str] = Handoff()
        first = asyncio.create_task(box.get())
        second = asyncio.create_task(box.get())
        await asyncio.sleep(0)
        box.put_nowait("x")  # wakes the first getter...
        first.cancel()  # ...which is cancelled before it runs
        assert await asyncio.wait_for(second, 1) == "x"
        assert first.cancelled()
        assert box.empty()

    asyncio.run(main())


def test_a_cancelled_waiting_getter_takes_nothing() -> None:
    async def main() -> None:
        box: Handoff[int] = Handoff()
        waiting = asyncio.create_task(box.get())
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        box.put_nowait(1)
        assert box.get_nowait() == 1

    asyncio.run(main())
