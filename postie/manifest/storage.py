"""Where manifests are kept: the one seam every reader and writer goes through.

A store says where its transfers' manifests are (``Store.manifests``): files in a
folder of this machine (``FileManifests``: the SQLite store, the fast path), or rows
of its database (``postie.manifest.database``: the PostgreSQL store, so that every
instance can resume, verify and re-post any transfer). Either way a manifest is the
same zstd frames, named by the transfer's ``manifest_path`` (here a ``ref``: a file's
path, or a name in the database), read back as the same ``Manifest``; a writer
appends frames that are durable before it reports them.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from postie.errors import ManifestError
from postie.manifest.reader import ManifestReader, read
from postie.manifest.records import VERSION, FileRecord, Manifest, PlannedRecord
from postie.manifest.writer import ManifestWriter, create, reopen


def new_name() -> str:
    """A new manifest's name: random, so instances never pick the same."""
    return f"{secrets.token_hex(8)}.manifest.zst"


class ManifestStorage(Protocol):
    """Creating, reading, appending to and deleting manifests, wherever they are kept."""

    def where(self, ref: Path) -> str:
        """The manifest ``ref`` in messages."""
        ...

    def shown(self, ref: Path, durable: int) -> str:
        """The manifest ``ref`` for ``postie transfers show``."""
        ...

    async def create(
        self,
        folder: Path,
        header: dict[str, Any],
        files: Sequence[FileRecord],
        planned: Iterable[PlannedRecord] = (),
        *,
        version: int = VERSION,
    ) -> ManifestWriter:
        """A new manifest, frame 0 durable (see ``postie.manifest.writer.create``);
        ``folder``: where a file goes. The writer's ``path`` is its ``ref``."""
        ...

    async def read(
        self, ref: Path, *, durable_bytes: int = 0, salvage: bool = False
    ) -> Manifest: ...

    async def reader(self, ref: Path, *, durable_bytes: int = 0) -> ManifestReader:
        """A streaming reader (``ManifestReader``); iterate it off the event loop."""
        ...

    async def reopen(self, found: Manifest) -> ManifestWriter:
        """A writer appending after ``found``'s last complete frame (what follows it,
        a torn tail, is cut off)."""
        ...

    async def length(self, ref: Path) -> int:
        """The bytes the manifest holds now."""
        ...

    async def delete(self, ref: Path) -> bool:
        """Delete the manifest; False when there was none. ``ManifestError`` when it
        could not be deleted."""
        ...


class FileManifests:
    """Manifests as files: ``ref`` is the file's path."""

    def where(self, ref: Path) -> str:
        return str(ref)

    def shown(self, ref: Path, durable: int) -> str:
        return f"{ref} ({durable} bytes durable)"

    async def create(
        self,
        folder: Path,
        header: dict[str, Any],
        files: Sequence[FileRecord],
        planned: Iterable[PlannedRecord] = (),
        *,
        version: int = VERSION,
    ) -> ManifestWriter:
        path = folder / new_name()
        return await asyncio.to_thread(create, path, header, files, planned, version=version)

    async def read(self, ref: Path, *, durable_bytes: int = 0, salvage: bool = False) -> Manifest:
        return await asyncio.to_thread(read, ref, durable_bytes=durable_bytes, salvage=salvage)

    async def reader(self, ref: Path, *, durable_bytes: int = 0) -> ManifestReader:
        return await asyncio.to_thread(ManifestReader, ref, durable_bytes=durable_bytes)

    async def reopen(self, found: Manifest) -> ManifestWriter:
        return await asyncio.to_thread(reopen, found)

    async def length(self, ref: Path) -> int:
        try:
            return (await asyncio.to_thread(ref.stat)).st_size
        except OSError as exc:
            raise ManifestError(f"cannot read the manifest {ref}: {exc.strerror}") from None

    async def delete(self, ref: Path) -> bool:
        try:
            await asyncio.to_thread(ref.unlink)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise ManifestError(f"cannot delete the manifest {ref}: {exc.strerror}") from None
        return True
