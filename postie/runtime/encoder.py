"""The pools that read and yEnc-encode articles for the event loop: their interface.

Two implementations of one interface (:class:`EncodePool`: ``submit(path, offset,
length)`` returns an asyncio future of ``(body, crc32)``):

- ``native`` (:mod:`postie.runtime.native`): C threads on the vendored rapidyenc that
  never take the GIL, built at install when a compiler is at hand;
- ``sabctools`` (:class:`ThreadEncodePool`, below): Python threads calling
  ``os.pread`` and ``sabctools.yenc_encode``, which release the GIL while they work.

Both encode with rapidyenc, call for call, so their bodies and CRCs are the same bytes.
Which one runs: :mod:`postie.runtime.encoder_choice`.

The sabctools pool is a small purpose-built one instead of ``loop.run_in_executor``:
the generic path wraps a ``concurrent.futures.Future`` (with its Condition) into an
asyncio future for every article, which profiled at ~13% of the event loop's time. Here
a job is one tuple on a ``SimpleQueue``.

Two habits keep its threads from waking the event loop and each other more than
needed (every hand-over is a futex wake and a GIL exchange on two cores); the native
pool has both too:

- a thread keeps the descriptor of the file it read last while more work is
  queued (consecutive articles are mostly of one file), and closes it when it
  moves to another file or runs out of work, so no descriptor outlives the
  work on its file (a finished file may be deleted or moved by finalize);
- results go to a per-loop deque, and the loop is woken (``call_soon_threadsafe``,
  a write to its self-pipe) only when no wake-up is already pending: one drain
  settles every result that arrived meanwhile.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import queue
import threading
from typing import Protocol

import msgspec

from postie.article.yenc import read_fd_and_encode

_Future = asyncio.Future[tuple[bytes, int]]
_Job = tuple["_Returns", _Future, str, int, int]
_Result = tuple[_Future, tuple[bytes, int] | None, BaseException | None]

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


class EncoderStatistics(msgspec.Struct, frozen=True):
    """A snapshot of the encode thread pool."""

    kind: str  # "native" or "sabctools"
    detail: str  # the kernels (native) or the module's version (sabctools)
    threads: int
    queued: int
    encoded: int
    wakeups: int  # times a thread woke the event loop to hand results back
    in_flight: int  # submitted and not handed back yet (nor dropped)


class EncodePool(Protocol):
    """What the pipeline uses: ``submit`` returns an asyncio future of (body, crc32)."""

    kind: str
    detail: str
    size: int

    def submit(self, path: str, offset: int, length: int) -> _Future: ...

    def statistics(self) -> EncoderStatistics: ...

    def shutdown(self) -> None: ...


class _Returns:
    """Results waiting for one event loop, and whether it has been woken for them."""

    __slots__ = ("loop", "results", "scheduled", "wakeups")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.results: collections.deque[_Result] = collections.deque()
        self.scheduled = False
        self.wakeups = 0

    def put(self, result: _Result) -> None:
        """From a worker thread."""
        self.results.append(result)
        if not self.scheduled:
            self.scheduled = True
            self.wakeups += 1
            try:
                self.loop.call_soon_threadsafe(self.drain)
            except RuntimeError:  # the loop is closed: nobody waits any more
                self.results.clear()

    def drain(self) -> None:
        """On the loop: settle every result handed back so far."""
        self.scheduled = False  # before popping: a result put from now on wakes again
        results = self.results
        while results:
            future, value, error = results.popleft()
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)  # type: ignore[arg-type]


class ThreadEncodePool:
    """``threads`` Python threads with sabctools; ``submit`` returns an asyncio future of
    (body, crc32)."""

    kind = "sabctools"

    def __init__(self, threads: int) -> None:
        if threads < 1:
            raise ValueError("EncodePool needs at least one thread")
        self.size = threads
        self.detail = f"sabctools {_sabctools_version()}"
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._returns: dict[asyncio.AbstractEventLoop, _Returns] = {}
        self._encoded = 0
        self._submitted = 0
        self._skipped = 0
        self._closed = False

    def statistics(self) -> EncoderStatistics:
        wakeups = sum(r.wakeups for r in self._returns.values())
        return EncoderStatistics(
            kind=self.kind,
            detail=self.detail,
            threads=len(self._threads),
            queued=self._jobs.qsize(),
            encoded=self._encoded,
            wakeups=wakeups,
            in_flight=self._submitted - self._encoded - self._skipped,
        )

    def submit(self, path: str, offset: int, length: int) -> _Future:
        if self._closed:
            raise RuntimeError("EncodePool is shut down")
        if not self._threads:
            self._start()
        loop = asyncio.get_running_loop()
        returns = self._returns.get(loop)
        if returns is None:
            returns = self._returns[loop] = _Returns(loop)
            for old in [k for k in self._returns if k.is_closed()]:
                del self._returns[old]
        future: _Future = loop.create_future()
        self._jobs.put((returns, future, path, offset, length))
        self._submitted += 1
        return future

    def _start(self) -> None:
        for i in range(self.size):
            thread = threading.Thread(target=self._work, name=f"postie-encode-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        jobs = self._jobs
        fd = -1
        fd_path = ""
        try:
            while True:
                try:
                    job = jobs.get_nowait()
                except queue.Empty:
                    if fd >= 0:  # out of work: hold no file open while idle
                        os.close(fd)
                        fd = -1
                    job = jobs.get()
                if job is None:
                    return
                returns, future, path, offset, length = job
                if future.cancelled():  # a racy read, but only ever skips wasted work
                    self._skipped += 1
                    continue
                result: tuple[bytes, int] | None = None
                error: BaseException | None = None
                try:
                    if path != fd_path or fd < 0:
                        if fd >= 0:
                            os.close(fd)
                            fd = -1
                        fd = os.open(path, _OPEN_FLAGS)
                        fd_path = path
                    result = read_fd_and_encode(fd, path, offset, length)
                except BaseException as exc:  # handed to the waiting task
                    error = exc
                self._encoded += 1
                returns.put((future, result, error))
                del result, error, job, future  # keep no body alive while idle
        finally:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def shutdown(self) -> None:
        """Stop the threads after the jobs already queued (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()
        self._threads.clear()


def _sabctools_version() -> str:
    import sabctools

    return str(getattr(sabctools, "__version__", "?"))
