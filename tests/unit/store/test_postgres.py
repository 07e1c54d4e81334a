"""The PostgreSQL store's own: its migrations (once, under the advisory lock, when
instances start together), the schema they give (the same tables and columns as
SQLite's), its statements, the server's clock, its location without the password,
and many claimers on many connections. (The command line's messages for a bad URL,
password or database: tests/integration/test_postgres_cli.py.)

(What every store does is tested against the interface beside this file, on both.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import aiosqlite
import asyncpg
import pytest

from postie.errors import StoreMissing, StoreTooNew
from postie.store import open_store
from postie.store.api import Store
from postie.store.postgres.base import redact
from postie.store.postgres.migrate import latest_version, migrations
from postie.store.postgres.sql import queries, translate
from postie.store.sqlite.migrate import migrate as sqlite_migrate
from postie.store.sqlite.sql import queries as sqlite_queries
from tests import postgres
from tests.unit.store.helpers import new_transfer


@pytest.fixture
def empty() -> Iterator[str]:
    """A new database without postie's tables."""
    with postgres.fresh(migrated=False) as url:
        yield url


@pytest.fixture
def migrated() -> Iterator[str]:
    with postgres.fresh() as url:
        yield url


# --- migrations -----------------------------------------------------------------------------


async def applied(url: str) -> list[tuple[int, str]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    return [(int(r["version"]), str(r["name"])) for r in rows]


async def test_instances_starting_at_once_on_an_empty_database_migrate_it_once(
    empty: str,
) -> None:
    async def start() -> None:
        async with open_store(empty) as store:
            await store.enqueue(Path(f"/w/{id(store)}"), relative="x")

    await asyncio.gather(*(start() for _ in range(4)))
    assert await applied(empty) == [(m.version, m.name) for m in migrations()]
    assert [name for _, name in await applied(empty)][-1].endswith(".pg.sql")


async def test_every_version_has_a_postgresql_file_and_the_sequence_matches_sqlite() -> None:
    from postie.store.sqlite.migrate import migrations as sqlite_migrations

    mine = migrations()
    assert [m.version for m in mine] == [m.version for m in sqlite_migrations()]
    assert latest_version() == len(mine)
    assert all(m.name.endswith(".pg.sql") for m in mine)


async def columns_pg(url: str) -> dict[str, set[str]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name != 'schema_migrations'"
        )
    finally:
        await conn.close()
    found: dict[str, set[str]] = {}
    for r in rows:
        found.setdefault(str(r["table_name"]), set()).add(str(r["column_name"]))
    return found


async def columns_sqlite(path: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    async with aiosqlite.connect(path, isolation_level=None) as db:
        await sqlite_migrate(db, str(path))
        async with db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ) as cur:
            tables = [str(r[0]) for r in await cur.fetchall()]
        for table in tables:
            async with db.execute(f"PRAGMA table_info({table})") as cur:
                found[table] = {str(r[1]) for r in await cur.fetchall()}
    return found


async def test_both_dialects_migrate_to_the_same_tables_and_columns(
    migrated: str, tmp_path: Path
) -> None:
    assert await columns_pg(migrated) == await columns_sqlite(tmp_path / "s.db")


async def test_every_named_statement_prepares_against_the_migrated_schema(migrated: str) -> None:
    conn = await asyncpg.connect(migrated)
    try:
        for name, q in queries().items():
            try:
                await conn.prepare(q.sql)
            except asyncpg.PostgresError as exc:
                raise AssertionError(f"{name}: {exc}") from None
    finally:
        await conn.close()
    # the same statements as SQLite's, by name (plus PostgreSQL's few of its own)
    assert set(sqlite_queries()) <= set(queries())


async def test_a_database_without_postie_tables_is_missing_for_a_reader(empty: str) -> None:
    with pytest.raises(StoreMissing, match="no transfer store in postgresql://postie@"):
        async with open_store(empty, create=False):
            pass
    assert await columns_pg(empty) == {}


async def test_a_database_of_a_newer_postie_is_refused(migrated: str) -> None:
    conn = await asyncpg.connect(migrated)
    try:
        await conn.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'x')")
    finally:
        await conn.close()
    with pytest.raises(StoreTooNew, match="schema version 999"):
        async with open_store(migrated):
            pass


# --- statements, location, clock --------------------------------------------------------


def test_named_parameters_become_numbered_ones() -> None:
    q = translate("t", "SELECT :a::bigint, ':not' || :b, :a FROM x WHERE y = 'it''s :c'")
    assert q.sql == "SELECT $1::bigint, ':not' || $2, $1 FROM x WHERE y = 'it''s :c'"
    assert q.params == ("a", "b")
    assert q.args({"b": 2, "a": 1, "extra": 3}) == [1, 2]
    with pytest.raises(TypeError, match="needs the parameter b"):
        q.args({"a": 1})


def test_the_location_never_shows_the_password() -> None:
    assert redact("postgresql://u:s3cret@h:5/db") == "postgresql://u@h:5/db"
    assert redact("postgres://h/db?password=s3cret&sslmode=require") == (
        "postgres://h/db?sslmode=require"
    )
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"


async def test_the_store_clock_is_the_database_server_clock(migrated: str) -> None:
    async with open_store(migrated) as store:
        assert store.path is None
        assert "secret" not in store.location
        conn = await asyncpg.connect(migrated)
        try:
            server = float(await conn.fetchval("SELECT extract(epoch FROM clock_timestamp())"))
        finally:
            await conn.close()
        assert abs(store.now() - server) < 0.5
        # and it follows the server's, not this host's (moved here by a pretend skew)
        store._offset += 3600  # type: ignore[attr-defined]
        assert store.now() - time.time() > 3000
        await store.register_worker("me", name="test")
        assert await store.heartbeat("me")
        assert abs(store.now() - time.time()) < 0.5


# --- many claimers on many connections ----------------------------------------------------


async def test_many_claimers_on_many_connections_never_share_a_job(migrated: str) -> None:
    stores = [open_store(migrated) for _ in range(4)]
    for store in stores:
        await store.__aenter__()
    try:
        ids = set()
        for n in range(300):
            job = await stores[0].enqueue(Path(f"/w/{n}"), relative=str(n), priority=n % 4)
            assert job is not None
            ids.add(job.id)

        async def claimer(store: Store, name: str) -> list[int]:
            got: list[int] = []
            while (job := await store.claim_job(owner=name, lease=60)) is not None:
                got.append(job.id)
            return got

        claimed = await asyncio.gather(
            *(claimer(s, f"w{i}.{n}") for i, s in enumerate(stores) for n in range(3))
        )
    finally:
        for store in stores:
            await store.aclose()
    every = [i for got in claimed for i in got]
    assert sorted(every) == sorted(ids)  # each once, none left
    assert sum(1 for got in claimed if got) >= 4


async def test_two_stores_claiming_one_transfer_one_gets_it(migrated: str) -> None:
    async with open_store(migrated) as one, open_store(migrated) as two:
        tid = await one.create(new_transfer(), owner="a", lease=60)
        await one.release(tid, owner="a")
        results = await asyncio.gather(
            one.claim(tid, owner="x", lease=60),
            two.claim(tid, owner="y", lease=60),
            return_exceptions=True,
        )
        assert sum(r is None for r in results) == 1, results
        held = await one.get(tid)
        assert held is not None
        assert held.lease_owner in ("x", "y")
