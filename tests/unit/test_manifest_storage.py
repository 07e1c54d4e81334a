"""Where manifests are kept, without a server: ``FileManifests`` (files, the SQLite
store's) and ``DatabaseManifests`` over a table in memory (``Frames``: what the
PostgreSQL store's ``manifest_frames`` does, and how it fails).

``tests/unit/store/test_manifests.py`` runs the same seam against the real stores; here
each message a user sees is pinned whole, and the database's rows are checked frame by
frame: offsets, batches, a gap, the writer's frames handed to the event loop."""

from __future__ import annotations

import asyncio
import gc
import os
import re
import stat
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import postie.manifest.database
import postie.manifest.writer
from postie.errors import ManifestError, StoreError
from postie.manifest import Manifest, ManifestWriter, create, read
from postie.manifest.database import FRAMES_PER_BATCH, DatabaseManifests, _Sink
from postie.manifest.storage import FileManifests, new_name
from tests.unit.test_manifest import FILES, FILES_V2, HEADER, PLANNED, add, article, crc

# A hang (a frame never handed back) fails fast, not after the suite's 300 s: these tests
# take milliseconds, and the mutation run times them out otherwise (scripts/mutate).
pytestmark = pytest.mark.timeout(10)

LOCATION = "postgresql://postie@db.example:5432/postie"
NAME = "0123456789abcdef.manifest.zst"  # the name new_name() gives, fixed for the messages
WHERE = f"{NAME} (in the database {LOCATION})"


class Frames:
    """``FrameTable`` in memory; ``failing`` makes an operation raise ``StoreError``."""

    location = LOCATION

    def __init__(self) -> None:
        self.rows: dict[str, dict[int, bytes]] = {}
        self.batches: list[list[tuple[int, bytes]]] = []  # what put_frames was given
        self.cuts: list[tuple[str, int]] = []
        self.added: list[tuple[str, int, int]] = []  # (manifest, offset, bytes)
        self.failing: set[str] = set()
        self.hold: asyncio.Event | None = None  # add_frame waits for it
        self.holding = asyncio.Event()  # add_frame is waiting

    def _fail(self, operation: str) -> None:
        if operation in self.failing:
            raise StoreError(f"cannot {operation}: the database is gone")

    async def put_frames(
        self, manifest: str, frames: AsyncIterator[list[tuple[int, bytes]]]
    ) -> None:
        self._fail("put_frames")
        rows: dict[int, bytes] = {}
        async for batch in frames:
            self.batches.append(batch)
            rows.update(batch)
        self.rows[manifest] = rows  # one transaction: all or nothing

    async def add_frame(self, manifest: str, offset: int, data: bytes) -> bool:
        self.added.append((manifest, offset, len(data)))
        if self.hold is not None:
            self.holding.set()
            await self.hold.wait()
        self._fail("add_frame")
        rows = self.rows.setdefault(manifest, {})
        if offset in rows:
            return rows[offset] == data
        rows[offset] = data
        return True

    async def manifest_frames(self, manifest: str) -> list[tuple[int, bytes]]:
        self._fail("manifest_frames")
        return sorted(self.rows.get(manifest, {}).items())

    async def manifest_length(self, manifest: str) -> int:
        self._fail("manifest_length")
        return sum(len(d) for d in self.rows.get(manifest, {}).values())

    async def cut_manifest(self, manifest: str, end: int) -> None:
        self._fail("cut_manifest")
        self.cuts.append((manifest, end))
        rows = self.rows.get(manifest, {})
        for offset in [o for o in rows if o >= end]:
            del rows[offset]

    async def drop_manifest(self, manifest: str) -> int:
        self._fail("drop_manifest")
        return len(self.rows.pop(manifest, {}))


@pytest.fixture
def table() -> Frames:
    return Frames()


@pytest.fixture
def db(table: Frames, monkeypatch: pytest.MonkeyPatch) -> DatabaseManifests:
    monkeypatch.setattr(postie.manifest.database, "new_name", lambda: NAME)
    return DatabaseManifests(table)


def twin(path: Path, *, version: int = 2) -> ManifestWriter:
    """The file ``written`` writes to the database: frame 0, then two CRC frames."""
    if version == 1:
        return create(path, HEADER, FILES, version=1)
    writer = create(path, HEADER, FILES_V2, PLANNED)
    add(writer, crc(1, 1), crc(2, 1))
    writer.flush(3)
    add(writer, crc(1, 3))
    writer.flush(5)
    writer.close()
    return writer


async def written(db: DatabaseManifests) -> ManifestWriter:
    writer = await db.create(Path("unused"), HEADER, FILES_V2, PLANNED)
    add(writer, crc(1, 1), crc(2, 1))
    await writer.sync(3)
    add(writer, crc(1, 3))
    await writer.sync(5)
    writer.close()
    return writer


def same(m: Manifest) -> Manifest:
    m.path = Path("-")
    return m


# --- the names ---------------------------------------------------------------------------


def test_a_new_name_is_random_hex() -> None:
    names = {new_name() for _ in range(20)}
    assert len(names) == 20
    for name in names:
        assert re.fullmatch(r"[0-9a-f]{16}\.manifest\.zst", name), name


def test_where_and_shown_say_a_file_or_the_database(db: DatabaseManifests) -> None:
    files = FileManifests()
    path = Path("/var/lib/postie/a.manifest.zst")
    assert files.where(path) == "/var/lib/postie/a.manifest.zst"
    assert files.shown(path, 42) == "/var/lib/postie/a.manifest.zst (42 bytes durable)"
    assert db.where(path) == "/var/lib/postie/a.manifest.zst"  # a manifest kept as a file
    assert db.shown(path, 42) == "/var/lib/postie/a.manifest.zst (42 bytes durable)"
    assert db.where(Path(NAME)) == WHERE
    assert db.shown(Path(NAME), 42) == "in the database (42 bytes durable)"


def test_a_name_that_is_not_utf8_is_shown_escaped(db: DatabaseManifests) -> None:
    odd = Path(os.fsdecode(b"\xff.manifest.zst"))
    assert db.where(odd) == f"\udcff.manifest.zst (in the database {LOCATION})"


# --- files -------------------------------------------------------------------------------


async def test_files_create_read_reopen_and_delete(tmp_path: Path) -> None:
    files = FileManifests()
    folder = tmp_path / "manifests"
    writer = await files.create(folder, HEADER, FILES_V2, PLANNED)
    assert writer.path.parent == folder
    assert re.fullmatch(r"[0-9a-f]{16}\.manifest\.zst", writer.path.name)
    assert stat.S_IMODE(writer.path.stat().st_mode) == 0o600
    add(writer, crc(1, 1))
    await writer.sync(3)
    writer.close()
    assert await files.length(writer.path) == writer.size == writer.path.stat().st_size
    found = await files.read(writer.path, durable_bytes=writer.size)
    assert (found.path, found.version, found.frontier) == (writer.path, 2, 3)
    assert found.articles == {1: {1: article(1, 1)}, 2: {}, 3: {}}
    reader = await files.reader(writer.path, durable_bytes=writer.size)
    assert list(reader) == PLANNED
    with pytest.raises(ManifestError, match=r"truncated: \d+ bytes, but \d+ were durable"):
        await files.reader(writer.path, durable_bytes=writer.size + 1)
    with writer.path.open("ab") as f:
        f.write(b"torn")  # a tail never relied on: cut off by reopen
    again = await files.reopen(found)
    assert (again.path, again.size, again.frontier) == (writer.path, writer.size, 3)
    assert writer.path.stat().st_size == writer.size
    again.close()
    assert await files.delete(writer.path) is True
    assert await files.delete(writer.path) is False


async def test_files_version_1_and_salvage(tmp_path: Path) -> None:
    files = FileManifests()
    writer = await files.create(tmp_path, HEADER, FILES, version=1)
    assert (writer.version, writer.frontier) == (1, 0)
    writer.append([article(1, 1)])
    writer.close()
    with writer.path.open("ab") as f:
        f.write(b"\x28\xb5\x2f\xfd damage")
    with pytest.raises(ManifestError, match="corrupt"):
        await files.read(writer.path, durable_bytes=writer.size + 10)
    found = await files.read(writer.path, durable_bytes=writer.size + 10, salvage=True)
    assert (found.version, found.end, found.frontier) == (1, writer.size, None)
    assert found.articles[1] == {1: article(1, 1)}
    again = await files.reopen(found)  # the damage cut off; version 1 lines appended
    assert (again.version, again.frontier, again.size) == (1, 0, writer.size)
    again.append([article(1, 2)])
    again.close()
    assert sorted((await files.read(writer.path)).articles[1]) == [1, 2]


async def test_files_errors_say_which_manifest_and_why(tmp_path: Path) -> None:
    files = FileManifests()
    under_a_file = tmp_path / "file" / "x.manifest.zst"
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ManifestError) as caught:
        await files.length(under_a_file)
    assert str(caught.value) == f"cannot read the manifest {under_a_file}: Not a directory"
    with pytest.raises(ManifestError) as caught:
        await files.length(tmp_path / "gone")
    assert str(caught.value) == (
        f"cannot read the manifest {tmp_path / 'gone'}: No such file or directory"
    )
    folder = tmp_path / "a folder"
    folder.mkdir()
    with pytest.raises(ManifestError) as caught:
        await files.delete(folder)
    assert str(caught.value) == f"cannot delete the manifest {folder}: Is a directory"
    with pytest.raises(ManifestError) as caught:
        await files.delete(under_a_file)
    assert str(caught.value) == f"cannot delete the manifest {under_a_file}: Not a directory"


# --- the database: frame 0 ----------------------------------------------------------------


async def test_frame_zero_is_the_files_bytes_in_rows_at_their_offsets(
    db: DatabaseManifests, table: Frames, tmp_path: Path
) -> None:
    writer = await db.create(tmp_path / "not used", HEADER, FILES_V2, PLANNED)
    writer.close()
    assert writer.path == Path(NAME)
    assert (writer.version, writer.frontier) == (2, 0)
    assert not (tmp_path / "not used").exists()  # nothing of it is a file
    file = create(tmp_path / "file.manifest", HEADER, FILES_V2, PLANNED)
    file.close()
    rows = table.rows[NAME]
    assert b"".join(rows[o] for o in sorted(rows)) == file.path.read_bytes()
    assert writer.size == file.size
    assert len(table.batches) == 1


async def test_frame_zero_goes_in_batches_of_zstd_frames_each_at_its_offset(
    db: DatabaseManifests, table: Frames, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postie.manifest.writer, "FRAME_LINES", 1)  # a zstd frame per line
    writer = await db.create(tmp_path, HEADER, FILES_V2, PLANNED * 4)
    writer.close()
    frames = 1 + len(FILES_V2) + len(PLANNED) * 4  # 24: 16, then 8
    assert [len(b) for b in table.batches] == [FRAMES_PER_BATCH, frames - FRAMES_PER_BATCH]
    end = 0
    for offset, data in [row for batch in table.batches for row in batch]:
        assert offset == end
        end += len(data)
    assert writer.size == end
    file = create(tmp_path / "file.manifest", HEADER, FILES_V2, PLANNED * 4)
    file.close()
    assert b"".join(d for b in table.batches for _, d in b) == file.path.read_bytes()


async def test_a_version_1_manifest_in_the_database(
    db: DatabaseManifests, table: Frames, tmp_path: Path
) -> None:
    writer = await db.create(tmp_path, HEADER, FILES, version=1)
    assert writer.version == 1
    await asyncio.to_thread(writer.append, [article(1, 1)])
    writer.close()
    found = await db.read(writer.path, durable_bytes=writer.size)
    assert (found.version, found.frontier) == (1, None)
    assert found.articles[1] == {1: article(1, 1)}
    again = await db.reopen(found)
    assert (again.version, again.frontier, again.size) == (1, 0, writer.size)
    again.close()


async def test_frame_zero_not_written_is_one_line_saying_nothing_was_posted(
    db: DatabaseManifests, table: Frames, tmp_path: Path
) -> None:
    table.failing.add("put_frames")
    with pytest.raises(ManifestError) as caught:
        await db.create(tmp_path, HEADER, FILES_V2, PLANNED)
    assert str(caught.value) == (
        f"cannot write the manifest {WHERE}: cannot put_frames: the database is gone;"
        " nothing of it was posted: run the same command again once the database answers"
    )
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


# --- the database: reading ----------------------------------------------------------------


async def test_a_manifest_in_the_database_reads_back_as_its_file(
    db: DatabaseManifests, table: Frames, tmp_path: Path
) -> None:
    writer = await written(db)
    assert len(table.rows[NAME]) == 3  # frame 0, then a row per frame appended
    assert table.added == [(NAME, o, len(d)) for o, d in sorted(table.rows[NAME].items()) if o > 0]
    file = twin(tmp_path / "file.manifest")
    assert writer.size == file.size == await db.length(writer.path)
    found = await db.read(writer.path, durable_bytes=writer.size)
    assert found.path == Path(NAME)
    assert (found.end, found.frontier) == (writer.size, 5)
    assert same(found) == same(read(file.path))
    reader = await db.reader(writer.path, durable_bytes=writer.size)
    assert (reader.path, reader.name, reader.durable_bytes) == (Path(NAME), WHERE, writer.size)
    assert list(reader) == PLANNED


async def test_the_durable_length_and_salvage_are_the_readers(
    db: DatabaseManifests, table: Frames
) -> None:
    writer = await written(db)
    size = writer.size
    with pytest.raises(ManifestError) as caught:
        await db.read(writer.path, durable_bytes=size + 1)
    assert str(caught.value) == (
        f"the manifest {WHERE} is truncated: {size} bytes, but {size + 1} were durable at"
        " the last checkpoint"
    )
    with pytest.raises(ManifestError) as caught:
        await db.reader(writer.path, durable_bytes=size + 1)
    assert str(caught.value).startswith(f"the manifest {WHERE} is truncated: {size} bytes")
    # a broken frame after frame 0, within the durable length: only salvage reads past it
    rows = table.rows[NAME]
    last = max(rows)
    rows[last] = b"\x28\xb5\x2f\xfd" + b"\x00" * (len(rows[last]) - 4)
    with pytest.raises(ManifestError) as caught:
        await db.read(writer.path, durable_bytes=size)
    assert str(caught.value) == (
        f"the manifest {WHERE} is corrupt at byte {last} (durable up to {size})"
    )
    found = await db.read(writer.path, durable_bytes=size, salvage=True)
    assert (found.end, found.frontier) == (last, 3)


async def test_rows_after_a_gap_are_never_read(db: DatabaseManifests, table: Frames) -> None:
    writer = await written(db)
    rows = table.rows[NAME]
    _, middle, last = sorted(rows)
    moved = rows.pop(last)
    rows[last + 1] = moved  # a frame, but not where the one before it ends
    found = await db.read(writer.path)
    assert (found.end, found.frontier) == (last, 3)
    del rows[middle]  # the gap right after frame 0
    found = await db.read(writer.path)
    assert (found.end, found.frontier) == (middle, 0)
    with pytest.raises(ManifestError, match=r"truncated: \d+ bytes, but \d+ were durable"):
        await db.reader(writer.path, durable_bytes=writer.size)


async def test_a_manifest_with_no_rows_is_missing(db: DatabaseManifests) -> None:
    for call in (db.read(Path(NAME)), db.reader(Path(NAME))):
        with pytest.raises(ManifestError) as caught:
            await call
        assert str(caught.value) == f"the manifest {WHERE} is missing"
    assert await db.length(Path(NAME)) == 0


@pytest.mark.parametrize(
    ("operation", "failing", "message"),
    [
        ("read", "manifest_frames", "cannot read the manifest"),
        ("reader", "manifest_frames", "cannot read the manifest"),
        ("length", "manifest_length", "cannot read the manifest"),
        ("delete", "drop_manifest", "cannot delete the manifest"),
        ("reopen", "cut_manifest", "cannot repair the manifest"),
    ],
)
async def test_a_database_that_fails_is_one_line_naming_the_manifest(
    db: DatabaseManifests, table: Frames, operation: str, failing: str, message: str
) -> None:
    writer = await written(db)
    found = await db.read(writer.path)
    table.failing.add(failing)
    call = db.reopen(found) if operation == "reopen" else getattr(db, operation)(writer.path)
    with pytest.raises(ManifestError) as caught:
        await call
    assert str(caught.value) == f"{message} {WHERE}: cannot {failing}: the database is gone"
    assert caught.value.__suppress_context__


async def test_delete_says_whether_there_were_rows(db: DatabaseManifests, table: Frames) -> None:
    writer = await written(db)
    assert await db.delete(writer.path) is True
    assert NAME not in table.rows
    assert await db.delete(writer.path) is False
    alone = await db.create(Path("unused"), HEADER, FILES_V2, PLANNED)  # frame 0: one row
    alone.close()
    assert len(table.rows[NAME]) == 1
    assert await db.delete(alone.path) is True


async def test_a_reopened_manifest_cuts_the_tail_and_appends_after_it(
    db: DatabaseManifests, table: Frames
) -> None:
    writer = await written(db)
    rows = table.rows[NAME]
    rows[writer.size] = b"\x28\xb5\x2f\xfd torn"
    found = await db.read(writer.path, durable_bytes=writer.size)
    assert (found.end, found.frontier) == (writer.size, 5)
    again = await db.reopen(found)
    assert table.cuts == [(NAME, writer.size)]
    assert writer.size not in rows
    assert (again.path, again.size, again.version, again.frontier) == (
        Path(NAME),
        writer.size,
        2,
        5,
    )
    add(again, crc(3, 1))
    assert await again.sync(7) == again.size > writer.size
    again.close()
    assert table.added[-1] == (NAME, writer.size, again.size - writer.size)
    found = await db.read(writer.path, durable_bytes=again.size)
    assert found.frontier == 7
    assert found.articles[3] == {1: article(3, 1)}


async def test_a_manifest_that_is_a_file_stays_a_file(
    db: DatabaseManifests, table: Frames, tmp_path: Path
) -> None:
    """One written before manifests moved into the database: its ``ref`` is its path."""
    file = twin(tmp_path / "old.manifest")
    path = file.path
    assert await db.length(path) == file.size
    found = await db.read(path, durable_bytes=file.size)
    assert (found.path, found.frontier) == (path, 5)
    reader = await db.reader(path, durable_bytes=file.size)
    assert (reader.name, list(reader)) == (str(path), PLANNED)
    for call in (
        db.read(path, durable_bytes=file.size + 1),
        db.reader(path, durable_bytes=file.size + 1),
    ):
        with pytest.raises(ManifestError) as caught:
            await call
        assert str(caught.value).startswith(f"the manifest {path} is truncated: {file.size} bytes")
    with path.open("ab") as f:
        f.write(b"\x28\xb5\x2f\xfd torn")
    with pytest.raises(ManifestError, match=f"corrupt at byte {file.size}"):
        await db.read(path, durable_bytes=file.size + 5)  # damage within the durable bytes
    assert (await db.read(path, durable_bytes=file.size + 5, salvage=True)).end == file.size
    again = await db.reopen(found)
    assert (again.path, again.sink) == (path, None)
    assert path.stat().st_size == file.size
    add(again, crc(3, 1))
    await again.sync(7)
    again.close()
    assert (await db.read(path)).frontier == 7
    assert await db.delete(path) is True
    assert not path.exists()
    assert (table.rows, table.cuts, table.added) == ({}, [], [])


# --- the database: frames appended, through the event loop ---------------------------------


async def test_another_writers_frame_stops_this_one(db: DatabaseManifests, table: Frames) -> None:
    writer = await written(db)
    found = await db.read(writer.path)
    again = await db.reopen(found)
    table.rows[NAME][again.size] = b"another process's frame"
    add(again, crc(3, 1))
    with pytest.raises(ManifestError) as caught:
        await again.sync(7)
    again.close()
    assert str(caught.value) == (
        f"another process wrote byte {writer.size} of the manifest {WHERE}: it took this"
        " transfer over (its lease ran out); this process stops posting it"
    )


async def test_a_retried_frame_already_there_is_written_once(
    db: DatabaseManifests, table: Frames
) -> None:
    writer = await written(db)
    found = await db.read(writer.path)
    again = await db.reopen(found)
    add(again, crc(3, 1))
    size = await again.sync(7)
    data = table.rows[NAME][writer.size]
    assert await table.add_frame(NAME, writer.size, data) is True
    again.close()
    assert (await db.read(writer.path, durable_bytes=size)).frontier == 7


async def test_a_frame_not_written_is_one_line_saying_nothing_is_lost(
    db: DatabaseManifests, table: Frames
) -> None:
    writer = await written(db)
    again = await db.reopen(await db.read(writer.path))
    table.failing.add("add_frame")
    add(again, crc(3, 1))
    with pytest.raises(ManifestError) as caught:
        await again.sync(7)
    again.close()
    (_, offset, length) = table.added[-1]
    assert offset == writer.size
    assert str(caught.value) == (
        f"cannot write {length} bytes at byte {offset} of the manifest {WHERE}: cannot"
        " add_frame: the database is gone; nothing is lost (what went out is found by"
        " STAT): run the same command again once the database answers"
    )
    assert caught.value.__suppress_context__


async def test_a_frame_is_never_written_on_the_event_loop(db: DatabaseManifests) -> None:
    writer = await db.create(Path("unused"), HEADER, FILES_V2, PLANNED)
    add(writer, crc(1, 1))
    with pytest.raises(RuntimeError) as caught:
        writer.flush(3)  # on the loop's thread: it would wait for itself
    assert str(caught.value) == "a manifest in the database is written off the event loop"
    assert await writer.sync(3) > 0  # the line was kept; on the writer's thread it goes
    writer.close()


async def test_a_closed_writer_writes_no_more(db: DatabaseManifests, table: Frames) -> None:
    writer = await db.create(Path("unused"), HEADER, FILES_V2, PLANNED)
    writer.close()
    add(writer, crc(1, 1))
    with pytest.raises(ManifestError) as caught:
        await asyncio.to_thread(writer.flush, 3)
    assert str(caught.value) == f"the manifest {WHERE} is closed"
    assert table.added == []


def test_a_writer_whose_event_loop_is_closed_writes_no_more() -> None:
    table = Frames()

    async def made() -> ManifestWriter:
        return await DatabaseManifests(table).create(Path("unused"), HEADER, FILES_V2, PLANNED)

    writer = asyncio.run(made())
    add(writer, crc(1, 1))
    with warnings.catch_warnings():  # the coroutine the closed loop never ran
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ManifestError) as caught:
            writer.flush(3)
        message = str(caught.value)
        del caught
        gc.collect()
    writer.close()
    assert re.fullmatch(
        rf"the manifest [0-9a-f]{{16}}\.manifest\.zst \(in the database {LOCATION}\) is closed",
        message,
    ), message
    assert table.added == []


async def test_a_write_waiting_for_the_loop_is_given_up_when_the_writer_closes(
    db: DatabaseManifests, table: Frames
) -> None:
    writer = await db.create(Path("unused"), HEADER, FILES_V2, PLANNED)
    sink = writer.sink
    assert isinstance(sink, _Sink)
    table.hold = asyncio.Event()
    add(writer, crc(1, 1))
    pending = writer.sync(3)
    try:
        async with asyncio.timeout(10):
            await table.holding.wait()
        for _ in range(1000):  # the writer's thread waits for the INSERT
            if sink._waiting is not None:
                break
            await asyncio.sleep(0.001)
        assert sink._waiting is not None
        writer.close()  # on the loop's thread: must not wait for the INSERT
        with pytest.raises(ManifestError) as caught:
            await pending
        assert str(caught.value) == (
            f"the manifest {WHERE} was closed while a frame was being written"
        )
        assert sink._waiting is None
    finally:
        table.hold.set()
    assert NAME not in table.rows or len(table.rows[NAME]) == 1  # frame 0 only


async def test_a_sink_forgets_the_write_it_waited_for(db: DatabaseManifests) -> None:
    writer = await db.create(Path("unused"), HEADER, FILES_V2, PLANNED)
    sink = writer.sink
    assert isinstance(sink, _Sink)
    add(writer, crc(1, 1))
    await writer.sync(3)
    assert sink._waiting is None
    writer.close()
    assert sink._closed
