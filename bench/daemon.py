#!/usr/bin/env python3
"""The daemon's cost: idle CPU watching 10,000 files, and peak RSS with jobs running.

    python3 bench/daemon.py                    # both
    python3 bench/daemon.py --only idle --idle-seconds 60

1. **idle**: ``postie daemon`` watching a folder of 10,000 small files (100 folders of
   100, stable, already posted: their jobs are done, so the watcher only rescans) with the
   default ``scan_interval`` (5 s); the daemon's CPU (utime + stime from /proc) over
   ``--idle-seconds``, as a share of one core. Target: under 2%.
2. **rss**: three 1 GiB jobs queued (``postie queue add``), ``max_concurrent_jobs: 2``,
   16 connections to the C sink (``-r``, no delay), PAR2 off: the daemon's peak RSS
   (VmHWM) against its ByteBudget (``limits.buffer_bytes``, read from /status) and the RSS
   of the same daemon idle (the fixed overhead).

Standard library only; the daemon is this checkout's ``.venv/bin/postie``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run as harness  # noqa: E402  (bench/run.py: the sink)

REPO = BENCH.parent
POSTIE = REPO / ".venv" / "bin" / "postie"
CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1 << 20


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def vm(pid: int, key: str) -> int:
    """VmHWM / VmRSS of a process, bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def start_daemon(config: Mapping[str, object], work: Path) -> tuple[subprocess.Popen[bytes], Path]:
    path = work / "config.yaml"
    path.write_text(json.dumps(config))
    log = work / "daemon.log"
    with log.open("ab") as err:
        proc = subprocess.Popen(
            [str(POSTIE), "daemon", "-c", str(path)], stdout=subprocess.DEVNULL, stderr=err
        )
    return proc, log


def wait_for(log: Path, pattern: str, timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text(errors="replace"))
        if found:
            return found
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {pattern!r}:\n{log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def idle(seconds: float) -> None:
    sink = harness.Sink(harness.build_sink(), 0, Path(tempfile.gettempdir()), remember=True)
    try:
        with tempfile.TemporaryDirectory(dir="/dev/shm") as tmp:
            work = Path(tmp)
            watch = work / "watch"
            for d in range(100):
                folder = watch / f"set{d:03}"
                folder.mkdir(parents=True)
                for f in range(100):
                    (folder / f"f{f:03}.bin").write_bytes(os.urandom(64))
            config = {
                "servers": [{"host": "127.0.0.1", "port": sink.port, "max_connections": 4}],
                "store": {"path": str(work / "state" / "postie.db")},
                "verify": {"delay": 0},
                "par2": {"enabled": False},
                "daemon": {
                    "watch": [{"path": str(watch), "min_file_age": 1}],
                    "output": str(work / "nzb"),
                    "http": {"port": 0},
                },
            }
            proc, _ = start_daemon(config, work)
            try:
                # post everything once, so the watcher has nothing left but rescanning
                deadline = time.monotonic() + 300
                while len(list((work / "nzb").glob("*.nzb"))) < 100:
                    if time.monotonic() > deadline:
                        raise SystemExit("the 100 jobs did not finish")
                    time.sleep(0.5)
                time.sleep(8)  # verification and finalizing settle
                c0, t0 = cpu_s(proc.pid), time.monotonic()
                time.sleep(seconds)
                used, wall = cpu_s(proc.pid) - c0, time.monotonic() - t0
                print(
                    f"| idle, 10,000 files in 100 folders, scan every 5 s | {wall:.0f} s"
                    f" | {used:.2f} CPU s | {100 * used / wall:.2f}% of a core"
                    f" | RSS {vm(proc.pid, 'VmRSS') / MIB:.0f} MiB |"
                )
            finally:
                stop(proc)
    finally:
        sink.stop()


def rss(size_mib: int) -> None:
    sink = harness.Sink(harness.build_sink(), 0, Path(tempfile.gettempdir()), remember=True)
    try:
        with tempfile.TemporaryDirectory(dir="/dev/shm") as tmp:
            work = Path(tmp)
            (work / "watch").mkdir()
            config = {
                "servers": [{"host": "127.0.0.1", "port": sink.port, "max_connections": 16}],
                "store": {"path": str(work / "state" / "postie.db")},
                "verify": {"delay": 0},
                "par2": {"enabled": False},
                "daemon": {
                    "watch": [{"path": str(work / "watch")}],
                    "output": str(work / "nzb"),
                    "max_concurrent_jobs": 2,
                    "http": {"port": 0},
                },
            }
            (work / "config.yaml").write_text(json.dumps(config))
            for i in range(3):
                data = work / "in" / f"job{i}.bin"
                data.parent.mkdir(exist_ok=True)
                with data.open("wb") as out:
                    block = os.urandom(MIB)
                    for _ in range(size_mib):
                        out.write(block)
                subprocess.run(
                    [str(POSTIE), "queue", "add", str(data), "-c", str(work / "config.yaml")],
                    check=True,
                    capture_output=True,
                )
            proc, log = start_daemon(config, work)
            try:
                port = int(wait_for(log, r"status on http://127\.0\.0\.1:(\d+)/status", 60)[1])
                status = json.loads(
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/status").read()
                )
                budget = status["buffer"]["capacity"]
                idle_rss = vm(proc.pid, "VmRSS")
                wait_for(log, r"job 3 posted", 600)
                peak = vm(proc.pid, "VmHWM")
            finally:
                stop(proc)
            print(
                f"| 3 jobs of {size_mib} MiB queued, 2 running, 16 connections | budget"
                f" {budget / MIB:.0f} MiB | idle RSS {idle_rss / MIB:.0f} MiB | peak RSS"
                f" {peak / MIB:.0f} MiB | above idle {(peak - idle_rss) / MIB:.0f} MiB |"
            )
    finally:
        sink.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=["idle", "rss"])
    ap.add_argument("--idle-seconds", type=float, default=60.0)
    ap.add_argument("--job-mib", type=int, default=1024)
    args = ap.parse_args()
    if args.only in (None, "idle"):
        idle(args.idle_seconds)
    if args.only in (None, "rss"):
        rss(args.job_mib)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
