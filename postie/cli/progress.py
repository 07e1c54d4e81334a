"""Progress display: rich bars on a terminal, plain log lines otherwise, or nothing."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from postie.runtime.state import JobStatistics

if TYPE_CHECKING:  # rich is imported only when bars are shown (~30 ms of start-up)
    from rich.console import Console

    from postie.verify.service import VerifyStatistics

PLAIN_INTERVAL = 5.0
PLAIN_UNCHANGED = 60.0  # seconds before a line that did not change is shown again
REFRESH = 0.2  # seconds between redraws of the bars


def _current(stats: JobStatistics, limit: int = 2) -> str:
    names = list(stats.current_files[:limit])
    more = len(stats.current_files) - len(names)
    text = ", ".join(names)
    if more > 0:
        text += f" (+{more})"
    return text


def plain_line(stats: JobStatistics) -> str:
    mb = stats.posted_bytes / 1e6
    total = stats.total_bytes / 1e6
    pct = 100.0 * stats.posted_bytes / stats.total_bytes if stats.total_bytes else 100.0
    fresh = (stats.posted_bytes - stats.resumed_bytes) / 1e6
    speed = fresh / stats.elapsed if stats.elapsed > 0 else 0.0
    return (
        f"posted {mb:.1f}/{total:.1f} MB ({pct:.0f}%) at {speed:.1f} MB/s,"
        f" files {stats.files_done}/{stats.files_total}, articles"
        f" {stats.posted_articles}/{stats.total_articles}"
    )


@contextlib.asynccontextmanager
async def show_progress(
    mode: str, read: Callable[[], JobStatistics], console: Console | None
) -> AsyncIterator[None]:
    """Run a display task for ``mode`` ("bar", "plain" or "quiet") around the body."""
    if mode == "quiet":
        yield
        return
    if mode == "plain":
        async with _background(_plain(lambda: plain_line(read()), first=False)):
            yield
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    stats = read()
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[files]}"),
        console=console,
        transient=False,
    )
    task_id = progress.add_task(
        "posting", total=stats.total_bytes or 1, completed=stats.posted_bytes, files=""
    )

    def update() -> None:
        s = read()
        progress.update(
            task_id,
            completed=s.posted_bytes,
            files=f"files {s.files_done}/{s.files_total} {_current(s)}",
        )

    with progress:
        try:
            async with _background(_every(REFRESH, update)):
                yield
        finally:
            s = read()
            progress.update(
                task_id, completed=s.posted_bytes, files=f"files {s.files_done}/{s.files_total}"
            )


async def _every(seconds: float, action: Callable[[], None]) -> None:
    while True:
        action()
        await asyncio.sleep(seconds)


async def _plain(describe: Callable[[], str], *, first: bool) -> None:
    """A plain line every PLAIN_INTERVAL seconds (and one at once if ``first``); a line
    that says what the last one said waits until PLAIN_UNCHANGED seconds have passed
    (nothing moves while a connection is being made, say: one line, not one every 5 s)."""
    loop = asyncio.get_running_loop()
    last, shown = "", -PLAIN_UNCHANGED
    if first:
        last, shown = describe(), loop.time()
        print(f"postie: {last}", file=sys.stdout, flush=True)
    while True:
        await asyncio.sleep(PLAIN_INTERVAL)
        line = describe()
        if line != last or loop.time() - shown >= PLAIN_UNCHANGED:
            last, shown = line, loop.time()
            print(f"postie: {line}", file=sys.stdout, flush=True)


@contextlib.asynccontextmanager
async def _background(work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run ``work`` as a task around the body; cancel it after."""
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def make_console() -> Console:
    from rich.console import Console

    return Console(stderr=False, highlight=False)


def choose_mode(quiet: bool, plain: bool) -> str:
    if quiet:
        return "quiet"
    if plain or not sys.stdout.isatty():
        return "plain"
    return "bar"


def verify_line(stats: VerifyStatistics) -> str:
    text = f"verifying: {stats.phase}, {stats.checked} articles STATed, {stats.missing} missing"
    if stats.reposted or stats.claimed:
        text += f", {stats.reposted} re-posted"
    if stats.found_later:
        text += f", {stats.found_later} found on recheck"
    if stats.exhausted:
        text += f", {stats.exhausted} lost"
    return text


def show_verifying(
    mode: str, read: Callable[[], VerifyStatistics], console: Console | None
) -> contextlib.AbstractAsyncContextManager[None]:
    """The "verifying" phase: a spinner line on a terminal, plain lines otherwise."""
    return show_phase(mode, lambda: verify_line(read()), console)


@contextlib.asynccontextmanager
async def show_phase(
    mode: str, describe: Callable[[], str], console: Console | None
) -> AsyncIterator[None]:
    """A phase without a byte count (creating PAR2, verifying): a spinner line with what
    ``describe`` says on a terminal, a plain line every few seconds otherwise."""
    if mode == "quiet":
        yield
        return
    if mode == "plain":
        async with _background(_plain(describe, first=True)):
            yield
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    task_id = progress.add_task(describe(), total=None)

    def update() -> None:
        progress.update(task_id, description=describe())

    with progress:
        try:
            async with _background(_every(REFRESH, update)):
                yield
        finally:
            update()
