"""The store's behaviour tests run against every implementation of ``Store``.

``IMPLEMENTATIONS`` lists them; each gets a fresh, empty database per test. A
test that needs a second store object on the same database (another process, as
far as the store can tell) opens one with ``backend.open()``. Every store of a
test shares one clock (``clock``), which the test moves instead of sleeping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from postie.store import open_store
from postie.store.api import Store
from postie.testing import ManualClock

# SQLite: a file in the test's folder; PostgreSQL: a fresh database on the server of
# scripts/postgres (skipped when it is not running, except in CI: tests/postgres.py).
IMPLEMENTATIONS = ["sqlite", "postgres"]


@dataclass
class Backend:
    """One implementation's database for one test."""

    name: str
    location: str
    clock: ManualClock

    def open(self, *, busy_timeout: float = 5.0, worker_ttl: float = 60.0) -> Store:
        """Another store object on the test's database (``async with`` it)."""
        return open_store(
            self.location, busy_timeout=busy_timeout, clock=self.clock, worker_ttl=worker_ttl
        )


@pytest.fixture(params=IMPLEMENTATIONS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    name = str(request.param)
    if name == "sqlite":
        yield Backend(name, str(tmp_path / "postie.db"), ManualClock())
    elif name == "postgres":
        from tests import postgres

        with postgres.fresh() as url:
            yield Backend(name, url, ManualClock())
    else:
        raise AssertionError(f"no test database for the {name} store")


@pytest.fixture
def clock(backend: Backend) -> ManualClock:
    return backend.clock


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    async with backend.open() as opened:
        yield opened
