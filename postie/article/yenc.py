"""yEnc 1.3 framing around ``sabctools.yenc_encode`` bodies.

An article body is::

    =ybegin part=3 total=12 line=128 size=<file size> name=<name>
    =ypart begin=1433601 end=2150400
    <encoded lines of 128 characters (+1 when the last one is an escape)>
    =yend size=716800 part=3 pcrc32=<8 hex>[ crc32=<whole-file crc, last part>]

``begin``/``end`` are 1-based and inclusive. sabctools escapes a ``.`` that
would start a line, so encoded bodies never need dot-stuffing. The whole-file
CRC32 is combined from the part CRCs with ``sabctools.crc32_combine``; the file
is never read twice.
"""

from __future__ import annotations

import os

import sabctools

LINE_LENGTH = 128


def encode(raw: bytes) -> tuple[bytes, int]:
    """yEnc-encode raw bytes; returns (encoded lines without final CRLF, CRC32 of raw)."""
    body, crc = sabctools.yenc_encode(raw)
    return body, crc


def read_fd_and_encode(fd: int, path: str, offset: int, length: int) -> tuple[bytes, int]:
    """Read ``length`` bytes of ``fd`` at ``offset`` and encode them (in a worker thread;
    ``path`` names the file in errors)."""
    raw = os.pread(fd, length, offset)
    if len(raw) != length:
        raise OSError(f"{path}: short read at offset {offset} ({len(raw)} of {length} bytes)")
    return encode(raw)


def combine_crc(crc: int, part_crc: int, part_length: int) -> int:
    """CRC32 of A+B from CRC32(A), CRC32(B) and len(B)."""
    return int(sabctools.crc32_combine(crc, part_crc, part_length))


def header_lines(
    *, part: int, total: int, file_size: int, name: str, begin: int, end: int
) -> bytes:
    """The ``=ybegin`` and ``=ypart`` lines, CRLF-terminated."""
    return (
        f"=ybegin part={part} total={total} line={LINE_LENGTH} size={file_size} name={name}\r\n"
        f"=ypart begin={begin} end={end}\r\n"
    ).encode()


def trailer_line(*, size: int, part: int, pcrc32: int, crc32: int | None = None) -> bytes:
    """The ``=yend`` line with a leading CRLF (ends the body) and a trailing CRLF."""
    text = f"\r\n=yend size={size} part={part} pcrc32={pcrc32:08x}"
    if crc32 is not None:
        text += f" crc32={crc32:08x}"
    return (text + "\r\n").encode()
