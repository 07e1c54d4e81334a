"""Tests for postie.store: the migrations, the schema they give, and SQLiteStore."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import socket
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, cast

import aiosqlite
import pytest

import postie.store.sqlite.migrate as migrate_module
from postie.errors import FileFailed, StoreError, StoreLocked, StoreTooNew, TransferBusy
from postie.store import default_path
from postie.store import lease as lease_module
from postie.store.api import (
    FileProgress,
    FileRole,
    NewFile,
    NewTransfer,
    Transfer,
    TransferFile,
    TransferState,
    UploadState,
)
from postie.store.sqlite import SQLiteStore
from postie.store.sqlite.migrate import latest_version, migrate, migrations, schema_version
from postie.store.sqlite.sql import queries, values
from postie.store.sqlite.transfers import FILES_PER_INSERT

REPO = Path(__file__).resolve().parents[2]
ODD_PATH = Path(os.fsdecode(b"/tmp/\xff odd.bin"))  # not UTF-8: must round-trip as bytes

# --- the schema, written out ------------------------------------------------------------------
# Change a migration (or add one) and these must be updated with it: that is the point.

EXPECTED_VERSION = 4

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
    "queue_settings": {
        "key": ("TEXT", True, None, 1),
        "value": ("TEXT", True, None, 0),
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
}

# Tables whose primary key is the table itself.
EXPECTED_WITHOUT_ROWID = {
    "transfer_files",
    "accepted_ids",
    "verification_failures",
    "queue_settings",
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


# --- migrations -------------------------------------------------------------------------------


def test_migrations_are_every_numbered_file_of_the_folder_in_order() -> None:
    on_disk = sorted(
        p.name for p in (REPO / "migrations").iterdir() if re.match(r"^\d{4}_.*\.sql$", p.name)
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


# --- SQLiteStore ------------------------------------------------------------------------------


def new_transfer(
    name: str = "job",
    roots_key: str = "roots-1",
    files: tuple[NewFile, ...] | None = None,
) -> NewTransfer:
    if files is None:
        files = (
            NewFile(1, Path("/data/a.bin"), "a.bin", 1000, 11, 2),
            NewFile(2, ODD_PATH, "\\xff odd.bin", 2500, 22, 3),
            NewFile(3, Path("/data/a.par2"), "a.par2", 40, 33, 1, role=FileRole.PAR2),
        )
    return NewTransfer(
        name=name,
        roots=("/data", "/tmp/x"),
        roots_key=roots_key,
        files_key="files-1",
        options={"groups": ["alt.binaries.test"], "article_size": 716800},
        nzb_path=None,
        manifest_path=Path("/state/job.manifest"),
        files=files,
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    async with SQLiteStore(tmp_path / "postie.db", busy_timeout=0.2) as opened:
        yield opened


async def must_get(store: SQLiteStore, tid: int) -> Transfer:
    got = await store.get(tid)
    assert got is not None
    return got


async def file_row(store: SQLiteStore, tid: int, file_id: int) -> TransferFile:
    (row,) = [f for f in await store.files(tid) if f.file_id == file_id]
    return row


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def live_pid() -> Iterator[int]:
    """The pid of a process of this host that runs for the whole test."""
    proc = subprocess.Popen(["sleep", "60"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def owner(pid: int, start: str = "?") -> str:
    """An owner string as lease.new_owner() builds it, for any pid."""
    return f"{socket.gethostname()}/{pid}/{start}/0badc0de"


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


async def test_closed_store_raises_store_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "postie.db")
    await store.open()
    await store.aclose()
    with pytest.raises(StoreError, match="not open"):
        await store.get(1)


async def test_never_opened_store_raises_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not open"):
        await SQLiteStore(tmp_path / "postie.db").get(1)


async def test_create_records_transfer_and_files(store: SQLiteStore) -> None:
    before = time.time()
    tid = await store.create(new_transfer(), owner="me", lease=60)
    after = time.time()

    transfer = await must_get(store, tid)
    assert isinstance(transfer, Transfer)
    assert (transfer.id, transfer.name, transfer.state) == (tid, "job", "uploading")
    assert transfer.roots == ("/data", "/tmp/x")
    assert (transfer.roots_key, transfer.files_key) == ("roots-1", "files-1")
    assert transfer.options == {"groups": ["alt.binaries.test"], "article_size": 716800}
    assert transfer.nzb_path is None
    assert transfer.manifest_path == Path("/state/job.manifest")
    assert transfer.manifest_bytes == 0
    assert transfer.lease_owner == "me"
    assert transfer.lease_expires is not None
    assert before + 60 <= transfer.lease_expires <= after + 60
    assert before <= transfer.created_at == transfer.updated_at <= after
    assert transfer.finished_at is None
    assert transfer.last_error is None
    assert transfer.unfinished
    with pytest.raises(dataclasses.FrozenInstanceError):
        transfer.name = "other"  # type: ignore[misc]

    files = await store.files(tid)
    assert all(isinstance(f, TransferFile) for f in files)
    assert [f.file_id for f in files] == [1, 2, 3]
    assert [f.source_path for f in files] == [Path("/data/a.bin"), ODD_PATH, Path("/data/a.par2")]
    assert os.fsencode(files[1].source_path) == b"/tmp/\xff odd.bin"
    assert [f.name for f in files] == ["a.bin", "\\xff odd.bin", "a.par2"]
    assert [f.role for f in files] == ["data", "data", "par2"]
    assert [(f.size, f.mtime_ns, f.article_count) for f in files] == [
        (1000, 11, 2),
        (2500, 22, 3),
        (40, 33, 1),
    ]
    for f in files:
        assert f.transfer_id == tid
        assert f.manifest_path == Path("/state/job.manifest")
        assert (f.acked, f.upload_state, f.verify_state, f.cleanup) == (
            0,
            "pending",
            "pending",
            "keep",
        )
        assert f.next_check_at is None
        assert f.last_error is None
    assert await store.accepted_ids(tid) == {}


async def test_source_path_is_stored_as_the_file_system_bytes(
    store: SQLiteStore, tmp_path: Path
) -> None:
    tid = await store.create(new_transfer(), owner="me", lease=60)
    with connect(tmp_path / "postie.db") as db:
        raw = db.execute(
            "SELECT source_path FROM transfer_files WHERE transfer_id = ? AND file_id = 2", (tid,)
        ).fetchone()[0]
    assert raw == b"/tmp/\xff odd.bin"


async def test_create_is_one_transaction(store: SQLiteStore) -> None:
    files = (
        NewFile(1, Path("/a"), "a", 1, 1, 1),
        NewFile(1, Path("/b"), "b", 1, 1, 1),  # the same file id twice: the insert fails
    )
    with pytest.raises(StoreError, match="record a new transfer failed") as info:
        await store.create(new_transfer(files=files), owner="me", lease=60)
    assert not isinstance(info.value, StoreLocked)
    assert await store.summaries() == ()
    assert await store.last_unfinished() is None
    # and the store is still usable (the transaction was rolled back, not left open)
    tid = await store.create(new_transfer(), owner="me", lease=60)
    assert len(await store.files(tid)) == 3


async def test_get_missing_transfer_is_none(store: SQLiteStore) -> None:
    assert await store.get(42) is None
    assert await store.files(42) == ()


async def test_unfinished_and_last_unfinished(store: SQLiteStore) -> None:
    assert await store.last_unfinished() is None
    first = await store.create(new_transfer("one", roots_key="k1"), owner="me", lease=60)
    second = await store.create(new_transfer("two", roots_key="k1"), owner="me", lease=60)
    other = await store.create(new_transfer("three", roots_key="k2"), owner="me", lease=60)

    assert [t.id for t in await store.unfinished("k1")] == [second, first]  # newest first
    assert [t.id for t in await store.unfinished("k2")] == [other]
    assert await store.unfinished("nope") == ()
    last = await store.last_unfinished()
    assert last is not None
    assert last.id == other

    await store.finish(other, state=TransferState.UPLOADED)
    await store.finish(second, state=TransferState.INCOMPLETE, error="2 files failed")
    assert [t.id for t in await store.unfinished("k1")] == [second, first]  # incomplete counts
    assert await store.unfinished("k2") == ()
    last = await store.last_unfinished()
    assert last is not None
    assert last.id == second
    await store.finish(second, state=TransferState.UPLOADED)
    await store.finish(first, state=TransferState.UPLOADED)
    assert await store.last_unfinished() is None
    assert await store.unfinished("k1") == ()


async def test_summaries(store: SQLiteStore) -> None:
    empty = await store.create(new_transfer("empty", files=()), owner="me", lease=60)
    full = await store.create(new_transfer("full"), owner="me", lease=60)
    await store.checkpoint(
        full,
        owner="me",
        lease=60,
        manifest_bytes=0,
        files=[FileProgress(1, 2, UploadState.UPLOADED), FileProgress(3, 1, UploadState.UPLOADED)],
    )
    summaries = await store.summaries()
    assert [s.transfer.id for s in summaries] == [full, empty]  # newest first
    s_full, s_empty = summaries
    assert s_full.transfer.name == "full"
    assert (s_full.files, s_full.bytes, s_full.articles, s_full.uploaded_files) == (
        3,
        1000 + 2500 + 40,
        2 + 3 + 1,
        2,
    )
    assert (s_empty.files, s_empty.bytes, s_empty.articles, s_empty.uploaded_files) == (0, 0, 0, 0)
    assert [s.transfer.id for s in await store.summaries(limit=1)] == [full]


async def test_claim_while_the_lease_is_live_is_busy(store: SQLiteStore) -> None:
    a = lease_module.new_owner()
    b = lease_module.new_owner()
    assert a != b
    tid = await store.create(new_transfer(), owner=a, lease=60)
    with pytest.raises(TransferBusy) as info:
        await store.claim(tid, owner=b, lease=60)
    assert a in str(info.value)
    assert f"transfer {tid}" in str(info.value)
    assert (await must_get(store, tid)).lease_owner == a
    # the holder itself may claim again (renewing)
    await store.claim(tid, owner=a, lease=120)
    assert (await must_get(store, tid)).lease_owner == a


async def test_claim_after_the_lease_expired(store: SQLiteStore) -> None:
    a = lease_module.new_owner()
    b = lease_module.new_owner()
    tid = await store.create(new_transfer(), owner=a, lease=0.01)
    await asyncio.sleep(0.05)
    before = time.time()
    await store.claim(tid, owner=b, lease=60)
    transfer = await must_get(store, tid)
    assert transfer.lease_owner == b
    assert transfer.lease_expires is not None
    assert transfer.lease_expires >= before + 60
    with pytest.raises(TransferBusy):
        await store.claim(tid, owner=a, lease=60)


async def test_claim_takes_over_at_once_from_a_dead_process_of_this_host(
    store: SQLiteStore,
) -> None:
    gone = owner(dead_pid())
    assert lease_module.owner_is_gone(gone)
    tid = await store.create(new_transfer(), owner=gone, lease=3600)
    me = lease_module.new_owner()
    await store.claim(tid, owner=me, lease=60)
    assert (await must_get(store, tid)).lease_owner == me


async def test_claim_takes_over_from_a_reused_pid(store: SQLiteStore, live_pid: int) -> None:
    real_start = lease_module._start_time(live_pid)  # alive, but started at another time
    assert real_start != "?"
    reused = owner(live_pid, start=str(int(real_start) + 1))
    assert lease_module.owner_is_gone(reused)
    tid = await store.create(new_transfer(), owner=reused, lease=3600)
    await store.claim(tid, owner="me", lease=60)
    assert (await must_get(store, tid)).lease_owner == "me"


@pytest.mark.parametrize(
    "holder",
    [
        pytest.param(f"{socket.gethostname()}-elsewhere/1/1/abcd", id="other-host"),
        pytest.param("live", id="live-process"),
        pytest.param("not an owner string", id="unparsable"),
    ],
)
async def test_claim_does_not_take_a_live_or_unknown_lease(
    store: SQLiteStore, live_pid: int, holder: str
) -> None:
    if holder == "live":
        holder = owner(live_pid, start=lease_module._start_time(live_pid))
    assert not lease_module.owner_is_gone(holder)
    tid = await store.create(new_transfer(), owner=holder, lease=3600)
    with pytest.raises(TransferBusy, match=r"lease runs out in 3[56]\d\d s"):
        await store.claim(tid, owner="me", lease=60)
    assert (await must_get(store, tid)).lease_owner == holder


async def test_claim_of_a_missing_transfer(store: SQLiteStore) -> None:
    with pytest.raises(StoreError, match="no transfer 7"):
        await store.claim(7, owner="me", lease=60)


async def test_release(store: SQLiteStore) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=3600)
    await store.release(tid, owner="b")  # not the holder: nothing happens
    assert (await must_get(store, tid)).lease_owner == "a"
    with pytest.raises(TransferBusy):
        await store.claim(tid, owner="b", lease=60)
    await store.release(tid, owner="a")
    transfer = await must_get(store, tid)
    assert (transfer.lease_owner, transfer.lease_expires) == (None, None)
    await store.claim(tid, owner="b", lease=60)
    assert (await must_get(store, tid)).lease_owner == "b"


async def test_checkpoint_advances_acked_only_forward(store: SQLiteStore) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=60)
    await store.checkpoint(
        tid, owner="a", lease=60, manifest_bytes=100, files=[FileProgress(1, 1), FileProgress(2, 2)]
    )
    assert [f.acked for f in await store.files(tid)] == [1, 2, 0]
    await store.checkpoint(
        tid,
        owner="a",
        lease=60,
        manifest_bytes=50,  # lower than recorded: kept at 100
        files=[FileProgress(1, 0), FileProgress(2, 1), FileProgress(3, 1)],
    )
    assert [f.acked for f in await store.files(tid)] == [1, 2, 1]
    assert (await must_get(store, tid)).manifest_bytes == 100
    await store.checkpoint(tid, owner="a", lease=60, manifest_bytes=300, files=[FileProgress(2, 3)])
    assert [f.acked for f in await store.files(tid)] == [1, 3, 1]
    assert (await must_get(store, tid)).manifest_bytes == 300


async def test_checkpoint_sets_state_and_error_and_renews(store: SQLiteStore) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=1)
    created = await must_get(store, tid)
    await store.checkpoint(
        tid,
        owner="a",
        lease=600,
        manifest_bytes=10,
        files=[
            FileProgress(1, 2, state=UploadState.UPLOADED),
            FileProgress(
                2, 1, state=UploadState.SOURCE_CHANGED, error="a.bin changed since planned"
            ),
            FileProgress(3, 0),  # no new state: untouched
        ],
    )
    files = await store.files(tid)
    assert [(f.upload_state, f.last_error) for f in files] == [
        ("uploaded", None),
        ("source_changed", "a.bin changed since planned"),
        ("pending", None),
    ]
    renewed = await must_get(store, tid)
    assert renewed.lease_expires is not None
    assert created.lease_expires is not None
    assert renewed.lease_expires >= created.lease_expires + 598
    assert renewed.updated_at >= created.updated_at
    # a state change back clears the error with it
    await store.checkpoint(
        tid,
        owner="a",
        lease=600,
        manifest_bytes=10,
        files=[FileProgress(2, 1, state=UploadState.PENDING)],
    )
    assert (await file_row(store, tid, 2)).last_error is None


async def test_checkpoint_records_accepted_ids(store: SQLiteStore) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=60)
    await store.checkpoint(
        tid,
        owner="a",
        lease=60,
        manifest_bytes=0,
        files=[],
        accepted=[(1, 2, "x1@server"), (2, 1, "y@server")],
    )
    await store.checkpoint(
        tid, owner="a", lease=60, manifest_bytes=0, files=[], accepted=iter([(1, 2, "x2@server")])
    )
    assert await store.accepted_ids(tid) == {(1, 2): "x2@server", (2, 1): "y@server"}
    other = await store.create(new_transfer("other"), owner="a", lease=60)
    assert await store.accepted_ids(other) == {}


async def test_checkpoint_by_an_owner_that_lost_the_lease_is_busy(store: SQLiteStore) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=0.01)
    await asyncio.sleep(0.05)
    await store.claim(tid, owner="b", lease=60)
    with pytest.raises(TransferBusy, match="taken over by another process"):
        await store.checkpoint(
            tid,
            owner="a",
            lease=60,
            manifest_bytes=999,
            files=[FileProgress(1, 2, UploadState.UPLOADED)],
            accepted=[(1, 1, "x@y")],
        )
    transfer = await must_get(store, tid)
    assert (transfer.lease_owner, transfer.manifest_bytes) == ("b", 0)
    row = await file_row(store, tid, 1)
    assert (row.acked, row.upload_state) == (0, "pending")
    assert await store.accepted_ids(tid) == {}


async def checkpointed_state(store: SQLiteStore, tid: int) -> tuple[object, ...]:
    t = await must_get(store, tid)
    return (
        t.manifest_bytes,
        t.lease_expires,
        tuple((f.acked, f.upload_state, f.last_error) for f in await store.files(tid)),
        await store.accepted_ids(tid),
    )


async def test_checkpoint_is_one_transaction_on_a_database_error(store: SQLiteStore) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=60)
    await store.checkpoint(tid, owner="a", lease=60, manifest_bytes=5, files=[FileProgress(1, 1)])
    before = await checkpointed_state(store, tid)
    with pytest.raises(StoreError, match="FOREIGN KEY") as info:
        await store.checkpoint(
            tid,
            owner="a",
            lease=600,
            manifest_bytes=500,
            files=[
                FileProgress(1, 2, UploadState.UPLOADED),
                FileProgress(2, 3, UploadState.FAILED, "x"),
            ],
            accepted=[(1, 2, "ok@server"), (99, 1, "no-such-file@server")],  # breaks the FK
        )
    assert not isinstance(info.value, (StoreLocked, TransferBusy))
    assert await checkpointed_state(store, tid) == before
    # still usable afterwards
    await store.checkpoint(tid, owner="a", lease=60, manifest_bytes=6, files=[FileProgress(1, 2)])
    assert (await file_row(store, tid, 1)).acked == 2


async def test_checkpoint_is_one_transaction_on_any_error(store: SQLiteStore) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=60)
    before = await checkpointed_state(store, tid)

    def accepted() -> Iterator[tuple[int, int, str]]:
        yield (1, 1, "first@server")
        raise KeyError("interrupted while listing the accepted IDs")

    with pytest.raises(KeyError):
        await store.checkpoint(
            tid,
            owner="a",
            lease=600,
            manifest_bytes=500,
            files=[FileProgress(1, 2, UploadState.UPLOADED)],
            accepted=accepted(),
        )
    assert await checkpointed_state(store, tid) == before


@pytest.mark.parametrize("yields", [0, 1, 2, 3, 4, 5])
async def test_a_cancelled_checkpoint_leaves_no_transaction_open(
    store: SQLiteStore, yields: int
) -> None:
    """Cancelled at any await (also while its BEGIN is still queued in aiosqlite's
    thread), a checkpoint leaves the connection ready for the next transaction."""
    tid = await store.create(new_transfer(), owner="a", lease=60)
    task = asyncio.create_task(
        store.checkpoint(
            tid, owner="a", lease=60, manifest_bytes=1, files=[FileProgress(1, 1, None)]
        )
    )
    for _ in range(yields):
        await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await store.checkpoint(
        tid, owner="a", lease=60, manifest_bytes=2, files=[FileProgress(1, 2, UploadState.UPLOADED)]
    )
    row = await file_row(store, tid, 1)
    assert (row.acked, row.upload_state) == (2, "uploaded")


async def test_checkpoint_all_uploaded_marks_every_file_in_one_statement(
    store: SQLiteStore,
) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=60)
    await store.checkpoint(
        tid, owner="a", lease=60, manifest_bytes=9, files=[], accepted=[], all_uploaded=True
    )
    rows = await store.files(tid)
    assert rows
    assert all(r.upload_state == "uploaded" and r.acked == r.article_count for r in rows)


async def test_checkpoint_saves_uploaded_files_in_bulk_beside_partial_ones(
    store: SQLiteStore,
) -> None:
    files = tuple(
        NewFile(i, Path(f"/data/{i}.bin"), f"{i}.bin", 10, i, 1 + i % 3) for i in range(1, 8)
    )
    tid = await store.create(new_transfer(files=files), owner="a", lease=60)
    await store.checkpoint(
        tid,
        owner="a",
        lease=60,
        manifest_bytes=9,
        files=[FileProgress(2, 1, UploadState.FAILED, "gone")],
    )
    await store.checkpoint(
        tid,
        owner="a",
        lease=60,
        manifest_bytes=9,
        files=[
            FileProgress(1, 2, UploadState.UPLOADED),
            FileProgress(2, 1, UploadState.UPLOADED),  # a failure seen before: its error goes
            FileProgress(3, 1),  # progress only
            FileProgress(4, 0, UploadState.FAILED, "refused"),
            FileProgress(6, 1, UploadState.UPLOADED),
        ],
    )
    rows = {r.file_id: r for r in await store.files(tid)}
    assert {i: (r.acked, r.upload_state, r.last_error) for i, r in rows.items()} == {
        1: (2, "uploaded", None),
        2: (3, "uploaded", None),
        3: (1, "pending", None),
        4: (0, "failed", "refused"),
        5: (0, "pending", None),
        6: (1, "uploaded", None),
        7: (0, "pending", None),
    }


async def test_create_records_more_files_than_one_insert_takes(store: SQLiteStore) -> None:
    count = 2 * FILES_PER_INSERT + 7
    files = tuple(
        NewFile(i, Path(f"/data/{i:05d}.bin"), f"{i:05d}.bin", i, 10 * i, 1 + i % 5)
        for i in range(1, count + 1)
    )
    tid = await store.create(new_transfer(files=files), owner="a", lease=60)
    rows = await store.files(tid)
    assert [
        (r.file_id, r.source_path, r.name, r.size, r.mtime_ns, r.article_count) for r in rows
    ] == [(f.file_id, f.source_path, f.name, f.size, f.mtime_ns, f.article_count) for f in files]


async def test_finish_states(store: SQLiteStore) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=60)
    before = time.time()
    await store.finish(tid, state=TransferState.INCOMPLETE, error="1 file failed")
    t = await must_get(store, tid)
    assert (t.state, t.last_error, t.finished_at, t.nzb_path) == (
        "incomplete",
        "1 file failed",
        None,
        None,
    )
    assert t.unfinished
    await store.finish(tid, state=TransferState.UPLOADED, nzb_path="/out/job.nzb")
    t = await must_get(store, tid)
    assert (t.state, t.last_error, t.nzb_path) == ("uploaded", None, "/out/job.nzb")
    assert t.finished_at is not None
    assert before <= t.finished_at <= time.time()
    assert not t.unfinished
    await store.finish(
        tid, state=TransferState.UPLOADED
    )  # no NZB path given: the recorded one stays
    assert (await must_get(store, tid)).nzb_path == "/out/job.nzb"
    await store.finish(tid, state=TransferState.UPLOADING)
    t = await must_get(store, tid)
    assert (t.state, t.finished_at) == ("uploading", None)


async def test_finish_with_an_unknown_state_is_refused(store: SQLiteStore) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=60)
    with pytest.raises(StoreError, match="CHECK constraint"):
        await store.finish(tid, state=cast(Any, "done"))
    assert (await must_get(store, tid)).state == "uploading"


async def test_delete_removes_files_and_accepted_ids(store: SQLiteStore, tmp_path: Path) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=60)
    keep = await store.create(new_transfer("keep"), owner="a", lease=60)
    await store.checkpoint(
        tid, owner="a", lease=60, manifest_bytes=0, files=[], accepted=[(1, 1, "x")]
    )
    await store.delete(tid)
    assert await store.get(tid) is None
    assert await store.files(tid) == ()
    assert await store.accepted_ids(tid) == {}
    assert len(await store.files(keep)) == 3
    with connect(tmp_path / "postie.db") as db:
        assert db.execute("SELECT COUNT(*) FROM accepted_ids").fetchone()[0] == 0


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


# --- TransferRun.checkpoint: what a failed store write did not save is saved next time ------------


def run_over(store: SQLiteStore, tid: int, tmp_path: Path, states: tuple[Any, ...]) -> Any:
    """A TransferRun of transfer ``tid`` whose job is just these file states (one tally)."""
    from postie.manifest import ManifestWriter
    from postie.runtime.engine import PostingJob
    from postie.transfer import Prepared
    from postie.transfer_run import TransferRun

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
        Path("/data/a.bin"),
        "a.bin",
        40,
        11,
        tuple(Segment(n, (n - 1) * 10, 10, f"{n}@planned") for n in range(1, 5)),
    )
    state = FileState(plan=plan, pending=(1, 2, 3, 4), crcs=[None] * 4, sizes=[0] * 4)
    run = run_over(store, tid, tmp_path, (state,))

    # Part 2 is acknowledged under a Message-ID the server rewrote, as the engine records it.
    state.accepted_ids[2] = "rewritten@server"
    state.unsaved_ids.append((2, "rewritten@server"))
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
                Path(f"/data/{i}.bin"),
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
