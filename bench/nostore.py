#!/usr/bin/env python3
"""postie without its transfer store: the benchmark's baseline for what the store costs.

    python bench/nostore.py post PATH --host H --port P ... --no-verify --no-par2

The same `postie post` command line, configuration, planning, Runtime, posting engine
and NZB writer as the working tree's postie, with one difference: no transfer store,
no manifests, no checkpoints, and the NZB written from the engine's memory (as Nyuu
does). So `postie` against this tool (`bench/run.py --no-store-baseline`) measures only
what durability costs, in the same code; a baseline revision (`--baseline-rev`) also
measures everything else that changed since it.

Not a product mode: a crash here loses the run (nothing to resume). Only for a
`post` with verification and PAR2 off (both need the store), which is what the
benchmark runs. It stands in for ``postie.cli.post._post`` (the command's one call into
the transfer service), so everything before it (flags, config) is the real command's.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from postie import errors  # noqa: E402
from postie.article.plan import collect, plan_job  # noqa: E402
from postie.cli import common  # noqa: E402
from postie.cli import main as cli_main  # noqa: E402
from postie.cli import post as cli_post  # noqa: E402
from postie.cli.progress import show_progress  # noqa: E402
from postie.config import Config  # noqa: E402
from postie.runtime.engine import PostingJob  # noqa: E402
from postie.runtime.runtime import Runtime  # noqa: E402
from postie.transfers.prepared import job_name, nzb_targets  # noqa: E402
from tests.engine_nzb import write_nzbs  # noqa: E402

if TYPE_CHECKING:
    from rich.console import Console


async def post_without_store(
    cfg: Config,
    paths: list[Path],
    output: Path | None,
    overwrite: bool,
    mode: str,
    console: Console | None,
    db: str | None,
    wait: bool,
    again: bool = False,
) -> int:
    """What `postie post` does from the collected files to the NZB, minus the store
    (``db``, ``wait`` and ``again`` mean nothing without one)."""
    if cfg.verify.enabled or cfg.par2.enabled:
        raise errors.UsageError("bench/nostore.py posts with --no-verify --no-par2 only")
    collected = collect(paths, cfg.files.rules())
    for problem in (*collected.warnings, *collected.skipped):
        common.warn(str(problem))
    if not collected.files:
        raise errors.InputError("nothing to post: " + ", ".join(os.fsdecode(p) for p in paths))
    name = job_name(paths)
    targets = nzb_targets(name, (f.name for f in collected.files), cfg.nzb, output)
    if not overwrite:
        for target in targets.values():
            if target.exists():
                raise errors.UsageError(f"NZB already exists: {target} (use --overwrite)")
    plan = plan_job(collected, cfg.posting, name=name)
    async with Runtime(cfg) as runtime:
        job = PostingJob(runtime, plan, cfg.posting)
        async with show_progress(mode, job.statistics, console):
            result = await job.run()
        written = await asyncio.to_thread(write_nzbs, result, cfg.nzb, targets, cfg.posting)
    if not result.complete:
        common.error(f"{len(result.failed)} file(s) not posted completely")
        return common.EXIT_PARTIAL
    if mode != "quiet":
        print("postie (no store): NZB " + ", ".join(map(str, written)), flush=True)
    return common.EXIT_OK


def main() -> None:
    cli_post._post = post_without_store
    cli_main()


if __name__ == "__main__":
    main()
