"""Script mode of :class:`~postie.testing.FaultyNNTPServer`: raw bytes, step by step.

The fault counters of :class:`~postie.testing.Faults` break a well-behaved server in
named ways. A script replaces the server's side of the conversation altogether, for
tests of how a client copes with anything at all: reply codes it does not expect, a
reply split at every byte, garbage, a line longer than any reply, a server that drips a
byte a second, a connection closed at any point. Every connection plays the script from
its first step::

    script = [Send(b"200 hi\\r\\n"), Expect("line"), Send(b"340 go\\r\\n", chunk=1, pause=0.01),
              Expect("block"), Close(abort=True)]
    async with FaultyNNTPServer(script=script) as server:
        ...

When the steps run out the server waits for the client to hang up. What each connection
received and sent is in :attr:`~postie.testing.FaultyNNTPServer.transcripts`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from postie.testing.wire import BufferedReader, ConnectionClosed


@dataclass(frozen=True)
class Send:
    """Send ``data``: at once, or in pieces of ``chunk`` bytes ``pause`` seconds apart."""

    data: bytes
    chunk: int = 0
    pause: float = 0.0


@dataclass(frozen=True)
class Expect:
    """Read from the client: a command ``"line"``, a dot-terminated ``"block"`` (an
    article, up to and including its ``.`` line), or a number of bytes."""

    what: Literal["line", "block"] | int


@dataclass(frozen=True)
class Close:
    """Close the connection (``abort``: at once, dropping what is not sent yet)."""

    abort: bool = False


Step = Send | Expect | Close

#: What one connection saw, in order: ``("recv", bytes)`` for each step read and
#: ``("sent", bytes)`` for each piece written.
Transcript = list[tuple[Literal["recv", "sent"], bytes]]


async def play(
    script: Sequence[Step],
    reader: BufferedReader,
    writer: asyncio.StreamWriter,
    transcript: Transcript,
) -> None:
    """Play ``script`` on one connection, recording it in ``transcript``."""
    for step in script:
        if isinstance(step, Send):
            size = step.chunk or len(step.data) or 1
            for start in range(0, len(step.data), size):
                if start and step.pause:
                    await asyncio.sleep(step.pause)
                piece = step.data[start : start + size]
                writer.write(piece)
                transcript.append(("sent", piece))
                await writer.drain()
        elif isinstance(step, Expect):
            if step.what == "line":
                data = await reader.readline() + b"\r\n"
            elif step.what == "block":
                data = await reader.read_block() + b".\r\n"
            else:
                data = await reader.read_exactly(step.what)
            transcript.append(("recv", data))
        else:
            if step.abort:
                writer.transport.abort()
            else:
                writer.close()
            return
    await reader.discard_until_eof()
    raise ConnectionClosed
