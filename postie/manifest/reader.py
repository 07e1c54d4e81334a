"""Reading a manifest back: frame by frame, damage told from a torn tail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import zstandard

from postie.errors import ManifestError
from postie.manifest.records import VERSION, ArticleRecord, FileRecord, Manifest

_CHUNK = 64 * 1024  # read size; a frame's leftover bytes are copied once per frame, keep it small


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
    a torn tail (its articles were never posted) and ends the iteration. ``salvage``:
    damage anywhere after frame 0 (a broken frame, a bad line) ends the iteration like
    a torn tail: what comes before it is what can be saved of a damaged manifest.
    """

    def __init__(self, path: Path, *, durable_bytes: int = 0, salvage: bool = False) -> None:
        self.path = path
        self.salvage = salvage
        self.durable_bytes = 0 if salvage else durable_bytes
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
                try:
                    records = _articles(self, data.decode("utf-8", "surrogateescape"))
                except ManifestError:
                    if not self.salvage:
                        raise
                    break  # the frames before it are what can be saved
                yield from records
                self.end = end
        except OSError as exc:
            raise ManifestError(f"cannot read the manifest {path}: {exc.strerror}") from None
        if self.end < self.durable_bytes:
            raise ManifestError(
                f"the manifest {path} is corrupt: complete frames end at byte {self.end},"
                f" but {self.durable_bytes} were durable"
            )


def read(path: Path, *, durable_bytes: int = 0, salvage: bool = False) -> Manifest:
    """Read a whole manifest into memory (see :class:`ManifestReader` to stream one)."""
    reader = ManifestReader(path, durable_bytes=durable_bytes, salvage=salvage)
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
