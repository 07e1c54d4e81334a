"""Tests for postie.manifest: zstd frames of JSON Lines, durable before posting.

Version 2 (written for new transfers) first: frame 0 with every planned line, CRC lines
and frontiers after it. Then version 1 (still read, and appended to when a transfer begun
with it resumes), whose tests also cover the reader's frames, torn tails and damage."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

import postie.manifest as manifest_module
import postie.manifest.reader
import postie.manifest.writer
from postie.errors import ManifestError
from postie.manifest import (
    VERSION,
    ArticleRecord,
    CrcRecord,
    FileRecord,
    Frontier,
    Manifest,
    ManifestReader,
    ManifestWriter,
    PlannedRecord,
    create,
    first_positions,
    read,
    reopen,
)

ODD_PATH = os.fsdecode(b"/data/\xff\xfe odd.bin")  # not UTF-8

HEADER: dict[str, Any] = {
    "groups": ["alt.binaries.test", "alt.binaries.misc"],
    "poster": "Poster <poster@example.com>",
    "date": 1_700_000_000,
    "article_size": 716_800,
    "subject": '"{name}" yEnc ({part}/{parts})',
    "obfuscation": "full",
    "name": "naïve ünïcode job",
}

FILES = (
    FileRecord(1, "/data/a.bin", "a.bin", 2_000_000, 1_111, 3),
    FileRecord(2, ODD_PATH, "\\xff\\xfe odd.bin", 100, 2_222, 1),
    FileRecord(3, "/data/a.par2", "a.par2", 500, 3_333, 1, role="par2"),
)


def article(file: int, part: int, *, obfuscated: bool = False) -> ArticleRecord:
    return ArticleRecord(
        file=file,
        part=part,
        offset=(part - 1) * 716_800,
        length=716_800,
        message_id=f"{file:04x}{part:08x}@example.com",
        crc32=(file * 0x9E3779B1 + part * 0x85EBCA77) & 0xFFFFFFFF,
        size=741_000 + part,
        subject=f"subject-{file}-{part}" if obfuscated else None,
        poster=f"p{part} <p{part}@x{file}.com>" if obfuscated else None,
        wire_name=f"wire-{file}-{part}" if obfuscated else None,
    )


def new_v1(tmp_path: Path) -> ManifestWriter:
    """A version 1 manifest: frame 0 without planned lines, article lines appended."""
    return create(tmp_path / "job.manifest", HEADER, FILES, version=1)


def planned(file: int, part: int, *, obfuscated: bool = False) -> PlannedRecord:
    return article(file, part, obfuscated=obfuscated).planned()


PLANNED = [
    planned(1, 1),
    planned(1, 2, obfuscated=True),
    planned(1, 3),
    planned(2, 1),
    planned(3, 1),
]
FILES_V2 = (
    FileRecord(1, "/data/a.bin", "a.bin", 2_000_000, 1_111, 3, ino=77, ctime_ns=1_112),
    FileRecord(2, ODD_PATH, "\\xff\\xfe odd.bin", 100, 2_222, 1, ino=78, ctime_ns=2_223),
    FileRecord(3, "/data/a.par2", "a.par2", 500, 3_333, 1, role="par2"),
)


def new(tmp_path: Path) -> ManifestWriter:
    """A version 2 manifest: every planned line in frame 0."""
    return create(tmp_path / "job.manifest", HEADER, FILES_V2, PLANNED)


def crc(file: int, part: int) -> CrcRecord:
    line = article(file, part)
    return CrcRecord(file, part, line.crc32, line.size)


def add(writer: ManifestWriter, *lines: CrcRecord) -> None:
    for line in lines:
        writer.add(*line)


def zstd_frames(path: Path) -> int:
    return path.read_bytes().count(b"\x28\xb5\x2f\xfd")


# --- version 2 --------------------------------------------------------------------------------


def test_v2_frame_zero_holds_every_planned_line(tmp_path: Path) -> None:
    writer = new(tmp_path)
    path = tmp_path / "job.manifest"
    try:
        assert (writer.size, writer.version, writer.frontier) == (path.stat().st_size, 2, 0)
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0  # private
        assert [p.name for p in tmp_path.iterdir()] == ["job.manifest"]  # no temp file left
        m = read(path, durable_bytes=writer.size)
        assert (m.version, m.header, m.end, m.frontier) == (2, HEADER, writer.size, 0)
        assert m.files == {f.file: f for f in FILES_V2}
        assert (m.files[1].ino, m.files[1].ctime_ns) == (77, 1_112)
        assert m.planned == {
            1: {1: PLANNED[0], 2: PLANNED[1], 3: PLANNED[2]},
            2: {1: PLANNED[3]},
            3: {1: PLANNED[4]},
        }
        assert m.articles == {1: {}, 2: {}, 3: {}}  # no CRC32 known yet
        lines = (
            zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes()).splitlines()
        )
        assert json.loads(lines[0])["postie_manifest"] == VERSION == 2
        assert len(lines) == 1 + len(FILES_V2) + len(PLANNED)
        assert zstd_frames(path) == 1
    finally:
        writer.close()


def test_v2_crc_lines_and_frontiers_after_frame_zero(tmp_path: Path) -> None:
    writer = new(tmp_path)
    size0 = writer.size
    add(writer, crc(1, 1), crc(2, 1))
    assert writer.unsynced == 2
    assert writer.path.stat().st_size == size0, "queued lines are not written unasked"
    size1 = writer.flush(frontier=3)
    assert (writer.unsynced, writer.frontier) == (0, 3)
    add(writer, crc(1, 3))
    size2 = writer.flush()  # CRC lines only: the frontier stays
    size3 = writer.flush(frontier=2)  # behind the durable frontier: nothing to write
    size4 = writer.flush(frontier=5)  # a frontier alone
    writer.close()
    assert size0 < size1 < size2 == size3 < size4 == writer.path.stat().st_size
    assert writer.frames == 3
    m = read(writer.path, durable_bytes=size4)
    assert m.frontier == 5
    assert m.articles == {
        1: {1: article(1, 1), 3: article(1, 3)},
        2: {1: article(2, 1)},
        3: {},
    }
    assert m.articles[1][1].planned() == m.planned[1][1]
    # what iterating a reader yields: each article's identity, frame 0 only
    assert list(ManifestReader(writer.path, durable_bytes=size4)) == PLANNED
    entries = list(ManifestReader(writer.path).entries())
    assert entries == [
        *PLANNED,
        crc(1, 1),
        crc(2, 1),
        Frontier(3),
        crc(1, 3),
        Frontier(5),
    ]


def test_v2_identities_are_read_without_the_frames_after_frame_zero(tmp_path: Path) -> None:
    """A scan reads only frame 0: damage after it does not stop a verification."""
    writer = new(tmp_path)
    add(writer, crc(1, 1))
    end = writer.flush(frontier=4)
    writer.close()
    flip(writer.path, end - 3)
    assert [r.message_id for r in ManifestReader(writer.path, durable_bytes=end)] == [
        p.message_id for p in PLANNED
    ]
    with pytest.raises(ManifestError, match="is corrupt"):
        read(writer.path, durable_bytes=end)


def test_v2_frame_zero_of_a_large_plan_is_streamed_in_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frame 0 is written frame by frame into the temporary file as the planned lines
    come (a plan never whole in memory as text), renamed once all are synced; file
    records and planned lines both span frames."""
    monkeypatch.setattr(postie.manifest.writer, "FRAME_LINES", 7)
    monkeypatch.setattr(postie.manifest.writer, "BATCH_LINES", 3)  # a frame in batches
    path = tmp_path / "big.manifest"
    files = [FileRecord(i, f"/d/{i}.bin", f"{i}.bin", 10 * 716_800, i, 10) for i in (1, 2)]
    files += [FileRecord(i, f"/d/{i}.bin", f"{i}.bin", 9, i, 1) for i in range(3, 13)]
    lines = [
        planned(f.file, n, obfuscated=n % 2 == 0) for f in files for n in range(1, f.parts + 1)
    ]
    seen: list[int] = []

    def given() -> Iterator[PlannedRecord]:
        for n, line in enumerate(lines):
            if n == len(lines) - 1:
                (temp,) = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
                seen.append(zstd_frames(temp))
                assert not path.exists()
            yield line

    writer = create(path, HEADER, files, given())
    writer.close()
    assert len(seen) == 1
    assert seen[0] >= 5, "frame 0 was not written as the lines came"
    total = 1 + len(files) + len(lines)
    assert zstd_frames(path) == -(-total // 7)
    m = read(path, durable_bytes=writer.size)
    assert [p for parts in m.planned.values() for p in parts.values()] == lines
    assert list(m.files.values()) == files
    assert m.end == writer.size


def test_v2_damage_anywhere_in_frame_zero_is_corrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frame 0 was written whole before anything was posted: damage in any of its zstd
    frames is corruption, not a torn tail, whatever the store knew durable, and salvage
    cannot keep a plan without its Message-IDs."""
    monkeypatch.setattr(postie.manifest.writer, "FRAME_LINES", 3)
    writer = new(tmp_path)
    writer.close()
    assert zstd_frames(writer.path) == 3
    data = writer.path.read_bytes()
    last = data.rindex(b"\x28\xb5\x2f\xfd")
    writer.path.write_bytes(data[: last + (len(data) - last) // 2])  # its last frame torn
    for salvage in (False, True):
        with pytest.raises(ManifestError, match="is corrupt at byte"):
            read(writer.path, salvage=salvage)
    writer.path.write_bytes(data[:last])  # its last frame gone
    with pytest.raises(ManifestError, match="without the lines of 3 planned articles"):
        read(writer.path)


def test_v2_torn_tail_is_cut_off_and_the_frontier_kept(tmp_path: Path) -> None:
    writer = new(tmp_path)
    add(writer, crc(1, 1))
    durable = writer.flush(frontier=3)
    add(writer, crc(1, 2), crc(2, 1))
    end = writer.flush(frontier=6)  # a frame...
    writer.close()
    os.truncate(writer.path, durable + (end - durable) // 2)  # ...half of it on disk
    m = read(writer.path, durable_bytes=durable)
    assert (m.end, m.frontier) == (durable, 3)
    assert m.articles[1] == {1: article(1, 1)}
    again = reopen(m)
    assert (again.size, again.version, again.frontier) == (durable, 2, 3)
    assert writer.path.stat().st_size == durable
    add(again, crc(1, 2))
    again.flush()
    again.close()
    m = read(writer.path, durable_bytes=again.size)
    assert (m.frontier, sorted(m.articles[1])) == (3, [1, 2])


def test_v2_crc_line_of_a_part_not_planned_is_refused(tmp_path: Path) -> None:
    writer = new(tmp_path)
    writer.add(1, 4, 0, 10)  # file 1 has 3 parts
    writer.flush()
    writer.close()
    with pytest.raises(ManifestError, match="bad article line"):
        read(writer.path)


def test_v2_a_failed_flush_keeps_its_lines_for_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = new(tmp_path)
    size = writer.size
    add(writer, crc(1, 1), crc(1, 2))
    with monkeypatch.context() as patch:
        disk_full_after(patch, errno.ENOSPC, 9)
        with pytest.raises(ManifestError, match="no space left on the device"):
            writer.flush(frontier=4)
    assert (writer.size, writer.frontier, writer.unsynced) == (size, 0, 2)
    assert writer.path.stat().st_size == size  # the partly written frame is cut off
    add(writer, crc(2, 1))
    end = writer.flush(frontier=4)
    writer.close()
    m = read(writer.path, durable_bytes=end)
    assert (m.frontier, m.article_count) == (4, 3)
    assert [line for parts in m.articles.values() for line in parts.values()] == [
        article(1, 1),
        article(1, 2, obfuscated=True),
        article(2, 1),
    ]


async def test_v2_sync_on_the_writers_thread(tmp_path: Path) -> None:
    writer = new(tmp_path)
    size = writer.size
    nothing = writer.sync()
    assert nothing.done(), "nothing to write: no thread hop"
    assert nothing.result() == size
    add(writer, crc(1, 1))
    first, second = writer.sync(), writer.sync(frontier=2)
    assert await first <= await second == writer.size
    assert writer.frontier == 2
    assert writer.sync(frontier=1).result() == writer.size  # behind it: done at once
    writer.close()
    writer.close()  # idempotent
    assert read(writer.path).articles[1] == {1: article(1, 1)}


async def test_v2_a_full_queue_is_written_unasked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postie.manifest.writer, "FLUSH_LINES", 3)
    writer = new(tmp_path)
    add(writer, crc(1, 1), crc(1, 2))
    await asyncio.sleep(0.05)
    assert writer.frames == 0
    add(writer, crc(1, 3))  # the third: the writer's thread writes them
    for _ in range(200):
        if not writer.unsynced:
            break
        await asyncio.sleep(0.01)
    assert (writer.unsynced, writer.frames) == (0, 1)
    writer.close()
    assert sorted(read(writer.path).articles[1]) == [1, 2, 3]


@given(
    message_id=st.text(max_size=40),
    subject=st.none() | st.text(max_size=20),
    name=st.text(max_size=20),
    ino=st.none() | st.integers(0, 2**64),
)
def test_v2_fast_lines_are_the_same_json(
    message_id: str, subject: str | None, name: str, ino: int | None
) -> None:
    planned_line = PlannedRecord(1, 2, 3, 4, message_id, subject, None, "n")
    assert json.loads(planned_line.line()) == planned_line.to_json()
    record = FileRecord(1, "/x/y", name, 5, 6, 7, ino=ino, ctime_ns=ino)
    assert json.loads(record.line()) == record.to_json()
    assert json.loads(CrcRecord(1, 2, 0xFFFFFFFF, 9).line()) == {
        "f": 1,
        "i": 2,
        "crc": "ffffffff",
        "b": 9,
    }


def test_first_positions_follow_the_plans_order() -> None:
    assert first_positions([(2, 1), (1, 3), (3, 5)]) == {1: 0, 2: 3, 3: 4}


# --- version 1 --------------------------------------------------------------------------------


def all_articles(m: Manifest) -> list[ArticleRecord]:
    return [a for parts in m.articles.values() for a in parts.values()]


# --- writing and reading back -----------------------------------------------------------------


def test_create_writes_frame_zero(tmp_path: Path) -> None:
    writer = new_v1(tmp_path)
    path = tmp_path / "job.manifest"
    try:
        assert writer.path == path
        assert writer.size == path.stat().st_size > 0
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0  # private
        assert not (tmp_path / "job.manifest.tmp").exists()
        m = read(path, durable_bytes=writer.size)
        assert m.path == path
        assert m.header == HEADER  # the version key is taken out
        assert m.files == {f.file: f for f in FILES}
        assert m.articles == {1: {}, 2: {}, 3: {}}
        assert m.article_count == 0
        assert m.end == writer.size
        # frame 0 is one zstd frame of JSON Lines, the header first
        lines = (
            zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes()).splitlines()
        )
        first = json.loads(lines[0])
        assert first["postie_manifest"] == 1
        assert (m.version, m.frontier) == (1, None)
        assert len(lines) == 1 + len(FILES)
    finally:
        writer.close()


def test_create_makes_the_folder(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "job.manifest"
    create(path, HEADER, FILES_V2, PLANNED).close()
    assert read(path).files[1] == FILES_V2[0]


def test_round_trip_with_articles(tmp_path: Path) -> None:
    writer = new_v1(tmp_path)
    first = [article(1, 1), article(1, 2), article(2, 1, obfuscated=True)]
    second = [article(1, 3, obfuscated=True), article(3, 1)]
    size0 = writer.size
    size1 = writer.append(first)
    size2 = writer.append(second)
    writer.close()
    assert size0 < size1 < size2 == writer.size == (tmp_path / "job.manifest").stat().st_size

    m = read(tmp_path / "job.manifest", durable_bytes=size2)
    assert m.header == HEADER
    assert m.files[2].path == ODD_PATH
    assert os.fsencode(m.files[2].path) == b"/data/\xff\xfe odd.bin"
    assert m.articles == {
        1: {1: first[0], 2: first[1], 3: second[0]},
        2: {1: first[2]},
        3: {1: second[1]},
    }
    obfuscated = m.articles[2][1]
    assert (obfuscated.subject, obfuscated.poster, obfuscated.wire_name) == (
        "subject-2-1",
        "p1 <p1@x2.com>",
        "wire-2-1",
    )
    plain = m.articles[1][1]
    assert (plain.subject, plain.poster, plain.wire_name) == (None, None, None)
    assert m.article_count == 5
    assert m.end == size2


def test_crc_extremes_round_trip(tmp_path: Path) -> None:
    writer = new_v1(tmp_path)
    low = ArticleRecord(1, 1, 0, 10, "low@x", 0, 20)
    high = ArticleRecord(1, 2, 10, 10, "high@x", 0xFFFFFFFF, 20)
    writer.append([low, high])
    writer.close()
    m = read(writer.path)
    assert m.articles[1] == {1: low, 2: high}


def test_append_nothing_writes_nothing(tmp_path: Path) -> None:
    writer = new_v1(tmp_path)
    size = writer.size
    assert writer.append([]) == size
    writer.close()
    assert writer.path.stat().st_size == size


def test_the_writer_counts_the_frames_it_appended(tmp_path: Path) -> None:
    """``frames`` (the progress report's manifest_frames) is the number of frames this
    writer appended: not frame 0, not an empty append, one per batch."""
    writer = new_v1(tmp_path)
    assert writer.frames == 0
    writer.append([])
    assert writer.frames == 0
    writer.append([article(1, 1), article(1, 2)])
    writer.append([article(1, 3)])
    assert writer.frames == 2
    writer.close()
    again = reopen(read(writer.path))
    assert again.frames == 0
    again.append([article(2, 1)])
    again.close()
    assert again.frames == 1


def test_many_frames(tmp_path: Path) -> None:
    writer = new_v1(tmp_path)
    expected: list[ArticleRecord] = []
    for part in range(1, 201, 4):
        batch = [article(1, p, obfuscated=p % 3 == 0) for p in range(part, part + 4)]
        writer.append(batch)
        expected.extend(batch)
    writer.close()
    m = read(writer.path, durable_bytes=writer.size)
    assert m.article_count == 200
    assert all_articles(m) == expected
    assert m.end == writer.size


def test_frames_straddling_read_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = new_v1(tmp_path)
    for part in range(1, 41, 2):
        writer.append([article(1, part), article(2, part + 1, obfuscated=True)])
    writer.close()
    whole = read(writer.path, durable_bytes=writer.size)
    for chunk in (1, 7, 64, 1000):
        monkeypatch.setattr(postie.manifest.reader, "_CHUNK", chunk)
        m = read(writer.path, durable_bytes=writer.size)
        assert (m.header, m.files, m.articles, m.end) == (
            whole.header,
            whole.files,
            whole.articles,
            whole.end,
        ), chunk


def test_file_records_needing_escapes_round_trip(tmp_path: Path) -> None:
    """A file line goes through json when any of its strings needs escaping (here only the
    name), and keeps every field, the role included."""
    odd = FileRecord(1, "/data/plain.par2", 'say "hi".par2', 500, 1, 1, role="par2", ino=3)
    create(tmp_path / "job.manifest", HEADER, [odd], [planned(1, 1)]).close()
    assert read(tmp_path / "job.manifest").files == {1: odd}


def test_a_file_line_without_a_role_is_data(tmp_path: Path) -> None:
    """File lines written before roles existed read as data files."""
    path = tmp_path / "old.manifest"
    line = FILES[0].to_json()
    del line["role"]
    write_frame(path, [{"postie_manifest": 1, **HEADER}, line])
    assert read(path).files == {1: FILES[0]}
    assert FILES[0].role == "data"


def test_short_writes_still_append_whole_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """os.pwrite may write less than it was given; the rest goes after it, not over it."""
    real_pwrite = os.pwrite

    def pwrite(fd: int, data: Any, offset: int) -> int:
        return real_pwrite(fd, bytes(data[:7]), offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    writer = new_v1(tmp_path)
    first = writer.append([article(1, 1), article(1, 2, obfuscated=True)])
    end = writer.append([article(2, 1)])
    writer.close()
    assert first < end == writer.path.stat().st_size
    assert all_articles(read(writer.path, durable_bytes=end)) == [
        article(1, 1),
        article(1, 2, obfuscated=True),
        article(2, 1),
    ]


# --- refusing what it cannot read -------------------------------------------------------------


def write_frame(path: Path, lines: Sequence[object]) -> None:
    text = "".join(json.dumps(line) + "\n" for line in lines)
    path.write_bytes(zstandard.ZstdCompressor(write_checksum=True).compress(text.encode()))


def test_unknown_format_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.manifest"
    write_frame(path, [{"postie_manifest": 3, "groups": []}, FILES[0].to_json()])
    with pytest.raises(ManifestError, match="has format version 3;") as info:
        read(path)
    assert str(path) in str(info.value)
    assert "reads 1 and 2" in str(info.value)


@pytest.mark.parametrize(
    "first",
    [
        pytest.param({"groups": []}, id="no-version-key"),
        pytest.param(["postie_manifest", 1], id="a-list"),
        pytest.param("hello", id="a-string"),
    ],
)
def test_frame_zero_without_a_header_is_not_a_manifest(tmp_path: Path, first: object) -> None:
    path = tmp_path / "other.manifest"
    write_frame(path, [first])
    with pytest.raises(ManifestError, match="not a postie manifest") as info:
        read(path)
    assert str(path) in str(info.value)


def test_bad_file_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.manifest"
    write_frame(path, [{"postie_manifest": VERSION}, {"file": 1, "path": "/x"}])
    with pytest.raises(ManifestError, match="bad file line"):
        read(path)


def test_bad_article_line(tmp_path: Path) -> None:
    writer = new_v1(tmp_path)
    writer.close()
    bad = json.dumps({"f": 1, "i": 1, "o": 0}) + "\n"
    with open(writer.path, "ab") as handle:
        handle.write(zstandard.ZstdCompressor().compress(bad.encode()))
    with pytest.raises(ManifestError, match="bad article line"):
        read(writer.path)


def test_an_article_line_that_is_not_json_is_named(tmp_path: Path) -> None:
    """A frame that does not parse as a whole is read line by line to name the bad line."""
    writer = new_v1(tmp_path)
    writer.close()
    text = article(1, 1).line() + "\n" + "not json at all\n"
    with open(writer.path, "ab") as handle:
        handle.write(zstandard.ZstdCompressor().compress(text.encode()))
    with pytest.raises(ManifestError) as info:
        read(writer.path)
    assert str(info.value) == (
        f"the manifest {writer.path} has a bad article line: not json at all"
    )


def test_a_line_holding_two_records_is_a_bad_line(tmp_path: Path) -> None:
    """Two records on one line parse as a whole frame (one more element than lines):
    the frame is read line by line and that line is named, whatever follows it."""
    writer = new(tmp_path)
    writer.close()
    two = article(1, 1).line() + "," + article(1, 2).line()
    text = two + "\n" + article(1, 3).line() + "\n"
    with open(writer.path, "ab") as handle:
        handle.write(zstandard.ZstdCompressor().compress(text.encode()))
    with pytest.raises(ManifestError) as info:
        read(writer.path)
    assert str(info.value) == f"the manifest {writer.path} has a bad article line: {two[:80]}"


def test_article_of_an_unknown_file_is_a_bad_line(tmp_path: Path) -> None:
    writer = new_v1(tmp_path)
    writer.append([article(9, 1)])
    writer.close()
    with pytest.raises(ManifestError, match="bad article line"):
        read(writer.path)


def test_missing_manifest(tmp_path: Path) -> None:
    path = tmp_path / "gone.manifest"
    with pytest.raises(ManifestError, match="is missing") as info:
        read(path)
    assert str(path) in str(info.value)


def test_a_manifest_that_cannot_be_read_says_why(tmp_path: Path) -> None:
    """Other errors than a missing file name the manifest and the system's reason."""
    under_a_file = tmp_path / "file" / "job.manifest"
    under_a_file.parent.write_bytes(b"")
    with pytest.raises(ManifestError) as info:
        read(under_a_file)
    assert str(info.value) == (
        f"cannot read the manifest {under_a_file}: {os.strerror(errno.ENOTDIR)}"
    )
    with pytest.raises(ManifestError) as info:
        read(tmp_path)  # a folder: stat works, reading does not
    assert str(info.value) == f"cannot read the manifest {tmp_path}: {os.strerror(errno.EISDIR)}"


def test_empty_manifest(tmp_path: Path) -> None:
    path = tmp_path / "empty.manifest"
    path.write_bytes(b"")
    with pytest.raises(ManifestError, match="is empty"):
        read(path)


def test_reopen_of_a_missing_manifest(tmp_path: Path) -> None:
    writer = new_v1(tmp_path)
    writer.close()
    m = read(writer.path)
    writer.path.unlink()
    with pytest.raises(ManifestError) as info:
        reopen(m)
    assert str(info.value).startswith(
        f"cannot repair the manifest {writer.path}: {os.strerror(errno.ENOENT)};"
    )


def test_truncated_below_durable_bytes(tmp_path: Path) -> None:
    writer = new_v1(tmp_path)
    writer.append([article(1, 1)])
    durable = writer.append([article(1, 2)])
    writer.close()
    os.truncate(writer.path, durable - 3)
    with pytest.raises(
        ManifestError, match=r"is truncated: \d+ bytes, but \d+ were durable"
    ) as info:
        read(writer.path, durable_bytes=durable)
    assert str(writer.path) in str(info.value)
    assert str(durable) in str(info.value)


# --- torn tails and corruption ----------------------------------------------------------------


def torn_by_garbage(path: Path, size: int) -> None:
    with open(path, "ab") as handle:
        handle.write(b"\x00garbage after the last durable frame\xff" * 3)


def torn_by_half_a_frame(path: Path, size: int) -> None:
    writer = ManifestWriter(path, size)
    end = writer.append([article(2, 1), article(3, 1)])  # a real frame...
    writer.close()
    os.truncate(path, size + (end - size) // 2)  # ...of which only half reached the disk


@pytest.mark.parametrize("tear", [torn_by_garbage, torn_by_half_a_frame])
def test_torn_tail_is_ignored_and_cut_off(
    tmp_path: Path, tear: Callable[[Path, int], None]
) -> None:
    writer = new_v1(tmp_path)
    durable = writer.append([article(1, 1), article(1, 2)])
    writer.close()
    tear(writer.path, durable)
    assert writer.path.stat().st_size > durable

    for known in (0, durable):
        m = read(writer.path, durable_bytes=known)
        assert m.end == durable
        assert all_articles(m) == [article(1, 1), article(1, 2)]

    again = reopen(m)
    assert writer.path.stat().st_size == durable == again.size
    later = article(1, 3, obfuscated=True)
    end = again.append([later])
    again.close()
    assert end == writer.path.stat().st_size
    m = read(writer.path, durable_bytes=end)
    assert all_articles(m) == [article(1, 1), article(1, 2), later]
    assert m.end == end


def test_reopen_without_a_tail_keeps_the_file(tmp_path: Path) -> None:
    writer = new_v1(tmp_path)
    durable = writer.append([article(1, 1)])
    writer.close()
    before = writer.path.read_bytes()
    again = reopen(read(writer.path, durable_bytes=durable))
    again.close()
    assert again.size == durable
    assert writer.path.read_bytes() == before


def test_torn_frame_zero_is_corrupt(tmp_path: Path) -> None:
    writer = new_v1(tmp_path)
    writer.close()
    os.truncate(writer.path, writer.size // 2)
    with pytest.raises(ManifestError, match="is corrupt"):
        read(writer.path)


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("frame", [0, 1, 2])
def test_corruption_inside_the_durable_part(tmp_path: Path, frame: int) -> None:
    writer = new_v1(tmp_path)
    bounds = [0, writer.size]
    bounds.append(writer.append([article(1, p) for p in range(1, 20)]))
    bounds.append(writer.append([article(2, 1, obfuscated=True)]))
    writer.close()
    flip(writer.path, (bounds[frame] + bounds[frame + 1]) // 2)  # the middle of the frame
    with pytest.raises(ManifestError, match="is corrupt") as info:
        read(writer.path, durable_bytes=bounds[-1])
    assert str(writer.path) in str(info.value)


def test_damage_before_durable_bytes_is_not_a_torn_tail(tmp_path: Path) -> None:
    # The checksum of the last durable frame damaged: not a torn tail, the frame was durable.
    writer = new_v1(tmp_path)
    writer.append([article(1, 1)])
    durable = writer.append([article(1, 2)])
    writer.close()
    with open(writer.path, "r+b") as handle:
        handle.seek(durable - 4)
        handle.write(b"\x00\x00\x00\x00")
    with pytest.raises(ManifestError, match="is corrupt"):
        read(writer.path, durable_bytes=durable)


def damaged(tmp_path: Path) -> tuple[Path, int, int]:
    """A manifest of three article frames, the third with a bad line: its path, the end
    of the first frame and the end of the second (version 1: article lines after frame 0)."""
    writer = new_v1(tmp_path)
    first = writer.append([article(1, 1)])
    second = writer.append([article(1, 2), article(1, 3, obfuscated=True)])
    writer.close()
    bad = json.dumps({"f": 1, "i": 4, "o": 0}) + "\n"
    with open(writer.path, "ab") as handle:
        handle.write(zstandard.ZstdCompressor().compress(bad.encode()))
    return writer.path, first, second


def test_salvage_keeps_the_frames_before_the_damage(tmp_path: Path) -> None:
    """``read(salvage=True)`` ends at the first damaged frame after frame 0 and keeps
    what comes before it; without salvage (also by default) the damage is an error."""
    path, _, second = damaged(tmp_path)
    m = read(path, salvage=True)
    assert all_articles(m) == [article(1, 1), article(1, 2), article(1, 3, obfuscated=True)]
    assert m.end == second
    with pytest.raises(ManifestError, match="bad article line"):
        read(path)
    with pytest.raises(ManifestError, match="bad article line"):
        list(manifest_module.ManifestReader(path))


def test_salvage_reads_past_durable_bytes(tmp_path: Path) -> None:
    """Salvaging a manifest damaged inside its durable part keeps the frames before the
    damage instead of refusing it (that refusal is what salvage is for)."""
    path, first, second = damaged(tmp_path)
    path.write_bytes(path.read_bytes()[:second])  # no bad line now: a broken frame
    flip(path, (first + second) // 2)
    with pytest.raises(ManifestError, match="is corrupt"):
        read(path, durable_bytes=second)
    m = read(path, durable_bytes=second, salvage=True)
    assert all_articles(m) == [article(1, 1)]
    assert m.end == first


def test_v2_salvage_keeps_the_crc_frames_before_the_damage(tmp_path: Path) -> None:
    """Version 2: salvage keeps frame 0 (every Message-ID) and the CRC frames before the
    damaged one, whose parts resume re-encodes and STATs."""
    writer = new(tmp_path)
    add(writer, crc(1, 1))
    first = writer.flush(frontier=1)
    add(writer, crc(1, 3))
    second = writer.flush(frontier=3)
    writer.close()
    flip(writer.path, (first + second) // 2)
    with pytest.raises(ManifestError, match="is corrupt"):
        read(writer.path, durable_bytes=second)
    m = read(writer.path, durable_bytes=second, salvage=True)
    assert (m.end, m.frontier) == (first, 1)
    assert m.articles == {1: {1: article(1, 1)}, 2: {}, 3: {}}
    assert [p for parts in m.planned.values() for p in parts.values()] == PLANNED


# --- disk full --------------------------------------------------------------------------------


def disk_full_after(
    monkeypatch: pytest.MonkeyPatch, code: int, allowed_bytes: int
) -> Callable[[], int]:
    """Make os.write and os.pwrite write ``allowed_bytes`` at most,
    then fail with ``code``."""
    real_write = os.write
    real_pwrite = os.pwrite
    written = 0
    calls = 0

    def room() -> int:
        nonlocal calls
        calls += 1
        left = allowed_bytes - written
        if left <= 0:
            raise OSError(code, os.strerror(code))
        return left

    def write(fd: int, data: Any) -> int:
        nonlocal written
        done = real_write(fd, bytes(data[: room()]))
        written += done
        return done

    def pwrite(fd: int, data: Any, offset: int) -> int:
        nonlocal written
        done = real_pwrite(fd, bytes(data[: room()]), offset)
        written += done
        return done

    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "pwrite", pwrite)
    return lambda: calls


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
@pytest.mark.parametrize("allowed", [0, 9])
def test_append_on_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, allowed: int
) -> None:
    writer = new_v1(tmp_path)
    durable = writer.append([article(1, 1)])
    with monkeypatch.context() as patch:
        calls = disk_full_after(patch, code, allowed)
        with pytest.raises(ManifestError, match="no space left on the device") as info:
            writer.append([article(1, 2), article(1, 3)])
        assert calls() >= 1
    assert str(writer.path) in str(info.value)
    assert writer.size == durable
    assert writer.path.stat().st_size == durable  # a partly written frame is cut off
    m = read(writer.path, durable_bytes=durable)
    assert all_articles(m) == [article(1, 1)]
    # Once there is room again, the same writer goes on where it was.
    end = writer.append([article(1, 2)])
    writer.close()
    assert end == writer.path.stat().st_size
    assert all_articles(read(writer.path, durable_bytes=end)) == [article(1, 1), article(1, 2)]


@pytest.mark.parametrize("allowed", [0, 9])
def test_create_on_a_full_disk_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allowed: int
) -> None:
    path = tmp_path / "job.manifest"
    with monkeypatch.context() as patch:
        disk_full_after(patch, errno.ENOSPC, allowed)
        with pytest.raises(ManifestError, match="no space left on the device") as info:
            create(path, HEADER, FILES)
    assert str(info.value).startswith(f"cannot write the manifest {path}: no space left")
    assert str(info.value).endswith(
        " free); nothing of it was posted: free some space and run the same command again"
    )
    assert list(tmp_path.iterdir()) == []  # neither the manifest nor its .tmp


def test_append_when_fdatasync_finds_the_disk_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Some file systems accept the write and report ENOSPC only when flushing it.
    writer = new_v1(tmp_path)
    durable = writer.append([article(1, 1)])

    def fdatasync(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(os, "fdatasync", fdatasync)
        with pytest.raises(ManifestError, match="no space left on the device"):
            writer.append([article(1, 2)])
    writer.close()
    assert writer.size == durable
    assert writer.path.stat().st_size == durable
    assert all_articles(read(writer.path, durable_bytes=durable)) == [article(1, 1)]


def test_other_write_errors_say_what_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = new_v1(tmp_path)
    with monkeypatch.context() as patch:
        disk_full_after(patch, errno.EIO, 0)
        with pytest.raises(ManifestError) as info:
            writer.append([article(1, 1)])
    writer.close()
    assert str(info.value) == (
        f"cannot append to the manifest {writer.path}: {os.strerror(errno.EIO)}; nothing is"
        " lost: free some space and run the same command again"
    )


@given(
    message_id=st.text(max_size=40),
    subject=st.none() | st.text(max_size=20),
    poster=st.none() | st.text(max_size=20),
    crc=st.integers(0, 0xFFFFFFFF),
)
def test_fast_line_is_the_same_json(
    message_id: str, subject: str | None, poster: str | None, crc: int
) -> None:
    """Lines are formatted without json when no string needs escaping; either way the
    line must read back as the same record (quotes, backslashes, control characters,
    non-ASCII and lone surrogates from non-UTF-8 names included)."""
    record = ArticleRecord(1, 2, 3, 4, message_id, crc, 5, subject, poster, "n")
    assert json.loads(record.line()) == record.to_json()


async def test_submit_appends_on_the_writers_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = new_v1(tmp_path)
    first = await writer.submit([article(1, 1)])
    second = await writer.submit([article(1, 2), article(1, 3)])
    assert first < second == writer.size
    with monkeypatch.context() as patch:
        disk_full_after(patch, errno.ENOSPC, 0)
        with pytest.raises(ManifestError, match="no space left"):
            await writer.submit([article(1, 4)])
    writer.close()
    writer.close()  # idempotent
    assert all_articles(read(writer.path, durable_bytes=second)) == [
        article(1, 1),
        article(1, 2),
        article(1, 3),
    ]


def test_reader_streams_frame_by_frame(tmp_path: Path) -> None:
    writer = new_v1(tmp_path)
    writer.append([article(1, 1), article(1, 2)])
    end = writer.append([article(2, 1)])
    writer.close()
    reader = manifest_module.ManifestReader(writer.path, durable_bytes=end)
    assert reader.header == HEADER
    assert sorted(reader.files) == [f.file for f in FILES]
    seen = iter(reader)
    assert next(seen) == article(1, 1)  # the first frame is read, not the whole file
    assert reader.end < end
    assert list(seen) == [article(1, 2), article(2, 1)]
    assert reader.end == end


async def test_v2_sync_waits_for_lines_a_frame_is_still_writing(tmp_path: Path) -> None:
    """Lines already taken by a frame being written are not durable yet: a sync asked
    meanwhile waits for them (nothing queued is not the same as nothing unsynced)."""
    writer = new(tmp_path)
    writing, go_on = threading.Event(), threading.Event()
    real = writer._write

    def slow(text: str) -> None:
        writing.set()
        assert go_on.wait(10)
        real(text)

    writer._write = slow  # type: ignore[method-assign]
    add(writer, crc(1, 1))
    unasked = threading.Thread(target=writer.flush)
    unasked.start()
    assert writing.wait(10)  # the line is taken, its frame not written
    synced = writer.sync()
    assert not synced.done(), "a sync reported lines durable that were being written"
    go_on.set()
    assert await synced == writer.size
    unasked.join()
    writer.close()
    assert read(writer.path).articles[1] == {1: article(1, 1)}
