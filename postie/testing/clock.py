"""A store's clock a test moves forward."""

from __future__ import annotations

import time


class ManualClock:
    """A clock to give a store (``open_store(path, clock=clock)``): the real time plus
    an offset a test moves with ``advance``, so leases and due times run out without
    waiting for them."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds
