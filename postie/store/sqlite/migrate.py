"""Numbered SQL migrations (``postie.store.schema``), applied in order; the version is
SQLite's ``user_version``.

Each file ``NNNN_name.sql`` runs in one transaction that also sets
``user_version`` to NNNN, so a crash mid-migration leaves the database at the
previous version. A database whose version is above the newest file was
written by a newer postie: it is refused, never downgraded.
"""

from __future__ import annotations

from importlib.abc import Traversable

import aiosqlite

from postie.errors import StoreError, StoreTooNew
from postie.store import schema
from postie.store.schema import Migration


def _folder() -> Traversable:
    return schema.folder()


def migrations() -> tuple[Migration, ...]:
    """Every SQLite migration, in version order (``postie.store.schema``)."""
    return schema.migrations("sqlite", _folder())


def latest_version() -> int:
    return len(migrations())


async def schema_version(db: aiosqlite.Connection) -> int:
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def migrate(db: aiosqlite.Connection, where: str) -> int:
    """Bring the database to the newest version; return the version it was at.

    The version is read again inside each migration's write transaction, so two
    processes opening a new store at once do not both apply the same file.
    """
    first = await schema_version(db)
    known = migrations()
    _check_not_newer(first, len(known), where)
    for migration in known[first:]:
        await db.execute("BEGIN IMMEDIATE")
        try:
            current = await schema_version(db)
            _check_not_newer(current, len(known), where)
            if current < migration.version:
                # executescript would commit first; run statement by statement instead
                for statement in _statements(migration.sql):
                    await db.execute(statement)
                await db.execute(f"PRAGMA user_version = {migration.version}")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        await db.execute("COMMIT")
    return first


def _check_not_newer(version: int, known: int, where: str) -> None:
    if version > known:
        raise StoreTooNew(
            f"the transfer store {where} has schema version {version}, newer than this"
            f" postie knows ({known}): upgrade postie, or use another --db"
        )


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (complete_statement knows about quotes)."""
    import sqlite3

    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            text = buffer.strip()
            if text.strip(";").strip() and not all(
                part.strip().startswith("--") or not part.strip() for part in text.splitlines()
            ):
                statements.append(text)
            buffer = ""
    if buffer.strip() and not all(
        p.strip().startswith("--") or not p.strip() for p in buffer.splitlines()
    ):
        raise StoreError(f"incomplete SQL statement at the end of a migration: {buffer[:60]!r}")
    return statements
