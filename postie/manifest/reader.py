"""Reading a manifest back: frame by frame, damage told from a torn tail."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import zstandard

from postie.errors import ManifestError, PlanLost
from postie.manifest.records import (
    VERSIONS,
    ArticleRecord,
    CrcRecord,
    FileRecord,
    Frontier,
    Manifest,
    PlannedRecord,
)

_CHUNK = 64 * 1024  # read size; a frame's leftover bytes are copied once per frame, keep it small

Entry = ArticleRecord | PlannedRecord | CrcRecord | Frontier


def _frames(source: Path | bytes) -> Iterator[tuple[int, bytes | None]]:
    """(end offset, decompressed bytes) per frame; ``None`` bytes for a broken frame.
    ``source``: the manifest's file, or its bytes (read from the database)."""
    # one decompression context for the whole file (making one per frame cost more
    # than decompressing a small frame); each frame gets its own decompressobj
    context = zstandard.ZstdDecompressor()
    handle: BinaryIO
    with open(source, "rb") if isinstance(source, Path) else io.BytesIO(source) as handle:
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
    """Streams a manifest: ``version``, ``header`` and ``files`` are read on opening;
    :meth:`entries` yields the lines after them frame by frame (memory stays at one
    frame), and ``end`` is then the byte offset after the last complete frame.
    Iterating yields each article's identity: version 1's article lines, version 2's
    planned lines (frame 0 only: the CRC lines after it are not read).

    Damage at or before ``durable_bytes`` is an error, and so is damage anywhere in
    frame 0 (version 2: up to the last planned line; it was written whole, before
    anything was posted); a broken frame after both is a torn tail (its lines were
    never relied on) and ends the iteration. ``salvage``: damage anywhere after frame 0
    (a broken frame, a bad line) ends the iteration like a torn tail: what comes before
    it is what can be saved of a damaged manifest.

    ``data``: the manifest's bytes (kept in the database), read instead of the file
    ``path`` (then its key); ``name``: the manifest in messages (default: ``path``).
    """

    def __init__(
        self,
        path: Path,
        *,
        durable_bytes: int = 0,
        salvage: bool = False,
        data: bytes | None = None,
        name: str | None = None,
    ) -> None:
        self.path = path
        self.name = where = name if name is not None else str(path)
        self.salvage = salvage
        self.durable_bytes = 0 if salvage else durable_bytes
        if data is not None:
            size = len(data)
        else:
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                raise ManifestError(f"the manifest {where} is missing") from None
            except OSError as exc:
                raise ManifestError(f"cannot read the manifest {where}: {exc.strerror}") from None
        if size < durable_bytes:
            raise ManifestError(
                f"the manifest {where} is truncated: {size} bytes, but {durable_bytes} were"
                " durable at the last checkpoint"
            )
        self._frames = _frames(path if data is None else data)
        first = self._next_frame()
        if first is None:
            raise ManifestError(f"the manifest {where} is empty")
        end, frame = first
        if frame is None:
            raise PlanLost(
                f"the manifest {where} is corrupt at byte 0 (durable up to {durable_bytes})"
            )
        lines = frame.decode("utf-8", "surrogateescape").splitlines()
        self.header, self.version = _header(where, lines)
        self.files: dict[int, FileRecord] = {}
        self.end = end
        self.parts = 0  # articles in the plan (version 2: planned lines in frame 0)
        self._left = 0  # planned lines not read yet: frame 0 goes on
        self._ahead: list[Entry] = []
        if self.version == 1:
            for line in lines[1:]:
                self._file(_load(self, line, "file"), line)
            return
        raws = _parse(self, lines[1:])
        while True:  # version 2: the file records may fill several frames
            taken = 0
            for raw in raws:
                if not (isinstance(raw, dict) and "path" in raw):
                    break
                self._file(raw, None)
                taken += 1
            if taken < len(raws):
                self._left = self.parts
                self._ahead = self._entries(raws[taken:], lines=None)
                return
            following = self._next_frame()
            if following is None:
                self._left = self.parts
                return
            end, frame = following
            if frame is None:
                raise PlanLost(f"the manifest {where} is corrupt at byte {self.end} (frame 0)")
            raws = _parse(self, frame.decode("utf-8", "surrogateescape").splitlines())
            self.end = end

    def _next_frame(self) -> tuple[int, bytes | None] | None:
        try:
            return next(self._frames, None)
        except OSError as exc:
            raise ManifestError(f"cannot read the manifest {self.name}: {exc.strerror}") from None

    def _file(self, raw: Any, line: str | None) -> None:
        try:
            record = FileRecord(
                file=int(raw["file"]),
                path=str(raw["path"]),
                name=str(raw["name"]),
                size=int(raw["size"]),
                mtime_ns=int(raw["mtime_ns"]),
                parts=int(raw["parts"]),
                role=str(raw.get("role", "data")),
                ino=None if raw.get("ino") is None else int(raw["ino"]),
                ctime_ns=None if raw.get("ctime_ns") is None else int(raw["ctime_ns"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            text = line if line is not None else json.dumps(raw)
            raise ManifestError(
                f"the manifest {self.name} has a bad file line: {text[:80]}"
            ) from None
        self.files[record.file] = record
        self.parts += record.parts

    def __iter__(self) -> Iterator[ArticleRecord | PlannedRecord]:
        left = self.parts
        for entry in self.entries():
            if isinstance(entry, ArticleRecord):
                yield entry
            elif isinstance(entry, PlannedRecord):
                yield entry
                left -= 1
                if not left:
                    return  # the end of frame 0: every article's identity is read

    def entries(self) -> Iterator[Entry]:
        """Every line after the file records, frame by frame."""
        path = self.name
        ahead, self._ahead = self._ahead, []
        yield from ahead
        try:
            for end, data in self._frames:
                if data is None:
                    if self._left:
                        raise PlanLost(
                            f"the manifest {path} is corrupt at byte {self.end} (frame 0)"
                        )
                    if self.end < self.durable_bytes:
                        raise ManifestError(
                            f"the manifest {path} is corrupt at byte {self.end}"
                            f" (durable up to {self.durable_bytes})"
                        )
                    break  # torn tail
                try:
                    lines = data.decode("utf-8", "surrogateescape").splitlines()
                    records = self._entries(_parse(self, lines), lines)
                except ManifestError:
                    if not self.salvage or self._left:
                        raise
                    break  # the frames before it are what can be saved
                yield from records
                self.end = end
        except OSError as exc:
            raise ManifestError(f"cannot read the manifest {path}: {exc.strerror}") from None
        if self._left:
            raise PlanLost(
                f"the manifest {path} is corrupt: frame 0 ends at byte {self.end} without the"
                f" lines of {self._left} planned articles"
            )
        if self.end < self.durable_bytes:
            raise ManifestError(
                f"the manifest {path} is corrupt: complete frames end at byte {self.end},"
                f" but {self.durable_bytes} were durable"
            )

    def _entries(self, raws: list[Any], lines: list[str] | None) -> list[Entry]:
        files = self.files
        out: list[Entry] = []
        for n, raw in enumerate(raws):
            try:
                record = _entry(self.version, raw)
                if isinstance(record, Frontier):
                    out.append(record)
                    continue
                known = files.get(record.file)
                if known is None or (self.version > 1 and not 1 <= record.part <= known.parts):
                    raise ValueError
            except (ValueError, KeyError, TypeError, AttributeError):
                text = lines[n] if lines is not None else json.dumps(raw)
                raise ManifestError(
                    f"the manifest {self.name} has a bad article line: {text[:80]}"
                ) from None
            if isinstance(record, PlannedRecord):
                self._left -= 1
            out.append(record)
        return out


def _entry(version: int, raw: Any) -> Entry:
    if version == 1:
        return ArticleRecord(
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
    if "id" in raw:
        return PlannedRecord(
            int(raw["f"]),
            int(raw["i"]),
            int(raw["o"]),
            int(raw["l"]),
            str(raw["id"]),
            raw.get("s"),
            raw.get("p"),
            raw.get("n"),
        )
    if "crc" in raw:
        return CrcRecord(int(raw["f"]), int(raw["i"]), int(raw["crc"], 16), int(raw["b"]))
    return Frontier(int(raw["frontier"]))


def read(
    path: Path,
    *,
    durable_bytes: int = 0,
    salvage: bool = False,
    data: bytes | None = None,
    name: str | None = None,
) -> Manifest:
    """Read a whole manifest into memory (see :class:`ManifestReader` to stream one, and
    for ``data`` and ``name``)."""
    reader = ManifestReader(
        path, durable_bytes=durable_bytes, salvage=salvage, data=data, name=name
    )
    found = Manifest(
        path,
        reader.header,
        reader.files,
        {f: {} for f in reader.files},
        version=reader.version,
        planned={f: {} for f in reader.files},
        frontier=None if reader.version == 1 else 0,
    )
    articles, planned = found.articles, found.planned
    crcs: list[CrcRecord] = []
    frontier = 0
    for entry in reader.entries():
        if isinstance(entry, ArticleRecord):
            articles[entry.file][entry.part] = entry
            planned[entry.file][entry.part] = entry.planned()
        elif isinstance(entry, PlannedRecord):
            planned[entry.file][entry.part] = entry
        elif isinstance(entry, CrcRecord):
            crcs.append(entry)
        else:
            frontier = max(frontier, entry.position)
    for crc in crcs:
        line = planned[crc.file].get(crc.part)
        if line is None:
            raise ManifestError(
                f"the manifest {reader.name} has a CRC line for part {crc.part} of file {crc.file},"
                " which frame 0 does not plan"
            )
        articles[crc.file][crc.part] = ArticleRecord.of(line, crc.crc32, crc.size)
    if found.frontier is not None:
        found.frontier = frontier
    found.end = reader.end
    return found


def _header(path: str, lines: list[str]) -> tuple[dict[str, Any], int]:
    try:
        header = json.loads(lines[0])
        version = header.pop("postie_manifest")
    except (IndexError, ValueError, KeyError, AttributeError, TypeError):
        raise ManifestError(f"{path} is not a postie manifest (no header line)") from None
    if version not in VERSIONS:
        known = " and ".join(str(v) for v in VERSIONS)
        raise ManifestError(
            f"the manifest {path} has format version {version}; this postie reads {known}"
        )
    return header, int(version)


def _parse(reader: ManifestReader, lines: list[str]) -> list[Any]:
    # One json.loads of the whole frame as an array (a C call for thousands of lines)
    # rather than one per line; a frame that does not parse is read line by line to
    # name the bad line.
    try:
        raws = json.loads("[" + ",".join(lines) + "]")
    except ValueError:
        raws = None
    if not isinstance(raws, list) or len(raws) != len(lines):
        raws = [_load(reader, line, "article") for line in lines]
    return raws


def _load(reader: ManifestReader, line: str, kind: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        raise ManifestError(
            f"the manifest {reader.name} has a bad {kind} line: {line[:80]}"
        ) from None
