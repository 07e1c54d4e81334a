"""Where a store keeps its manifests (``Store.manifests``): files for SQLite, rows of
``manifest_frames`` for PostgreSQL. The same manifest written through either reads back
the same; the database's rows are the file's bytes.

Behaviour every implementation keeps (see conftest.IMPLEMENTATIONS), then PostgreSQL's
own: a row past a gap or a torn row is a tail never relied on, a retried insert is
written once, another writer's frame is refused, a failed insert is one clear line."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import asyncpg
import msgspec
import pytest
import zstandard

from postie.config import VerifyConfig
from postie.errors import ManifestError
from postie.manifest import Frontier, Manifest, ManifestWriter, create, read
from postie.manifest.database import DatabaseManifests
from postie.store.api import Store, TransferState
from postie.testing import ManualClock
from postie.verify.sweeper import Sweeper
from tests.unit.store.conftest import Backend
from tests.unit.store.helpers import new_transfer
from tests.unit.test_manifest import FILES_V2, HEADER, PLANNED, add, article, crc


async def written(store: Store, folder: Path) -> ManifestWriter:
    """A version 2 manifest: frame 0, then two CRC frames with frontiers."""
    writer = await store.manifests.create(folder, HEADER, FILES_V2, PLANNED)
    add(writer, crc(1, 1), crc(2, 1))
    await writer.sync(3)
    add(writer, crc(1, 3))
    await writer.sync(5)
    return writer


def same(m: Manifest) -> Manifest:
    return msgspec.structs.replace(m, path=Path("-"))


async def test_a_manifest_reads_back_as_written(
    store: Store, backend: Backend, tmp_path: Path
) -> None:
    writer = await written(store, tmp_path / "manifests")
    writer.close()
    ref = writer.path
    assert ref.is_absolute() is (backend.name == "sqlite")  # a file, or a name in the database
    found = await store.manifests.read(ref, durable_bytes=writer.size)
    assert (found.version, found.header, found.frontier, found.end) == (2, HEADER, 5, writer.size)
    assert found.files == {f.file: f for f in FILES_V2}
    assert found.articles == {
        1: {1: article(1, 1), 3: article(1, 3)},
        2: {1: article(2, 1)},
        3: {},
    }
    assert await store.manifests.length(ref) == writer.size
    # the same as a file written with the same frames
    path = tmp_path / "file.manifest"
    twin = create(path, HEADER, FILES_V2, PLANNED)
    add(twin, crc(1, 1), crc(2, 1))
    twin.flush(3)
    add(twin, crc(1, 3))
    twin.flush(5)
    twin.close()
    assert twin.size == writer.size
    assert same(found) == same(read(path))
    reader = await store.manifests.reader(ref, durable_bytes=writer.size)
    assert list(reader) == PLANNED
    shown = store.manifests.shown(ref, writer.size)
    assert shown == (
        f"{ref} ({writer.size} bytes durable)"
        if backend.name == "sqlite"
        else f"in the database ({writer.size} bytes durable)"
    )


async def test_a_reopened_manifest_appends_after_what_was_durable(
    store: Store, tmp_path: Path
) -> None:
    writer = await written(store, tmp_path)
    writer.close()
    found = await store.manifests.read(writer.path, durable_bytes=writer.size)
    again = await store.manifests.reopen(found)
    add(again, crc(3, 1))
    size = await again.sync(7)
    again.close()
    found = await store.manifests.read(writer.path, durable_bytes=size)
    assert found.frontier == 7
    assert found.articles[3] == {1: article(3, 1)}


async def test_a_deleted_manifest_is_gone(store: Store, tmp_path: Path) -> None:
    writer = await written(store, tmp_path)
    writer.close()
    assert await store.manifests.delete(writer.path) is True
    assert await store.manifests.delete(writer.path) is False
    with pytest.raises(ManifestError, match="is missing"):
        await store.manifests.read(writer.path)


async def test_a_manifest_shorter_than_its_durable_length_is_an_error(
    store: Store, tmp_path: Path
) -> None:
    writer = await written(store, tmp_path)
    writer.close()
    with pytest.raises(ManifestError, match="truncated"):
        await store.manifests.read(writer.path, durable_bytes=writer.size + 1)


async def test_the_sweeper_and_deleting_a_transfer_delete_its_manifest(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    refs = []
    for name in ("swept", "deleted"):
        writer = await written(store, tmp_path)
        writer.close()
        new = msgspec.structs.replace(
            new_transfer(name, roots_key=name),
            manifest_path=writer.path,
            options={"verify": False},
        )
        tid = await store.create(new, owner="nobody", lease=0.0)
        await store.finish(tid, state=TransferState.UPLOADED)
        refs.append((tid, writer.path))
    (_, swept), (deleted_id, deleted) = refs
    await store.delete(deleted_id)
    if not deleted.is_absolute():  # the database's rows go with the transfer
        assert await store.manifests.length(deleted) == 0
    clock.advance(8 * 86400)
    report = await Sweeper(store, VerifyConfig(retention=7 * 86400)).sweep()
    assert report is not None
    assert (report.transfers, report.manifests) == (1, 1)
    with pytest.raises(ManifestError, match="is missing"):
        await store.manifests.read(swept)


# --- PostgreSQL: the rows ----------------------------------------------------------------


@pytest.fixture
def pg(backend: Backend) -> Backend:
    if backend.name != "postgres":
        pytest.skip("manifests in the database: PostgreSQL's")
    return backend


async def rows(url: str, ref: Path) -> list[tuple[int, bytes]]:
    conn = await asyncpg.connect(url)
    try:
        found = await conn.fetch(
            "SELECT byte_offset, data FROM manifest_frames WHERE manifest = $1"
            " ORDER BY byte_offset",
            str(ref),
        )
    finally:
        await conn.close()
    return [(int(r[0]), bytes(r[1])) for r in found]


async def insert(url: str, ref: Path, offset: int, data: bytes) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO manifest_frames (manifest, byte_offset, data) VALUES ($1, $2, $3)",
            str(ref),
            offset,
            data,
        )
    finally:
        await conn.close()


async def test_the_rows_are_the_files_bytes_one_per_frame(
    pg: Backend, store: Store, tmp_path: Path
) -> None:
    writer = await written(store, tmp_path)
    writer.close()
    found = await rows(pg.location, writer.path)
    assert len(found) == 3  # frame 0, then one row per frame appended
    twin = create(tmp_path / "file.manifest", HEADER, FILES_V2, PLANNED)
    add(twin, crc(1, 1), crc(2, 1))
    twin.flush(3)
    add(twin, crc(1, 3))
    twin.flush(5)
    twin.close()
    assert b"".join(d for _, d in found) == twin.path.read_bytes()
    assert [o for o, _ in found] == [0, found[1][0], found[2][0]]
    assert found[1][0] == len(found[0][1])


async def test_a_torn_row_or_one_past_a_gap_is_a_tail_never_relied_on(
    pg: Backend, store: Store, tmp_path: Path
) -> None:
    writer = await written(store, tmp_path)
    writer.close()
    end = writer.size
    # a whole frame, but not where the manifest ends: never read
    frame = zstandard.ZstdCompressor().compress(Frontier(99).line().encode() + b"\n")
    await insert(pg.location, writer.path, end + 100, frame)
    found = await store.manifests.read(writer.path, durable_bytes=end)
    assert (found.end, found.frontier) == (end, 5)
    await insert(pg.location, writer.path, end, b"\x28\xb5\x2f\xfd torn")
    found = await store.manifests.read(writer.path, durable_bytes=end)
    assert (found.end, found.frontier) == (end, 5)
    # damage at or before the durable length is not a tail
    with pytest.raises(ManifestError, match="corrupt"):
        await store.manifests.read(writer.path, durable_bytes=end + 1)
    again = await store.manifests.reopen(found)  # cuts the tail off
    assert [o for o, _ in await rows(pg.location, writer.path)][-1] < end
    add(again, crc(3, 1))
    await again.sync()
    again.close()
    found = await store.manifests.read(writer.path, durable_bytes=again.size)
    assert found.articles[3] == {1: article(3, 1)}


async def test_a_retried_insert_is_written_once_another_writers_frame_is_refused(
    pg: Backend, store: Store, tmp_path: Path
) -> None:
    writer = await written(store, tmp_path)
    writer.close()
    key = str(writer.path)
    (last_offset, last) = (await rows(pg.location, writer.path))[-1]
    table = store.manifests
    assert isinstance(table, DatabaseManifests)
    assert await table.table.add_frame(key, last_offset, last) is True  # a retry
    assert await table.table.add_frame(key, last_offset, b"other bytes") is False
    found = await store.manifests.read(writer.path)
    again = await store.manifests.reopen(found)
    await insert(pg.location, writer.path, again.size, b"another process's frame")
    add(again, crc(3, 1))
    with pytest.raises(ManifestError, match="another process wrote byte"):
        await again.sync()
    again.close()


async def test_a_failed_insert_is_one_line_naming_the_database(pg: Backend, tmp_path: Path) -> None:
    async with pg.open() as store:
        writer = await written(store, tmp_path)
    add(writer, crc(3, 1))  # the store is closed: the frame cannot be written
    with pytest.raises(ManifestError) as caught:
        await writer.sync(Frontier(7).position)
    writer.close()
    text = str(caught.value)
    assert "\n" not in text
    assert f"of the manifest {writer.path} (in the database {store.location})" in text
    assert "nothing is lost" in text
    assert "postie-secret" not in text


async def test_a_write_waiting_for_the_loop_is_given_up_when_the_writer_closes(
    pg: Backend, store: Store, tmp_path: Path
) -> None:
    writer = await written(store, tmp_path)
    add(writer, crc(3, 1))
    pending = writer.sync(9)  # the writer's thread waits for the loop, which this holds
    await asyncio.sleep(0)
    writer.close()  # on the loop's thread: must not wait for ever
    with contextlib.suppress(ManifestError):  # given up, or written before the close
        await pending
