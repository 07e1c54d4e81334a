"""The PostgreSQL store's manifests: their frames are rows of ``manifest_frames``, so
every instance can resume, verify and re-post any transfer
(``postie.manifest.database`` reads and writes them through this table).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from postie.manifest.database import DatabaseManifests
from postie.manifest.storage import ManifestStorage
from postie.store.postgres.base import StoreBase, executemany


class ManifestQueries(StoreBase):
    """``manifest_frames``: ``postie.manifest.database.FrameTable``."""

    @property
    def manifests(self) -> ManifestStorage:
        """Where this store's manifests are: its database."""
        return DatabaseManifests(self)

    async def put_frames(
        self, manifest: str, frames: AsyncIterator[list[tuple[int, bytes]]]
    ) -> None:
        async with self._transaction("write a manifest's frame 0") as conn:
            async for batch in frames:
                rows = [{"manifest": manifest, "offset": o, "data": d} for o, d in batch]
                await executemany(conn, "put_manifest_frame", rows)

    async def add_frame(self, manifest: str, offset: int, data: bytes) -> bool:
        (row,) = await self._returning(
            "add_manifest_frame",
            "append to a manifest",
            manifest=manifest,
            offset=offset,
            data=data,
        )
        return bool(row["ok"])

    async def manifest_frames(self, manifest: str) -> list[tuple[int, bytes]]:
        rows = await self._fetch("manifest_frames", "read a manifest", manifest=manifest)
        return [(int(r["byte_offset"]), bytes(r["data"])) for r in rows]

    async def manifest_length(self, manifest: str) -> int:
        (row,) = await self._fetch("manifest_length", "read a manifest", manifest=manifest)
        return int(row["bytes"])

    async def cut_manifest(self, manifest: str, end: int) -> None:
        await self._returning("cut_manifest", "repair a manifest", manifest=manifest, end=end)

    async def drop_manifest(self, manifest: str) -> int:
        rows = await self._returning("drop_manifest", "delete a manifest", manifest=manifest)
        return len(rows)
