"""A transfer's PAR2 step: plan the sets, have the scheduler make them, name them.

Runs when a transfer is created, before its manifest: the PAR2 files then join
the transfer as files of role ``par2`` and are posted, verified and re-posted
like the data (their manifest lines, CRC checks and same-Message-ID re-posts
work the same), kept in the transfer's work folder until it is verified, and
deleted when it is finalized unless ``par2.keep_par2``. The sets carry the
real file names (the tool reads the real files); under full obfuscation the
PAR2 files' names on the wire are random like every other article's. A user's
own ``.par2`` files are posted as data and never protected again.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import msgspec

from postie import errors, fsutil
from postie.article.plan import SourceFile
from postie.config import Par2Config
from postie.par2.scheduler import Par2Scheduler
from postie.par2.workdir import job_folder, remove_abandoned

if TYPE_CHECKING:
    from postie.par2.plan import Par2Set

log = logging.getLogger(__name__)

Display = Callable[[Callable[[], str]], AbstractAsyncContextManager[None]]


class Par2Step(msgspec.Struct):
    """What creating a transfer needs to add PAR2 files."""

    scheduler: Par2Scheduler
    config: Par2Config
    workdir: Path  # each job makes its files in a folder of its own under it
    display: Display | None = None  # shows the phase (the CLI's spinner), if given
    # the folders recorded transfers use (Store.par2_folders): given, the folders other
    # jobs abandoned under workdir go before this one makes its own (par2.workdir)
    recorded: Callable[[], Awaitable[set[Path]]] | None = None


def par2_workdir(config: Par2Config, db_path: Path | None) -> Path:
    """Where PAR2 files are made: ``par2.workdir``, default ``par2/`` beside the store
    (``db_path``: its file), or in postie's data folder for a store on a server (None)."""
    if config.workdir is not None:
        return config.workdir
    if db_path is None:
        from postie.store import data_dir

        return data_dir() / "par2"
    return db_path.parent / "par2"


def _check_room(workdir: Path, sets: Sequence[Par2Set]) -> None:
    """Fail before the tool runs when its files cannot fit (it would fail at the end)."""
    needed = sum(s.recovery_blocks * s.slice_size for s in sets)
    free = fsutil.free_bytes(workdir)
    if free is not None and free < needed:
        raise errors.NoSpace(
            f"not enough space for the PAR2 files in {workdir}: about"
            f" {fsutil.size_text(needed)} needed, {fsutil.size_text(free)} free; free some"
            " space (or set par2.workdir elsewhere) and run the same command again"
        )


def is_par2(name: str) -> bool:
    return name.lower().endswith(".par2")


async def make_par2(
    step: Par2Step, files: Sequence[SourceFile], *, name: str, article_size: int
) -> tuple[SourceFile, ...]:
    """Create the PAR2 files for ``files``; return them as files to post."""
    # the planner only when PAR2 is made: a run with --no-par2 never imports it
    from postie.par2.plan import Par2Options, Par2Source, parse_redundancy, plan_par2

    config = step.config
    sources = [Par2Source(Path(f.path), f.name, f.size) for f in files if not is_par2(f.name)]
    if not sources:
        return ()
    options = Par2Options(
        redundancy=parse_redundancy(config.redundancy),
        per=config.per,
        slice_size=config.slice_size,
        recovery_files=config.recovery_files,
        min_size=config.min_size if config.min_size is not None else article_size,
    )
    try:
        plan = plan_par2(sources, set_name=name, article_size=article_size, options=options)
    except ValueError as exc:
        if options.per != "folder":
            raise errors.InputError(f"cannot plan PAR2 for {name}: {exc}") from None
        # files from several folders, or names that are not the files' own (escaped
        # for display): one set per file instead of one for a folder tree
        log.warning("PAR2: %s; making one set per file instead", exc)
        options = msgspec.structs.replace(options, per="file")
        plan = plan_par2(sources, set_name=name, article_size=article_size, options=options)
    for left in plan.unprotected:
        log.info("%s: too small for a PAR2 set of its own (par2.min_size)", left.name)
    if not plan.sets:
        return ()
    if step.recorded is not None:
        await _remove_abandoned(step)  # first: what it frees counts
    _check_room(step.workdir, plan.sets)
    folder = job_folder(step.workdir)
    share = 0.0

    def progress(value: float) -> None:
        nonlocal share
        share = value

    blocks = sum(s.recovery_blocks for s in plan.sets)

    def describe() -> str:
        return (
            f"creating PAR2: {len(plan.sets)} set(s), {blocks} recovery blocks"
            f" ({config.redundancy}), {100 * share:.0f}%"
        )

    display = step.display(describe) if step.display is not None else contextlib.nullcontext()
    async with display:
        runs = await step.scheduler.create(plan.sets, folder, progress=progress)
    made: list[SourceFile] = []
    for run in runs:
        # a folder set's files sit at the top of the posted folder; a per-file set's
        # beside its file
        where = PurePosixPath(run.set.members[0].name).parent if options.per == "file" else None
        for path in run.files:
            st = path.stat()
            posted = path.name if where is None or str(where) == "." else f"{where}/{path.name}"
            made.append(
                SourceFile(
                    os.fspath(path), posted, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns
                )
            )
    seconds = sum(r.seconds for r in runs)
    log.info(
        "PAR2: %d files, %.1f MB, in %.1f s", len(made), sum(f.size for f in made) / 1e6, seconds
    )
    return tuple(made)


async def _remove_abandoned(step: Par2Step) -> None:
    """The folders of PAR2 runs killed before their transfers were recorded go now (the
    sweeper would take them only during a verification)."""
    assert step.recorded is not None
    try:
        removed = await remove_abandoned(step.workdir, step.recorded)
    except errors.StoreError as exc:
        log.warning("PAR2: abandoned work folders not checked: %s", exc)
        return
    if removed:
        log.info("PAR2: %d abandoned work folder(s) removed from %s", removed, step.workdir)
