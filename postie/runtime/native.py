"""The native encode pool: C threads that read and yEnc-encode without the GIL.

:mod:`postie._yenc._pool` (``postie/_yenc/pool.c``, on the vendored rapidyenc) runs the
threads. For each article a thread opens the file (keeping the descriptor while its next
job is of the same file, closing it when it runs out of work), ``pread``s the part into a
buffer of its own, encodes it straight into the ``bytes`` object that will be the body,
and computes the part's CRC32, all without the GIL. So the event loop, which holds the
GIL, is never made to hand it over to an encode thread: with sabctools each article
cost three hand-overs (after the read, after the encode, after the queue get), each a
futex wake on two cores.

Finished jobs are handed back in batches: the first job to finish after the loop last
looked writes to an eventfd that the loop watches (``loop.add_reader``); one wake-up
collects every job finished meanwhile (``reap``).

The body is an ordinary ``bytes``, allocated at ``submit`` at the largest size the part
can encode to (about twice the part) and given its length when it is handed back; the
unused tail is never written, so it takes no memory. Nothing downstream changes: the
socket transport sends a ``memoryview`` of it without a copy, and it is freed with the
article (the ByteBudget bounds how many exist; the tuned glibc heap of
:mod:`postie.runtime.memory` reuses their blocks, all of one size for one article
size).
"""

from __future__ import annotations

import asyncio
import os
from typing import cast

from postie._yenc import _pool
from postie.runtime.encoder import EncoderStatistics

_Future = asyncio.Future[tuple[bytes, int]]
_Token = tuple[_Future, str, int, int]  # what a job carries to its result

# the stage of a failed job (pool.c) that has no errno: the file was shorter than planned
_SHORT = 3


def kernels() -> tuple[str, str]:
    """The rapidyenc kernels chosen for this CPU: (yEnc encode, CRC32)."""
    return _pool.kernels()


def encode(raw: bytes) -> tuple[bytes, int]:
    """yEnc-encode in the calling thread: what ``sabctools.yenc_encode`` returns."""
    return _pool.encode(raw)


class NativeEncodePool:
    """``threads`` native threads; ``submit`` returns an asyncio future of (body, crc32)."""

    kind = "native"

    def __init__(self, threads: int) -> None:
        if threads < 1:
            raise ValueError("EncodePool needs at least one thread")
        self.size = threads
        encode_kernel, crc_kernel = kernels()
        self.detail = f"rapidyenc {encode_kernel}, CRC32 {crc_kernel}"
        self._pool = _pool.Pool(threads)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._submitted = 0
        self._settled = 0
        self._closed = False

    def statistics(self) -> EncoderStatistics:
        threads, queued, encoded, wakeups = self._pool.statistics()
        return EncoderStatistics(
            kind=self.kind,
            detail=self.detail,
            threads=threads,
            queued=queued,
            encoded=encoded,
            wakeups=wakeups,
            in_flight=self._submitted - self._settled,
        )

    def submit(self, path: str, offset: int, length: int) -> _Future:
        if self._closed:
            raise RuntimeError("EncodePool is shut down")
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._watch(loop)
        future: _Future = loop.create_future()
        self._pool.submit((future, path, offset, length), path, offset, length)
        self._submitted += 1
        return future

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Have ``loop`` collect the finished jobs (the first submit on a new loop)."""
        old = self._loop
        if old is not None and not old.is_closed():
            if old.is_running():
                raise RuntimeError("EncodePool is in use by another running event loop")
            old.remove_reader(self._pool.fileno())
        loop.add_reader(self._pool.fileno(), self._drain)
        self._loop = loop

    def _drain(self) -> None:
        """On the loop: settle every job finished so far."""
        loop = self._loop
        for token, body, crc, error, stage, got in self._pool.reap():
            self._settled += 1
            future, path, offset, length = cast(_Token, token)
            if future.done():  # cancelled: the article was given up
                continue
            if future.get_loop() is not loop:  # submitted on an earlier loop
                continue
            if body is not None:
                future.set_result((body, crc))
            elif stage == _SHORT:
                future.set_exception(
                    OSError(f"{path}: short read at offset {offset} ({got} of {length} bytes)")
                )
            else:  # open or read: as os.open would raise it (FileNotFoundError, ...)
                future.set_exception(OSError(error, os.strerror(error), path))

    def shutdown(self) -> None:
        """Stop the threads after the jobs already queued (idempotent)."""
        if self._closed:
            return
        self._closed = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.remove_reader(self._pool.fileno())
        self._loop = None
        self._pool.close()  # drops the results nobody collected
        self._settled = self._submitted
