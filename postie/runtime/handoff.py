"""An unbounded FIFO between the stages of a posting job, lighter than ``asyncio.Queue``.

The pipeline's stages hand every article on twice (producer -> journal -> workers).
``asyncio.Queue`` pays for features they do not use at each hand-off: a ``maxsize``
check, the ``task_done``/``join`` bookkeeping (an ``Event.clear`` on every put) and a
waiter list walked in Python; a put and a get were ~10 Python calls. Here a put is one
call and a get of a waiting item none beyond itself: unbounded (the ByteBudget bounds
what is in flight), no ``join``. Getters are woken in the order they came, one per
item, as ``asyncio.Queue`` does; a getter cancelled after it was woken passes its turn on.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Generic, TypeVar

T = TypeVar("T")


class Handoff(Generic[T]):
    """``put_nowait``, ``get``, ``get_nowait``, ``empty``, ``qsize`` as ``asyncio.Queue``."""

    __slots__ = ("_getters", "_items")

    def __init__(self) -> None:
        self._items: collections.deque[T] = collections.deque()
        self._getters: collections.deque[asyncio.Future[None]] = collections.deque()

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        getters = self._getters
        while getters:
            getter = getters.popleft()
            if not getter.done():
                getter.set_result(None)
                return

    def get_nowait(self) -> T:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.popleft()

    async def get(self) -> T:
        items = self._items
        while not items:
            getter = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()
                try:
                    self._getters.remove(getter)
                except ValueError:  # woken (its turn taken) before it was cancelled
                    if items:
                        self._wake_next()
                raise
        return items.popleft()

    def _wake_next(self) -> None:
        getters = self._getters
        while getters:
            getter = getters.popleft()
            if not getter.done():
                getter.set_result(None)
                return
