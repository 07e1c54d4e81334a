"""The numbered migrations (``postie.store.schema``, PostgreSQL's files), applied in
order; the versions applied are rows of ``schema_migrations``.

The whole step holds a session advisory lock (``pg_advisory_lock``), so instances
that start at once on an empty database apply every file once: the first applies
them, the others wait for the lock and then find nothing left to do. Each file runs
in one transaction with the row that records it, so a failed file leaves the database
at the version before. A database at a version above the newest file was written by a
newer postie: it is refused, never downgraded.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from postie.errors import StoreMissing, StoreTooNew
from postie.store import schema
from postie.store.postgres.sql import Conn
from postie.store.schema import Migration

# pg_advisory_lock's key for postie's migrations: "postie" in ASCII, then 1
LOCK_KEY = 0x706F_7374_6965_0001

_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def migrations() -> tuple[Migration, ...]:
    """Every PostgreSQL migration, in version order."""
    return schema.migrations("pg")


def latest_version() -> int:
    return len(migrations())


async def schema_version(conn: Conn) -> int:
    """The newest version applied (0: none, or no postie tables at all)."""
    if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
        return 0
    return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))


async def migrate(conn: Conn, where: str, *, create: bool = True) -> int:
    """Bring the database to the newest version; return the version it was at.
    ``create`` False: a database without postie's tables is ``StoreMissing`` and nothing
    is made."""
    await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
    try:
        first = await schema_version(conn)
        if first == 0 and not create:
            raise StoreMissing(
                f"no transfer store in {where} (nothing was recorded there; check --db,"
                " POSTIE_DB or store.url)"
            )
        known = migrations()
        _check_not_newer(first, len(known), where)
        if first < len(known):
            await conn.execute(_TABLE)
        for migration in known[first:]:
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
        return first
    finally:
        with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            await asyncio.shield(conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY))


def _check_not_newer(version: int, known: int, where: str) -> None:
    if version > known:
        raise StoreTooNew(
            f"the transfer store {where} has schema version {version}, newer than this"
            f" postie knows ({known}): upgrade postie, or use another --db"
        )
