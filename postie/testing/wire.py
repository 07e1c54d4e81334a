"""The server's side of NNTP's wire format: command lines, dot-terminated blocks read
from a stream, dot-stuffing both ways, and an article's headers."""

from __future__ import annotations

import asyncio
import contextlib

_BUFFER_LIMIT = 64 * 1024 * 1024
_READ_CHUNK = 256 * 1024


class ConnectionClosed(Exception):
    """The peer closed the connection (or sent more than the buffer limit without a newline)."""


class BufferedReader:
    """Command lines and dot-terminated blocks, from our own buffer over a StreamReader.

    A private buffer (rather than ``StreamReader.readuntil``) lets the article reader recognise
    a terminating ``.`` line right at the start of the block, accept bare LF line endings, and
    search a large article for its terminator incrementally.
    """

    def __init__(self, reader: asyncio.StreamReader, loop: asyncio.AbstractEventLoop) -> None:
        self._reader = reader
        self._loop = loop
        self._buf = bytearray()
        self.arrival = loop.time()
        """Loop time at which the most recently buffered bytes arrived."""

    async def _fill(self) -> None:
        chunk = await self._reader.read(_READ_CHUNK)
        if not chunk:
            raise ConnectionClosed
        self._buf += chunk
        self.arrival = self._loop.time()
        if len(self._buf) > _BUFFER_LIMIT:
            raise ConnectionClosed

    async def readline(self) -> bytes:
        """Return the next line without its line ending (CRLF or bare LF)."""
        start = 0
        while (end := self._buf.find(b"\n", start)) < 0:
            start = len(self._buf)
            await self._fill()
        line = bytes(self._buf[:end])
        del self._buf[: end + 1]
        return line.removesuffix(b"\r")

    async def read_exactly(self, size: int) -> bytes:
        """Return the next ``size`` bytes, whatever they are."""
        while len(self._buf) < size:
            await self._fill()
        data = bytes(self._buf[:size])
        del self._buf[:size]
        return data

    async def read_block(self) -> bytes:
        """Return a multi-line block up to (excluding) its ``.`` line, still dot-stuffed.

        The result is empty or ends with a line ending; bytes after the ``.`` line stay buffered
        for the next command.
        """
        search_from = 0
        while True:
            found = find_terminator(self._buf, search_from)
            if found is not None:
                content_end, block_end = found
                block = bytes(self._buf[:content_end])
                del self._buf[:block_end]
                return block
            # A terminator could straddle the end of the buffer ("\n", "\n.", "\n.\r").
            search_from = max(0, len(self._buf) - 3)
            await self._fill()

    async def discard_until_eof(self) -> None:
        """Read and drop everything until the peer closes the connection."""
        self._buf.clear()
        with contextlib.suppress(ConnectionClosed):
            while True:
                await self._fill()
                self._buf.clear()


def find_terminator(buf: bytearray, start: int) -> tuple[int, int] | None:
    """Find the first line consisting of a single ``.`` in ``buf``.

    Returns ``(content_end, block_end)``: the block's content is ``buf[:content_end]`` and the
    ``.`` line ends at ``block_end``.  ``None`` means more data is needed.  ``start`` is where
    to resume searching for ``"\\n."`` after an unsuccessful call.
    """
    if buf.startswith(b".\r\n"):
        return 0, 3
    if buf.startswith(b".\n"):
        return 0, 2
    crlf = buf.find(b"\n.\r\n", start)
    lf = buf.find(b"\n.\n", start, crlf + 2 if crlf >= 0 else len(buf))
    if lf >= 0:
        return lf + 1, lf + 3
    if crlf >= 0:
        return crlf + 1, crlf + 4
    return None


def unstuff(block: bytes) -> bytes:
    """Turn a received dot-stuffed block into CRLF-terminated lines without the stuffing.

    Per RFC 3977 section 3.1.1 the leading dot of every line that starts with one is dropped
    (a correct client only sends such lines stuffed, i.e. starting with ``..``).
    """
    if not block:
        return b""
    if block.count(b"\n") == block.count(b"\r\n"):  # CRLF only: the fast path
        if block.startswith(b"."):
            block = block[1:]
        return block.replace(b"\r\n.", b"\r\n")
    lines = block.split(b"\n")
    lines.pop()  # the block ends with a line ending, so the last piece is empty
    out = [(line[1:] if line.startswith(b".") else line).removesuffix(b"\r") for line in lines]
    out.append(b"")
    return b"\r\n".join(out)


def stuff(data: bytes) -> bytes:
    """Dot-stuff CRLF-terminated ``data`` for sending as a multi-line block (no ``.`` line)."""
    if not data:
        return b""
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    if data.startswith(b"."):
        data = b"." + data
    return data.replace(b"\r\n.", b"\r\n..")


def split_article(article: bytes) -> tuple[bytes, bytes]:
    """Split stored article bytes into (headers, body), each CRLF-terminated or empty."""
    if article.startswith(b"\r\n"):
        return b"", article[2:]
    head, sep, body = article.partition(b"\r\n\r\n")
    if not sep:
        return article, b""
    return head + b"\r\n", body


def parse_headers(head: bytes) -> dict[str, str]:
    """Parse a header block (unfolding continuation lines); names are lower-cased.

    When a header occurs more than once the first occurrence wins.
    """
    headers: dict[str, str] = {}
    unfolded: list[str] = []
    for raw in head.decode("utf-8", "surrogateescape").split("\r\n"):
        if raw[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += " " + raw.strip()
        elif raw:
            unfolded.append(raw)
    for line in unfolded:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), value.strip())
    return headers


def valid_message_id(mid: str) -> bool:
    return (
        len(mid) >= 3
        and mid.startswith("<")
        and mid.endswith(">")
        and not any(c.isspace() or c in "<>" for c in mid[1:-1])
    )
