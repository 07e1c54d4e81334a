"""The transfer store: what was planned, how far posting got, verification, the queue.

The interface is ``postie.store.api`` (``Store``); ``open_store`` gives the
implementation for a location: today SQLite (``postie.store.sqlite``) for a path.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from postie.store.lease import WORKER_TTL

if TYPE_CHECKING:
    from postie.store.api import Store


def default_path() -> Path:
    """``$XDG_DATA_HOME/postie/postie.db`` (``~/.local/share/postie/postie.db``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "postie" / "postie.db"


def open_store(
    location: str | os.PathLike[str],
    *,
    busy_timeout: float = 10.0,
    clock: Callable[[], float] = time.time,
    worker_ttl: float = WORKER_TTL,
    create: bool = True,
    in_memory: bool = False,
) -> Store:
    """The store at ``location``, to use as ``async with open_store(...) as store``
    (opening migrates it). A path is an SQLite file; ``busy_timeout``: seconds a write
    waits for another process's. ``clock``: the store's ``now()`` (tests move it).
    ``worker_ttl``: seconds without a heartbeat before a worker counts as dead.
    ``create``: make the store (and its folder) if there is none; without it, a missing
    store is ``StoreMissing`` and nothing is created (the commands that only read).
    ``in_memory``: an empty store in memory that only names ``location`` (in messages);
    nothing is read from it or written to it."""
    from postie.store.sqlite import SQLiteStore  # the implementation, only when used

    return SQLiteStore(
        Path(location),
        busy_timeout=busy_timeout,
        clock=clock,
        worker_ttl=worker_ttl,
        create=create,
        in_memory=in_memory,
    )
