"""The transfer store: what was planned, how far posting got, verification, the queue.

The interface is ``postie.store.api`` (``Store``); ``open_store`` gives the
implementation for a location: SQLite (``postie.store.sqlite``) for a path or a
``sqlite://`` URL, PostgreSQL (``postie.store.postgres``) for a ``postgresql://`` or
``postgres://`` URL.
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


def data_dir() -> Path:
    """postie's data folder: ``$XDG_DATA_HOME/postie`` (``~/.local/share/postie``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "postie"


def default_path() -> Path:
    """``$XDG_DATA_HOME/postie/postie.db`` (``~/.local/share/postie/postie.db``)."""
    return data_dir() / "postie.db"


POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SQLITE_SCHEME = "sqlite://"


def is_server(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` names a store on a server (a PostgreSQL URL), not a file."""
    return isinstance(location, str) and location.lower().startswith(POSTGRES_SCHEMES)


def sqlite_path(location: str | os.PathLike[str]) -> Path:
    """The SQLite file ``location`` names: a path, or ``sqlite://`` and a path
    (``sqlite:///var/lib/postie.db`` is ``/var/lib/postie.db``)."""
    if isinstance(location, str) and location.lower().startswith(SQLITE_SCHEME):
        return Path(location[len(SQLITE_SCHEME) :])
    return Path(location)


def open_store(
    location: str | os.PathLike[str],
    *,
    busy_timeout: float = 10.0,
    clock: Callable[[], float] | None = None,
    worker_ttl: float = WORKER_TTL,
    create: bool = True,
    in_memory: bool = False,
    reconnect_timeout: float = 300.0,
) -> Store:
    """The store at ``location``, to use as ``async with open_store(...) as store``
    (opening migrates it). A path (or ``sqlite://PATH``) is an SQLite file;
    ``postgresql://user@host:port/db`` (or ``postgres://``) a PostgreSQL database, whose
    password comes from the URL, ``PGPASSWORD`` or the password file (``~/.pgpass``).
    ``busy_timeout``: seconds a write waits for another process's (SQLite), or to
    connect (PostgreSQL). ``clock``: the store's ``now()`` (tests move it); by default
    the time of this host (SQLite) or of the database server (PostgreSQL).
    ``worker_ttl``: seconds without a heartbeat before a worker counts as dead.
    ``create``: make the store (and its folder) if there is none; without it, a missing
    store is ``StoreMissing`` and nothing is created (the commands that only read).
    ``in_memory``: an empty store in memory that only names ``location`` (in messages);
    nothing is read from it or written to it (SQLite only). ``reconnect_timeout``:
    seconds a PostgreSQL server that went away is waited for (statements wait and go on
    when it is back) before they fail (``StoreUnreachable``)."""
    if is_server(location):
        try:
            from postie.store.postgres import PostgresStore  # only when used
        except ImportError as exc:
            from postie.errors import StoreError

            raise StoreError(
                f"a PostgreSQL store needs the driver asyncpg ({exc}): pip install"
                " 'postie[postgres]'"
            ) from None
        return PostgresStore(
            str(location),
            busy_timeout=busy_timeout,
            clock=clock,
            worker_ttl=worker_ttl,
            create=create,
            reconnect_timeout=reconnect_timeout,
        )

    from postie.store.sqlite import SQLiteStore  # the implementation, only when used

    return SQLiteStore(
        sqlite_path(location),
        busy_timeout=busy_timeout,
        clock=clock or time.time,
        worker_ttl=worker_ttl,
        create=create,
        in_memory=in_memory,
    )
