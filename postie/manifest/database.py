"""Manifests in the database (the PostgreSQL store): any instance reads any of them.

A manifest is the same zstd frames as its file would hold, one row per frame written
(frame 0: one row per zstd frame of it, all in one transaction, committed before the
transfer is recorded and so before anything is posted), each row with the byte offset
it starts at. Read back, the rows in offset order, up to the first gap, are the file's
bytes: the same reader reads them, with the same checks against the durable length
the store recorded. A frame appended while posting (CRC lines, frontiers; version 1's
article lines) is written by the writer's own thread as in a file, which hands the
INSERT to the event loop and waits for its commit: it is durable when the writer
reports it, so the ordering is the file's (a frame before the watermark that covers
it; a Message-ID before its article). A frame whose INSERT is retried (the store
reconnects) is written once: the row is there with the same bytes. Another writer's
row at that offset (two processes appending to one manifest) is an error.

A manifest whose ``ref`` is an absolute path is a file (one written before manifests
moved into the database): it is read, appended to and deleted as a file.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
import threading
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from postie.errors import ManifestError, StoreError
from postie.manifest.reader import ManifestReader, read
from postie.manifest.records import VERSION, FileRecord, Manifest, PlannedRecord
from postie.manifest.storage import FileManifests, new_name
from postie.manifest.writer import ManifestWriter, frame0

FRAMES_PER_BATCH = 16  # frame 0's zstd frames made (off the loop) and inserted at a time


class FrameTable(Protocol):
    """What a database offers to hold manifests (``manifest_frames``, the PostgreSQL
    store's ``postie.store.postgres.manifests``)."""

    location: str  # the database, for messages (no password)

    async def put_frames(
        self, manifest: str, frames: AsyncIterator[list[tuple[int, bytes]]]
    ) -> None:
        """Insert every ``(offset, data)`` of ``frames`` in one transaction."""
        ...

    async def add_frame(self, manifest: str, offset: int, data: bytes) -> bool:
        """Insert one frame (committed on return); True also when the same row is there
        already (a retry), False when another frame holds that offset."""
        ...

    async def manifest_frames(self, manifest: str) -> list[tuple[int, bytes]]:
        """Every ``(offset, data)`` of the manifest, in offset order."""
        ...

    async def manifest_length(self, manifest: str) -> int: ...

    async def cut_manifest(self, manifest: str, end: int) -> None:
        """Delete the frames at or past byte ``end``."""
        ...

    async def drop_manifest(self, manifest: str) -> int:
        """Delete every frame of the manifest; return how many there were."""
        ...


class DatabaseManifests:
    """Manifests as rows of ``table``; ``ref`` is the manifest's name (its key)."""

    def __init__(self, table: FrameTable) -> None:
        self.table = table
        self.files = FileManifests()

    def where(self, ref: Path) -> str:
        if ref.is_absolute():
            return str(ref)
        return f"{os.fsdecode(ref)} (in the database {self.table.location})"

    def shown(self, ref: Path, durable: int) -> str:
        if ref.is_absolute():
            return self.files.shown(ref, durable)
        return f"in the database ({durable} bytes durable)"

    async def create(
        self,
        folder: Path,
        header: dict[str, Any],
        files: Sequence[FileRecord],
        planned: Iterable[PlannedRecord] = (),
        *,
        version: int = VERSION,
    ) -> ManifestWriter:
        ref = Path(new_name())
        frames = frame0(header, files, planned, version=version)
        size = 0

        async def batches() -> AsyncIterator[list[tuple[int, bytes]]]:
            nonlocal size
            while batch := await asyncio.to_thread(_take, frames, FRAMES_PER_BATCH):
                rows = []
                for data in batch:
                    rows.append((size, data))
                    size += len(data)
                yield rows

        try:
            await self.table.put_frames(os.fsdecode(ref), batches())
        except StoreError as exc:
            raise ManifestError(
                f"cannot write the manifest {self.where(ref)}: {exc}; nothing of it was"
                " posted: run the same command again once the database answers"
            ) from None
        return self._writer(ref, size, version=version)

    def _writer(
        self, ref: Path, size: int, *, version: int = VERSION, frontier: int = 0
    ) -> ManifestWriter:
        sink = _Sink(self.table, ref, self.where(ref), asyncio.get_running_loop())
        return ManifestWriter(ref, size, version=version, frontier=frontier, sink=sink)

    async def _bytes(self, ref: Path) -> bytes:
        try:
            rows = await self.table.manifest_frames(os.fsdecode(ref))
        except StoreError as exc:
            raise ManifestError(f"cannot read the manifest {self.where(ref)}: {exc}") from None
        if not rows:
            raise ManifestError(f"the manifest {self.where(ref)} is missing")
        parts: list[bytes] = []
        end = 0
        for offset, data in rows:
            if offset != end:
                break  # a gap: what follows was never relied on (the reader says so if it was)
            parts.append(data)
            end += len(data)
        return b"".join(parts)

    async def read(self, ref: Path, *, durable_bytes: int = 0, salvage: bool = False) -> Manifest:
        if ref.is_absolute():
            return await self.files.read(ref, durable_bytes=durable_bytes, salvage=salvage)
        data = await self._bytes(ref)
        return await asyncio.to_thread(
            read,
            ref,
            durable_bytes=durable_bytes,
            salvage=salvage,
            data=data,
            name=self.where(ref),
        )

    async def reader(self, ref: Path, *, durable_bytes: int = 0) -> ManifestReader:
        if ref.is_absolute():
            return await self.files.reader(ref, durable_bytes=durable_bytes)
        data = await self._bytes(ref)
        return await asyncio.to_thread(
            ManifestReader, ref, durable_bytes=durable_bytes, data=data, name=self.where(ref)
        )

    async def reopen(self, found: Manifest) -> ManifestWriter:
        ref = found.path
        if ref.is_absolute():
            return await self.files.reopen(found)
        try:
            await self.table.cut_manifest(os.fsdecode(ref), found.end)
        except StoreError as exc:
            raise ManifestError(f"cannot repair the manifest {self.where(ref)}: {exc}") from None
        return self._writer(ref, found.end, version=found.version, frontier=found.frontier or 0)

    async def length(self, ref: Path) -> int:
        if ref.is_absolute():
            return await self.files.length(ref)
        try:
            return await self.table.manifest_length(os.fsdecode(ref))
        except StoreError as exc:
            raise ManifestError(f"cannot read the manifest {self.where(ref)}: {exc}") from None

    async def delete(self, ref: Path) -> bool:
        if ref.is_absolute():
            return await self.files.delete(ref)
        try:
            return await self.table.drop_manifest(os.fsdecode(ref)) > 0
        except StoreError as exc:
            raise ManifestError(f"cannot delete the manifest {self.where(ref)}: {exc}") from None


def _take(frames: Iterator[bytes], n: int) -> list[bytes]:
    return list(itertools.islice(frames, n))


class _Sink:
    """A writer's frames into ``table``: each INSERT runs on the event loop ``loop``,
    the writer's thread waiting for its commit."""

    def __init__(
        self, table: FrameTable, ref: Path, name: str, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.table = table
        self.key = os.fsdecode(ref)
        self.name = name
        self.loop = loop
        self._lock = threading.Lock()
        self._waiting: concurrent.futures.Future[bool] | None = None
        self._closed = False

    def write(self, data: bytes, offset: int) -> None:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:  # it would wait for itself
            raise RuntimeError("a manifest in the database is written off the event loop")
        with self._lock:
            if self._closed:
                raise ManifestError(f"the manifest {self.name} is closed")
            try:
                waiting = asyncio.run_coroutine_threadsafe(
                    self.table.add_frame(self.key, offset, data), self.loop
                )
            except RuntimeError:  # the loop is closed
                raise ManifestError(f"the manifest {self.name} is closed") from None
            self._waiting = waiting
        try:
            written = waiting.result()
        except concurrent.futures.CancelledError:
            raise ManifestError(
                f"the manifest {self.name} was closed while a frame was being written"
            ) from None
        except StoreError as exc:
            raise ManifestError(
                f"cannot write {len(data)} bytes at byte {offset} of the manifest"
                f" {self.name}: {exc}; nothing is lost (what went out is found by STAT):"
                " run the same command again once the database answers"
            ) from None
        finally:
            with self._lock:
                self._waiting = None
        if not written:
            raise ManifestError(
                f"another process wrote byte {offset} of the manifest {self.name}: it took"
                " this transfer over (its lease ran out); this process stops posting it"
            )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            waiting = self._waiting
        if waiting is not None:
            waiting.cancel()
