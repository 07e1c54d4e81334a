"""Manifests: what every article of a transfer is, durable before it is posted.

One manifest per transfer, a sequence of zstd frames holding JSON Lines:

- frame 0, written when the transfer is created (temp file, fsync, rename,
  directory fsync): a versioned header with what all articles share (groups,
  poster, date, article size, subject template, obfuscation) and one record per
  file (path, name, size, mtime, number of parts);
- then frames appended while posting, one line per article (file, part,
  offset, length, Message-ID, CRC32, article bytes, and under obfuscation the
  per-article subject, From and yEnc name), each frame ``fdatasync``-ed before
  any of its articles is posted.

Why appended frames and not one file written whole before posting: the line of
an article carries its CRC32, known only once the article has been read and
encoded. Writing every line up front would mean reading every file twice before
the first post. Appending a frame per batch (group commit: while one frame is
being synced the next batch gathers) costs one ``fdatasync`` per batch and
keeps invariant 1: no article is posted before its line is durable. A frame
torn by a crash holds only articles that were never posted; the store records
how many bytes were durable at each checkpoint, so a torn tail past that point
is cut off on resume while damage before it is reported as a corrupt manifest.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import queue
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import zstandard

from postie.errors import ManifestError
from postie.fsutil import atomic_write, pwrite_all

VERSION = 1
_SAFE = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII without '"' and '\\'
_LEVEL = 3
_CHUNK = 64 * 1024  # read size; a frame's leftover bytes are copied once per frame, keep it small


@dataclass(frozen=True, slots=True)
class FileRecord:
    """A file's record in the manifest header (frame 0)."""

    file: int
    path: Path
    name: str
    size: int
    mtime_ns: int
    parts: int
    role: str = "data"

    def line(self) -> str:
        path = os.fsdecode(self.path)
        if not (
            _SAFE.fullmatch(path) and _SAFE.fullmatch(self.name) and _SAFE.fullmatch(self.role)
        ):
            return json.dumps(self.to_json(), separators=(",", ":"))
        return (
            f'{{"file":{self.file},"path":"{path}","name":"{self.name}","size":{self.size},'
            f'"mtime_ns":{self.mtime_ns},"parts":{self.parts},"role":"{self.role}"}}'
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "path": os.fsdecode(self.path),
            "name": self.name,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "parts": self.parts,
            "role": self.role,
        }


class ArticleRecord(NamedTuple):
    """One article's manifest line (a tuple: the engine makes one per article)."""

    file: int
    part: int
    offset: int
    length: int
    message_id: str
    crc32: int
    size: int  # bytes of the whole article as posted (the NZB's segment bytes)
    subject: str | None = None
    poster: str | None = None
    wire_name: str | None = None

    def line(self) -> str:
        """The JSON line; formatted directly when no string needs escaping (the usual
        case: hex IDs and names), through ``json`` otherwise."""
        strings = (self.message_id, self.subject or "", self.poster or "", self.wire_name or "")
        if not all(_SAFE.fullmatch(s) for s in strings):
            return json.dumps(self.to_json(), separators=(",", ":"))
        text = (
            f'{{"f":{self.file},"i":{self.part},"o":{self.offset},"l":{self.length},'
            f'"id":"{self.message_id}","crc":"{self.crc32:08x}","b":{self.size}'
        )
        if self.subject is not None:
            text += f',"s":"{self.subject}"'
        if self.poster is not None:
            text += f',"p":"{self.poster}"'
        if self.wire_name is not None:
            text += f',"n":"{self.wire_name}"'
        return text + "}"

    def to_json(self) -> dict[str, Any]:
        line: dict[str, Any] = {
            "f": self.file,
            "i": self.part,
            "o": self.offset,
            "l": self.length,
            "id": self.message_id,
            "crc": f"{self.crc32:08x}",
            "b": self.size,
        }
        if self.subject is not None:
            line["s"] = self.subject
        if self.poster is not None:
            line["p"] = self.poster
        if self.wire_name is not None:
            line["n"] = self.wire_name
        return line


@dataclass
class Manifest:
    """A manifest read back: header, files, and the article lines found."""

    path: Path
    header: dict[str, Any]
    files: dict[int, FileRecord]
    articles: dict[int, dict[int, ArticleRecord]] = field(default_factory=dict)
    end: int = 0  # bytes of complete frames; anything after is a torn tail

    @property
    def article_count(self) -> int:
        return sum(len(a) for a in self.articles.values())


def _compressor() -> zstandard.ZstdCompressor:
    return zstandard.ZstdCompressor(level=_LEVEL, write_checksum=True)


def _failure(path: Path, doing: str, exc: OSError) -> ManifestError:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason = "no space left on the device"
    return ManifestError(f"cannot {doing} the manifest {path}: {reason}; nothing of it was posted")


def create(path: Path, header: dict[str, Any], files: Sequence[FileRecord]) -> ManifestWriter:
    """Write frame 0 atomically and return a writer that appends article frames."""
    first = json.dumps({"postie_manifest": VERSION, **header}, separators=(",", ":"))
    text = "".join([first + "\n", *(f.line() + "\n" for f in files)])
    data = _compressor().compress(text.encode("utf-8", "surrogateescape"))
    try:
        atomic_write(path, data, mode=0o600)
    except OSError as exc:
        raise _failure(path, "write", exc) from None
    return ManifestWriter(path, len(data))


class ManifestWriter:
    """Appends article frames; each :meth:`append` returns once the frame is durable.

    Blocking: call it from a thread. Not thread-safe: one appender at a time.
    """

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size  # durable bytes
        self.frames = 0
        self._fd: int | None = None
        self._zstd = _compressor()
        self._jobs: queue.SimpleQueue[_SyncJob | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def submit(self, records: Sequence[ArticleRecord]) -> asyncio.Future[int]:
        """:meth:`append` on this writer's own thread; the future gives the durable size.

        One long-lived thread and a queue instead of ``asyncio.to_thread``: the
        generic executor path costs a ``concurrent.futures.Future`` and its lock
        per frame, on the event loop, the busiest thread.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._sync_loop, name="postie-manifest", daemon=True
            )
            self._thread.start()
        self._jobs.put((loop, future, records))
        return future

    def _sync_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            loop, future, records = job
            size: int | None = None
            error: BaseException | None = None
            try:
                size = self.append(records)
            except BaseException as exc:  # handed to the waiting task
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, future, size, error)
            del job, records

    def _open(self) -> int:
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_WRONLY)
            except OSError as exc:
                raise _failure(self.path, "open", exc) from None
        return self._fd

    def append(self, records: Sequence[ArticleRecord]) -> int:
        """Append one frame holding ``records``; fdatasync; return the durable size."""
        if not records:
            return self.size
        text = "".join([r.line() + "\n" for r in records])
        data = self._zstd.compress(text.encode("utf-8", "surrogateescape"))
        fd = self._open()
        try:
            pwrite_all(fd, data, self.size)
            os.fdatasync(fd)
        except OSError as exc:
            # Cut a partly written frame off, so the file ends on a whole frame.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, self.size)
            raise _failure(self.path, "append to", exc) from None
        self.size += len(data)
        self.frames += 1
        return self.size

    def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            thread.join()
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


_SyncJob = tuple[asyncio.AbstractEventLoop, "asyncio.Future[int]", Sequence[ArticleRecord]]


def _settle(future: asyncio.Future[int], size: int | None, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        assert size is not None
        future.set_result(size)


def _frames(path: Path) -> Iterator[tuple[int, bytes | None]]:
    """(end offset, decompressed bytes) per frame; ``None`` bytes for a broken frame."""
    # one decompression context for the whole file (making one per frame cost more
    # than decompressing a small frame); each frame gets its own decompressobj
    context = zstandard.ZstdDecompressor()
    with open(path, "rb") as handle:
        pending = b""
        offset = 0
        eof = False
        while True:
            if not pending:
                pending = handle.read(_CHUNK)
                if not pending:
                    return
            decoder = context.decompressobj()
            out: list[bytes] = []
            used = 0
            try:
                while True:
                    out.append(decoder.decompress(pending))
                    if decoder.eof:
                        rest = decoder.unused_data
                        used += len(pending) - len(rest)
                        pending = rest
                        break
                    used += len(pending)
                    pending = handle.read(_CHUNK)
                    if not pending:
                        eof = True
                        break
            except zstandard.ZstdError:
                yield offset, None
                return
            if eof:
                yield offset, None  # incomplete last frame
                return
            offset += used
            yield offset, b"".join(out)


class ManifestReader:
    """Streams a manifest: ``header`` and ``files`` are read on opening; iterating
    yields the article lines frame by frame (memory stays at one frame), and
    ``end`` is then the byte offset after the last complete frame.

    Damage at or before ``durable_bytes`` is an error; a broken frame after it is
    a torn tail (its articles were never posted) and ends the iteration.
    """

    def __init__(self, path: Path, *, durable_bytes: int = 0) -> None:
        self.path = path
        self.durable_bytes = durable_bytes
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise ManifestError(f"the manifest {path} is missing") from None
        except OSError as exc:
            raise ManifestError(f"cannot read the manifest {path}: {exc.strerror}") from None
        if size < durable_bytes:
            raise ManifestError(
                f"the manifest {path} is truncated: {size} bytes, but {durable_bytes} were"
                " durable at the last checkpoint"
            )
        self._frames = _frames(path)
        try:
            first = next(self._frames, None)
        except OSError as exc:
            raise ManifestError(f"cannot read the manifest {path}: {exc.strerror}") from None
        if first is None:
            raise ManifestError(f"the manifest {path} is empty")
        end, data = first
        if data is None:
            raise ManifestError(
                f"the manifest {path} is corrupt at byte 0 (durable up to {durable_bytes})"
            )
        self.header, self.files = _first_frame(path, data.decode("utf-8", "surrogateescape"))
        self.end = end

    def __iter__(self) -> Iterator[ArticleRecord]:
        path = self.path
        try:
            for end, data in self._frames:
                if data is None:
                    if self.end < self.durable_bytes:
                        raise ManifestError(
                            f"the manifest {path} is corrupt at byte {self.end}"
                            f" (durable up to {self.durable_bytes})"
                        )
                    break  # torn tail
                yield from _articles(self, data.decode("utf-8", "surrogateescape"))
                self.end = end
        except OSError as exc:
            raise ManifestError(f"cannot read the manifest {path}: {exc.strerror}") from None
        if self.end < self.durable_bytes:
            raise ManifestError(
                f"the manifest {path} is corrupt: complete frames end at byte {self.end},"
                f" but {self.durable_bytes} were durable"
            )


def read(path: Path, *, durable_bytes: int = 0) -> Manifest:
    """Read a whole manifest into memory (see :class:`ManifestReader` to stream one)."""
    reader = ManifestReader(path, durable_bytes=durable_bytes)
    found = Manifest(path, reader.header, reader.files, {f: {} for f in reader.files})
    articles = found.articles
    for record in reader:
        articles[record.file][record.part] = record
    found.end = reader.end
    return found


def _first_frame(path: Path, text: str) -> tuple[dict[str, Any], dict[int, FileRecord]]:
    lines = text.splitlines()
    try:
        header = json.loads(lines[0])
        version = header.pop("postie_manifest")
    except (IndexError, ValueError, KeyError, AttributeError, TypeError):
        raise ManifestError(f"{path} is not a postie manifest (no header line)") from None
    if version != VERSION:
        raise ManifestError(
            f"the manifest {path} has format version {version}; this postie reads {VERSION}"
        )
    files: dict[int, FileRecord] = {}
    for line in lines[1:]:
        try:
            raw = json.loads(line)
            record = FileRecord(
                file=int(raw["file"]),
                path=Path(raw["path"]),
                name=str(raw["name"]),
                size=int(raw["size"]),
                mtime_ns=int(raw["mtime_ns"]),
                parts=int(raw["parts"]),
                role=str(raw.get("role", "data")),
            )
        except (ValueError, KeyError, TypeError):
            raise ManifestError(f"the manifest {path} has a bad file line: {line[:80]}") from None
        files[record.file] = record
    return header, files


def _articles(reader: ManifestReader, text: str) -> list[ArticleRecord]:
    # One json.loads of the whole frame as an array (a C call for thousands of lines)
    # rather than one per line; a frame that does not parse is read line by line to
    # name the bad line.
    lines = text.splitlines()
    try:
        raws = json.loads("[" + ",".join(lines) + "]")
    except ValueError:
        raws = None
    if not isinstance(raws, list) or len(raws) != len(lines):
        raws = [_line(reader, line) for line in lines]
    files = reader.files
    records = []
    for raw, line in zip(raws, lines, strict=True):
        try:
            record = ArticleRecord(
                int(raw["f"]),
                int(raw["i"]),
                int(raw["o"]),
                int(raw["l"]),
                str(raw["id"]),
                int(raw["crc"], 16),
                int(raw["b"]),
                raw.get("s"),
                raw.get("p"),
                raw.get("n"),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ManifestError(
                f"the manifest {reader.path} has a bad article line: {line[:80]}"
            ) from None
        if record.file not in files:
            raise ManifestError(
                f"the manifest {reader.path} has a bad article line: {line[:80]}"
                f" (no file {record.file})"
            )
        records.append(record)
    return records


def _line(reader: ManifestReader, line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        raise ManifestError(
            f"the manifest {reader.path} has a bad article line: {line[:80]}"
        ) from None


def reopen(manifest: Manifest) -> ManifestWriter:
    """A writer that appends after the last complete frame, cutting a torn tail off."""
    try:
        if manifest.path.stat().st_size != manifest.end:
            os.truncate(manifest.path, manifest.end)
    except OSError as exc:
        raise _failure(manifest.path, "repair", exc) from None
    return ManifestWriter(manifest.path, manifest.end)
