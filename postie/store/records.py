"""The rows of the transfer store, as frozen dataclasses."""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

UNFINISHED = ("uploading", "incomplete")


def default_path() -> Path:
    """``$XDG_DATA_HOME/postie/postie.db`` (``~/.local/share/postie/postie.db``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "postie" / "postie.db"


@dataclass(frozen=True, slots=True)
class Transfer:
    """A row of ``transfers``: one run of posting files, and where it stands."""

    id: int
    name: str
    state: str
    roots: tuple[str, ...]
    roots_key: str
    files_key: str
    options: dict[str, Any]
    nzb_path: str | None
    manifest_path: Path
    manifest_bytes: int
    lease_owner: str | None
    lease_expires: float | None
    last_error: str | None
    created_at: float
    updated_at: float
    finished_at: float | None
    verify_state: str = "pending"
    verified_at: float | None = None
    finalize_state: str = "pending"
    finalize_attempts: int = 0
    next_finalize_at: float | None = None

    @property
    def unfinished(self) -> bool:
        return self.state in UNFINISHED

    @property
    def display_state(self) -> str:
        """The state a user cares about: the upload state until the upload is done, then
        what verification and finalizing made of it."""
        if self.state != "uploaded":
            return self.state
        if self.verify_state == "verified":
            return "finalize_failed" if self.finalize_state == "failed" else "verified"
        if self.verify_state == "verification_failed":
            return "verification_failed"
        return "uploaded"


@dataclass(frozen=True, slots=True)
class TransferFile:
    """A row of ``transfer_files``: one file of a transfer (data or PAR2)."""

    transfer_id: int
    file_id: int
    role: str
    source_path: Path
    name: str
    size: int
    mtime_ns: int
    manifest_path: Path
    article_count: int
    acked: int
    upload_state: str
    verify_state: str
    next_check_at: float | None
    cleanup: str
    last_error: str | None
    check_owner: str | None = None


@dataclass(frozen=True, slots=True)
class NewFile:
    """A file of a transfer about to be created."""

    file_id: int
    source_path: Path
    name: str
    size: int
    mtime_ns: int
    article_count: int
    role: str = "data"
    cleanup: str = "keep"  # "delete": remove the file once the transfer is verified


@dataclass(frozen=True, slots=True)
class NewTransfer:
    """A transfer about to be created, with its files."""

    name: str
    roots: tuple[str, ...]
    roots_key: str
    files_key: str
    options: dict[str, Any]
    nzb_path: str | None
    manifest_path: Path
    files: tuple[NewFile, ...]


@dataclass(frozen=True, slots=True)
class FileProgress:
    """One file's part of a checkpoint."""

    file_id: int
    acked: int
    state: str | None = None  # a new upload_state, if it changed
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """An article a STAT did not find (a ``verification_failures`` row)."""

    transfer_id: int
    file_id: int
    part: int
    message_id: str
    state: str
    repost_count: int
    check_count: int
    next_attempt_at: float
    lease_owner: str | None
    lease_expires: float | None
    last_error: str | None

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.transfer_id, self.file_id, self.part)

    @property
    def part_key(self) -> tuple[int, int]:
        return (self.file_id, self.part)


@dataclass(frozen=True, slots=True)
class TransferSummary:
    """A transfer with its totals, for listings."""

    transfer: Transfer
    files: int
    bytes: int
    articles: int
    uploaded_files: int


def transfer_row(row: sqlite3.Row) -> Transfer:
    return Transfer(
        id=int(row["id"]),
        name=str(row["name"]),
        state=str(row["state"]),
        roots=tuple(json.loads(row["roots"])),
        roots_key=str(row["roots_key"]),
        files_key=str(row["files_key"]),
        options=json.loads(row["options"]),
        nzb_path=row["nzb_path"],
        manifest_path=Path(row["manifest_path"]),
        manifest_bytes=int(row["manifest_bytes"]),
        lease_owner=row["lease_owner"],
        lease_expires=row["lease_expires"],
        last_error=row["last_error"],
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
        finished_at=row["finished_at"],
        verify_state=str(row["verify_state"]),
        verified_at=row["verified_at"],
        finalize_state=str(row["finalize_state"]),
        finalize_attempts=int(row["finalize_attempts"]),
        next_finalize_at=row["next_finalize_at"],
    )


def failure_row(row: sqlite3.Row) -> Failure:
    return Failure(
        transfer_id=int(row["transfer_id"]),
        file_id=int(row["file_id"]),
        part=int(row["part"]),
        message_id=str(row["message_id"]),
        state=str(row["state"]),
        repost_count=int(row["repost_count"]),
        check_count=int(row["check_count"]),
        next_attempt_at=float(row["next_attempt_at"]),
        lease_owner=row["lease_owner"],
        lease_expires=row["lease_expires"],
        last_error=row["last_error"],
    )


def file_row(row: sqlite3.Row) -> TransferFile:
    return TransferFile(
        transfer_id=int(row["transfer_id"]),
        file_id=int(row["file_id"]),
        role=str(row["role"]),
        source_path=Path(os.fsdecode(bytes(row["source_path"]))),
        name=str(row["name"]),
        size=int(row["size"]),
        mtime_ns=int(row["mtime_ns"]),
        manifest_path=Path(row["manifest_path"]),
        article_count=int(row["article_count"]),
        acked=int(row["acked"]),
        upload_state=str(row["upload_state"]),
        verify_state=str(row["verify_state"]),
        next_check_at=row["next_check_at"],
        cleanup=str(row["cleanup"]),
        last_error=row["last_error"],
        check_owner=row["check_owner"],
    )
