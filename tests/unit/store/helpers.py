"""What the store's tests create and read back, shared by the test modules."""

from __future__ import annotations

import os
from pathlib import Path

from postie.store.api import (
    FileRole,
    NewFile,
    NewTransfer,
    Store,
    Transfer,
    TransferFile,
)

ODD_PATH = Path(os.fsdecode(b"/tmp/\xff odd.bin"))  # not UTF-8: must round-trip as bytes


def new_transfer(
    name: str = "job",
    roots_key: str = "roots-1",
    files: tuple[NewFile, ...] | None = None,
) -> NewTransfer:
    if files is None:
        files = (
            NewFile(1, Path("/data/a.bin"), "a.bin", 1000, 11, 2),
            NewFile(2, ODD_PATH, "\\xff odd.bin", 2500, 22, 3),
            NewFile(3, Path("/data/a.par2"), "a.par2", 40, 33, 1, role=FileRole.PAR2),
        )
    return NewTransfer(
        name=name,
        roots=("/data", "/tmp/x"),
        roots_key=roots_key,
        files_key="files-1",
        options={"groups": ["alt.binaries.test"], "article_size": 716800},
        nzb_path=None,
        manifest_path=Path("/state/job.manifest"),
        files=files,
    )


async def must_get(store: Store, tid: int) -> Transfer:
    got = await store.get(tid)
    assert got is not None
    return got


async def file_row(store: Store, tid: int, file_id: int) -> TransferFile:
    (row,) = [f for f in await store.files(tid) if f.file_id == file_id]
    return row


async def uploaded(
    store: Store, folder: Path, files: int = 2, options: dict[str, object] | None = None
) -> int:
    """A transfer whose files are all uploaded (its verification not asked for yet)."""
    tid = await store.create(
        NewTransfer(
            name="job",
            roots=(str(folder),),
            roots_key="r",
            files_key="f",
            options=options or {},
            nzb_path=None,
            manifest_path=folder / "m.zst",
            files=tuple(
                NewFile(i, folder / f"{i}.bin", f"{i}.bin", 10, 1, 3) for i in range(1, files + 1)
            ),
        ),
        owner="poster",
        lease=60,
    )
    await store.checkpoint(
        tid, owner="poster", lease=60, manifest_bytes=0, files=(), all_uploaded=True
    )
    return tid
