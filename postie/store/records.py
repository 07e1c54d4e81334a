"""What the store holds, as frozen msgspec Structs, and the states its rows go through.

The states are ``StrEnum``s: a state compares equal to its text (``"uploaded"``),
which is also what the store writes. Records are built by a store implementation
from its rows; nothing here knows about a database.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import msgspec


class TransferState(StrEnum):
    """A transfer's upload (``transfers.state``)."""

    UPLOADING = "uploading"  # posting, or interrupted
    INCOMPLETE = "incomplete"  # a run ended with files left over
    UPLOADED = "uploaded"  # every article acknowledged and the NZB written


class UploadState(StrEnum):
    """One file's upload (``transfer_files.upload_state``)."""

    PENDING = "pending"
    UPLOADED = "uploaded"
    FAILED = "failed"
    SOURCE_CHANGED = "source_changed"
    SOURCE_MISSING = "source_missing"


class VerifyState(StrEnum):
    """What verification made of a transfer or a file."""

    PENDING = "pending"  # not decided yet (or not asked for)
    VERIFIED = "verified"  # every article was found
    VERIFICATION_FAILED = "verification_failed"  # some article stayed missing


class FinalizeState(StrEnum):
    """A verified transfer's finalizing (hook, cleanup, manifest dropped)."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"  # the hook or a cleanup step failed for good; everything is kept


class FailureState(StrEnum):
    """A missing article's (``verification_failures.state``)."""

    PENDING = "pending"  # to re-post or recheck when due
    EXHAUSTED = "exhausted"  # re-posts and checks used up


class JobState(StrEnum):
    """A queued job's (``jobs.state``)."""

    QUEUED = "queued"  # waiting, or retrying at next_attempt_at
    RUNNING = "running"  # leased to a worker
    DONE = "done"  # posted (verification goes on in the background)
    FAILED = "failed"  # attempts used up
    REMOVED = "removed"  # taken off the queue by a user


class FileRole(StrEnum):
    DATA = "data"
    PAR2 = "par2"  # PAR2 made by postie for the transfer (never a user's own .par2)


class Cleanup(StrEnum):
    """What finalizing does with a file's source once the transfer is verified."""

    KEEP = "keep"
    DELETE = "delete"


UNFINISHED = (TransferState.UPLOADING, TransferState.INCOMPLETE)
ACTIVE_JOBS = (JobState.QUEUED, JobState.RUNNING)


class Transfer(msgspec.Struct, frozen=True):
    """One run of posting files, and where it stands."""

    id: int
    name: str
    state: TransferState
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
    verify_state: VerifyState = VerifyState.PENDING
    verified_at: float | None = None
    finalize_state: FinalizeState = FinalizeState.PENDING
    finalize_attempts: int = 0
    next_finalize_at: float | None = None
    abandoned_at: float | None = None  # given up on: never resumed

    @property
    def unfinished(self) -> bool:
        """Unfinished and not abandoned: a run may take it up."""
        return self.state in UNFINISHED and self.abandoned_at is None

    @property
    def display_state(self) -> str:
        """The state a user cares about: the upload state until the upload is done, then
        what verification and finalizing made of it."""
        if self.abandoned_at is not None:
            return "abandoned"
        if self.state != TransferState.UPLOADED:
            return str(self.state)
        if self.verify_state == VerifyState.VERIFIED:
            return "finalize_failed" if self.finalize_state == FinalizeState.FAILED else "verified"
        if self.verify_state == VerifyState.VERIFICATION_FAILED:
            return "verification_failed"
        return "uploaded"


class TransferFile(msgspec.Struct, frozen=True):
    """One file of a transfer (data or PAR2)."""

    transfer_id: int
    file_id: int
    role: FileRole
    source_path: Path
    name: str
    size: int
    mtime_ns: int
    manifest_path: Path
    article_count: int
    acked: int
    upload_state: UploadState
    verify_state: VerifyState
    next_check_at: float | None
    cleanup: Cleanup
    last_error: str | None
    check_owner: str | None = None  # the STAT scan's lease
    check_expires: float | None = None


class NewFile(msgspec.Struct, frozen=True):
    """A file of a transfer about to be created (``source_path`` as the plan has it, a
    ``str``, or a ``Path``: a store only encodes it, ``os.fsencode``)."""

    file_id: int
    source_path: str | Path
    name: str
    size: int
    mtime_ns: int
    article_count: int
    role: FileRole = FileRole.DATA
    cleanup: Cleanup = Cleanup.KEEP  # DELETE: remove the file once the transfer is verified


class NewTransfer(msgspec.Struct, frozen=True):
    """A transfer about to be created, with its files."""

    name: str
    roots: tuple[str, ...]
    roots_key: str
    files_key: str
    options: dict[str, Any]
    nzb_path: str | None
    manifest_path: Path
    files: tuple[NewFile, ...]


class FileProgress(msgspec.Struct, frozen=True):
    """One file's part of a checkpoint."""

    file_id: int
    acked: int
    state: UploadState | None = None  # a new upload state, if it changed
    error: str | None = None


class Failure(msgspec.Struct, frozen=True):
    """An article a STAT did not find."""

    transfer_id: int
    file_id: int
    part: int
    message_id: str
    state: FailureState
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


class TransferSummary(msgspec.Struct, frozen=True):
    """A transfer with its totals, for listings."""

    transfer: Transfer
    files: int
    bytes: int
    articles: int
    uploaded_files: int


class SweepResult(msgspec.Struct, frozen=True):
    """What one sweep deleted and reclaimed."""

    transfers: tuple[tuple[int, Path], ...]  # deleted rows and their manifest paths
    failure_leases: int
    check_leases: int
    transfer_leases: int


class Job(msgspec.Struct, frozen=True):
    """A job of the daemon's queue: a folder or file to post."""

    id: int
    path: Path
    root: Path | None
    relative: str
    output: Path | None
    priority: int
    size: int
    files: int
    state: JobState
    attempts: int
    next_attempt_at: float
    transfer_id: int | None
    lease_owner: str | None
    lease_expires: float | None
    last_error: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None


class Worker(msgspec.Struct, frozen=True):
    """A process that takes leases, with its heartbeat."""

    owner: str  # the owner its leases carry
    host: str
    pid: int
    process_start: int | None  # the process's start time (clock ticks after boot)
    name: str  # what it is: post, resume, verify, daemon
    started_at: float
    heartbeat_at: float
    instance: str | None = None  # the instance it runs as (None: registered before 0008)

    @property
    def shown(self) -> str:
        """How users see it: its instance, or its owner when it has none."""
        return self.instance or self.owner


class LeaseKind(StrEnum):
    """What a lease is on (``Lease.kind``)."""

    JOB = "job"  # a queued job being run (``Lease.ref``: the job's id)
    TRANSFER = "transfer"  # a transfer being posted (the transfer's id)
    CHECK = "check"  # STAT scans of a transfer's files (the transfer's id)
    FAILURE = "failure"  # missing articles being re-posted or rechecked (the transfer's id)


class Lease(msgspec.Struct, frozen=True):
    """A lease held now (not run out), and who holds it: its owner and, found by joining
    the owner to its worker row, the holder's instance (``Store.leases``). Scans and
    missing articles are counted per transfer and holder."""

    kind: LeaseKind
    ref: int  # the job's id for a job, otherwise the transfer's
    owner: str
    instance: str | None  # None: the owner has no worker row (or one from before 0008)
    worker: str | None  # the holder's worker name (post, resume, verify, daemon), if any
    expires: float
    count: int = 1  # scans or missing articles held, for CHECK and FAILURE

    @property
    def holder(self) -> str:
        """How users see the holder: its instance, or the owner when there is none."""
        return self.instance or self.owner


class Reaped(msgspec.Struct, frozen=True):
    """What reaping dead workers did."""

    owners: tuple[str, ...]  # the workers found dead: their rows are gone
    leases: int  # leases of theirs released (transfers, scans, missing articles, jobs)
