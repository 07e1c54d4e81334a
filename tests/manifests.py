"""Transfers with a version 1 manifest, as postie wrote them before version 2: what
tests of reading, resuming, verifying and carrying over old manifests start from."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from postie import manifest
from postie.manifest import FileRecord, ManifestWriter, PlannedRecord


def write_version(monkeypatch: pytest.MonkeyPatch, version: int) -> None:
    """New transfers get a manifest of ``version`` (1: frame 0 without planned lines,
    article lines appended before their articles are posted) while ``monkeypatch`` holds."""
    if version == manifest.VERSION:
        return
    real = manifest.create

    def create(
        path: Path,
        header: dict[str, Any],
        files: Sequence[FileRecord],
        planned: Iterable[PlannedRecord] = (),
        *,
        version: int = version,
    ) -> ManifestWriter:
        return real(path, header, files, version=version)

    monkeypatch.setattr(manifest, "create", create)
