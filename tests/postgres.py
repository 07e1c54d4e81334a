"""The PostgreSQL of ``scripts/postgres`` for tests: a fresh database per test.

``POSTIE_TEST_PG`` (default: the cluster ``scripts/postgres start`` runs) is a URL
whose role may create databases. Each test gets ``postie_t_<pid>_<n>``, copied from a
template migrated once per run (``fresh(migrated=True)``) or empty, dropped after it.
A run is one pytest session in one process: a second session in the same process, or a
process forked from it (mutmut runs both: ``scripts/mutate``), makes a template of its own.
``POSTIE_TEST_PG_NAMES`` replaces the names' ``postie`` (``scripts/mutate`` gives its own,
then drops with ``drop_named`` what a test process killed on its timeout left behind).
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
NAMES = os.environ.get("POSTIE_TEST_PG_NAMES", "postie")
_numbers = itertools.count(1)
_template_made: tuple[int, str] | None = None  # the process that made it, and its name


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
    global _template_made
    pid = os.getpid()
    if _template_made is None or _template_made[0] != pid:  # none, or a parent's (forked)
        from postie.store import open_store

        name = f"{NAMES}_tpl_{pid}"

        async def migrate() -> None:
            await _admin([f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"])
            async with open_store(with_database(URL, name)):
                pass

        asyncio.run(migrate())
        _template_made = (pid, name)
    return _template_made[1]


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
    """Drop the template this process made (at the end of its session); the next session
    makes one again."""
    global _template_made
    made, _template_made = _template_made, None
    if made is not None and made[0] == os.getpid() and running():
        _drop(made[1])


def drop_named(prefix: str) -> list[str]:
    """Drop every database whose name begins with ``prefix`` and an underscore: those
    named with ``POSTIE_TEST_PG_NAMES=prefix``. Return their names."""

    async def names() -> list[str]:
        conn = await asyncpg.connect(URL)
        try:
            rows = await conn.fetch("SELECT datname FROM pg_database ORDER BY datname")
        finally:
            await conn.close()
        return [str(r[0]) for r in rows if str(r[0]).startswith(f"{prefix}_")]

    found = asyncio.run(names())
    for name in found:
        _drop(name)
    return found


@contextmanager
def fresh(*, migrated: bool = True) -> Iterator[str]:
    """A new database for one test (migrated to the newest version, or empty): its URL."""
    require()
    name = f"{NAMES}_t_{os.getpid()}_{next(_numbers)}"
    template = f" TEMPLATE {_template()}" if migrated else ""
    _run([f"CREATE DATABASE {name}{template}"])
    try:
        yield with_database(URL, name)
    finally:
        _drop(name)
