#!/usr/bin/env python3
"""Benchmark postie's verification service (STAT every article after the upload).

    python3 bench/verify.py                          # all three measurements, 3 repeats
    python3 bench/verify.py --repeat 5 --markdown --out /tmp/verify.json
    python3 bench/verify.py --only stat --no-inn     # STAT speed on the sink alone
    python3 bench/verify.py --postie-rev HEAD        # the committed postie, not the work tree

Three measurements, each repeated (--repeat) and reported as median [min-max]:

1. **stat**: how fast `postie verify ID` STATs a 10,000-article transfer. A file of
   10,000 x 4,096 random bytes is posted once with `--no-verify` to (a) the C sink with
   `-r` (STAT answers 223 only for articles it received) and no delay, and (b) the local
   INN2 (nnrpd, --inn-port 1120; posted once, about 42 MB). Each repeat then runs
   `postie verify ID -v` and reports the scan's seconds (postie's INFO line "STATed N
   articles ... in X s"; the final "postie: verified: ... in X.Xs" line has only one
   decimal) and the wall time of the verify process. Target: under 2 s.

   A verified transfer is finalized, which deletes its manifest, and `postie verify` of a
   finalized transfer is refused. So the store (SQLite file + manifests folder) is copied
   right after the upload, and every repeat starts from a fresh copy of it at the same
   path (the manifest path in the store is absolute): each verify sees exactly the state
   `postie post --no-verify` left.

2. **job**: the whole `postie post` of the 1 GiB file (--big-file, default article size,
   --connections 16) to the sink with `-d 20 -r` (every reply 20 ms late, a simulated
   round trip), `--no-verify` against `--verify-delay 0` (upload, STAT of every article,
   finalize, exit). Wall seconds from spawn to exit, MB/s (10^6 bytes of file data per
   second) and the ratio verify/no-verify. The two alternate which runs first. Target:
   ratio >= 0.90. Each run has a fresh store.

3. **beside**: verification running beside an upload in one process and one Runtime
   (a child process running this script with postie imported). Transfer A (the
   10,000-article file) is posted once at setup to the sink `-d 20 -r`; transfer B (the
   1 GiB file, 16 connections) is posted on the same sink by `TransferRun.post()` with
   `check_delay=None` (a fresh Runtime and a fresh transfer per run):

   * alone: nothing else runs (the Runtime's verification service is started, idle);
   * with verify (the worst case): the same Runtime's service re-verifies A in a loop for
     all of B's upload: `store.schedule_checks(A, at=now, again=True)`, then
     `service.wait(A)`, again and again until B is done. With `verify.connections: 1`
     (the default) and 2 (--beside-verify-connections);
   * once (the daemon's case: the previous job is verified while the next one posts):
     A is re-verified once, at B's start;
   * reference: B alone with 16 - N connections for each of those N: what it would
     cost if the verify connections just took their N worker slots away from posting.

   Reported: B's MB/s, the ratio to alone (target: cost under 10%, ratio > 0.90), how
   many scans of A (10,000 STATs each) completed during B, how long one scan took during
   B and with nothing else running (3 scans at setup), B's extra seconds per scan, the
   share of B's time a scan was running, and the share of B's time some task waited for
   a WorkerSlot (sampled every 5 ms; while anyone waits for a slot, posting lanes do not
   pipeline their next POST unless the waiters are their own job's workers, see
   postie/runtime/lane.py).

   Keeping A verifiable again and again: a verified transfer is finalized, and
   finalizing deletes its manifest, so the next scan would have nothing to read. A is
   therefore created with a finalize hook that always fails (`finalize.hook.command`:
   python exiting 1, `retries: 0`). Its first verification, at setup, runs the hook once;
   the hook fails, so postie keeps everything (manifest and files) and records
   `finalize_state = failed`. After that `finalizable` never picks A again (it wants
   `finalize_state = pending`, which `schedule_checks(again=True)` does not reset), and
   `service.wait(A)` returns as soon as A is verified (finalize_state is not pending).
   This uses only postie's public configuration and behaviour: no copying of manifests
   during the measurement and no writes to the store behind postie's back.

Disturbance: on two cores anything else running skews a run. For sink runs the machine's
busy CPU (/proc/stat) minus postie's and the sink's is "other CPU"; a run with more than
--max-other-cpu is kept in the JSON as disturbed, left out of the medians and run again
(--retries). INN runs are not judged (INN's own CPU is "other").

Standard library only; postie is run as a command (`.venv/bin/postie`, or `python -m
postie` from an exported snapshot with --postie-rev) and imported only by the child of
measurement 3, which runs under --python (default .venv/bin/python).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as harness

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SINK_SRC = BENCH / "sink.c"
SINK_BIN = BENCH / ".build" / "sink"
MB = 1_000_000
MIB = 1 << 20
CLK_TCK = os.sysconf("SC_CLK_TCK")
SMALL_ARTICLE = 4096
SMALL_ARTICLES = 10_000
DEFAULT_ARTICLE = 716_800  # postie's default article size
MEASUREMENTS = ("stat", "job", "beside")
TARGET_STAT_S = 2.0
TARGET_RATIO = 0.90

RE_TRANSFER = re.compile(r"\[transfer (\d+)\]")
RE_POSTED = re.compile(r"postie: posted \d+ files, (\d+) articles, [\d.]+ MB in ([\d.]+)s")
RE_VERIFIED = re.compile(
    r"postie: verified: (\d+) articles STATed on (\S+) in ([\d.]+)s, (\d+) were missing"
)
RE_SCAN = re.compile(r"STATed (\d+) articles of \d+ files on \S+ in ([\d.]+) s: (\d+) missing")


class Judged(Protocol):
    ok: bool
    other_cpu_s: float | None
    disturbed: bool


RunT = TypeVar("RunT", bound=Judged)


def log(msg: str) -> None:
    print(f"[verify-bench] {msg}", file=sys.stderr, flush=True)


# ---- small helpers ------------------------------------------------------------------


def median_range(values: Sequence[float], fmt: str = "{:.2f}") -> str:
    """'median [min-max]' of the values (just the value when there is one)."""
    if not values:
        return "-"
    med = fmt.format(statistics.median(values))
    if len(values) == 1:
        return med
    return f"{med} [{fmt.format(min(values))}-{fmt.format(max(values))}]"


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def busy_s() -> float:
    """CPU seconds all cores have been busy (the harness's measure; 0 if unreadable)."""
    return harness.machine_busy_s() or 0.0


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def ensure_file(path: Path, size: int, seed: int) -> Path:
    if not path.exists() or path.stat().st_size != size:
        log(f"generating {path} ({size:,} random bytes)")
        path.parent.mkdir(parents=True, exist_ok=True)
        harness._write_random(path, size, seed)
    return path


def git(*args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
    )
    return out.stdout.strip() if out.returncode == 0 else ""


def nntp_exchange(host: str, port: int, command: str | None = None) -> list[str]:
    """The greeting and the reply to `command` (if any) on a fresh connection."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=5) as s:
            f = s.makefile("rwb")
            lines = [f.readline().decode(errors="replace").strip()]
            if command is not None:
                f.write(f"{command}\r\n".encode())
                f.flush()
                lines.append(f.readline().decode(errors="replace").strip())
            f.write(b"QUIT\r\n")
            f.flush()
            return lines
    except OSError as exc:
        return [f"error: {exc}"]


def inn_high_water(host: str, port: int, group: str) -> int | None:
    lines = nntp_exchange(host, port, f"GROUP {group}")
    reply = lines[1].split() if len(lines) > 1 else []
    return int(reply[3]) if len(reply) >= 4 and reply[0] == "211" else None


# ---- the sink -----------------------------------------------------------------------


class Sink(harness.Sink):
    """The harness's sink with ``-r`` (STAT: 223 only for Message-IDs received)."""

    def __init__(self, delay_ms: int, workdir: Path) -> None:
        super().__init__(harness.build_sink(), delay_ms, workdir, remember=True)
        args = ["-d", str(delay_ms)] if delay_ms else []
        self.describe = shlex.join([str(harness.SINK_BIN), *args, "-r", "PORT"])

    def stats(self) -> dict[str, int]:  # type: ignore[override]
        """The sink's counters (posts, ids, commands, ...)."""
        return self.counters()

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---- postie as a command ------------------------------------------------------------


@dataclass
class Postie:
    argv_prefix: list[str]
    env: dict[str, str]  # on top of os.environ
    python: Path  # runs the in-process child of measurement 3
    describe: str

    def environ(self) -> dict[str, str]:
        return {**os.environ, **self.env}


def find_postie(args: argparse.Namespace) -> Postie:
    """The working tree's postie (.venv), or an exported snapshot of --postie-rev."""
    python: Path = args.python
    if not python.exists():
        raise SystemExit(f"{python} not found (bash scripts/setup)")
    if args.postie_rev is None:
        stale = harness.stale_bytecode(python, REPO / "postie")
        if stale:
            log(
                f"WARNING: {stale} modules of postie/ have no up-to-date bytecode: run "
                f"`{python} -m compileall -q postie` (every start compiles them otherwise)"
            )
        status = git("status", "--porcelain", "--", "postie")
        rev = git("log", "-1", "--format=%h %s")[:72]
        describe = f"working tree at {rev}" + (
            " + uncommitted changes in postie/" if status else ""
        )
        entry = python.parent / "postie"
        prefix = [str(entry)] if entry.exists() else [str(python), "-m", "postie"]
        return Postie(prefix, {}, python, describe)
    # git archive reads the repository and writes nothing into it
    sha = git("rev-parse", "--verify", f"{args.postie_rev}^{{commit}}")
    if not sha:
        raise SystemExit(f"unknown revision {args.postie_rev}")
    tree = Path("/tmp") / f"postie-verify-bench-src-{sha[:12]}"
    # postie/store/migrations is a symlink to the top-level migrations/: export both
    parts = [p for p in ("postie", "migrations") if p in git("ls-tree", "--name-only", sha)]
    if not (tree / ".complete").exists():
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", sha, *parts],
            capture_output=True,
            check=True,
        )
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
        (tree / ".complete").touch()
        log(f"exported postie at {sha[:12]} into {tree}")
    if harness.stale_bytecode(python, tree / "postie"):
        subprocess.run([str(python), "-m", "compileall", "-q", str(tree / "postie")], check=True)
    # PYTHONSAFEPATH: `python -m` would otherwise put the current folder first on sys.path
    env = {"PYTHONPATH": str(tree), "PYTHONSAFEPATH": "1"}
    out = subprocess.run(
        [str(python), "-c", "import postie; print(postie.__file__)"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    ).stdout.strip()
    if not out.startswith(str(tree / "postie")):
        raise SystemExit(f"PYTHONPATH={tree} imports postie from {out!r}, not the snapshot")
    subject = git("log", "-1", "--format=%h %s", sha)[:72]
    return Postie([str(python), "-m", "postie"], env, python, f"{subject} (snapshot {tree})")


@dataclass
class Child:
    argv: list[str]
    rc: int
    wall_s: float
    cpu_s: float
    maxrss_mib: float
    output: str
    timed_out: bool


def run_child(argv: list[str], log_path: Path, env: dict[str, str], timeout: float) -> Child:
    """The harness's direct child (its own rusage from os.wait4), with its output."""
    c = harness.run_child(argv, log_path, timeout, env)
    return Child(
        argv=argv,
        rc=c.rc,
        wall_s=c.wall_s,
        cpu_s=c.user_s + c.sys_s,
        maxrss_mib=c.maxrss_kib / 1024,
        output=log_path.read_text(errors="replace"),
        timed_out=c.timed_out,
    )


def tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def warm(postie: Postie) -> None:
    """Start postie once so its code is in memory (these machines page out idle files)."""
    subprocess.run(
        [*postie.argv_prefix, "--version"],
        capture_output=True,
        env=postie.environ(),
        check=False,
    )


def postie_post(
    postie: Postie,
    path: Path,
    *,
    port: int,
    connections: int,
    db: Path,
    nzb: Path,
    article_size: int | None,
    verify: bool,
    host: str = "127.0.0.1",
    config: Path | None = None,
) -> list[str]:
    argv = [*postie.argv_prefix, "post", str(path), "--host", host, "--port", str(port)]
    argv += ["--connections", str(connections)]
    if article_size is not None:
        argv += ["--article-size", str(article_size)]
    argv += ["-o", str(nzb), "--overwrite", "--db", str(db), "--plain", "--no-par2"]
    argv += ["--verify-delay", "0", "-v"] if verify else ["--no-verify"]
    if config is not None:
        argv += ["-c", str(config)]
    return argv


def verify_config(workdir: Path, connections: int | None) -> Path | None:
    """A config file setting verify.connections (JSON is YAML), or None for the default."""
    if connections is None:
        return None
    path = workdir / f"verify-connections-{connections}.yaml"
    path.write_text(json.dumps({"verify": {"connections": connections}}) + "\n")
    return path


# ---- 1. STAT speed ------------------------------------------------------------------


@dataclass
class StatRun:
    server: str
    repeat: int
    argv: list[str]
    rc: int
    ok: bool
    error: str | None
    stat_s: float | None  # the scan, from postie's INFO line (2 decimals)
    stat_s_summary: float | None  # from "postie: verified: ... in X.Xs" (1 decimal)
    wall_s: float
    cpu_s: float
    checked: int | None
    missing: int | None
    other_cpu_s: float | None
    disturbed: bool = False
    log: str = ""


@dataclass
class Posted:
    """A transfer posted once with --no-verify, its store kept as a snapshot."""

    server: str
    label: str  # host:port
    transfer_id: int
    store: Path  # the folder whose postie.db the verify runs use
    snapshot: Path
    connections: int
    post_wall_s: float
    articles_on_server: int | None  # INN: high-water mark delta; sink: ids received

    def restore(self) -> Path:
        shutil.rmtree(self.store, ignore_errors=True)
        shutil.copytree(self.snapshot, self.store)
        return self.store / "postie.db"


def post_once(
    postie: Postie,
    server: str,
    host: str,
    port: int,
    connections: int,
    data: Path,
    work: Path,
    args: argparse.Namespace,
    count: Callable[[], int | None],
) -> Posted:
    store = work / f"store-{server}"
    snapshot = work / f"store-{server}.snapshot"
    for p in (store, snapshot):
        shutil.rmtree(p, ignore_errors=True)
    store.mkdir(parents=True)
    before = count()
    argv = postie_post(
        postie,
        data,
        host=host,
        port=port,
        connections=connections,
        db=store / "postie.db",
        nzb=work / f"{server}-small.nzb",
        article_size=SMALL_ARTICLE,
        verify=False,
    )
    log(f"stat/{server}: posting {SMALL_ARTICLES:,} articles once: {shlex.join(argv)}")
    child = run_child(argv, work / f"post-{server}.log", postie.environ(), args.timeout)
    m = RE_TRANSFER.search(child.output)
    if child.rc != 0 or m is None:
        raise RuntimeError(f"posting to {server} failed (exit {child.rc}):\n{tail(child.output)}")
    after = count()
    on_server = after - before if after is not None and before is not None else None
    if on_server is not None and on_server != SMALL_ARTICLES:
        log(f"WARNING: {server} took {on_server} articles, not {SMALL_ARTICLES}")
    # the store right after the upload: every verify run starts from a copy of it
    shutil.copytree(store, snapshot)
    return Posted(
        server,
        f"{host}:{port}",
        int(m.group(1)),
        store,
        snapshot,
        connections,
        child.wall_s,
        on_server,
    )


def verify_once(
    postie: Postie,
    posted: Posted,
    rep: int,
    host: str,
    port: int,
    work: Path,
    args: argparse.Namespace,
    sink: Sink | None,
) -> StatRun:
    db = posted.restore()
    argv = [*postie.argv_prefix, "verify", str(posted.transfer_id), "--host", host]
    argv += ["--port", str(port), "--connections", str(posted.connections)]
    argv += ["--db", str(db), "--plain", "-v"]
    config = verify_config(work, args.verify_connections)
    if config is not None:
        argv += ["-c", str(config)]
    warm(postie)
    log(f"stat/{posted.server} #{rep}: {shlex.join(argv)}")
    busy0 = busy_s()
    sink0 = sink.cpu_s() if sink else 0.0
    log_path = work / f"verify-{posted.server}-{rep}-{time.monotonic_ns()}.log"
    child = run_child(argv, log_path, postie.environ(), 120)
    other = None
    if sink is not None:
        other = busy_s() - busy0 - child.cpu_s - (sink.cpu_s() - sink0)
    scan = RE_SCAN.findall(child.output)
    summary = RE_VERIFIED.search(child.output)
    error = None
    if child.rc != 0 or summary is None:
        error = f"exit {child.rc}: {tail(child.output, 4)}"
    elif len(scan) != 1:
        error = f"{len(scan)} scans in one verify (expected 1)"
    run = StatRun(
        server=posted.server,
        repeat=rep,
        argv=argv,
        rc=child.rc,
        ok=error is None,
        error=error,
        stat_s=sum(float(s[1]) for s in scan) if scan else None,
        stat_s_summary=float(summary.group(3)) if summary else None,
        wall_s=child.wall_s,
        cpu_s=child.cpu_s,
        checked=int(summary.group(1)) if summary else None,
        missing=int(summary.group(4)) if summary else None,
        other_cpu_s=other,
        log=str(log_path),
    )
    log(
        f"  STAT {run.stat_s} s, wall {run.wall_s:.2f} s, {run.checked} checked, "
        f"{run.missing} missing" + (f", ERROR {error}" if error else "")
    )
    return run


def judged(measure: Callable[[], RunT], args: argparse.Namespace, judge: bool = True) -> list[RunT]:
    """Run `measure` until a run is not disturbed (or --retries are spent); all runs."""
    runs: list[RunT] = []
    for attempt in range(args.retries + 1):
        run = measure()
        runs.append(run)
        other = run.other_cpu_s if judge else None
        if not run.ok or other is None or other <= args.max_other_cpu:
            break
        if attempt == args.retries:
            log(f"  disturbed (other CPU {other:.2f} s), kept: no retries left")
            break
        run.disturbed = True
        log(f"  disturbed: other processes took {other:.2f} CPU s; running it again")
    return runs


def measure_stat(postie: Postie, args: argparse.Namespace, data: Path) -> dict[str, Any]:
    work = args.workdir / "stat"
    work.mkdir(parents=True, exist_ok=True)
    runs: list[StatRun] = []
    posted: list[Posted] = []
    skipped: dict[str, str] = {}
    with Sink(0, work) as sink:

        def sink_ids() -> int | None:
            return sink.stats().get("ids")

        p = post_once(
            postie, "sink", "127.0.0.1", sink.port, args.connections, data, work, args, sink_ids
        )
        posted.append(p)
        for rep in range(args.repeat):
            runs += judged(
                partial(verify_once, postie, p, rep, "127.0.0.1", sink.port, work, args, sink),
                args,
            )
    if args.no_inn:
        skipped["inn"] = "--no-inn"
    else:
        greeting = nntp_exchange(args.inn_host, args.inn_port)[0]
        if not greeting.startswith("200"):
            skipped["inn"] = f"{args.inn_host}:{args.inn_port} answers {greeting!r}"
            log(f"SKIPPING INN: {skipped['inn']} (bash scripts/inn2 start)")
        else:
            group = "alt.binaries.test"
            p = post_once(
                postie,
                "inn",
                args.inn_host,
                args.inn_port,
                args.inn_connections,
                data,
                work,
                args,
                lambda: inn_high_water(args.inn_host, args.inn_port, group),
            )
            posted.append(p)
            for rep in range(args.repeat):
                runs += judged(
                    partial(
                        verify_once, postie, p, rep, args.inn_host, args.inn_port, work, args, None
                    ),
                    args,
                    judge=False,
                )
    return {
        "posted": [asdict(p) for p in posted],
        "runs": [asdict(r) for r in runs],
        "skipped": skipped,
    }


# ---- 2. the whole job ---------------------------------------------------------------


@dataclass
class JobRun:
    variant: str  # no-verify | verify
    repeat: int
    argv: list[str]
    rc: int
    ok: bool
    error: str | None
    wall_s: float
    cpu_s: float
    maxrss_mib: float
    mb_s: float
    upload_s: float | None  # postie's own "posted ... in X s"
    stat_s: float | None
    checked: int | None
    missing: int | None
    sink_posts: int
    other_cpu_s: float | None
    disturbed: bool = False
    log: str = ""


def job_once(
    postie: Postie,
    variant: str,
    rep: int,
    sink: Sink,
    data: Path,
    work: Path,
    args: argparse.Namespace,
) -> JobRun:
    verify = variant == "verify"
    store = work / f"store-{variant}-{rep}-{time.monotonic_ns()}"
    store.mkdir(parents=True)
    argv = postie_post(
        postie,
        data,
        port=sink.port,
        connections=args.connections,
        db=store / "postie.db",
        nzb=work / f"job-{variant}.nzb",
        article_size=None,
        verify=verify,
        config=verify_config(work, args.verify_connections) if verify else None,
    )
    warm(postie)
    log(f"job #{rep} {variant}: {shlex.join(argv)}")
    posts0 = sink.stats()["posts"]
    busy0 = busy_s()
    sink0 = sink.cpu_s()
    log_path = work / f"job-{variant}-{rep}-{time.monotonic_ns()}.log"
    child = run_child(argv, log_path, postie.environ(), args.timeout)
    other = busy_s() - busy0 - child.cpu_s - (sink.cpu_s() - sink0)
    posts = sink.stats()["posts"] - posts0
    shutil.rmtree(store, ignore_errors=True)
    size = data.stat().st_size
    expected = -(-size // DEFAULT_ARTICLE)
    posted = RE_POSTED.search(child.output)
    summary = RE_VERIFIED.search(child.output)
    scan = RE_SCAN.findall(child.output)
    error = None
    if child.rc != 0 or child.timed_out:
        error = f"exit {child.rc}: {tail(child.output, 4)}"
    elif verify and summary is None:
        error = "no 'postie: verified:' line"
    elif posts < expected:
        error = f"the sink got {posts} articles, expected {expected}"
    run = JobRun(
        variant=variant,
        repeat=rep,
        argv=argv,
        rc=child.rc,
        ok=error is None,
        error=error,
        wall_s=child.wall_s,
        cpu_s=child.cpu_s,
        maxrss_mib=child.maxrss_mib,
        mb_s=size / MB / child.wall_s,
        upload_s=float(posted.group(2)) if posted else None,
        stat_s=sum(float(s[1]) for s in scan) if scan else None,
        checked=int(summary.group(1)) if summary else None,
        missing=int(summary.group(4)) if summary else None,
        sink_posts=posts,
        other_cpu_s=other,
        log=str(log_path),
    )
    log(
        f"  {run.wall_s:.2f} s wall ({run.mb_s:.0f} MB/s), CPU {run.cpu_s:.2f} s, other "
        f"{other:.2f}"
        + (f", STAT {run.stat_s} s" if verify else "")
        + (f", ERROR {error}" if error else "")
    )
    return run


def measure_job(postie: Postie, args: argparse.Namespace) -> dict[str, Any]:
    work = args.workdir / "job"
    work.mkdir(parents=True, exist_ok=True)
    runs: list[JobRun] = []
    with Sink(args.delay_ms, work) as sink:
        for rep in range(args.repeat):
            order = ("no-verify", "verify") if rep % 2 == 0 else ("verify", "no-verify")
            for variant in order:
                runs += judged(
                    partial(job_once, postie, variant, rep, sink, args.big_file, work, args),
                    args,
                )
        sink_describe = sink.describe
    return {"sink": sink_describe, "runs": [asdict(r) for r in runs]}


# ---- 3. verification beside an upload (parent side) ---------------------------------


def measure_beside(postie: Postie, args: argparse.Namespace, small: Path) -> dict[str, Any]:
    work = args.workdir / "beside"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with Sink(args.delay_ms, work) as sink:
        spec = {
            "port": sink.port,
            "sink_pid": sink.proc.pid,
            "connections": args.connections,
            "small": str(small),
            "big": str(args.big_file),
            "work": str(work),
            "repeat": args.repeat,
            "variants": [
                "alone",
                *(f"fewer{n}" for n in args.beside_verify_connections),
                *(f"verify{n}" for n in args.beside_verify_connections),
                *(f"once{n}" for n in args.beside_verify_connections),
            ],
            "max_other_cpu": args.max_other_cpu,
            "retries": args.retries,
            "result": str(work / "result.json"),
        }
        spec_path = work / "spec.json"
        spec_path.write_text(json.dumps(spec))
        argv = [str(postie.python), str(Path(__file__).resolve()), "--child", str(spec_path)]
        log(f"beside: {shlex.join(argv)} (sink {sink.describe}, port {sink.port})")
        warm(postie)
        proc = subprocess.run(argv, env=postie.environ(), timeout=args.timeout * 4, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"the in-process child failed (exit {proc.returncode})")
        result: dict[str, Any] = json.loads(Path(spec["result"]).read_text())
        result["sink"] = sink.describe
        result["argv"] = argv
    return result


# ---- 3. the child: one process, one Runtime -----------------------------------------


def child_main(spec_path: Path) -> int:
    spec = json.loads(spec_path.read_text())
    import logging

    logging.basicConfig(
        level=logging.WARNING, format="[verify-bench child] %(levelname)s %(name)s: %(message)s"
    )
    result = asyncio.run(_child(spec))
    Path(spec["result"]).write_text(json.dumps(result, indent=2) + "\n")
    return 0


@dataclass
class BesideRun:
    variant: str  # alone | verify1 | verify2 ...
    verify_connections: int | None
    repeat: int
    ok: bool
    error: str | None
    post_s: float  # TransferRun.post(), start to return
    job_s: float  # the PostingJob's own elapsed
    mb_s: float
    scans_during: int  # scans of A that completed while B was posting
    stats_during: int  # STATs those scans made
    scan_s: list[float]  # the duration of every scan started during B
    scan_busy: float  # share of B's time a scan of A was running
    slot_wait: float  # share of samples during B with a task waiting for a WorkerSlot
    pool_wait: float  # share of samples with a task waiting for a connection of the pool
    verify_in_use: float  # mean verify slots held (samples)
    cpu_s: float  # this process's CPU during B
    sink_cpu_s: float
    other_cpu_s: float
    disturbed: bool = False


async def _child(spec: dict[str, Any]) -> dict[str, Any]:
    import logging

    from postie.config import Config, parse_config
    from postie.runtime.runtime import Runtime
    from postie.store import open_store
    from postie.store.api import FinalizeState, VerifyState
    from postie.store.lease import new_owner
    from postie.transfers.create import for_paths
    from postie.transfers.run import TransferRun
    from postie.verify.service import verification

    work = Path(spec["work"])
    small, big = Path(spec["small"]), Path(spec["big"])
    connections = int(spec["connections"])
    sink_pid = int(spec["sink_pid"])

    def config(verify_connections: int = 2, fewer: int = 0, **extra: Any) -> Config:
        server = {
            "host": "127.0.0.1",
            "port": spec["port"],
            "max_connections": connections - fewer,
        }
        return parse_config(
            {
                "servers": [server],
                "verify": {"connections": verify_connections, "delay": 0},
                **extra,
            }
        )

    def say(msg: str) -> None:
        print(f"[verify-bench child] {msg}", file=sys.stderr, flush=True)

    owner = new_owner()
    manifests = work / "manifests"
    async with open_store(work / "postie.db") as store, store.worker(owner, name="bench"):
        # --- transfer A: posted once, verified once (its failing hook keeps it) --------
        failing_hook = {"command": [sys.executable, "-c", "raise SystemExit(1)"], "retries": 0}
        cfg_a = config(posting={"article_size": SMALL_ARTICLE}, finalize={"hook": failing_hook})
        prepared_a = await for_paths(
            store,
            cfg_a,
            [small],
            name="A",
            output=work / "A.nzb",
            overwrite=True,
            owner=owner,
            manifests=manifests,
        )
        a_id = prepared_a.transfer_id
        t0 = time.monotonic()
        async with Runtime(cfg_a) as runtime:
            run_a = TransferRun(runtime, store, prepared_a, owner=owner, check_delay=None)
            outcome = await run_a.post()
            if not outcome.complete:
                raise RuntimeError(f"transfer A did not complete: {outcome.failures}")
            say(
                f"A: transfer {a_id}, {len(prepared_a.plan.files[0].segments)} articles "
                f"posted in {time.monotonic() - t0:.1f} s"
            )
            quiet = logging.getLogger("postie.verify.service")
            quiet.setLevel(logging.CRITICAL)  # the expected "finalizing failed" error
            try:
                await store.schedule_checks(a_id, at=store.now(), again=True)
                async with verification(runtime, store, owner=owner, only=a_id) as service:
                    a = await service.wait(a_id)
            finally:
                quiet.setLevel(logging.NOTSET)
        if a.verify_state != VerifyState.VERIFIED or a.finalize_state != FinalizeState.FAILED:
            raise RuntimeError(f"A is {a.verify_state}/{a.finalize_state}, not verified/failed")
        if not prepared_a.manifest_path.exists():
            raise RuntimeError("A's manifest is gone: it cannot be scanned again")
        say(f"A verified once ({service.statistics().checked} STATs); finalize failed, as set")

        # --- A's scan with nothing else running: the reference for a scan's duration --
        idle: dict[str, list[float]] = {}
        for variant in spec["variants"]:
            if not variant.startswith("verify"):
                continue
            async with (
                Runtime(config(int(variant.removeprefix("verify")))) as runtime,
                verification(runtime, store, owner=owner, only=a_id) as service,
            ):
                for _ in range(3):
                    started = time.monotonic()
                    await store.schedule_checks(a_id, at=store.now(), again=True)
                    a = await service.wait(a_id)
                    if a.verify_state != VerifyState.VERIFIED:
                        raise RuntimeError(f"A ended {a.verify_state} in a re-verification")
                    idle.setdefault(variant, []).append(time.monotonic() - started)
            say(f"A's scan alone, {variant}: " + ", ".join(f"{x:.2f} s" for x in idle[variant]))

        # --- B, alone and beside re-verifications of A -----------------------------
        runs: list[BesideRun] = []
        variants: list[str] = spec["variants"]
        n = 0
        for rep in range(spec["repeat"]):
            order = variants if rep % 2 == 0 else variants[::-1]
            for variant in order:
                for attempt in range(spec["retries"] + 1):
                    n += 1
                    vc = (
                        int(variant[6:])
                        if variant.startswith("verify")
                        else int(variant[4:])
                        if variant.startswith("once")
                        else None
                    )
                    fewer = int(variant[5:]) if variant.startswith("fewer") else 0
                    cfg_b = config(vc or 2, fewer)
                    prepared = await for_paths(
                        store,
                        cfg_b,
                        [big],
                        name=f"B{n}",
                        output=work / "B.nzb",
                        overwrite=True,
                        owner=owner,
                        manifests=manifests,
                    )
                    async with (
                        Runtime(cfg_b) as runtime,
                        verification(runtime, store, owner=owner, only=a_id) as service,
                    ):
                        run = await _beside_once(
                            runtime,
                            store,
                            service,
                            prepared,
                            owner,
                            a_id,
                            sink_pid,
                            vc,
                            once=variant.startswith("once"),
                        )
                    run.variant, run.repeat = variant, rep
                    runs.append(run)
                    say(
                        f"#{rep} {variant}: {run.mb_s:.0f} MB/s ({run.post_s:.2f} s), "
                        f"{run.scans_during} scans of A during B, scan busy "
                        f"{100 * run.scan_busy:.0f}%, slot waiters {100 * run.slot_wait:.0f}% "
                        f"of samples, other CPU {run.other_cpu_s:.2f} s"
                        + (f", ERROR {run.error}" if run.error else "")
                    )
                    if not run.ok or run.other_cpu_s <= spec["max_other_cpu"]:
                        break
                    if attempt < spec["retries"]:
                        run.disturbed = True
                        say("  disturbed: running it again")
    return {
        "a": {"transfer": a_id, "articles": len(prepared_a.plan.files[0].segments)},
        "idle_scan_s": idle,
        "variants": variants,
        "connections": connections,
        "runs": [asdict(r) for r in runs],
    }


async def _beside_once(
    runtime: Any,
    store: Any,
    service: Any,
    prepared: Any,
    owner: str,
    a_id: int,
    sink_pid: int,
    verify_connections: int | None,
    *,
    once: bool = False,
) -> BesideRun:
    from postie.store.api import VerifyState
    from postie.transfers.run import TransferRun

    run = TransferRun(runtime, store, prepared, owner=owner, check_delay=None)
    done = asyncio.Event()
    scans: list[tuple[float, float]] = []  # (start, end) of each re-verification of A

    async def reverify() -> None:
        while not done.is_set():
            started = time.monotonic()
            await store.schedule_checks(a_id, at=store.now(), again=True)
            a = await service.wait(a_id)
            if a.verify_state != VerifyState.VERIFIED:
                raise RuntimeError(f"A ended {a.verify_state} in a re-verification")
            scans.append((started, time.monotonic()))
            if once:
                return  # one check of A while B posts: verifying the previous job

    samples: list[tuple[bool, bool, int]] = []

    async def sample() -> None:
        pool = runtime.upload_pools[0]
        while not done.is_set():
            slots = runtime.slots.statistics()
            samples.append(
                (slots.waiting > 0, pool.waiting > 0, runtime.verify_slots.statistics().in_use)
            )
            await asyncio.sleep(0.005)

    before = service.statistics()
    sampler = asyncio.create_task(sample())
    looper = asyncio.create_task(reverify()) if verify_connections is not None else None
    cpu0 = _self_cpu()
    busy0 = busy_s()
    sink0 = proc_cpu_s(sink_pid)
    t0 = time.monotonic()
    error = None
    try:
        outcome = await run.post()
        if not outcome.complete:
            error = f"B did not complete: {outcome.failures[:2]}"
    finally:
        t1 = time.monotonic()
        cpu = _self_cpu() - cpu0
        sink_cpu = proc_cpu_s(sink_pid) - sink0
        other = busy_s() - busy0 - cpu - sink_cpu
        done.set()
        for task in (sampler, looper):
            if task is not None:
                await task
    after = service.statistics()
    if after.missing != before.missing:
        error = f"{after.missing - before.missing} articles of A missing"
    during = [s for s in scans if s[1] <= t1]
    started = [s for s in scans if s[0] < t1]
    busy = sum(max(0.0, min(e, t1) - max(s, t0)) for s, e in scans)
    size = sum(f.size for f in prepared.plan.files)
    return BesideRun(
        variant="",
        verify_connections=verify_connections,
        repeat=0,
        ok=error is None,
        error=error,
        post_s=t1 - t0,
        job_s=outcome.result.elapsed if error is None else t1 - t0,
        mb_s=size / MB / (t1 - t0),
        scans_during=len(during),
        stats_during=len(during) * SMALL_ARTICLES,
        scan_s=[e - s for s, e in started],
        scan_busy=busy / (t1 - t0),
        slot_wait=sum(s[0] for s in samples) / max(1, len(samples)),
        pool_wait=sum(s[1] for s in samples) / max(1, len(samples)),
        verify_in_use=sum(s[2] for s in samples) / max(1, len(samples)),
        cpu_s=cpu,
        sink_cpu_s=sink_cpu,
        other_cpu_s=other,
    )


def _self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


# ---- report -------------------------------------------------------------------------


def table(head: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *rows]
    )


def kept(runs: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    """The runs that count: ok, not disturbed, matching the given fields."""
    return [
        r
        for r in runs
        if r["ok"] and not r["disturbed"] and all(r[k] == v for k, v in match.items())
    ]


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else "met" if ok else "MISSED"


def report_stat(res: dict[str, Any], md: bool) -> str:
    rows = []
    for p in res["posted"]:
        runs = kept(res["runs"], server=p["server"])
        stat = [r["stat_s"] for r in runs if r["stat_s"] is not None]
        wall = [r["wall_s"] for r in runs]
        rate = [r["checked"] / r["stat_s"] for r in runs if r["stat_s"]]
        med_stat, med_wall = median(stat), median(wall)
        missing = sorted({r["missing"] for r in runs})
        name = "sink -r (no delay)" if p["server"] == "sink" else f"INN2 nnrpd {p['label']}"
        rows.append(
            [
                name,
                f"{SMALL_ARTICLES:,}",
                median_range(stat),
                median_range(rate, "{:,.0f}"),
                median_range(wall),
                median_range([r["cpu_s"] for r in runs]),
                ",".join(map(str, missing)),
                f"{len(runs)}",
                verdict(med_stat < TARGET_STAT_S if med_stat is not None else None)
                + " / "
                + verdict(med_wall < TARGET_STAT_S if med_wall is not None else None),
            ]
        )
    out = table(
        [
            "server",
            "articles",
            "STAT s",
            "STATs/s",
            "verify process wall s",
            "CPU s",
            "missing",
            "runs",
            f"< {TARGET_STAT_S:g} s (STAT / wall)",
        ],
        rows,
        md,
    )
    notes = [f"{k} skipped: {v}" for k, v in res["skipped"].items()]
    notes += [
        f"{p['server']}: posted once with --no-verify in {p['post_wall_s']:.1f} s over "
        f"{p['connections']} connections; articles the server took: {p['articles_on_server']}"
        for p in res["posted"]
    ]
    bad = [r for r in res["runs"] if not r["ok"] or r["disturbed"]]
    notes += [
        f"left out: {r['server']} #{r['repeat']}: "
        + (r["error"] or f"disturbed (other CPU {r['other_cpu_s']:.2f} s)")
        for r in bad
    ]
    return out + "".join(f"\n\n{n}" if md else f"\n{n}" for n in notes)


def report_job(res: dict[str, Any], md: bool) -> str:
    rows = []
    med: dict[str, float | None] = {}
    for variant, label in (
        ("no-verify", "postie post --no-verify"),
        ("verify", "postie post --verify-delay 0"),
    ):
        runs = kept(res["runs"], variant=variant)
        mbs = [r["mb_s"] for r in runs]
        med[variant] = median(mbs)
        rows.append(
            [
                label,
                median_range([r["wall_s"] for r in runs]),
                median_range(mbs, "{:.0f}"),
                median_range([r["upload_s"] for r in runs if r["upload_s"] is not None], "{:.1f}"),
                median_range([r["stat_s"] for r in runs if r["stat_s"] is not None])
                if variant == "verify"
                else "-",
                median_range([r["cpu_s"] for r in runs]),
                median_range([r["maxrss_mib"] for r in runs], "{:.0f}"),
                f"{len(runs)}",
            ]
        )
    out = table(
        [
            "run",
            "wall s",
            "MB/s",
            "upload s (postie's line)",
            "STAT s",
            "CPU s",
            "peak RSS MiB",
            "runs",
        ],
        rows,
        md,
    )
    # per repeat: the pair measured side by side
    pairs = []
    by_rep: dict[int, dict[str, float]] = {}
    for r in kept(res["runs"]):
        by_rep.setdefault(r["repeat"], {})[r["variant"]] = r["mb_s"]
    for rep in sorted(by_rep):
        v = by_rep[rep]
        if "verify" in v and "no-verify" in v:
            pairs.append(v["verify"] / v["no-verify"])
    with_verify, without = med.get("verify"), med.get("no-verify")
    ratio = with_verify / without if with_verify is not None and without else None
    ratio_text = f"{ratio:.3f}" if ratio is not None else "-"
    line = (
        f"verify/no-verify MB/s (ratio of the medians): **{ratio_text}**; per repeat "
        f"{', '.join(f'{p:.3f}' for p in pairs) or '-'}; target >= {TARGET_RATIO:g}: "
        f"{verdict(ratio >= TARGET_RATIO if ratio is not None else None)}"
    )
    if not md:
        line = line.replace("**", "")
    bad = [r for r in res["runs"] if not r["ok"] or r["disturbed"]]
    notes = [
        f"left out: {r['variant']} #{r['repeat']}: "
        + (r["error"] or f"disturbed (other CPU {r['other_cpu_s']:.2f} s)")
        for r in bad
    ]
    sep = "\n\n" if md else "\n"
    return out + sep + line + "".join(sep + n for n in notes)


def report_beside(res: dict[str, Any], md: bool) -> str:
    conns = int(res.get("connections", 16))
    variants: list[str] = res["variants"]  # alone, fewerN..., verifyN..., onceN...
    alone_runs = kept(res["runs"], variant="alone")
    alone = median([r["mb_s"] for r in alone_runs])
    alone_s = median([r["post_s"] for r in alone_runs])
    rows = []
    for variant in variants:
        runs = kept(res["runs"], variant=variant)
        mbs = [r["mb_s"] for r in runs]
        m = median(mbs)
        ratio = m / alone if m is not None and alone else None
        verifying = variant.startswith(("verify", "once"))
        scan_s = [s for r in runs for s in r["scan_s"]]
        idle = res.get("idle_scan_s", {}).get(variant.replace("once", "verify"), [])
        scans = median([r["scans_during"] for r in runs])
        post_s = median([r["post_s"] for r in runs])
        extra = (
            f"{(post_s - alone_s) / scans:.2f}"
            if verifying and scans and post_s is not None and alone_s is not None
            else "-"
        )
        if variant == "alone":
            label = f"B alone ({conns} connections)"
        elif variant.startswith("fewer"):
            label = f"B alone with {conns - int(variant[5:])} connections (reference)"
        elif variant.startswith("once"):
            label = f"B + A verified once at B's start, verify.connections {variant[4:]}"
        else:
            label = f"B + A re-verified in a loop, verify.connections {variant[6:]}"
        rows.append(
            [
                label,
                median_range(mbs, "{:.0f}"),
                f"{ratio:.3f}" if ratio is not None else "-",
                f"{100 * (1 - ratio):.1f}%" if ratio is not None and variant != "alone" else "-",
                median_range([r["scans_during"] for r in runs], "{:.0f}") if verifying else "-",
                median_range(scan_s) if scan_s else "-",
                median_range(idle) if idle else "-",
                extra,
                median_range([100 * r["scan_busy"] for r in runs], "{:.0f}") if verifying else "-",
                median_range([100 * r["slot_wait"] for r in runs], "{:.0f}"),
                median_range([r["cpu_s"] for r in runs]),
                f"{len(runs)}",
            ]
        )
    out = table(
        [
            "posting B",
            "MB/s",
            "ratio to alone",
            "cost",
            "scans of A done during B",
            "one scan s (during B)",
            "one scan s (idle)",
            "B's extra s per scan",
            "% of B scanning",
            "% of B with slot waiters",
            "CPU s",
            "runs",
        ],
        rows,
        md,
    )
    a = res["a"]
    sep = "\n\n" if md else "\n"
    notes = [
        f"B: the 1 GiB file, default article size, {conns} connections, sink -d 20 -r; "
        f"A: transfer {a['transfer']}, {a['articles']:,} articles of {SMALL_ARTICLE} bytes "
        "on the same sink, each scan STATs all of them. Target: cost under 10% "
        f"(ratio > {TARGET_RATIO:g}). The reference rows post B with fewer connections and "
        "nothing else: what handing the verify connections' slots to verification would "
        "cost if posting were otherwise unaffected. '% of B with slot waiters': share of "
        "5 ms samples in which some task waited for a WorkerSlot."
    ]
    bad = [r for r in res["runs"] if not r["ok"] or r["disturbed"]]
    notes += [
        f"left out: {r['variant']} #{r['repeat']}: "
        + (r["error"] or f"disturbed (other CPU {r['other_cpu_s']:.2f} s)")
        for r in bad
    ]
    return out + "".join(sep + n for n in notes)


def machine_meta(postie: Postie, args: argparse.Namespace) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    venv_python = subprocess.run(
        [str(postie.python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    version = subprocess.run(
        [*postie.argv_prefix, "--version"],
        capture_output=True,
        text=True,
        env=postie.environ(),
        check=False,
    ).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": f"Linux {platform.release()}",
        "python": venv_python,
        "harness_python": platform.python_version(),
        "git": git("log", "-1", "--format=%h %s")[:72],
        "postie": postie.describe,
        "postie_version": version,
        "command": shlex.join([sys.executable, *sys.argv]),
        "repeat": args.repeat,
    }


def render(doc: dict[str, Any], md: bool) -> str:
    meta = doc["meta"]
    parts = []
    head = (
        f"machine: {meta['cpu']}, {meta['cores']} cores, {meta['kernel']}; python "
        f"{meta['python']} (postie), {meta['harness_python']} (harness)\n"
        f"postie: {meta['postie']} ({meta['postie_version']}); repository HEAD {meta['git']}\n"
        f"date: {meta['date']}; repeats: {meta['repeat']} (median [min-max])"
    )
    if md:
        head = "\n".join(f"- {line}" for line in head.splitlines())
    parts.append(head)
    sections = (
        ("stat", "1. STAT speed: `postie verify ID` of a 10,000-article transfer", report_stat),
        (
            "job",
            "2. Whole job, 1 GiB, 16 connections, sink -d 20 -r: --no-verify vs --verify-delay 0",
            report_job,
        ),
        ("beside", "3. Verification beside an upload (one process, one Runtime)", report_beside),
    )
    for key, title, fn in sections:
        if key in doc:
            parts.append((f"### {title}" if md else f"== {title}") + "\n\n" + fn(doc[key], md))
    return "\n\n".join(parts)


# ---- main ---------------------------------------------------------------------------


def _csv_int(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--only",
        default=",".join(MEASUREMENTS),
        help=f"comma-separated measurements to run, of {','.join(MEASUREMENTS)} (default: all)",
    )
    ap.add_argument("--repeat", type=int, default=3, help="runs of each variant (default 3)")
    ap.add_argument("--markdown", action="store_true", help="print markdown tables")
    ap.add_argument("--out", type=Path, help="write every run and the metadata as JSON")
    ap.add_argument(
        "--postie-rev",
        metavar="REV",
        help="run postie as of this git revision (git archive into /tmp, imported through "
        "PYTHONPATH), not the working tree: a fixed snapshot while others edit postie/",
    )
    ap.add_argument(
        "--python",
        type=Path,
        default=REPO / ".venv" / "bin" / "python",
        help="the python with postie's dependencies (default .venv/bin/python)",
    )
    ap.add_argument(
        "--workdir",
        type=Path,
        default=Path("/dev/shm/postie-verify-bench"),
        help="data, stores, logs (tmpfs by default; logs are kept)",
    )
    ap.add_argument(
        "--big-file",
        type=Path,
        default=Path("/dev/shm/postie-bench-data/file-1024m.bin"),
        help="the 1 GiB file of measurements 2 and 3 (generated as bench/run.py does if missing)",
    )
    ap.add_argument("--connections", type=int, default=16, help="upload connections (sink)")
    ap.add_argument("--delay-ms", type=int, default=20, help="sink reply delay for 2 and 3")
    ap.add_argument(
        "--verify-connections",
        type=int,
        help="measurements 1 and 2: pass a config file with verify.connections N "
        "(default: none, postie's default of 2)",
    )
    ap.add_argument(
        "--beside-verify-connections",
        type=_csv_int,
        default=[1, 2],
        help="measurement 3: the verify.connections values to run beside the upload (default 1,2)",
    )
    ap.add_argument("--inn-host", default="127.0.0.1")
    ap.add_argument("--inn-port", type=int, default=1120, help="nnrpd port taking POST, no auth")
    ap.add_argument(
        "--inn-connections", type=int, default=8, help="connections for the one INN post"
    )
    ap.add_argument("--no-inn", action="store_true", help="measurement 1 on the sink only")
    ap.add_argument("--timeout", type=float, default=900.0, help="per postie run, seconds")
    ap.add_argument(
        "--max-other-cpu",
        type=float,
        default=0.25,
        metavar="S",
        help="a sink run during which other processes took more than S CPU seconds is "
        "disturbed: kept in the JSON, left out of the medians, run again (default 0.25)",
    )
    ap.add_argument("--retries", type=int, default=3, help="runs again of a disturbed run")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # measurement 3's process
    args = ap.parse_args(argv)
    args.only = [m.strip() for m in args.only.split(",") if m.strip()]
    unknown = set(args.only) - set(MEASUREMENTS)
    if unknown:
        ap.error(f"unknown measurements {sorted(unknown)}; choose from {MEASUREMENTS}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child is not None:
        return child_main(args.child)
    postie = find_postie(args)
    log(f"postie: {postie.describe}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    small = ensure_file(
        args.workdir / "data" / f"file-{SMALL_ARTICLES}x{SMALL_ARTICLE}.bin",
        SMALL_ARTICLES * SMALL_ARTICLE,
        seed=SMALL_ARTICLES,
    )
    if {"job", "beside"} & set(args.only):
        mib = 1024
        if args.big_file.name == f"file-{mib}m.bin":
            ensure_file(args.big_file, mib * MIB, seed=mib)  # as bench/run.py makes it
        elif not args.big_file.exists():
            raise SystemExit(f"{args.big_file} does not exist")
    doc: dict[str, Any] = {"meta": machine_meta(postie, args)}
    failed = False
    measurements: dict[str, Callable[[], dict[str, Any]]] = {
        "stat": partial(measure_stat, postie, args, small),
        "job": partial(measure_job, postie, args),
        "beside": partial(measure_beside, postie, args, small),
    }
    for key, fn in measurements.items():
        if key not in args.only:
            continue
        try:
            doc[key] = fn()
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            log(f"{key} failed: {exc}")
            failed = True
    print(render(doc, args.markdown), flush=True)
    if args.out:
        args.out.write_text(json.dumps(doc, indent=2, default=str) + "\n")  # paths as str
        log(f"wrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
