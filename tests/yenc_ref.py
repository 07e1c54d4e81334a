"""A small pure-Python yEnc 1.3 reference, independent of sabctools, for tests."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

CRITICAL = {0x00, 0x0A, 0x0D, 0x3D}


def encode(data: bytes, line_length: int = 128) -> bytes:
    """Encode like yEnc 1.3 with the usual extra escapes (leading/trailing space, tab, dot)."""
    lines: list[bytes] = []
    line = bytearray()
    for byte in data:
        out = (byte + 42) & 0xFF
        escape = out in CRITICAL
        if not line and out in (0x09, 0x20, 0x2E):
            escape = True
        if escape:
            line += bytes((0x3D, (out + 64) & 0xFF))
        else:
            line.append(out)
        if len(line) >= line_length:
            lines.append(bytes(line))
            line = bytearray()
    if line:
        lines.append(bytes(line))
    # a space or tab ending a line must be escaped
    fixed = []
    for ln in lines:
        if ln and ln[-1] in (0x09, 0x20) and not (len(ln) >= 2 and ln[-2] == 0x3D):
            ln = ln[:-1] + bytes((0x3D, (ln[-1] + 64) & 0xFF))
        fixed.append(ln)
    return b"\r\n".join(fixed)


def decode(encoded: bytes) -> bytes:
    out = bytearray()
    escape = False
    for byte in encoded:
        if byte in (0x0A, 0x0D):
            continue
        if escape:
            out.append((byte - 64 - 42) & 0xFF)
            escape = False
        elif byte == 0x3D:
            escape = True
        else:
            out.append((byte - 42) & 0xFF)
    return bytes(out)


@dataclass(frozen=True)
class Part:
    name: str
    part: int
    total: int
    size: int
    begin: int
    end: int
    data: bytes
    pcrc32: int
    crc32: int | None


_KV = re.compile(rb"(\w+)=(\S+)")


def parse_article_body(body: bytes) -> Part:
    """Parse one yEnc article body (after the header block), check sizes and part CRC."""
    lines = body.split(b"\r\n")
    while lines and lines[-1] == b"":
        lines.pop()
    if lines and lines[-1] == b".":
        lines.pop()
    assert lines[0].startswith(b"=ybegin "), lines[0][:80]
    assert lines[1].startswith(b"=ypart "), lines[1][:80]
    assert lines[-1].startswith(b"=yend "), lines[-1][:80]
    head = lines[0]
    name = head.split(b" name=", 1)[1].decode("utf-8")
    begin = dict(_KV.findall(head.split(b" name=", 1)[0]))
    ypart = dict(_KV.findall(lines[1]))
    yend = dict(_KV.findall(lines[-1]))
    assert int(begin[b"line"]) == 128
    for ln in lines[2:-1]:
        assert len(ln) <= 129, len(ln)
        assert not ln.startswith(b"."), "a body line starts with a dot"
    data = decode(b"\r\n".join(lines[2:-1]))
    pcrc = int(yend[b"pcrc32"], 16)
    assert zlib.crc32(data) == pcrc, "pcrc32 mismatch"
    start, stop = int(ypart[b"begin"]), int(ypart[b"end"])
    assert stop - start + 1 == len(data) == int(yend[b"size"])
    assert int(yend[b"part"]) == int(begin[b"part"])
    return Part(
        name=name,
        part=int(begin[b"part"]),
        total=int(begin[b"total"]),
        size=int(begin[b"size"]),
        begin=start,
        end=stop,
        data=data,
        pcrc32=pcrc,
        crc32=int(yend[b"crc32"], 16) if b"crc32" in yend else None,
    )


def split_article(article: bytes) -> tuple[dict[str, str], bytes]:
    """Headers (lower-case names) and body of a raw article with CRLF lines."""
    head, _, body = article.partition(b"\r\n\r\n")
    headers: dict[str, str] = {}
    for line in head.split(b"\r\n"):
        key, _, value = line.partition(b":")
        headers[key.decode().strip().lower()] = value.decode("utf-8").strip()
    return headers, body
