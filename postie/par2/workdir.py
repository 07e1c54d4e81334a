"""PAR2 work folders: named after the process that makes them, removed when it is gone.

Each PAR2 job makes its files in a folder of its own under the work folder
(``par2.workdir``, default ``par2/`` beside the store). Once its transfer is
recorded, the transfer refers to the folder (its PAR2 files are files of the
transfer) until finalizing deletes them and the folder with the last one. A
folder no transfer refers to is abandoned: the process that made it was killed,
or failed, before its transfer was recorded.

Who made a folder is in its name, ``<pid>-<start>-<random>-<host>`` (``start``:
when that process started, in clock ticks after boot, so that a later process
with the same pid is not taken for it). A name cannot go missing the way a marker
file can, there is nothing to write or to unlock when the maker dies, and
finalizing still removes the folder with its last file. A folder is abandoned
when no transfer refers to it and either its maker is a process of this host that
no longer runs (``lease.Process.is_gone``, the test the store applies to its
workers), which frees it at once, or it is older than ``ORPHAN_AGE`` (a maker on
another host, or a folder named by an older postie): no PAR2 run takes a day.

The order of the two looks matters. The makers are judged first, then the store
is asked which folders its transfers use: a maker that is gone records nothing
more, so a folder missing from that answer is no one's. Asked the other way round,
a maker could record its transfer and exit between the two looks, and its folder
would be taken from under a recorded transfer.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from postie.store.lease import Process

log = logging.getLogger(__name__)

ORPHAN_AGE = 86400.0  # seconds: no PAR2 run takes a day, so its folder is abandoned


def job_folder(workdir: Path) -> Path:
    """A new job's folder under ``workdir`` (not made yet), named after this process."""
    me = Process.current()
    start = "?" if me.start is None else str(me.start)
    return workdir / f"{me.pid}-{start}-{secrets.token_hex(4)}-{me.host}"


def maker(folder: Path) -> Process | None:
    """The process that made ``folder``, from its name; None when it names none."""
    pid, start, token, host = ([*folder.name.split("-", 3), "", "", ""])[:4]
    if not (pid.isdigit() and (start.isdigit() or start == "?") and token and host):
        return None
    return Process(host, int(pid), int(start) if start.isdigit() else None)


def abandoned_makers(workdir: Path, now: float | None = None) -> list[Path]:
    """The folders under ``workdir`` whose maker is gone, or that are older than
    ORPHAN_AGE: abandoned unless a transfer refers to them."""
    now = time.time() if now is None else now
    try:
        children = list(workdir.iterdir())
    except OSError:
        return []
    found = []
    for child in children:
        try:
            if not child.is_dir():
                continue
            made_by = maker(child)
            if (made_by is not None and made_by.is_gone()) or (
                now - child.stat().st_mtime >= ORPHAN_AGE
            ):
                found.append(child)
        except OSError:
            continue
    return found


async def remove_abandoned(
    workdir: Path, recorded: Callable[[], Awaitable[set[Path]]], *, now: float | None = None
) -> int:
    """Remove the abandoned folders under ``workdir``; return how many went.
    ``recorded``: the folders the store's transfers refer to (``Store.par2_folders``);
    its errors (``StoreError``) are the caller's, and then nothing is removed."""
    candidates = await asyncio.to_thread(abandoned_makers, workdir, now)
    if not candidates:
        return 0
    used = await recorded()  # after the makers were judged (see the module documentation)
    gone = [c for c in candidates if c not in used]
    return await asyncio.to_thread(_remove, gone)


def _remove(folders: list[Path]) -> int:
    removed = 0
    for folder in folders:
        try:
            shutil.rmtree(folder)
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot remove the abandoned PAR2 folder %s: %s", folder, exc.strerror)
    return removed
