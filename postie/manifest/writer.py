"""Writing a manifest: frame 0 atomically, then frames appended and synced.

Version 2 (new transfers): :func:`create` writes every planned line in frame 0 (several
zstd frames for a large plan, streamed into the temporary file before the rename). While
posting, :meth:`ManifestWriter.add` queues an article's CRC line (no wait, no thread
hop); :meth:`ManifestWriter.sync` has the writer's own thread write everything queued as
one frame, and a frontier line with it when asked, and ``fdatasync`` it.

Version 1 (a transfer begun with it, resumed): :meth:`ManifestWriter.submit` appends a
frame of whole article lines, durable before those articles are posted.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import zstandard

from postie import crashpoints, fsutil
from postie.errors import ManifestError
from postie.fsutil import atomic_write, pwrite_all
from postie.manifest.records import (
    CRC_LINE,
    VERSION,
    ArticleRecord,
    FileRecord,
    Frontier,
    Manifest,
    PlannedRecord,
)

_LEVEL = 3
FRAME_LINES = 8192  # lines per zstd frame of frame 0: a reader holds one frame at a time
BATCH_LINES = 256  # lines compressed at a time into a frame of frame 0
FLUSH_LINES = 4096  # CRC lines queued before the writer's thread writes them unasked


_T = TypeVar("_T")


def _compressor() -> zstandard.ZstdCompressor:
    return zstandard.ZstdCompressor(level=_LEVEL, write_checksum=True)


def _failure(path: Path, doing: str, exc: OSError) -> ManifestError:
    reason = exc.strerror or str(exc)
    if fsutil.is_full(exc):
        reason = f"no space left on the device ({fsutil.free_text(path.parent)} free)"
    # creating: nothing was posted; later: nothing is lost (what went out is found by STAT)
    saved = "nothing of it was posted" if doing == "write" else "nothing is lost"
    return ManifestError(
        f"cannot {doing} the manifest {path}: {reason}; {saved}: free some space and run the"
        " same command again"
    )


def _frames(lines: Iterable[str]) -> Iterator[bytes]:
    """``lines`` as zstd frames of up to ``FRAME_LINES`` lines each, made as they are
    needed. A frame is compressed ``BATCH_LINES`` lines at a time: a frame's whole text
    (~1 MB, and as much again encoded) made at once, 25 times for 100,000 files, left
    ~15 MB of heap behind in the thread that wrote frame 0, held for the whole run."""
    zstd = _compressor()
    it = iter(lines)
    while True:
        lines_of_frame = itertools.islice(it, FRAME_LINES)
        batch = list(itertools.islice(lines_of_frame, BATCH_LINES))
        if not batch:
            return
        frame = zstd.compressobj()
        out = []
        while batch:
            text = "".join([line + "\n" for line in batch])
            out.append(frame.compress(text.encode("utf-8", "surrogateescape")))
            batch = list(itertools.islice(lines_of_frame, BATCH_LINES))
        out.append(frame.flush())
        yield b"".join(out)


def create(
    path: Path,
    header: dict[str, Any],
    files: Sequence[FileRecord],
    planned: Iterable[PlannedRecord] = (),
    *,
    version: int = VERSION,
) -> ManifestWriter:
    """Write frame 0 atomically (temporary file, fsync, rename, directory fsync) and
    return a writer that appends to it.

    Version 2: frame 0 holds ``planned``, every article's line, in the plan's order
    (files by index, parts by number), written frame by frame as the iterable gives
    them. ``version=1`` writes a version 1 manifest (the header and files only; its
    article lines are appended later): for tests and tools that need one.
    """
    try:
        size = atomic_write(path, frame0(header, files, planned, version=version), mode=0o600)
    except OSError as exc:
        raise _failure(path, "write", exc) from None
    return ManifestWriter(path, size, version=version)


def frame0(
    header: dict[str, Any],
    files: Sequence[FileRecord],
    planned: Iterable[PlannedRecord] = (),
    *,
    version: int = VERSION,
) -> Iterator[bytes]:
    """Frame 0's zstd frames (see :func:`create`), made as they are asked for."""
    if version == 1 and planned:
        raise ValueError("a version 1 manifest has no planned lines in frame 0")

    def lines() -> Iterator[str]:
        yield json.dumps({"postie_manifest": version, **header}, separators=(",", ":"))
        for f in files:
            yield f.line()
        for p in planned:
            yield p.line()

    return _frames(lines())


_Job = tuple[
    "asyncio.AbstractEventLoop | None",
    "asyncio.Future[int] | None",
    "Sequence[ArticleRecord] | None",  # version 1: the lines of one frame; None: a sync
    "int | None",  # the frontier to write with a sync
]


class FrameSink(Protocol):
    """Where a manifest kept elsewhere than in a file takes its frames (a database)."""

    def write(self, data: bytes, offset: int) -> None:
        """Make the frame ``data``, starting at byte ``offset``, durable before returning
        (called on the writer's thread, never the event loop's); ``ManifestError`` when
        it could not be."""
        ...

    def close(self) -> None:
        """Give up a write still waiting (the writer closes)."""
        ...


class ManifestWriter:
    """Appends frames to a manifest, each durable (``fdatasync``) before it is reported.

    ``size`` is the durable length, ``frontier`` the last durable frontier (version 2),
    ``frames`` and ``syncs`` count what this writer appended. The blocking methods
    (:meth:`append`, :meth:`flush`) run on the caller's thread, the others on the
    writer's own; one frame is written at a time. ``sink``: the frames go there instead
    of to the file ``path`` (a manifest in the database; ``path`` is then its key).
    """

    def __init__(
        self,
        path: Path,
        size: int,
        *,
        version: int = VERSION,
        frontier: int = 0,
        sink: FrameSink | None = None,
    ):
        self.path = path
        self.sink = sink
        self.size = size
        self.version = version
        self.frontier = frontier
        self.frames = 0
        self.syncs = 0
        self._fd: int | None = None
        self._zstd = _compressor()
        self._queued: list[tuple[int, int, int, int]] = []  # CRC lines not yet written
        self._unsynced = 0  # CRC lines queued or being written, not yet durable
        self._kicked = False  # the thread was asked to write the queue unasked
        self._lock = threading.Lock()  # the queue, between the loop and the thread
        self._io = threading.Lock()  # one frame at a time
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    # --- version 2: CRC lines queued, written when asked --------------------------------------

    def add(self, file: int, part: int, crc32: int, size: int) -> None:
        """Queue the CRC line of part ``part`` of ``file``; it is written with the next
        frame (:meth:`sync`), or unasked once ``FLUSH_LINES`` are queued."""
        with self._lock:
            self._queued.append((file, part, crc32, size))
            self._unsynced += 1
            kick = len(self._queued) >= FLUSH_LINES and not self._kicked
            if kick:
                self._kicked = True
        if kick:
            self._put((None, None, None, None))

    @property
    def unsynced(self) -> int:
        """CRC lines queued or being written, not yet durable."""
        return self._unsynced

    def sync(self, frontier: int | None = None) -> asyncio.Future[int]:
        """Make every CRC line queued so far durable, and the frontier line ``frontier``
        when it is past the last durable one: one frame written and synced on the
        writer's thread. The future gives the durable size; it is done at once when
        there is nothing to write."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        if not self._unsynced and (frontier is None or frontier <= self.frontier):
            future.set_result(self.size)
            return future
        self._put((loop, future, None, frontier))
        return future

    def flush(self, frontier: int | None = None) -> int:
        """:meth:`sync` on the caller's thread; return the durable size."""
        with self._io:
            with self._lock:
                lines, self._queued = self._queued, []
                self._kicked = False
            mark = frontier is not None and frontier > self.frontier
            if not lines and not mark:
                return self.size
            text = "".join([CRC_LINE % line + "\n" for line in lines])
            if mark:
                assert frontier is not None
                text += Frontier(frontier).line() + "\n"
            try:
                self._write(text)
            except ManifestError:
                with self._lock:  # kept for the next try, in their order
                    self._queued[:0] = lines
                raise
            with self._lock:
                self._unsynced -= len(lines)
            if mark:
                assert frontier is not None
                self.frontier = frontier
                crashpoints.reached("frontier")
            return self.size

    # --- version 1: frames of article lines ---------------------------------------------------

    def submit(self, records: Sequence[ArticleRecord]) -> asyncio.Future[int]:
        """:meth:`append` on this writer's own thread; the future gives the durable size.

        One long-lived thread and a queue instead of ``asyncio.to_thread``: the
        generic executor path costs a ``concurrent.futures.Future`` and its lock
        per frame, on the event loop, the busiest thread.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._put((loop, future, records, None))
        return future

    def append(self, records: Sequence[ArticleRecord]) -> int:
        """Append one frame of version 1 article lines; fdatasync; return the durable size."""
        if not records:
            return self.size
        with self._io:
            self._write("".join([r.line() + "\n" for r in records]))
        return self.size

    # --- the writer's thread ------------------------------------------------------------------

    def _put(self, job: _Job) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._sync_loop, name="postie-manifest", daemon=True
            )
            self._thread.start()
        self._jobs.put(job)

    def _sync_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            jobs = [job]
            closing = False
            while True:  # every sync asked meanwhile is answered by one frame
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    closing = True
                    break
                jobs.append(more)
            syncs = [j for j in jobs if j[2] is None]
            for loop, future, records, _ in jobs:
                if records is not None:
                    size, error = _call(self.append, records)
                    _hand_back(loop, future, size, error)
            if syncs:
                frontiers = [j[3] for j in syncs if j[3] is not None]
                top = max(frontiers) if frontiers else None
                size, error = _call(self.flush, top)
                for loop, future, _, _ in syncs:
                    _hand_back(loop, future, size, error)
            del job, jobs, syncs
            if closing:
                return

    def _open(self) -> int:
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_WRONLY)
            except OSError as exc:
                raise _failure(self.path, "open", exc) from None
        return self._fd

    def _write(self, text: str) -> None:
        """Append one frame holding ``text`` and fdatasync it (holding ``_io``)."""
        data = self._zstd.compress(text.encode("utf-8", "surrogateescape"))
        if self.sink is not None:
            self.sink.write(data, self.size)
            self._wrote(data)
            return
        fd = self._open()
        try:
            pwrite_all(fd, data, self.size)
            os.fdatasync(fd)
        except OSError as exc:
            # Cut a partly written frame off, so the file ends on a whole frame.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, self.size)
            raise _failure(self.path, "append to", exc) from None
        self._wrote(data)

    def _wrote(self, data: bytes) -> None:
        self.size += len(data)
        self.frames += 1
        self.syncs += 1
        crashpoints.reached("frame")

    def close(self) -> None:
        """Stop the writer's thread and close the file; CRC lines still queued are not
        written (sync first what must be durable)."""
        thread, self._thread = self._thread, None
        if self.sink is not None:
            self.sink.close()  # a write waiting for the event loop: given up
        if thread is not None:
            self._jobs.put(None)
            thread.join()
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def _call(fn: Callable[[_T], int], arg: _T) -> tuple[int | None, BaseException | None]:
    try:
        return fn(arg), None
    except BaseException as exc:  # handed to the waiting task
        return None, exc


def _hand_back(
    loop: asyncio.AbstractEventLoop | None,
    future: asyncio.Future[int] | None,
    size: int | None,
    error: BaseException | None,
) -> None:
    if loop is None or future is None:
        return  # written unasked: an error stays for the next sync (the lines are kept)
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
        loop.call_soon_threadsafe(_settle, future, size, error)


def _settle(future: asyncio.Future[int], size: int | None, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        assert size is not None
        future.set_result(size)


def reopen(manifest: Manifest) -> ManifestWriter:
    """A writer that appends after the last complete frame, cutting a torn tail off."""
    try:
        if manifest.path.stat().st_size != manifest.end:
            os.truncate(manifest.path, manifest.end)
    except OSError as exc:
        raise _failure(manifest.path, "repair", exc) from None
    return ManifestWriter(
        manifest.path, manifest.end, version=manifest.version, frontier=manifest.frontier or 0
    )
