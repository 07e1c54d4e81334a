"""Writing a manifest: frame 0 atomically, then article frames appended and synced."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import zstandard

from postie import fsutil
from postie.errors import ManifestError
from postie.fsutil import atomic_write, pwrite_all
from postie.manifest.records import VERSION, ArticleRecord, FileRecord, Manifest

_LEVEL = 3


def _compressor() -> zstandard.ZstdCompressor:
    return zstandard.ZstdCompressor(level=_LEVEL, write_checksum=True)


def _failure(path: Path, doing: str, exc: OSError) -> ManifestError:
    reason = exc.strerror or str(exc)
    if fsutil.is_full(exc):
        reason = f"no space left on the device ({fsutil.free_text(path.parent)} free)"
    return ManifestError(
        f"cannot {doing} the manifest {path}: {reason}; nothing of it was posted: free some"
        " space and run the same command again"
    )


def create(path: Path, header: dict[str, Any], files: Sequence[FileRecord]) -> ManifestWriter:
    """Write frame 0 atomically and return a writer that appends article frames."""
    first = json.dumps({"postie_manifest": VERSION, **header}, separators=(",", ":"))
    text = "".join([first + "\n", *(f.line() + "\n" for f in files)])
    data = _compressor().compress(text.encode("utf-8", "surrogateescape"))
    try:
        atomic_write(path, data, mode=0o600)
    except OSError as exc:
        raise _failure(path, "write", exc) from None
    return ManifestWriter(path, len(data))


class ManifestWriter:
    """Appends article frames; each :meth:`append` returns once the frame is durable.

    Blocking: call it from a thread. Not thread-safe: one appender at a time.
    """

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size  # durable bytes
        self.frames = 0
        self._fd: int | None = None
        self._zstd = _compressor()
        self._jobs: queue.SimpleQueue[_SyncJob | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def submit(self, records: Sequence[ArticleRecord]) -> asyncio.Future[int]:
        """:meth:`append` on this writer's own thread; the future gives the durable size.

        One long-lived thread and a queue instead of ``asyncio.to_thread``: the
        generic executor path costs a ``concurrent.futures.Future`` and its lock
        per frame, on the event loop, the busiest thread.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._sync_loop, name="postie-manifest", daemon=True
            )
            self._thread.start()
        self._jobs.put((loop, future, records))
        return future

    def _sync_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            loop, future, records = job
            size: int | None = None
            error: BaseException | None = None
            try:
                size = self.append(records)
            except BaseException as exc:  # handed to the waiting task
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, future, size, error)
            del job, records

    def _open(self) -> int:
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_WRONLY)
            except OSError as exc:
                raise _failure(self.path, "open", exc) from None
        return self._fd

    def append(self, records: Sequence[ArticleRecord]) -> int:
        """Append one frame holding ``records``; fdatasync; return the durable size."""
        if not records:
            return self.size
        text = "".join([r.line() + "\n" for r in records])
        data = self._zstd.compress(text.encode("utf-8", "surrogateescape"))
        fd = self._open()
        try:
            pwrite_all(fd, data, self.size)
            os.fdatasync(fd)
        except OSError as exc:
            # Cut a partly written frame off, so the file ends on a whole frame.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, self.size)
            raise _failure(self.path, "append to", exc) from None
        self.size += len(data)
        self.frames += 1
        return self.size

    def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            thread.join()
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


_SyncJob = tuple[asyncio.AbstractEventLoop, "asyncio.Future[int]", Sequence[ArticleRecord]]


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
    return ManifestWriter(manifest.path, manifest.end)
