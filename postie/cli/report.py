"""What the commands show of the transfer service's work: its lines, bars and results.

``CliReporter`` shows the service's progress (bars on a terminal, plain lines
otherwise, nothing with ``--quiet``); ``render`` turns a ``Done`` into the lines a
user reads and the exit status.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from postie.article.ids import bare
from postie.cli import common
from postie.cli.progress import show_phase, show_progress, show_verifying
from postie.runtime.state import JobStatistics
from postie.transfers.outcome import Done, Ending

if TYPE_CHECKING:
    from rich.console import Console

    from postie.verify.service import VerifyStatistics

SHOW_MISSING = 20  # lost articles listed one by one


class CliReporter:
    """The transfer service's progress on the terminal (``mode``: bar, plain, quiet)."""

    def __init__(self, mode: str, console: Console | None) -> None:
        self.mode = mode
        self.console = console

    def note(self, text: str) -> None:
        if self.mode != "quiet":
            print(f"postie: {text}", flush=True)

    def warning(self, text: str) -> None:
        common.warn(text)

    def error(self, text: str) -> None:
        common.error(text)

    def phase(self, describe: Callable[[], str]) -> AbstractAsyncContextManager[None]:
        return show_phase(self.mode, describe, self.console)

    def posting(
        self, transfer_id: int, statistics: Callable[[], JobStatistics]
    ) -> AbstractAsyncContextManager[None]:
        return show_progress(self.mode, statistics, self.console)

    def posted(self, done: Done) -> None:
        _run_report(done, self.mode != "quiet")

    def verifying(
        self, statistics: Callable[[], VerifyStatistics]
    ) -> AbstractAsyncContextManager[None]:
        return show_verifying(self.mode, statistics, self.console)


SHOW_NAMES = 5  # missing files named in the summary line


def _names(names: tuple[str, ...]) -> str:
    shown = ", ".join(names[:SHOW_NAMES])
    return shown + (f" and {len(names) - SHOW_NAMES} more" if len(names) > SHOW_NAMES else "")


def render(done: Done, mode: str, *, verify_delay: float | None) -> int:
    """Print what ``done`` came to after the upload (which ``CliReporter.posted`` showed
    when it ended); return the exit status. ``verify_delay``: the propagation delay when
    verification is on but was not waited for."""
    say = mode != "quiet"
    if done.ending is Ending.INCOMPLETE:
        nzb_error = done.outcome is not None and done.outcome.nzb_error is not None
        return common.EXIT_FAILURE if nzb_error else common.EXIT_PARTIAL
    tid = done.transfer_id
    if done.ending is Ending.UPLOADED:
        if done.outcome is not None and verify_delay is not None and say:
            print(
                f"postie: not waiting for verification; it is due in {verify_delay:g} s"
                f" (postie verify {tid}, or the daemon, does it)",
                flush=True,
            )
        return common.EXIT_OK
    if done.ending is Ending.VERIFICATION_FAILED:
        for miss in done.lost[:SHOW_MISSING]:
            common.error(
                f"lost: file {miss.file_id} part {miss.part} <{bare(miss.message_id)}>:"
                f" {miss.last_error or 'not found'}"
            )
        common.error(
            f"verification failed: {len(done.lost)} articles are still missing after"
            f" {done.max_reposts} re-posts and their rechecks; the manifest and the"
            f" originals are kept (postie transfers show {tid})"
        )
        return common.EXIT_PARTIAL
    if done.ending is Ending.FINALIZE_FAILED:
        common.error(f"verified, but finalizing failed: {done.transfer.last_error}")
        return common.EXIT_FAILURE
    if done.ending is Ending.VERIFIED and done.verify is not None and say:
        stats = done.verify
        extra = f", {stats.reposted} re-posted" if stats.reposted else ""
        print(
            f"postie: verified: {stats.checked} articles STATed on {done.verify_label}"
            f" in {stats.check_seconds:.1f}s, {stats.missing} were missing{extra}"
            f" [transfer {tid}]",
            flush=True,
        )
    return common.EXIT_OK


def _run_report(done: Done, say: bool) -> None:
    """The upload's part: failures, NZBs written, the totals."""
    outcome = done.outcome
    assert outcome is not None
    for err in outcome.failures:
        common.error(str(err))
    for path in outcome.written:
        if say:
            print(f"postie: wrote {path}", file=sys.stdout)
    tid = done.transfer_id
    if outcome.nzb_error is not None:
        common.error(outcome.nzb_error)
        return
    if done.ending is Ending.INCOMPLETE:
        total = done.files + done.not_collected
        missing = outcome.missing
        listed = (
            f"; {', '.join(map(str, outcome.written))} lists the {total - len(missing)} complete"
            if outcome.written
            else "; no NZB was written"
        )
        common.error(
            f"{len(missing)} of {total} files could not be posted{listed}"
            f" (missing: {_names(missing)}); transfer {tid}: postie transfers show {tid}"
        )
        return
    if say:
        result = outcome.result
        plan = result.plan
        mb = sum(s.posted_bytes for s in result.files) / 1e6
        speed = mb / result.elapsed if result.elapsed > 0 else 0.0
        extra = f"; {done.posted_before / 1e6:.1f} MB were posted before" if done.resumed else ""
        print(
            f"postie: posted {len(plan.files)} files, {plan.article_count} articles,"
            f" {mb:.1f} MB in {result.elapsed:.1f}s ({speed:.1f} MB/s){extra}"
            f" [transfer {tid}]",
            file=sys.stdout,
            flush=True,
        )
