"""What a manifest holds: the format versions, its records, a manifest read back.

Version 2 (written): frame 0 holds the header, one record per file and one *planned*
line per article (its identity: Message-ID, offset, length, obfuscated headers); later
frames hold *CRC lines* (an article's CRC32 and posted size, known once it is encoded)
and *frontier lines* (articles at or past the frontier's position in the plan's order
were never posted). Version 1 (read, and appended to when a transfer begun with it is
resumed): frame 0 holds the header and the files; later frames hold one *article line*
per article, identity and CRC32 together, durable before the article is posted.

A record writes its own JSON line: directly when no string needs escaping (the
usual case), through ``json`` otherwise.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

VERSION = 2  # the version new manifests are written in
VERSIONS = (1, 2)  # the versions this postie reads
_SAFE = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII without '"' and '\\'
CRC_LINE = '{"f":%d,"i":%d,"crc":"%08x","b":%d}'  # (file, part, crc32, size)


# gc=False: one per file of a manifest, holding only ints and strings, so in no reference
# cycle: no GC header (16 bytes less each), never scanned by a collection.
class FileRecord(msgspec.Struct, frozen=True, gc=False):
    """A file's record in the manifest header (frame 0).

    ``ino`` and ``ctime_ns`` (version 2) identify the file beyond its size and mtime: a
    part posted again without a recorded CRC32 is read only from the same file."""

    file: int
    path: str
    name: str
    size: int
    mtime_ns: int
    parts: int
    role: str = "data"
    ino: int | None = None
    ctime_ns: int | None = None

    def line(self) -> str:
        path = os.fsdecode(self.path)
        if not (
            _SAFE.fullmatch(path) and _SAFE.fullmatch(self.name) and _SAFE.fullmatch(self.role)
        ):
            return json.dumps(self.to_json(), separators=(",", ":"))
        text = (
            f'{{"file":{self.file},"path":"{path}","name":"{self.name}","size":{self.size},'
            f'"mtime_ns":{self.mtime_ns},"parts":{self.parts},"role":"{self.role}"'
        )
        if self.ino is not None:
            text += f',"ino":{self.ino}'
        if self.ctime_ns is not None:
            text += f',"ctime_ns":{self.ctime_ns}'
        return text + "}"

    def to_json(self) -> dict[str, Any]:
        line: dict[str, Any] = {
            "file": self.file,
            "path": os.fsdecode(self.path),
            "name": self.name,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "parts": self.parts,
            "role": self.role,
        }
        if self.ino is not None:
            line["ino"] = self.ino
        if self.ctime_ns is not None:
            line["ctime_ns"] = self.ctime_ns
        return line


def _headers(text: str, subject: str | None, poster: str | None, wire_name: str | None) -> str:
    if subject is not None:
        text += f',"s":"{subject}"'
    if poster is not None:
        text += f',"p":"{poster}"'
    if wire_name is not None:
        text += f',"n":"{wire_name}"'
    return text + "}"


def _safe(*strings: str | None) -> bool:
    return all(s is None or _SAFE.fullmatch(s) for s in strings)


class PlannedRecord(NamedTuple):
    """An article as planned (version 2, frame 0): what it is, not yet how it encoded."""

    file: int
    part: int
    offset: int
    length: int
    message_id: str
    subject: str | None = None
    poster: str | None = None
    wire_name: str | None = None

    def line(self) -> str:
        if not _safe(self.message_id, self.subject, self.poster, self.wire_name):
            return json.dumps(self.to_json(), separators=(",", ":"))
        text = (
            f'{{"f":{self.file},"i":{self.part},"o":{self.offset},"l":{self.length},'
            f'"id":"{self.message_id}"'
        )
        return _headers(text, self.subject, self.poster, self.wire_name)

    def to_json(self) -> dict[str, Any]:
        line: dict[str, Any] = {
            "f": self.file,
            "i": self.part,
            "o": self.offset,
            "l": self.length,
            "id": self.message_id,
        }
        if self.subject is not None:
            line["s"] = self.subject
        if self.poster is not None:
            line["p"] = self.poster
        if self.wire_name is not None:
            line["n"] = self.wire_name
        return line


class CrcRecord(NamedTuple):
    """An article's CRC32 and posted size (version 2), known once it is encoded."""

    file: int
    part: int
    crc32: int
    size: int  # bytes of the whole article as posted (the NZB's segment bytes)

    def line(self) -> str:
        return CRC_LINE % self


class Frontier(NamedTuple):
    """Articles at positions before ``position`` (0-based, the plan's order: files by
    index, parts by number) may have been posted; none at or past it was."""

    position: int

    def line(self) -> str:
        return f'{{"frontier":{self.position}}}'


class ArticleRecord(NamedTuple):
    """An article's identity with its CRC32 and size: a version 1 line, and how either
    version's article reads back once both are known (a tuple: one per article)."""

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

    @classmethod
    def of(cls, planned: PlannedRecord, crc32: int, size: int) -> ArticleRecord:
        return cls(
            planned.file,
            planned.part,
            planned.offset,
            planned.length,
            planned.message_id,
            crc32,
            size,
            planned.subject,
            planned.poster,
            planned.wire_name,
        )

    def planned(self) -> PlannedRecord:
        return PlannedRecord(
            self.file,
            self.part,
            self.offset,
            self.length,
            self.message_id,
            self.subject,
            self.poster,
            self.wire_name,
        )

    def line(self) -> str:
        """The version 1 JSON line; formatted directly when no string needs escaping (the
        usual case: hex IDs and names), through ``json`` otherwise."""
        if not _safe(self.message_id, self.subject, self.poster, self.wire_name):
            return json.dumps(self.to_json(), separators=(",", ":"))
        text = (
            f'{{"f":{self.file},"i":{self.part},"o":{self.offset},"l":{self.length},'
            f'"id":"{self.message_id}","crc":"{self.crc32:08x}","b":{self.size}'
        )
        return _headers(text, self.subject, self.poster, self.wire_name)

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


def first_positions(parts: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Each file's first position in the plan's order, from ``(file index, parts)``."""
    out: dict[int, int] = {}
    position = 0
    for index, count in sorted(parts):
        out[index] = position
        position += count
    return out


class Manifest(msgspec.Struct):
    """A manifest read back.

    ``planned``: every article's identity (version 2: all of them, from frame 0; version
    1: those with a line). ``articles``: the articles whose CRC32 and size are known too
    (version 1: every line; version 2: those with a CRC line). ``frontier``: version 2's
    last durable frontier (0: none yet, nothing was posted); None for version 1, where
    an article may have been posted only if it has a line.
    """

    path: Path
    header: dict[str, Any]
    files: dict[int, FileRecord]
    articles: dict[int, dict[int, ArticleRecord]] = msgspec.field(default_factory=dict)
    end: int = 0  # bytes of complete frames; anything after is a torn tail
    version: int = VERSION
    planned: dict[int, dict[int, PlannedRecord]] = msgspec.field(default_factory=dict)
    frontier: int | None = None

    @property
    def article_count(self) -> int:
        return sum(len(a) for a in self.articles.values())

    def first_positions(self) -> dict[int, int]:
        return first_positions((f.file, f.parts) for f in self.files.values())
