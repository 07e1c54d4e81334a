"""Database rows (mappings of column to value: sqlite3 rows as dicts, asyncpg records)
to the store's records; both dialects store the same values (the same JSON, paths as
bytes, times as seconds since the epoch)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from postie.store.records import (
    Cleanup,
    Failure,
    FailureState,
    FileRole,
    FinalizeState,
    Job,
    JobState,
    Lease,
    LeaseKind,
    Transfer,
    TransferFile,
    TransferState,
    UploadState,
    VerifyState,
    Worker,
)

Row = Mapping[str, Any]


def transfer_row(row: Row) -> Transfer:
    return Transfer(
        id=int(row["id"]),
        name=str(row["name"]),
        state=TransferState(row["state"]),
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
        verify_state=VerifyState(row["verify_state"]),
        verified_at=row["verified_at"],
        finalize_state=FinalizeState(row["finalize_state"]),
        finalize_attempts=int(row["finalize_attempts"]),
        next_finalize_at=row["next_finalize_at"],
        abandoned_at=row["abandoned_at"],
    )


def file_row(row: Row) -> TransferFile:
    return TransferFile(
        transfer_id=int(row["transfer_id"]),
        file_id=int(row["file_id"]),
        role=FileRole(row["role"]),
        source_path=Path(os.fsdecode(bytes(row["source_path"]))),
        name=str(row["name"]),
        size=int(row["size"]),
        mtime_ns=int(row["mtime_ns"]),
        manifest_path=Path(row["manifest_path"]),
        article_count=int(row["article_count"]),
        acked=int(row["acked"]),
        upload_state=UploadState(row["upload_state"]),
        verify_state=VerifyState(row["verify_state"]),
        next_check_at=row["next_check_at"],
        cleanup=Cleanup(row["cleanup"]),
        last_error=row["last_error"],
        check_owner=row["check_owner"],
        check_expires=row["check_expires"],
    )


def failure_row(row: Row) -> Failure:
    return Failure(
        transfer_id=int(row["transfer_id"]),
        file_id=int(row["file_id"]),
        part=int(row["part"]),
        message_id=str(row["message_id"]),
        state=FailureState(row["state"]),
        repost_count=int(row["repost_count"]),
        check_count=int(row["check_count"]),
        next_attempt_at=float(row["next_attempt_at"]),
        lease_owner=row["lease_owner"],
        lease_expires=row["lease_expires"],
        last_error=row["last_error"],
    )


def job_row(row: Row) -> Job:
    return Job(
        id=int(row["id"]),
        path=Path(row["path"]),
        root=Path(row["root"]) if row["root"] is not None else None,
        relative=str(row["relative"]),
        output=Path(row["output"]) if row["output"] is not None else None,
        priority=int(row["priority"]),
        size=int(row["size"]),
        files=int(row["files"]),
        state=JobState(row["state"]),
        attempts=int(row["attempts"]),
        next_attempt_at=float(row["next_attempt_at"]),
        transfer_id=row["transfer_id"],
        lease_owner=row["lease_owner"],
        lease_expires=row["lease_expires"],
        last_error=row["last_error"],
        created_at=float(row["created_at"]),
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


def worker_row(row: Row) -> Worker:
    return Worker(
        owner=str(row["owner"]),
        host=str(row["host"]),
        pid=int(row["pid"]),
        process_start=row["process_start"],
        name=str(row["name"]),
        started_at=float(row["started_at"]),
        heartbeat_at=float(row["heartbeat_at"]),
        instance=row["instance"],
    )


def lease_row(row: Row) -> Lease:
    return Lease(
        kind=LeaseKind(row["kind"]),
        ref=int(row["ref"]),
        owner=str(row["owner"]),
        instance=row["instance"],
        worker=row["worker"],
        expires=float(row["expires"]),
        count=int(row["n"]),
    )
