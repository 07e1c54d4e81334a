"""Read posted articles back with an independent client (pynntp) and rebuild files."""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

import nntp

from postie import nzb
from tests import yenc_ref


@dataclass
class Rebuilt:
    name: str
    data: bytes
    subject: str
    crc32: int | None


def fetch_article(client: nntp.NNTPClient, message_id: str) -> tuple[dict[str, str], bytes]:
    _, headers, body = client.article(f"<{message_id}>", decode=False)
    return {k.lower(): v for k, v in headers.items()}, body


def rebuild_from_nzb(
    nzb_path: Path, host: str, port: int, *, use_ssl: bool = False, **login: str
) -> dict[str, Rebuilt]:
    """Fetch every segment of every file in the NZB, check yEnc framing, return files by name."""
    document = nzb.read(nzb_path)
    client = nntp.NNTPClient(host, port, use_ssl=use_ssl, **login)
    files: dict[str, Rebuilt] = {}
    try:
        for entry in document.files:
            parts: list[yenc_ref.Part] = []
            for segment in entry.segments:
                headers, body = fetch_article(client, segment.message_id)
                assert headers["message-id"] == f"<{segment.message_id}>"
                part = yenc_ref.parse_article_body(body)
                assert part.part == segment.number
                parts.append(part)
            assert [p.part for p in parts] == list(range(1, len(parts) + 1))
            assert all(p.total == len(parts) for p in parts)
            data = b"".join(p.data for p in parts)
            assert len(data) == parts[0].size
            for p in parts:
                assert data[p.begin - 1 : p.end] == p.data
            last = parts[-1].crc32
            assert last == zlib.crc32(data), "whole-file crc32 on the last part is wrong"
            files[parts[0].name] = Rebuilt(parts[0].name, data, entry.subject, last)
    finally:
        client.quit()
    return files


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
