"""The store's transfers side, ``Transfers`` (SQLite:
``postie.store.sqlite.transfers``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from postie.store.records import (
    FileProgress,
    NewTransfer,
    Transfer,
    TransferFile,
    TransferState,
    TransferSummary,
)


class Transfers(Protocol):
    """Transfers and their files: what was planned and how far posting got."""

    async def create(self, new: NewTransfer, *, owner: str, lease: float) -> int:
        """Record a transfer and its files, leased to ``owner``; return its id."""
        ...

    async def get(self, transfer_id: int) -> Transfer | None: ...

    async def files(self, transfer_id: int) -> tuple[TransferFile, ...]:
        """The transfer's files in plan order (empty for an unknown transfer)."""
        ...

    async def unfinished(self, roots_key: str) -> tuple[Transfer, ...]:
        """Unfinished transfers (uploading or incomplete) of these roots, newest first."""
        ...

    async def uploaded_of(self, roots_key: str, files_key: str) -> Transfer | None:
        """The newest uploaded transfer of exactly these files (whatever its verification
        and finalizing came to)."""
        ...

    async def last_unfinished(self) -> Transfer | None: ...

    async def summaries(self, limit: int = 50) -> tuple[TransferSummary, ...]:
        """The newest transfers with their totals."""
        ...

    async def accepted_ids(self, transfer_id: int) -> dict[tuple[int, int], str]:
        """Message-IDs a server rewrote in its 240 reply: ``(file, part) -> id``."""
        ...

    async def claim(self, transfer_id: int, *, owner: str, lease: float) -> None:
        """Take the transfer's lease (or renew it when ``owner`` holds it already), once
        dead workers are reaped (a killed process's transfer is taken over at once).

        Raises ``TransferBusy`` naming the holder while another owner's lease is live,
        ``StoreError`` for an unknown transfer."""
        ...

    async def abandon(self, transfer_id: int, *, owner: str, reason: str | None = None) -> None:
        """Give an unfinished transfer up for good: kept as a record, never resumed (the
        next run of its files starts afresh). ``reason`` replaces its last error. Raises
        ``TransferBusy`` while another owner's lease is live, ``UsageError`` for an
        unknown or finished transfer."""
        ...

    async def release(self, transfer_id: int, *, owner: str) -> None:
        """Give the lease up (nothing happens unless ``owner`` holds it)."""
        ...

    async def checkpoint(
        self,
        transfer_id: int,
        *,
        owner: str,
        lease: float,
        manifest_bytes: int,
        files: Sequence[FileProgress],
        accepted: Iterable[tuple[int, int, str]] = (),
        all_uploaded: bool = False,
    ) -> None:
        """Advance watermarks (only forward), record file states, rewritten IDs
        (``(file, part, message_id)``) and the manifest's durable length, and renew the
        lease: one transaction. ``all_uploaded``: every file has all its articles
        acknowledged (``files`` may then be empty). Raises ``TransferBusy`` when
        ``owner`` no longer holds the lease (nothing is saved then)."""
        ...

    async def finish(
        self,
        transfer_id: int,
        *,
        state: TransferState,
        error: str | None = None,
        nzb_path: str | None = None,
        check_at: float | None = None,
    ) -> None:
        """Record how a run ended; ``check_at``: when to STAT the uploaded files (the
        verification's propagation delay), in the same transaction."""
        ...

    async def rewind(
        self,
        transfer_id: int,
        marks: Mapping[int, int],
        *,
        owner: str,
        manifest_bytes: int,
    ) -> None:
        """After a damaged manifest was salvaged: each file's watermark back to
        ``marks[file]`` (parts above it lost their lines and are posted again), and what
        of the manifest is durable now. Only by the lease holder (else ``TransferBusy``);
        one transaction."""
        ...

    async def set_targets(
        self, transfer_id: int, targets: Mapping[str, str], *, nzb_path: str
    ) -> None:
        """Where the transfer's NZBs go from now on (``postie resume ID -o PATH``)."""
        ...

    async def delete(self, transfer_id: int) -> None:
        """Forget the transfer with its files, rewritten IDs and missing articles."""
        ...
