"""The manifest writer's queue and thread (``test_manifest.py`` holds the format): lines
kept in order when a frame fails, frames written only for something new, every waiter
answered, also when the writer closes meanwhile. A sink in memory (``Frames``) stands in
for the file where a test needs to hold or fail a write."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
import zstandard

import postie.manifest.writer
from postie.errors import ManifestError
from postie.manifest import ArticleRecord, FileRecord, ManifestWriter, PlannedRecord, create, read
from postie.manifest.records import CRC_LINE, Frontier
from tests.unit.test_manifest import FILES, HEADER, PLANNED, add, crc, new

# A hang (a frame never handed back) fails fast, not after the suite's 300 s: these tests
# take milliseconds, and the mutation run times them out otherwise (scripts/mutate).
pytestmark = pytest.mark.timeout(10)


class Frames:
    """A ``FrameSink`` keeping each frame's text; ``fail`` fails the next write (after
    ``meanwhile``, what another task does while that frame is written); ``hold`` makes
    writes wait for it."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.fail: str | None = None
        self.meanwhile: list[object] = []
        self.hold: threading.Event | None = None
        self.writing = threading.Event()

    def write(self, data: bytes, offset: int) -> None:
        self.writing.set()
        if self.hold is not None:
            assert self.hold.wait(10)
        for do in self.meanwhile:
            assert callable(do)
            do()
        self.meanwhile = []
        if self.fail is not None:
            fail, self.fail = self.fail, None
            raise ManifestError(fail)
        self.texts.append(zstandard.ZstdDecompressor().decompress(data).decode())

    def close(self) -> None:
        pass


def crc_line(file: int, part: int) -> str:
    line = crc(file, part)
    return CRC_LINE % (line.file, line.part, line.crc32, line.size)


def writer_into(frames: Frames, *, version: int = 2) -> ManifestWriter:
    return ManifestWriter(Path("in-memory"), 100, version=version, sink=frames)


def test_lines_added_while_a_frame_fails_come_after_the_kept_ones() -> None:
    frames = Frames()
    writer = writer_into(frames)
    add(writer, crc(1, 1), crc(1, 2))
    frames.fail = "the frame could not be written"
    frames.meanwhile = [lambda: add(writer, crc(2, 1))]
    with pytest.raises(ManifestError, match=r"^the frame could not be written$"):
        writer.flush(4)
    assert (writer.size, writer.frontier, writer.unsynced, writer.frames) == (100, 0, 3, 0)
    writer.flush(4)
    assert frames.texts == [
        f"{crc_line(1, 1)}\n{crc_line(1, 2)}\n{crc_line(2, 1)}\n{Frontier(4).line()}\n"
    ]
    assert (writer.frontier, writer.unsynced, writer.frames, writer.syncs) == (4, 0, 1, 1)


def test_a_frontier_already_durable_writes_no_frame(tmp_path: Path) -> None:
    writer = new(tmp_path)
    size = writer.flush(5)
    assert (writer.frontier, writer.frames, writer.syncs) == (5, 1, 1)
    assert writer.flush(5) == writer.flush(4) == writer.flush() == size
    assert (writer.frontier, writer.frames, writer.syncs) == (5, 1, 1)
    assert writer.path.stat().st_size == size
    add(writer, crc(1, 1))
    assert writer.flush(5) > size  # the line is new; the frontier is not written again
    writer.close()
    assert read(writer.path).frontier == 5
    assert writer.syncs == 2


async def test_every_full_queue_is_written_unasked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only the first: each time ``FLUSH_LINES`` are queued again."""
    monkeypatch.setattr(postie.manifest.writer, "FLUSH_LINES", 2)
    writer = new(tmp_path)
    for round, parts in enumerate(((1, 2), (3,)), start=1):
        add(writer, *(crc(1, part) for part in parts))
        if len(parts) < 2:
            add(writer, crc(2, 1))
        for _ in range(500):
            if not writer.unsynced:
                break
            await asyncio.sleep(0.01)
        assert (writer.unsynced, writer.frames) == (0, round)
    writer.close()
    assert sorted(read(writer.path).articles[1]) == [1, 2, 3]


async def test_a_sync_that_fails_gives_its_waiters_the_error() -> None:
    frames = Frames()
    writer = writer_into(frames)
    add(writer, crc(1, 1))
    frames.fail = "the database is gone"
    first, second = writer.sync(3), writer.sync(4)
    async with asyncio.timeout(10):
        for waiting in (first, second):
            with pytest.raises(ManifestError, match=r"^the database is gone$"):
                await waiting
        assert await writer.sync(4) == writer.size > 100  # kept, and written the next time
    writer.close()


async def test_a_close_while_syncs_wait_answers_them_then_ends_the_thread() -> None:
    frames = Frames()
    frames.hold = threading.Event()
    writer = writer_into(frames)
    add(writer, crc(1, 1))
    first = writer.sync(3)
    assert await asyncio.to_thread(frames.writing.wait, 10)  # the thread writes it
    add(writer, crc(1, 2))
    second = writer.sync(4)  # queued behind it
    closer = threading.Thread(target=writer.close, daemon=True)
    closer.start()  # asks the thread to end, and waits for it
    for _ in range(1000):
        if writer._jobs.qsize() == 2:  # the second sync, then the end
            break
        await asyncio.sleep(0.001)
    frames.hold.set()
    await asyncio.to_thread(closer.join, 10)
    assert not closer.is_alive(), "the writer's thread did not end"
    async with asyncio.timeout(10):
        assert 100 < await first < await second == writer.size
    assert frames.texts == [
        f"{crc_line(1, 1)}\n{Frontier(3).line()}\n",
        f"{crc_line(1, 2)}\n{Frontier(4).line()}\n",
    ]


def test_a_version_1_manifest_has_no_planned_lines(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^a version 1 manifest has no planned lines in frame 0$"):
        create(tmp_path / "v1.manifest", HEADER, FILES, PLANNED, version=1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("field", ["message_id", "subject", "poster", "wire_name"])
def test_a_line_needing_escapes_in_any_text_field_reads_back(tmp_path: Path, field: str) -> None:
    """The fast line (no ``json``) is only for text that needs no escaping; a quote, a
    backslash or a control character in any one of the fields takes the JSON path."""
    odd = 'a "quoted" \\ back\tslash \udcff'
    fields = {"message_id": "id@x", "subject": "s", "poster": "p <p@x>", "wire_name": "w"}
    fields[field] = odd
    planned = PlannedRecord(1, 1, 0, 10, **fields)
    done = ArticleRecord(1, 2, 10, 10, crc32=7, size=12, **fields)
    files = (FileRecord(1, "/d/a.bin", "a.bin", 20, 1, 2),)
    writer = create(tmp_path / "m", HEADER, files, [planned, planned._replace(part=2)])
    writer.close()
    found = read(writer.path)
    assert found.planned[1][1] == planned
    assert json.loads(planned.line()) == planned.to_json()
    assert json.loads(done.line()) == done.to_json()


def test_a_manifest_gives_each_files_first_position(tmp_path: Path) -> None:
    files = tuple(
        FileRecord(i, f"/d/{i}", f"{i}", 10, 1, parts) for i, parts in ((1, 3), (2, 1), (3, 2))
    )
    writer = create(tmp_path / "m", HEADER, files, version=1)
    writer.close()
    assert read(writer.path).first_positions() == {1: 0, 2: 3, 3: 4}
