"""The SQLite store's own: its migrations, the schema they give, WAL and locking,
file-system bytes, two processes on one file, packaging.

(What every store does is tested against the interface beside this file.)"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, cast

import aiosqlite
import pytest

import postie.store.sqlite.migrate as migrate_module
from postie.errors import FileFailed, StoreError, StoreLocked, StoreMissing, StoreTooNew
from postie.store import default_path, open_store
from postie.store.api import (
    FileProgress,
    NewFile,
)
from postie.store.sqlite import SQLiteStore
from postie.store.sqlite.migrate import latest_version, migrate, migrations, schema_version
from postie.store.sqlite.sql import queries, values
from tests.unit.store.helpers import file_row, must_get, new_transfer

REPO = Path(__file__).resolve().parents[3]


# --- the schema, written out ------------------------------------------------------------------
# Change a migration (or add one) and these must be updated with it: that is the point.


EXPECTED_VERSION = 8


# column: (type, NOT NULL, default as SQL text, position in the primary key (0: not in it))
Columns = dict[str, tuple[str, bool, str | None, int]]


EXPECTED_COLUMNS: dict[str, Columns] = {
    "transfers": {
        "id": ("INTEGER", False, None, 1),
        "name": ("TEXT", True, None, 0),
        "state": ("TEXT", True, "'uploading'", 0),
        "roots": ("TEXT", True, None, 0),
        "roots_key": ("TEXT", True, None, 0),
        "files_key": ("TEXT", True, None, 0),
        "options": ("TEXT", True, None, 0),
        "nzb_path": ("TEXT", False, None, 0),
        "manifest_path": ("TEXT", True, None, 0),
        "manifest_bytes": ("INTEGER", True, "0", 0),
        "lease_owner": ("TEXT", False, None, 0),
        "lease_expires": ("REAL", False, None, 0),
        "last_error": ("TEXT", False, None, 0),
        "created_at": ("REAL", True, None, 0),
        "updated_at": ("REAL", True, None, 0),
        "finished_at": ("REAL", False, None, 0),
        "verify_state": ("TEXT", True, "'pending'", 0),
        "verified_at": ("REAL", False, None, 0),
        "finalize_state": ("TEXT", True, "'pending'", 0),
        "finalize_attempts": ("INTEGER", True, "0", 0),
        "next_finalize_at": ("REAL", False, None, 0),
        "abandoned_at": ("REAL", False, None, 0),
    },
    "transfer_files": {
        "transfer_id": ("INTEGER", True, None, 1),
        "file_id": ("INTEGER", True, None, 2),
        "role": ("TEXT", True, "'data'", 0),
        "source_path": ("BLOB", True, None, 0),
        "name": ("TEXT", True, None, 0),
        "size": ("INTEGER", True, None, 0),
        "mtime_ns": ("INTEGER", True, None, 0),
        "manifest_path": ("TEXT", True, None, 0),
        "article_count": ("INTEGER", True, None, 0),
        "acked": ("INTEGER", True, "0", 0),
        "upload_state": ("TEXT", True, "'pending'", 0),
        "verify_state": ("TEXT", True, "'pending'", 0),
        "next_check_at": ("REAL", False, None, 0),
        "cleanup": ("TEXT", True, "'keep'", 0),
        "last_error": ("TEXT", False, None, 0),
        "updated_at": ("REAL", True, None, 0),
        "check_owner": ("TEXT", False, None, 0),
        "checked_at": ("REAL", False, None, 0),
        "check_expires": ("REAL", False, None, 0),
    },
    "accepted_ids": {
        "transfer_id": ("INTEGER", True, None, 1),
        "file_id": ("INTEGER", True, None, 2),
        "part": ("INTEGER", True, None, 3),
        "message_id": ("TEXT", True, None, 0),
    },
    "jobs": {
        "id": ("INTEGER", False, None, 1),
        "path": ("TEXT", True, None, 0),
        "root": ("TEXT", False, None, 0),
        "relative": ("TEXT", True, None, 0),
        "output": ("TEXT", False, None, 0),
        "priority": ("INTEGER", True, "0", 0),
        "size": ("INTEGER", True, "0", 0),
        "files": ("INTEGER", True, "0", 0),
        "state": ("TEXT", True, "'queued'", 0),
        "attempts": ("INTEGER", True, "0", 0),
        "next_attempt_at": ("REAL", True, "0", 0),
        "transfer_id": ("INTEGER", False, None, 0),
        "lease_owner": ("TEXT", False, None, 0),
        "lease_expires": ("REAL", False, None, 0),
        "last_error": ("TEXT", False, None, 0),
        "created_at": ("REAL", True, None, 0),
        "started_at": ("REAL", False, None, 0),
        "finished_at": ("REAL", False, None, 0),
        "updated_at": ("REAL", True, None, 0),
    },
    "manifest_frames": {
        "manifest": ("TEXT", True, None, 1),
        "byte_offset": ("INTEGER", True, None, 2),
        "data": ("BLOB", True, None, 0),
    },
    "queue_settings": {
        "key": ("TEXT", True, None, 1),
        "value": ("TEXT", True, None, 0),
    },
    "workers": {
        "owner": ("TEXT", True, None, 1),
        "host": ("TEXT", True, None, 0),
        "pid": ("INTEGER", True, None, 0),
        "process_start": ("INTEGER", False, None, 0),
        "name": ("TEXT", True, None, 0),
        "started_at": ("REAL", True, None, 0),
        "heartbeat_at": ("REAL", True, None, 0),
        "instance": ("TEXT", False, None, 0),
    },
    "job_deferrals": {
        "job_id": ("INTEGER", True, None, 1),
        "instance": ("TEXT", True, None, 2),
        "reason": ("TEXT", True, None, 0),
        "deferred_at": ("REAL", True, None, 0),
        "deferred_until": ("REAL", True, None, 0),
    },
    "verification_failures": {
        "transfer_id": ("INTEGER", True, None, 1),
        "file_id": ("INTEGER", True, None, 2),
        "part": ("INTEGER", True, None, 3),
        "message_id": ("TEXT", True, None, 0),
        "state": ("TEXT", True, "'pending'", 0),
        "repost_count": ("INTEGER", True, "0", 0),
        "check_count": ("INTEGER", True, "1", 0),
        "next_attempt_at": ("REAL", True, None, 0),
        "lease_owner": ("TEXT", False, None, 0),
        "lease_expires": ("REAL", False, None, 0),
        "last_error": ("TEXT", False, None, 0),
        "created_at": ("REAL", True, None, 0),
        "updated_at": ("REAL", True, None, 0),
    },
}


# table -> (referenced table, ((from, to), ...), ON DELETE)
EXPECTED_FOREIGN_KEYS: dict[str, list[tuple[str, tuple[tuple[str, str], ...], str]]] = {
    "transfers": [],
    "jobs": [("transfers", (("transfer_id", "id"),), "SET NULL")],
    "queue_settings": [],
    "workers": [],
    "job_deferrals": [("jobs", (("job_id", "id"),), "CASCADE")],
    "transfer_files": [("transfers", (("transfer_id", "id"),), "CASCADE")],
    "accepted_ids": [
        (
            "transfer_files",
            (("transfer_id", "transfer_id"), ("file_id", "file_id")),
            "CASCADE",
        )
    ],
    "verification_failures": [
        (
            "transfer_files",
            (("transfer_id", "transfer_id"), ("file_id", "file_id")),
            "CASCADE",
        )
    ],
}


# name -> (table, columns, unique)
EXPECTED_INDEXES = {
    "transfers_by_roots": ("transfers", ("roots_key", "state"), False),
    "verification_failures_due": (
        "verification_failures",
        ("state", "next_attempt_at"),
        False,
    ),
    "transfer_files_due": ("transfer_files", ("next_check_at",), False),
    "transfers_to_finalize": ("transfers", ("verify_state", "finalize_state"), False),
    "jobs_active_path": ("jobs", ("path",), True),
    "jobs_next": ("jobs", ("state", "priority", "id"), False),
    "transfer_files_by_check_owner": ("transfer_files", ("check_owner",), False),
    "verification_failures_by_owner": ("verification_failures", ("lease_owner",), False),
}


# Tables whose primary key is the table itself.
EXPECTED_WITHOUT_ROWID = {
    "transfer_files",
    "accepted_ids",
    "verification_failures",
    "queue_settings",
    "workers",
    "job_deferrals",
    "manifest_frames",
}


# Values the CHECK constraints must refuse: (table, column, bad value).
BAD_VALUES = [
    ("transfers", "state", "done"),
    ("transfers", "verify_state", "checked"),
    ("transfers", "finalize_state", "finalizing"),
    ("transfer_files", "role", "index"),
    ("transfer_files", "upload_state", "uploading"),
    ("transfer_files", "verify_state", "checked"),
    ("transfer_files", "cleanup", "shred"),
    ("verification_failures", "state", "found"),
    ("jobs", "state", "paused"),
]


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection (another process, as far as the store can tell)."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        yield db
    finally:
        db.close()


def user_version(path: Path) -> int:
    with connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def table_names(db: sqlite3.Connection) -> set[str]:
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {str(r[0]) for r in rows if not str(r[0]).startswith("sqlite_")}


async def apply_migrations(path: Path) -> int:
    async with aiosqlite.connect(path, isolation_level=None) as db:
        return await migrate(db, str(path))


@pytest.fixture
async def migrated(tmp_path: Path) -> Path:
    path = tmp_path / "schema.db"
    assert await apply_migrations(path) == 0
    return path


def test_migrations_are_every_numbered_file_of_the_folder_in_order() -> None:
    # SQLite's: the shared NNNN_name.sql files (today every version has a .pg.sql beside)
    on_disk = sorted(
        p.name for p in (REPO / "migrations").iterdir() if re.match(r"^\d{4}_[\w-]+\.sql$", p.name)
    )
    found = migrations()
    assert [m.name for m in found] == on_disk
    assert [m.version for m in found] == list(range(1, len(on_disk) + 1))
    assert latest_version() == len(on_disk) == EXPECTED_VERSION
    for m in found:
        assert m.sql == (REPO / "migrations" / m.name).read_text("utf-8")


async def test_migrated_tables_and_columns(migrated: Path) -> None:
    with connect(migrated) as db:
        assert table_names(db) == set(EXPECTED_COLUMNS)
        for table, expected in EXPECTED_COLUMNS.items():
            rows = db.execute(f"PRAGMA table_xinfo({table})").fetchall()
            got = {
                str(name): (str(type_), bool(notnull), default, int(pk))
                for _, name, type_, notnull, default, pk, hidden in rows
                if hidden == 0
            }
            assert list(got) == list(expected), table  # names and their order
            assert got == expected, table


async def test_migrated_foreign_keys(migrated: Path) -> None:
    with connect(migrated) as db:
        for table, expected in EXPECTED_FOREIGN_KEYS.items():
            rows = db.execute(f"PRAGMA foreign_key_list({table})").fetchall()
            keys: dict[int, tuple[str, list[tuple[str, str]], str]] = {}
            for key_id, _seq, parent, child_col, parent_col, _on_update, on_delete, _m in rows:
                entry = keys.setdefault(int(key_id), (str(parent), [], str(on_delete)))
                entry[1].append((str(child_col), str(parent_col)))
            got = [(parent, tuple(cols), on_delete) for parent, cols, on_delete in keys.values()]
            assert got == expected, table


async def test_migrated_indexes(migrated: Path) -> None:
    with connect(migrated) as db:
        rows = db.execute(
            "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'"
            " AND name NOT LIKE 'sqlite_autoindex_%'"
        ).fetchall()
        assert {str(name) for name, _ in rows} == set(EXPECTED_INDEXES)
        for name, (table, columns, unique) in EXPECTED_INDEXES.items():
            assert dict(rows)[name] == table
            got = tuple(str(r[2]) for r in db.execute(f"PRAGMA index_info({name})").fetchall())
            assert got == columns
            listed = {str(r[1]): bool(r[2]) for r in db.execute(f"PRAGMA index_list({table})")}
            assert listed[name] is unique


async def test_migrated_without_rowid_tables(migrated: Path) -> None:
    with connect(migrated) as db:
        for table in EXPECTED_COLUMNS:
            try:
                db.execute(f"SELECT rowid FROM {table}").fetchall()
                has_rowid = True
            except sqlite3.OperationalError:
                has_rowid = False
            assert has_rowid is (table not in EXPECTED_WITHOUT_ROWID), table


async def test_migrated_user_version_is_the_latest(migrated: Path) -> None:
    assert user_version(migrated) == latest_version() == EXPECTED_VERSION
    async with aiosqlite.connect(migrated) as db:
        assert await schema_version(db) == EXPECTED_VERSION


@pytest.mark.parametrize(("table", "column", "bad"), BAD_VALUES)
async def test_migrated_check_constraints(
    migrated: Path, table: str, column: str, bad: str
) -> None:
    async with SQLiteStore(migrated) as store:
        tid = await store.create(new_transfer(), owner="a", lease=60)
        await store.record_misses(tid, 1, [(1, "m@x")], next_attempt_at=0)
        job = await store.enqueue(Path("/x"), relative="x")
        assert job is not None
        if table == "jobs":
            tid = job.id
    with connect(migrated) as db:
        where = "id = ?" if table in ("transfers", "jobs") else "transfer_id = ? AND file_id = 1"
        with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
            db.execute(f"UPDATE {table} SET {column} = ? WHERE {where}", (bad, tid))


async def test_every_named_query_compiles_against_the_migrated_schema(migrated: Path) -> None:
    assert len(queries()) >= 10
    with connect(migrated) as db:
        for name, sql in queries().items():
            assert not sql.endswith(";"), name
            rows = re.search(r"\(([^()]*)\)\s*VALUES$", sql)
            if rows is not None:  # a multi-row insert: the store adds the value groups
                width = len(rows.group(1).split(","))
                db.execute(f"EXPLAIN {values(name, 2, width)}", [None] * 2 * width)
                continue
            params = dict.fromkeys(re.findall(r":(\w+)", sql))
            db.execute(f"EXPLAIN {sql}", params)  # no such table / column would raise
            assert sql, name
            assert not sql.endswith(";"), name


async def test_migrate_returns_the_version_it_found_and_applies_nothing_twice(
    tmp_path: Path,
) -> None:
    path = tmp_path / "twice.db"
    assert await apply_migrations(path) == 0
    with connect(path) as db:
        schema_cookie = db.execute("PRAGMA schema_version").fetchone()[0]
    assert await apply_migrations(path) == EXPECTED_VERSION
    with connect(path) as db:
        assert db.execute("PRAGMA schema_version").fetchone()[0] == schema_cookie


async def test_opening_a_store_twice_keeps_data_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    async with SQLiteStore(path) as store:
        tid = await store.create(new_transfer(), owner="a", lease=60)
    with connect(path) as db:
        schema_cookie = db.execute("PRAGMA schema_version").fetchone()[0]
    async with SQLiteStore(path) as store:
        got = await store.get(tid)
        assert got is not None
        assert got.name == "job"
    with connect(path) as db:
        assert db.execute("PRAGMA schema_version").fetchone()[0] == schema_cookie
    assert user_version(path) == EXPECTED_VERSION


async def test_store_written_by_a_newer_postie_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    newer = latest_version() + 5
    with connect(path) as db:
        db.execute(f"PRAGMA user_version = {newer}")
    store = SQLiteStore(path)
    async with closing(store):
        with pytest.raises(StoreTooNew) as info:
            await store.open()
        with pytest.raises(StoreError, match="not open"):  # open() closed what it opened
            _ = store.db
    message = str(info.value)
    assert str(path) in message
    assert f"schema version {newer}" in message
    assert f"({latest_version()})" in message
    # Refused, never touched: still the newer version, no tables, and the store is closed.
    assert user_version(path) == newer
    with connect(path) as db:
        assert table_names(db) == set()


@asynccontextmanager
async def closing(store: SQLiteStore) -> AsyncIterator[SQLiteStore]:
    """Close the store however the test ends (an open one keeps pytest from exiting)."""
    try:
        yield store
    finally:
        await store.aclose()


async def open_and_close(path: Path) -> None:
    async with closing(SQLiteStore(path)) as store:
        await store.open()


def write_migrations(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir()
    for name, sql in files.items():
        (folder / name).write_text(sql, "utf-8")
    return folder


def test_gap_in_migrations_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_a.sql": "CREATE TABLE a (x INTEGER);\n",
            "0003_c.sql": "CREATE TABLE c (x INTEGER);\n",
            "README.md": "not a migration",
        },
    )
    monkeypatch.setattr(migrate_module, "_folder", lambda: folder)
    with pytest.raises(StoreError, match=r"out of sequence at 0003_c\.sql \(expected 2\)"):
        migrations()


def test_duplicate_migration_number_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {"0001_a.sql": "CREATE TABLE a (x INTEGER);\n", "0001_b.sql": "SELECT 1;\n"},
    )
    monkeypatch.setattr(migrate_module, "_folder", lambda: folder)
    with pytest.raises(StoreError, match="out of sequence"):
        migrations()


def test_non_migration_files_are_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {"0001_a.sql": "SELECT 1;\n", "README.md": "x", "0002.sql": "x", "notes_0002_b.sql": "x"},
    )
    monkeypatch.setattr(migrate_module, "_folder", lambda: folder)
    assert [m.name for m in migrations()] == ["0001_a.sql"]
    assert latest_version() == 1


async def test_failing_migration_leaves_the_previous_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_a.sql": "-- one; with a semicolon in a comment\nCREATE TABLE a (x INTEGER);\n",
            "0002_b.sql": "CREATE TABLE b (x INTEGER);\nINSERT INTO missing VALUES (1);\n",
        },
    )
    monkeypatch.setattr(migrate_module, "_folder", lambda: folder)
    path = tmp_path / "partial.db"
    with pytest.raises(StoreError, match="no such table: missing") as info:
        await open_and_close(path)
    assert str(path) in str(info.value)
    assert user_version(path) == 1
    with connect(path) as db:
        assert table_names(db) == {"a"}  # 0002 rolled back whole: no table b


async def test_incomplete_statement_at_the_end_of_a_migration_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_migrations(
        tmp_path / "m", {"0001_a.sql": "CREATE TABLE a (x INTEGER);\nCREATE TABLE b (x\n"}
    )
    monkeypatch.setattr(migrate_module, "_folder", lambda: folder)
    path = tmp_path / "bad.db"
    with pytest.raises(StoreError, match="incomplete SQL statement"):
        await open_and_close(path)
    assert user_version(path) == 0


async def test_0005_gives_a_scan_leased_before_it_its_own_expiry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before 0005 a scan's lease ran out at next_check_at; after it, check_expires
    holds that and next_check_at is when the scan is due (the same moment here)."""
    before = write_migrations(
        tmp_path / "m", {m.name: m.sql for m in migrations() if m.version <= 4}
    )
    path = tmp_path / "old.db"
    with monkeypatch.context() as patch:
        patch.setattr(migrate_module, "_folder", lambda: before)
        async with SQLiteStore(path) as store:
            tid = await store.create(new_transfer(), owner="a", lease=60)
    with connect(path) as db:
        db.execute(
            "UPDATE transfer_files SET check_owner = 'w', next_check_at = 123.5"
            " WHERE transfer_id = ? AND file_id = 1",
            (tid,),
        )
    async with SQLiteStore(path) as store:
        leased, *others = await store.files(tid)
        assert (leased.check_owner, leased.check_expires, leased.next_check_at) == (
            "w",
            123.5,
            123.5,
        )
        assert all(f.check_expires is None for f in others)
    assert user_version(path) == EXPECTED_VERSION


async def test_two_processes_opening_a_new_store_at_once_both_succeed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "race.db"
    real = migrate_module.schema_version
    raced = False

    async def version_then_another_process_migrates(db: aiosqlite.Connection) -> int:
        nonlocal raced
        version = await real(db)
        if not raced:
            raced = True
            async with SQLiteStore(path):  # "another process" opens the store meanwhile
                pass
        return version

    monkeypatch.setattr(migrate_module, "schema_version", version_then_another_process_migrates)
    async with SQLiteStore(path) as store:
        assert await store.last_unfinished() is None
    assert raced


# --- the SQLite store ----------------------------------------------------------------------------


@pytest.fixture  # the SQLite store alone (not the conftest's, over every implementation)
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    async with SQLiteStore(tmp_path / "postie.db", busy_timeout=0.2) as opened:
        yield opened


def test_default_path_is_under_xdg_data_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_path() == tmp_path / "postie" / "postie.db"
    monkeypatch.setenv("XDG_DATA_HOME", "")
    assert default_path() == Path.home() / ".local" / "share" / "postie" / "postie.db"


async def test_open_makes_the_folder_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "postie.db"
    async with SQLiteStore(path):
        pass
    with connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert user_version(path) == EXPECTED_VERSION


def exists(path: Path) -> bool:
    return path.exists()


async def test_without_create_a_missing_store_is_named_and_not_made(tmp_path: Path) -> None:
    path = tmp_path / "typo" / "postie.db"
    with pytest.raises(StoreMissing, match=f"no transfer store at {path}"):
        async with open_store(path, create=False):
            pass
    async with open_store(path, in_memory=True) as store:
        assert await store.jobs() == ()
        assert store.location == str(path)
    assert not exists(path.parent)
    async with open_store(path):
        pass
    async with open_store(path, create=False) as store:  # there now: opened as usual
        assert await store.jobs() == ()


async def test_a_store_that_cannot_be_opened_leaves_no_thread_running(tmp_path: Path) -> None:
    """aiosqlite stops its thread when a connect fails; the error comes once it stopped
    (otherwise the thread may find the event loop closed)."""
    path = tmp_path / "postie.db"
    path.symlink_to(tmp_path / "gone" / "postie.db")
    before = set(threading.enumerate())
    with pytest.raises(StoreError, match="unable to open database file"):
        async with open_store(path):
            pass
    left = set(threading.enumerate()) - before
    assert [t for t in left if not t.name.startswith("asyncio_")] == []  # the executor's stay
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(StoreError, match=f"the transfer store {folder} is a folder"):
        async with open_store(folder):
            pass


async def test_source_path_is_stored_as_the_file_system_bytes(
    store: SQLiteStore, tmp_path: Path
) -> None:
    tid = await store.create(new_transfer(), owner="me", lease=60)
    with connect(tmp_path / "postie.db") as db:
        raw = db.execute(
            "SELECT source_path FROM transfer_files WHERE transfer_id = ? AND file_id = 2", (tid,)
        ).fetchone()[0]
    assert raw == b"/tmp/\xff odd.bin"


async def test_write_while_another_process_holds_the_lock(
    store: SQLiteStore, tmp_path: Path
) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=60)
    with connect(tmp_path / "postie.db") as other:
        other.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        with pytest.raises(StoreLocked) as info:
            await store.checkpoint(
                tid, owner="a", lease=60, manifest_bytes=0, files=[FileProgress(1, 1)]
            )
        assert time.monotonic() - started < 5
        message = str(info.value)
        assert str(tmp_path / "postie.db") in message
        assert "locked by another process" in message
        with pytest.raises(StoreLocked):
            await store.create(new_transfer(), owner="a", lease=60)
        # readers are not blocked (WAL)
        assert (await must_get(store, tid)).name == "job"
        other.execute("ROLLBACK")
    await store.checkpoint(tid, owner="a", lease=60, manifest_bytes=0, files=[FileProgress(1, 1)])
    assert (await file_row(store, tid, 1)).acked == 1


async def test_deleting_a_transfer_leaves_no_rows_of_it(store: SQLiteStore, tmp_path: Path) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=60)
    await store.checkpoint(
        tid, owner="a", lease=60, manifest_bytes=0, files=[], accepted=[(1, 1, "x")]
    )
    await store.record_misses(tid, 1, [(1, "a@x")], next_attempt_at=0)
    await store.delete(tid)
    with connect(tmp_path / "postie.db") as db:
        for table in ("transfer_files", "accepted_ids", "verification_failures"):
            assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0, table


async def test_the_database_refuses_two_active_jobs_of_one_path(
    store: SQLiteStore, tmp_path: Path
) -> None:
    assert await store.enqueue(Path("/w/a"), relative="a") is not None
    with connect(tmp_path / "postie.db") as db, pytest.raises(sqlite3.IntegrityError):
        db.execute(
            "INSERT INTO jobs (path, relative, created_at, updated_at) VALUES ('/w/a', 'a', 0, 0)"
        )


# --- two processes claiming from one file ---------------------------------------------------


_CLAIMER = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from pathlib import Path
    from postie.store import open_store

    async def main() -> None:
        claimed = []
        async with open_store(Path(sys.argv[1]), busy_timeout=30) as store:
            await asyncio.sleep(max(0.0, float(sys.argv[4]) - time.time()))  # start together
            while True:
                batch = await store.claim_failures(owner=sys.argv[2], lease=3600, limit=7)
                if not batch:
                    break
                claimed.extend(f.part for f in batch)
                await asyncio.sleep(0.003)  # work on the batch: the other one claims meanwhile
        Path(sys.argv[3]).write_text(json.dumps(claimed))

    asyncio.run(main())
    """
)


def _race(db: Path, outputs: list[Path]) -> list[set[int]]:
    """Two processes claim batches from the same store until nothing is left."""
    start = str(time.time() + 2.0)  # both processes are up by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIMER, str(db), f"worker{i}", str(out), start], cwd=REPO
        )
        for i, out in enumerate(outputs, start=1)
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    return [set(json.loads(out.read_text())) for out in outputs]


async def test_two_processes_never_hold_the_same_row(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    async with open_store(db) as store:
        tid = await store.create(new_transfer(), owner="a", lease=60)
        await store.record_misses(
            tid, 1, [(part, f"{part}@x") for part in range(1, 601)], next_attempt_at=0
        )
    first, second = _race(db, [tmp_path / "w1.json", tmp_path / "w2.json"])
    assert not first & second, f"{len(first & second)} rows were claimed by both"
    assert first | second == set(range(1, 601))
    assert first
    assert second, "one process claimed everything: the test did not race"


# --- TransferRun.checkpoint: what a failed store write did not save is saved next time ------------


def run_over(store: SQLiteStore, tid: int, tmp_path: Path, states: tuple[Any, ...]) -> Any:
    """A TransferRun of transfer ``tid`` whose job is just these file states (one tally)."""
    from postie.manifest import ManifestWriter
    from postie.runtime.engine import PostingJob
    from postie.transfers.prepared import Prepared
    from postie.transfers.run import TransferRun

    prepared = cast(Any, Prepared)(
        transfer_id=tid,
        name="job",
        plan=None,
        posting=None,
        nzb=None,
        targets={},
        manifest_path=tmp_path / "job.manifest",
        writer=ManifestWriter(tmp_path / "job.manifest", 0),
        recorded={},
        watermarks={},
    )
    run = TransferRun(cast(Any, None), store, prepared, owner="me")
    job = type("Job", (), {"states": states, "tally": states[0].tally})
    run.job = cast(PostingJob, cast(Any, job))
    return run


async def test_run_checkpoint_keeps_accepted_ids_when_the_store_write_fails(
    store: SQLiteStore, tmp_path: Path
) -> None:
    from postie.article.plan import FilePlan, Segment
    from postie.runtime.state import FileState

    tid = await store.create(new_transfer(), owner="me", lease=60)
    plan = FilePlan(
        1,
        "/data/a.bin",
        "a.bin",
        40,
        11,
        tuple(Segment(n, (n - 1) * 10, 10, f"{n}@planned") for n in range(1, 5)),
    )
    state = FileState(plan=plan, pending=(1, 2, 3, 4), crcs=[None] * 4, sizes=[0] * 4)
    run = run_over(store, tid, tmp_path, (state,))

    # Part 2 is acknowledged under a Message-ID the server rewrote, as the engine records it.
    state.rewritten(2, "rewritten@server")
    state.ack(1)
    state.ack(2)
    with connect(tmp_path / "postie.db") as other:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreLocked):
            await run.checkpoint()
        other.execute("ROLLBACK")
    await run.checkpoint()  # the lock is gone: this one is saved

    assert (await file_row(store, tid, 1)).acked == 2
    assert await store.accepted_ids(tid) == {(1, 2): "rewritten@server"}


async def test_run_checkpoint_writes_only_the_files_that_changed(
    store: SQLiteStore, tmp_path: Path
) -> None:

    from postie.article.plan import FilePlan, Segment
    from postie.runtime.state import FileState, Tally

    files = tuple(NewFile(i, Path(f"/data/{i}.bin"), f"{i}.bin", 20, i, 2) for i in range(1, 6))
    tid = await store.create(new_transfer(files=files), owner="me", lease=60)
    tally = Tally()
    states = tuple(
        FileState(
            plan=FilePlan(
                i,
                f"/data/{i}.bin",
                f"{i}.bin",
                20,
                i,
                tuple(Segment(n, (n - 1) * 10, 10, f"{i}.{n}@planned") for n in (1, 2)),
            ),
            pending=(1, 2),
            crcs=[None] * 2,
            sizes=[0] * 2,
            tally=tally,
        )
        for i in range(1, 6)
    )
    run = run_over(store, tid, tmp_path, states)
    written: list[list[int]] = []
    real = store.checkpoint

    async def recording(*args: Any, **kwargs: Any) -> None:
        written.append([f.file_id for f in kwargs["files"]])
        await real(*args, **kwargs)

    store.checkpoint = recording  # type: ignore[method-assign]
    await run.checkpoint()  # nothing moved
    states[1].ack(1)
    states[1].part_done()
    await run.checkpoint()
    await run.checkpoint()  # nothing moved since
    states[1].ack(2)
    states[1].part_done()
    states[4].fail(FileFailed("5.bin: refused"))
    await run.checkpoint()
    assert written == [[], [2], [], [2, 5]]
    rows = {r.file_id: (r.acked, r.upload_state) for r in await store.files(tid)}
    assert rows == {
        1: (0, "pending"),
        2: (2, "uploaded"),
        3: (0, "pending"),
        4: (0, "pending"),
        5: (0, "failed"),
    }


# --- packaging ------------------------------------------------------------------------------------


def test_the_store_sql_files_are_package_data() -> None:
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))
    package_data: dict[str, list[str]] = (
        config.get("tool", {}).get("setuptools", {}).get("package-data", {})
    )
    bases = {"": REPO / "postie", "*": REPO / "postie", "postie": REPO / "postie"}
    bases["postie.store"] = REPO / "postie" / "store"
    shipped: set[Path] = set()
    for package, patterns in package_data.items():
        base = bases.get(package)
        if base is not None:
            for pattern in patterns:
                shipped.update(p.resolve() for p in base.glob(pattern) if p.is_file())
    needed = {(REPO / "postie" / "store" / "sqlite" / "queries.sql").resolve()}
    needed |= {(REPO / "migrations" / m.name).resolve() for m in migrations()}
    assert needed <= shipped, sorted(str(p) for p in needed - shipped)
