#!/usr/bin/env python3
"""The native encoder against sabctools: the same postie, ``POSTIE_ENCODER`` switched.

    python3 bench/encoder.py --repeat 7                      # 1 GiB file, 4 connections
    python3 bench/encoder.py --data folder --repeat 7        # 2,000 files of 512 KiB
    python3 bench/encoder.py --strace --repeat 3             # system calls, counted
    python3 bench/encoder.py --nyuu --repeat 7               # and Nyuu in each round

Each round runs ``postie post`` to the C sink once with each encoder, in alternating
order (sabctools first in even rounds, native first in odd ones), so a slow minute of the
shared host falls on both. Per run: the child's rusage from ``os.wait4`` (user+sys CPU,
context switches of all its threads, peak RSS) and wall time; with ``--strace``
the runs go under ``strace -f -c`` instead and report the system calls of all threads
(futex above all: GIL hand-overs and the encode threads' waits), which timing cannot blur
(strace slows the run, so CPU is not reported then). Medians per encoder; ``--out`` keeps
every run as JSON.

Data, sink, store and the command line are bench/run.py's (a fresh copy of an empty store
per run, on tmpfs unless ``--store-dir`` says otherwise; ``--no-verify --no-par2``,
article size 716,800).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as harness  # bench/run.py

ENCODERS = ("sabctools", "native")
NYUU = "nyuu"
GIB = 1 << 30
_STRACE_ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)\s*$")


@dataclass
class Result:
    encoder: str
    round: int
    wall_s: float
    cpu_s: float
    user_s: float
    sys_s: float
    context_switches: int  # voluntary + involuntary, all threads
    maxrss_mib: float
    posts: int
    syscalls: dict[str, int] = field(default_factory=dict)


def make_store(path: Path) -> None:
    """An empty, migrated store to copy for each run (``postie transfers --db`` no longer
    makes one: the commands that only read create no store)."""
    code = (
        "import asyncio, sys\n"
        "from postie.store import open_store\n"
        "async def make():\n"
        "    async with open_store(sys.argv[1]):\n"
        "        pass\n"
        "asyncio.run(make())\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)


def strace_counts(path: Path) -> dict[str, int]:
    """``strace -c`` summary: calls per system call (and 'total')."""
    counts: dict[str, int] = {}
    for line in path.read_text().splitlines():
        m = _STRACE_ROW.match(line)
        if m:
            counts[m.group(3)] = int(m.group(1))
    return counts


def one_run(
    tool: harness.Tool,
    encoder: str,
    data: harness.Dataset,
    sink: harness.Sink,
    args: argparse.Namespace,
    work: Path,
    number: int,
) -> Result:
    nzb = work / f"{encoder}-{number}.nzb"
    nzb.unlink(missing_ok=True)
    if encoder != NYUU:
        tool.env = {"POSTIE_ENCODER": encoder}
    store = harness.fresh_store(tool, f"{encoder}-{number}")
    argv = tool.argv(data, "127.0.0.1", sink.port, args.connections, args.article_size, nzb)
    if store is not None:
        argv[argv.index("--db") + 1] = str(store)
    trace = work / f"{encoder}-{number}.strace"
    if args.strace:
        argv = ["strace", "-f", "-c", "-o", str(trace), *argv]
    before = sink.stats().posts
    harness.warm_data(data)
    child = harness.run_child(argv, work / f"{encoder}-{number}.log", 900, tool.environ())
    if child.rc != 0:
        raise SystemExit(f"{encoder} run {number} failed (exit {child.rc}): see {work}")
    wanted = data.articles(args.article_size)
    posts = sink.stats().posts - before
    if posts != wanted:
        raise SystemExit(f"{encoder} run {number}: the sink got {posts} of {wanted} articles")
    return Result(
        encoder=encoder,
        round=number,
        wall_s=child.wall_s,
        cpu_s=child.user_s + child.sys_s,
        user_s=child.user_s,
        sys_s=child.sys_s,
        context_switches=child.ctx_switches,
        maxrss_mib=child.maxrss_kib / 1024,
        posts=posts,
        syscalls=strace_counts(trace) if args.strace else {},
    )


def summary(results: list[Result], gib: float, strace: bool) -> list[dict[str, Any]]:
    rows = []
    for encoder in (*ENCODERS, NYUU):
        mine = [r for r in results if r.encoder == encoder]
        if not mine:
            continue

        def med(values: list[float]) -> float:
            return float(statistics.median(values))

        row: dict[str, Any] = {"encoder": encoder, "runs": len(mine)}
        if strace:
            names = sorted({k for r in mine for k in r.syscalls})
            per = {n: med([r.syscalls.get(n, 0) for r in mine]) / gib for n in names}
            row["per_gib"] = dict(sorted(per.items(), key=lambda kv: -kv[1]))
        else:
            row.update(
                cpu_s_per_gib=med([r.cpu_s for r in mine]) / gib,
                user_s_per_gib=med([r.user_s for r in mine]) / gib,
                sys_s_per_gib=med([r.sys_s for r in mine]) / gib,
                cpu_s=sorted(round(r.cpu_s, 3) for r in mine),
                wall_s=med([r.wall_s for r in mine]),
                context_switches=med([r.context_switches for r in mine]),
                maxrss_mib=med([r.maxrss_mib for r in mine]),
            )
        rows.append(row)
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", choices=("file", "folder"), default="file")
    p.add_argument("--file-mib", type=int, default=1024)
    p.add_argument("--files", type=int, default=2000)
    p.add_argument("--file-kib", type=int, default=512)
    p.add_argument("--data-dir", type=Path, default=harness.default_data_dir())
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--article-size", type=int, default=716_800)
    p.add_argument("--repeat", type=int, default=5, help="rounds (each runs both encoders)")
    p.add_argument("--strace", action="store_true", help="count system calls (strace -f -c)")
    p.add_argument("--postie", help="the postie command (default: .venv/bin/postie)")
    p.add_argument(
        "--nyuu",
        type=Path,
        nargs="?",
        const=harness.DEFAULT_NYUU,
        help=f"also run Nyuu each round (default path: {harness.DEFAULT_NYUU})",
    )
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument(
        "--store-dir",
        type=Path,
        default=harness.default_store_dir(),
        help="where each run's store goes (default: tmpfs, as bench/run.py)",
    )
    p.add_argument("--out", type=Path, help="every run and the medians, as JSON")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tool = harness.find_postie(args.postie)
    if tool.skip_reason:
        raise SystemExit(tool.skip_reason)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="postie-encoder-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if tool.takes_db:
        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-encoder"
        db = args.store_dir / stamp / "postie.db"
        make_store(db)
        tool.store = str(db)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    if args.data == "file":
        data = harness.make_file(args.data_dir, args.file_mib)
    else:
        data = harness.make_folder(args.data_dir, args.files, args.file_kib)
    gib = data.total_bytes / GIB
    tools = dict.fromkeys(ENCODERS, tool)
    if args.nyuu is not None:
        nyuu = harness.find_nyuu(args.nyuu, "node")
        if nyuu.skip_reason:
            raise SystemExit(nyuu.skip_reason)
        tools[NYUU] = nyuu
    names = list(tools)
    sink = harness.Sink(harness.build_sink(), 0, work)
    results: list[Result] = []
    try:
        for number in range(args.repeat):
            shift = number % len(names)
            order = names[shift:] + names[:shift] if number % 2 == 0 else names[::-1]
            for encoder in order:
                result = one_run(tools[encoder], encoder, data, sink, args, work, number)
                results.append(result)
                harness.log(
                    f"round {number} {encoder}: {result.wall_s:.2f} s wall,"
                    f" {result.cpu_s:.2f} CPU-s, {result.maxrss_mib:.0f} MiB"
                )
    finally:
        sink.stop()
        if tool.store is not None:
            shutil.rmtree(Path(tool.store).parent, ignore_errors=True)
    rows = summary(results, gib, args.strace)
    meta = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "data": data.describe(),
        "connections": args.connections,
        "gib": gib,
        "strace": args.strace,
    }
    print(json.dumps({"meta": meta, "medians": rows}, indent=1))
    if args.out:
        args.out.write_text(
            json.dumps(
                {"meta": meta, "medians": rows, "runs": [asdict(r) for r in results]}, indent=1
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
