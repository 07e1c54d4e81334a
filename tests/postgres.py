"""The PostgreSQL of ``scripts/postgres`` for tests: a fresh database per test.

``POSTIE_TEST_PG`` (default: the cluster ``scripts/postgres start`` runs) is a URL
whose role may create databases. Each test gets ``postie_t_<pid>_<n>``, copied from a
template migrated once per run (``fresh(migrated=True)``) or empty, dropped after it.
When the server is not running, the tests that need it are skipped, saying how to start
it, except in CI (``CI`` set), where ``scripts/test`` starts it: there they fail.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import pytest

URL = os.environ.get("POSTIE_TEST_PG", "postgresql://postie:postie-secret@127.0.0.1:55432/postie")
_TEMPLATE = f"postie_tpl_{os.getpid()}"
_numbers = itertools.count(1)
_template_ready = False


def with_database(url: str, database: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{database}"))


def address() -> tuple[str, int]:
    parts = urllib.parse.urlsplit(URL)
    return parts.hostname or "127.0.0.1", parts.port or 5432


def running() -> bool:
    try:
        with socket.create_connection(address(), timeout=1.0):
            return True
    except OSError:
        return False


def require() -> None:
    """Skip (fail in CI) unless the test server is up."""
    if running():
        return
    host, port = address()
    reason = f"no PostgreSQL on {host}:{port} (scripts/postgres start; or set POSTIE_TEST_PG)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


async def _admin(statements: list[str]) -> None:
    conn = await asyncpg.connect(URL)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _run(statements: list[str]) -> None:
    asyncio.run(_admin(statements))


def _template() -> str:
    global _template_ready
    if not _template_ready:
        from postie.store import open_store

        async def migrate() -> None:
            await _admin([f"DROP DATABASE IF EXISTS {_TEMPLATE}", f"CREATE DATABASE {_TEMPLATE}"])
            async with open_store(with_database(URL, _TEMPLATE)):
                pass

        asyncio.run(migrate())
        _template_ready = True
    return _TEMPLATE


def _drop(name: str) -> None:
    """Drop a test database, its sessions with it. A session this role may not end (an
    autovacuum worker, without ``pg_signal_backend``: scripts/postgres grants it) makes
    the drop fail: such a session ends soon, so it is tried again for a few seconds."""
    for _ in range(20):
        try:
            _run([f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])
            return
        except (asyncpg.InsufficientPrivilegeError, asyncpg.ObjectInUseError):
            time.sleep(0.5)
    _run([f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])


def drop_template() -> None:
    if _template_ready and running():
        _drop(_TEMPLATE)


@contextmanager
def fresh(*, migrated: bool = True) -> Iterator[str]:
    """A new database for one test (migrated to the newest version, or empty): its URL."""
    require()
    name = f"postie_t_{os.getpid()}_{next(_numbers)}"
    template = f" TEMPLATE {_template()}" if migrated else ""
    _run([f"CREATE DATABASE {name}{template}"])
    try:
        yield with_database(URL, name)
    finally:
        _drop(name)
