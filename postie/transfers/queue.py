"""The daemon's jobs as the service layer sees them: which rules a job is walked by,
and queueing a path by hand (``postie queue add``, ``POST /actions/add``).

A job takes its files by the rules of the folder it lies in: its watch root's own
(ignore globs, size floor, symlinks confined to the root), or the ``files`` rules for a
path in ``daemon.allowed_paths``. Nothing else can be queued, so a path like ``/etc``
cannot be posted through the queue, whichever way it is asked for.
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from postie import errors
from postie.article.walk import Walker, WalkRules, inside
from postie.config import Config
from postie.store.api import Job, Store


def unreadable(path: Path) -> str | None:
    """Why this process cannot read a job's ``path`` (the OS error's text), or None when it
    can: a folder is listed, a file opened. A daemon defers a job it cannot read to the
    other instances on the store (``postie.store.deferral``): the path may be on a folder
    not mounted on this machine."""
    try:
        if stat.S_ISDIR(os.stat(path).st_mode):
            with os.scandir(path):
                pass
        else:
            with open(path, "rb"):
                pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def excluded_folders(config: Config, manifests: Path) -> tuple[Path, ...]:
    """postie's own folders, never taken from a watch root: the store and manifests,
    the NZB folders, the PAR2 work folder."""
    cfg = config.daemon
    outputs = [r.output for r in cfg.watch if r.output is not None]
    exclude = [manifests.parent, manifests, *outputs, *([cfg.output] if cfg.output else [])]
    if config.par2.workdir is not None:
        exclude.append(config.par2.workdir)
    return tuple(exclude)


def nzb_folders(config: Config) -> tuple[Path, ...]:
    """The NZB folders: their ``*.nzb`` files are never taken."""
    outputs = tuple(r.output for r in config.daemon.watch if r.output is not None)
    return (*outputs, *([config.daemon.output] if config.daemon.output else []))


def job_rules(config: Config, root: Path, exclude: tuple[Path, ...]) -> tuple[WalkRules, Path]:
    """The walk rules of a job under ``root`` and the folder its links are confined to:
    a watch root's own rules, or the ``files`` rules for an allowed path (and for jobs
    queued before roots were recorded: confined to the job's own path)."""
    nzb = nzb_folders(config)
    for spec in config.daemon.watch:
        if os.path.abspath(spec.path) == os.path.abspath(root):
            return spec.rules(exclude=exclude, nzb_folders=nzb), root
    return config.files.rules(exclude=exclude, nzb_folders=nzb), root


async def add_job(
    store: Store,
    config: Config,
    path: Path,
    *,
    priority: int = 0,
    output: Path | None = None,
) -> Job:
    """``postie queue add PATH`` and ``POST /actions/add``: queue a folder or file by hand.
    Only a path inside a watch root or ``daemon.allowed_paths`` (links resolved) is taken,
    under that folder's rules."""
    path, root, size, files = await asyncio.to_thread(_locate, config, path)
    job = await store.enqueue(
        path,
        relative=path.name,
        root=root,
        output=output,
        priority=priority,
        size=size,
        files=files,
    )
    if job is None:
        raise errors.UsageError(f"{path} is queued or running already (or posted unchanged)")
    return job


def _locate(config: Config, given: Path) -> tuple[Path, Path, int, int]:
    """The absolute path, the root it is inside, and the bytes and files a job of it
    would take under that root's rules (UsageError or InputError if none)."""
    path = Path(os.path.abspath(given))
    roots = [*(r.path for r in config.daemon.watch), *config.daemon.allowed_paths]
    root = inside(path, roots)
    if root is None:
        where = ", ".join(os.fsdecode(r) for r in roots) or "none configured"
        raise errors.UsageError(
            f"{path} is not inside a watch root or daemon.allowed_paths ({where}):"
            " only those can be queued"
        )
    if not path.exists():
        raise errors.InputError(f"{path} does not exist")
    rules, root = job_rules(config, root, ())
    walk = Walker(rules, roots=[root]).entry(path)
    if not walk.files:
        raise errors.InputError(f"{path}: nothing to post under the rules of {root}")
    return path, root, sum(f.size for f in walk.files), len(walk.files)
