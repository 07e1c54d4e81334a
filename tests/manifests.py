"""Transfers with a version 1 manifest, as postie wrote them before version 2: what
tests of reading, resuming, verifying and carrying over old manifests start from."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from postie import manifest
from postie.manifest import FileRecord, ManifestWriter, PlannedRecord
from postie.manifest.database import DatabaseManifests
from postie.manifest.storage import FileManifests


def write_version(monkeypatch: pytest.MonkeyPatch, version: int) -> None:
    """New transfers get a manifest of ``version`` (1: frame 0 without planned lines,
    article lines appended before their articles are posted) while ``monkeypatch`` holds,
    wherever the store keeps them (files or the database)."""
    if version == manifest.VERSION:
        return
    for storage in (FileManifests, DatabaseManifests):
        real = storage.create

        def create(
            self: Any,
            folder: Path,
            header: dict[str, Any],
            files: Sequence[FileRecord],
            planned: Iterable[PlannedRecord] = (),
            *,
            version: int = version,
            real: Any = real,
        ) -> Awaitable[ManifestWriter]:
            return real(self, folder, header, files, version=version)  # type: ignore[no-any-return]

        monkeypatch.setattr(storage, "create", create)
