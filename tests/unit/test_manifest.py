"""Tests for postie.manifest: zstd frames of JSON Lines, durable before posting."""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

import postie.manifest as manifest_module
import postie.manifest.reader
from postie.errors import ManifestError
from postie.manifest import (
    VERSION,
    ArticleRecord,
    FileRecord,
    Manifest,
    ManifestWriter,
    create,
    read,
    reopen,
)

ODD_PATH = Path(os.fsdecode(b"/data/\xff\xfe odd.bin"))  # not UTF-8

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
    FileRecord(1, Path("/data/a.bin"), "a.bin", 2_000_000, 1_111, 3),
    FileRecord(2, ODD_PATH, "\\xff\\xfe odd.bin", 100, 2_222, 1),
    FileRecord(3, Path("/data/a.par2"), "a.par2", 500, 3_333, 1, role="par2"),
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


def new(tmp_path: Path) -> ManifestWriter:
    return create(tmp_path / "job.manifest", HEADER, FILES)


def all_articles(m: Manifest) -> list[ArticleRecord]:
    return [a for parts in m.articles.values() for a in parts.values()]


# --- writing and reading back -----------------------------------------------------------------


def test_create_writes_frame_zero(tmp_path: Path) -> None:
    writer = new(tmp_path)
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
        lines = zstandard.ZstdDecompressor().decompress(path.read_bytes()).splitlines()
        first = json.loads(lines[0])
        assert first["postie_manifest"] == VERSION == 1
        assert len(lines) == 1 + len(FILES)
    finally:
        writer.close()


def test_create_makes_the_folder(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "job.manifest"
    create(path, HEADER, FILES).close()
    assert read(path).files[1] == FILES[0]


def test_round_trip_with_articles(tmp_path: Path) -> None:
    writer = new(tmp_path)
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
    writer = new(tmp_path)
    low = ArticleRecord(1, 1, 0, 10, "low@x", 0, 20)
    high = ArticleRecord(1, 2, 10, 10, "high@x", 0xFFFFFFFF, 20)
    writer.append([low, high])
    writer.close()
    m = read(writer.path)
    assert m.articles[1] == {1: low, 2: high}


def test_append_nothing_writes_nothing(tmp_path: Path) -> None:
    writer = new(tmp_path)
    size = writer.size
    assert writer.append([]) == size
    writer.close()
    assert writer.path.stat().st_size == size


def test_the_writer_counts_the_frames_it_appended(tmp_path: Path) -> None:
    """``frames`` (the progress report's manifest_frames) is the number of frames this
    writer appended: not frame 0, not an empty append, one per batch."""
    writer = new(tmp_path)
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
    writer = new(tmp_path)
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
    writer = new(tmp_path)
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
    odd = FileRecord(1, Path("/data/plain.par2"), 'say "hi".par2', 500, 1, 1, role="par2")
    create(tmp_path / "job.manifest", HEADER, [odd]).close()
    assert read(tmp_path / "job.manifest").files == {1: odd}


def test_a_file_line_without_a_role_is_data(tmp_path: Path) -> None:
    """File lines written before roles existed read as data files."""
    path = tmp_path / "old.manifest"
    line = FILES[0].to_json()
    del line["role"]
    write_frame(path, [{"postie_manifest": VERSION, **HEADER}, line])
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
    writer = new(tmp_path)
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
    write_frame(path, [{"postie_manifest": 2, "groups": []}, FILES[0].to_json()])
    with pytest.raises(ManifestError, match="has format version 2;") as info:
        read(path)
    assert str(path) in str(info.value)
    assert f"reads {VERSION}" in str(info.value)


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
    writer = new(tmp_path)
    writer.close()
    bad = json.dumps({"f": 1, "i": 1, "o": 0}) + "\n"
    with open(writer.path, "ab") as handle:
        handle.write(zstandard.ZstdCompressor().compress(bad.encode()))
    with pytest.raises(ManifestError, match="bad article line"):
        read(writer.path)


def test_an_article_line_that_is_not_json_is_named(tmp_path: Path) -> None:
    """A frame that does not parse as a whole is read line by line to name the bad line."""
    writer = new(tmp_path)
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
    writer = new(tmp_path)
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
    writer = new(tmp_path)
    writer.close()
    m = read(writer.path)
    writer.path.unlink()
    with pytest.raises(ManifestError) as info:
        reopen(m)
    assert str(info.value).startswith(
        f"cannot repair the manifest {writer.path}: {os.strerror(errno.ENOENT)};"
    )


def test_truncated_below_durable_bytes(tmp_path: Path) -> None:
    writer = new(tmp_path)
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
    writer = new(tmp_path)
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
    writer = new(tmp_path)
    durable = writer.append([article(1, 1)])
    writer.close()
    before = writer.path.read_bytes()
    again = reopen(read(writer.path, durable_bytes=durable))
    again.close()
    assert again.size == durable
    assert writer.path.read_bytes() == before


def test_torn_frame_zero_is_corrupt(tmp_path: Path) -> None:
    writer = new(tmp_path)
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
    writer = new(tmp_path)
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
    writer = new(tmp_path)
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
    of the first frame and the end of the second."""
    writer = new(tmp_path)
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
    writer = new(tmp_path)
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
    assert list(tmp_path.iterdir()) == []  # neither the manifest nor its .tmp


def test_append_when_fdatasync_finds_the_disk_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Some file systems accept the write and report ENOSPC only when flushing it.
    writer = new(tmp_path)
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
    writer = new(tmp_path)
    with monkeypatch.context() as patch:
        disk_full_after(patch, errno.EIO, 0)
        with pytest.raises(ManifestError) as info:
            writer.append([article(1, 1)])
    writer.close()
    assert str(info.value) == (
        f"cannot append to the manifest {writer.path}: {os.strerror(errno.EIO)}; nothing of"
        " it was posted: free some space and run the same command again"
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
    writer = new(tmp_path)
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
    writer = new(tmp_path)
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
