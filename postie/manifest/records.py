"""What a manifest holds: the format version, file and article records, a manifest read back.

A record writes its own JSON line: directly when no string needs escaping (the
usual case), through ``json`` otherwise.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

VERSION = 1
_SAFE = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII without '"' and '\\'


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
