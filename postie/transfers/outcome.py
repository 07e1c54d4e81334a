"""What the transfer service reports while it works, and what a call came to."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

import msgspec

from postie.runtime.state import JobStatistics
from postie.store.api import Failure, Transfer, TransferFile
from postie.transfers.run import Outcome

if TYPE_CHECKING:
    from postie.verify.service import VerifyStatistics

log = logging.getLogger("postie.transfers")


class Ending(StrEnum):
    """How a call of the service ended."""

    UPLOADED = "uploaded"  # every file posted, NZB written; verification not waited for
    VERIFIED = "verified"  # ... and every article found (re-posted if need be), finalized
    VERIFICATION_FAILED = "verification_failed"  # some articles stayed missing
    FINALIZE_FAILED = "finalize_failed"  # verified, but the hook or the cleanup failed
    INCOMPLETE = "incomplete"  # some files could not be posted: no complete NZB
    ALREADY_UPLOADED = "already_uploaded"  # these files were uploaded before; nothing posted


class Done(msgspec.Struct, frozen=True):
    """What a post, resume or verify came to (see ``Ending``)."""

    ending: Ending
    transfer: Transfer
    outcome: Outcome | None = None  # the run, when one ran
    files: int = 0  # files the transfer holds (posted or not), and those never taken
    not_collected: int = 0
    verify: VerifyStatistics | None = None
    verify_label: str = ""  # the server the checks ran on
    lost: tuple[Failure, ...] = ()  # articles missing for good
    max_reposts: int = 0
    resumed: bool = False
    posted_before: int = 0  # bytes posted by earlier runs of a resumed transfer

    @property
    def transfer_id(self) -> int:
        return self.transfer.id

    def verified_as(self, verified: Done) -> Done:
        """This run's facts with what its verification came to."""
        return msgspec.structs.replace(
            verified,
            outcome=self.outcome,
            files=self.files,
            not_collected=self.not_collected,
            resumed=self.resumed,
            posted_before=self.posted_before,
        )

    @property
    def uploaded(self) -> bool:
        """The transfer is uploaded with its NZB written (what makes a daemon job done)."""
        return self.ending not in (Ending.INCOMPLETE,)

    @property
    def reason(self) -> str | None:
        """Why the transfer is not uploaded, in a line."""
        if self.ending is Ending.INCOMPLETE:
            return (self.outcome.reason if self.outcome else None) or self.transfer.last_error
        return None


class Details(msgspec.Struct, frozen=True):
    """One transfer as ``postie transfers show`` shows it."""

    transfer: Transfer
    files: tuple[TransferFile, ...]
    failures: tuple[Failure, ...]


class Reporter(Protocol):
    """What the caller shows while the service works (the CLI's lines and bars; the
    daemon's log and status)."""

    def note(self, text: str) -> None:
        """A line worth telling the user (resuming, STAT results, ...)."""

    def warning(self, text: str) -> None:
        """Something left out that the user should know of (a link not followed, ...)."""

    def error(self, text: str) -> None:
        """Something that could not be done (a file that cannot be read, ...)."""

    def phase(self, describe: Callable[[], str]) -> AbstractAsyncContextManager[None]:
        """A phase without a byte count (making PAR2)."""

    def posting(
        self, transfer_id: int, statistics: Callable[[], JobStatistics]
    ) -> AbstractAsyncContextManager[None]:
        """The upload of transfer ``transfer_id`` runs inside this."""

    def posted(self, done: Done) -> None:
        """The upload ended (uploaded or incomplete); verification may follow."""

    def verifying(
        self, statistics: Callable[[], VerifyStatistics]
    ) -> AbstractAsyncContextManager[None]:
        """The wait for a transfer's verification runs inside this."""


class Quiet:
    """A Reporter that shows nothing (logs what it is told at INFO)."""

    def note(self, text: str) -> None:
        log.info("%s", text)

    def warning(self, text: str) -> None:
        log.warning("%s", text)

    def error(self, text: str) -> None:
        log.error("%s", text)

    def phase(self, describe: Callable[[], str]) -> AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()

    def posting(
        self, transfer_id: int, statistics: Callable[[], JobStatistics]
    ) -> AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()

    def posted(self, done: Done) -> None:
        log.info("transfer %d: %s", done.transfer_id, done.ending)

    def verifying(
        self, statistics: Callable[[], VerifyStatistics]
    ) -> AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()
