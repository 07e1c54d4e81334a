#!/usr/bin/env python3
"""How fast postie finishes an interrupted transfer.

    python3 bench/resume.py                                  # 1 GiB, 4 and 16 connections
    python3 bench/resume.py --repeat 5 --markdown --out /tmp/resume.json
    python3 bench/resume.py --store-dir /tmp/postie-bench-resume   # store on the disk

For each connection count and repeat, with a fresh store (--db) and a fresh sink:

1. the crash run: `postie post FILE ...` with POSTIE_CRASH_AT=acked:K, K = --crash-pct
   of the file's articles (90%): postie SIGKILLs itself after the K-th acknowledged
   article, leaving its transfer unfinished in the store;
2. the resume run: the same command again, with the same --db (and no crash point).

Measured for the resume run: its wall time from spawn to exit, its CPU and peak RSS
(os.wait4), when the sink saw its first connection and its first article (the sink's
counters polled every --poll-ms through SIGUSR1, so these are upper bounds, late by at
most one poll), and what postie reports: how many articles it STATed and how many of
those it posts again.  The sink runs with -r, remembering the Message-ID of every
article it received, so STAT answers 223 for those and 430 for the others, as a real
server would (without -r it answers 223 to any STAT).  At the end the sink must hold
every article of the file exactly once: its count of distinct Message-IDs equals the
file's articles, and its article count minus that is the number posted twice.

Standard library only; reuses bench/run.py's data, sink and child-process helpers.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import re
import resource
import shlex
import shutil
import signal
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as harness  # bench/run.py

MB = harness.MB

CHECKED = re.compile(
    r"checked (\d+) articles that may have arrived before the interruption: "
    r"(\d+) on the server, (\d+) to post again"
)
POSTED = re.compile(r"posted (\d+) files, (\d+) articles, ([\d.]+) MB in ([\d.]+)s")


def log(msg: str) -> None:
    print(f"[resume] {msg}", file=sys.stderr, flush=True)


class SinkCounters:
    """The sink's counters, asked for with SIGUSR1 and read from its stderr file.

    One caller at a time: the main thread, or the poller while it runs."""

    def __init__(self, sink: harness.Sink) -> None:
        self.sink = sink
        self.file = sink.err_path.open("rb")
        self.buf = b""

    def read(self, timeout: float = 5.0) -> dict[str, int]:
        self.sink.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while True:
            self.buf += self.file.read()
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                if line.startswith(b"sink stats "):
                    return {k: int(v) for k, v in (p.split("=") for p in line.decode().split()[2:])}
            if time.monotonic() > deadline:
                raise RuntimeError("the sink did not report its counters")
            time.sleep(0.0005)

    def close(self) -> None:
        self.file.close()


class Poller(threading.Thread):
    """Polls the counters every `interval` s; notes when connections and posts first grow."""

    def __init__(self, counters: SinkCounters, before: dict[str, int], interval: float) -> None:
        super().__init__(daemon=True)
        self.counters = counters
        self.before = before
        self.interval = interval
        self.t0 = 0.0
        self.first: dict[str, float] = {}  # counter -> seconds after t0 it was seen to grow
        self.polls = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            now = self.counters.read()
            seen = time.monotonic() - self.t0
            self.polls += 1
            for key in ("connections", "commands", "posts"):
                if key not in self.first and now[key] > self.before[key]:
                    self.first[key] = seen
            if len(self.first) == 3:
                return
            self.stop.wait(self.interval)


@dataclass
class Trial:
    connections: int
    repeat: int
    articles: int
    crash_at: int
    crash_rc: int
    crash_wall_s: float
    crash_sink_posts: int  # articles the sink had when the crash run was dead
    resume_rc: int
    resume_wall_s: float
    resume_cpu_s: float
    resume_maxrss_mib: float
    first_connection_s: float | None  # after the resume's spawn, as seen by the poller
    first_command_s: float | None
    first_post_s: float | None
    stat_checked: int | None
    stat_on_server: int | None
    stat_to_post: int | None
    resume_posts: int  # articles the sink received during the resume
    posted_line: str | None
    sink_ids: int  # distinct Message-IDs the sink holds at the end
    duplicates: int  # articles received twice (sink posts - distinct ids)
    nzb_segments: int
    other_cpu_s: float | None  # busy CPU of the machine during the resume run, not ours
    ok: bool
    error: str | None
    crash_log: str
    resume_log: str
    disturbed: bool = False


def postie_argv(
    tool: harness.Tool, data: harness.Dataset, port: int, conns: int, art: int, nzb: Path, db: Path
) -> list[str]:
    """The harness's postie command, with this trial's store, and --plain instead of
    --quiet: the resume's "checked N articles" line is read from its output."""
    with_store = dataclasses.replace(tool, store=str(db), takes_db=True)
    argv = with_store.argv(data, "127.0.0.1", port, conns, art, nzb)
    return [("--plain" if a == "--quiet" else a) for a in argv]


def trial(
    tool: harness.Tool,
    data: harness.Dataset,
    conns: int,
    rep: int,
    args: argparse.Namespace,
) -> Trial:
    work: Path = args.workdir
    articles = data.articles(args.article_size)
    crash_at = max(1, math.floor(articles * args.crash_pct / 100))
    store = args.store_root / f"c{conns}-{rep}"
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir(parents=True)
    db = store / "postie.db"
    harness._probe([*tool.argv_prefix, "queue", "resume", "--db", str(db)], tool.environ())
    nzb = work / f"resume-c{conns}-{rep}.nzb"
    nzb.unlink(missing_ok=True)
    sink = harness.Sink(harness.build_sink(), 0, work, remember=True)
    counters = SinkCounters(sink)
    argv = postie_argv(tool, data, sink.port, conns, args.article_size, nzb, db)
    try:
        crash_log = work / f"resume-c{conns}-{rep}-crash.log"
        resume_log = work / f"resume-c{conns}-{rep}-resume.log"
        harness.warm_data(data)
        harness._probe([*tool.argv_prefix, "--version"], tool.environ())
        env = {**tool.environ(), "POSTIE_CRASH_AT": f"acked:{crash_at}"}
        log(f"c{conns} #{rep} crash run: POSTIE_CRASH_AT=acked:{crash_at} {shlex.join(argv)}")
        crashed = harness.run_child(argv, crash_log, args.timeout, env)
        at_crash = counters.read()
        log(
            f"  exit {crashed.rc} after {crashed.wall_s:.2f} s; the sink has "
            f"{at_crash['posts']} of {articles} articles"
        )
        harness.warm_data(data)
        harness._probe([*tool.argv_prefix, "--version"], tool.environ())
        before = counters.read()
        poller = Poller(counters, before, args.poll_ms / 1000)
        log(f"c{conns} #{rep} resume: {shlex.join(argv)}")
        sink_cpu0, self0, busy0 = sink.cpu_s(), _self_cpu(), harness.machine_busy_s()
        poller.t0 = time.monotonic()
        poller.start()
        resumed = harness.run_child(argv, resume_log, args.timeout, tool.environ())
        busy1, self1, sink_cpu1 = harness.machine_busy_s(), _self_cpu(), sink.cpu_s()
        poller.stop.set()
        poller.join()
        after = counters.read()
    finally:
        counters.close()
        sink.stop()
    out = resume_log.read_text(errors="replace")
    checked = CHECKED.search(out)
    posted = POSTED.search(out)
    segments = nzb.read_text().count("<segment ") if nzb.exists() else 0
    error = None
    if crashed.rc != -signal.SIGKILL:
        error = f"the crash run exited {crashed.rc}, not killed by SIGKILL"
    elif resumed.rc != 0:
        error = f"the resume exited {resumed.rc}: " + harness._tail(out, 4)
    elif after["ids"] != articles:
        error = f"the sink holds {after['ids']} distinct articles, expected {articles}"
    elif segments != articles:
        error = f"the NZB lists {segments} segments, expected {articles}"
    other = None
    if busy0 is not None and busy1 is not None:
        other = busy1 - busy0 - (resumed.user_s + resumed.sys_s)
        other = max(0.0, other - (sink_cpu1 - sink_cpu0) - (self1 - self0))
    if not args.keep_store:
        shutil.rmtree(store, ignore_errors=True)
    if not args.keep_nzb:
        nzb.unlink(missing_ok=True)
    return Trial(
        connections=conns,
        repeat=rep,
        articles=articles,
        crash_at=crash_at,
        crash_rc=crashed.rc,
        crash_wall_s=round(crashed.wall_s, 3),
        crash_sink_posts=at_crash["posts"],
        resume_rc=resumed.rc,
        resume_wall_s=round(resumed.wall_s, 3),
        resume_cpu_s=round(resumed.user_s + resumed.sys_s, 3),
        resume_maxrss_mib=round(resumed.maxrss_kib / 1024, 1),
        first_connection_s=_r(poller.first.get("connections")),
        first_command_s=_r(poller.first.get("commands")),
        first_post_s=_r(poller.first.get("posts")),
        stat_checked=int(checked.group(1)) if checked else None,
        stat_on_server=int(checked.group(2)) if checked else None,
        stat_to_post=int(checked.group(3)) if checked else None,
        resume_posts=after["posts"] - before["posts"],
        posted_line=posted.group(0) if posted else None,
        sink_ids=after["ids"],
        duplicates=after["posts"] - after["ids"],
        nzb_segments=segments,
        other_cpu_s=round(other, 3) if other is not None else None,
        ok=error is None,
        error=error,
        crash_log=str(crash_log),
        resume_log=str(resume_log),
    )


def _self_cpu() -> float:
    """This process's CPU (the poller's), to leave out of the machine's busy time."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _r(v: float | None) -> float | None:
    return round(v, 3) if v is not None else None


def _med(values: list[Any]) -> Any:
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


def summarize(trials: list[Trial]) -> list[dict[str, Any]]:
    rows = []
    for conns in sorted({t.connections for t in trials}):
        ok = [t for t in trials if t.connections == conns and t.ok and not t.disturbed]
        if not ok:
            continue
        row: dict[str, Any] = {"connections": conns, "runs": len(ok), "articles": ok[0].articles}
        for key in (
            "crash_at",
            "crash_sink_posts",
            "resume_wall_s",
            "resume_cpu_s",
            "resume_maxrss_mib",
            "first_connection_s",
            "first_command_s",
            "first_post_s",
            "stat_checked",
            "stat_on_server",
            "stat_to_post",
            "resume_posts",
            "duplicates",
        ):
            row[key] = _med([getattr(t, key) for t in ok])
        for key in ("resume_wall_s", "first_post_s"):
            vals = [getattr(t, key) for t in ok if getattr(t, key) is not None]
            row[key + "_min"] = min(vals) if vals else None
            row[key + "_max"] = max(vals) if vals else None
        rows.append(row)
    return rows


def _f(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


COLUMNS = (
    ("conns", "connections", "d"),
    ("articles", "articles", "d"),
    ("killed after ack", "crash_at", ".0f"),
    ("sink had", "crash_sink_posts", ".0f"),
    ("STATed", "stat_checked", ".0f"),
    ("on server", "stat_on_server", ".0f"),
    ("to post again", "stat_to_post", ".0f"),
    ("resume posted", "resume_posts", ".0f"),
    ("duplicates", "duplicates", ".0f"),
    ("first connection s", "first_connection_s", ".3f"),
    ("first article s", "first_post_s", ".3f"),
    ("resume wall s", "resume_wall_s", ".3f"),
    ("resume CPU s", "resume_cpu_s", ".2f"),
    ("peak RSS MiB", "resume_maxrss_mib", ".0f"),
)


def _cells(row: dict[str, Any]) -> list[str]:
    cells = []
    for _, key, spec in COLUMNS:
        text = _f(row.get(key), spec)
        if key in ("resume_wall_s", "first_post_s") and row["runs"] > 1:
            text += f" ({_f(row[key + '_min'], '.3f')}-{_f(row[key + '_max'], '.3f')})"
        cells.append(text)
    return cells


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    out = [
        f"Measured {meta['date']}; {meta['postie_version']} at {meta['postie_rev']}; "
        f"{meta['data']}, article size {meta['article_size']}; store {meta['store']}; "
        f"median of {meta['repeat']} run(s), min-max in brackets; times from the resume "
        f"run's spawn, first connection/article polled every {meta['poll_ms']} ms.",
        "",
        "| " + " | ".join(h for h, _, _ in COLUMNS) + " |",
        "|" + "|".join("--:" for _ in COLUMNS) + "|",
    ]
    out += ["| " + " | ".join(_cells(r)) + " |" for r in rows]
    return "\n".join(out)


def plain(rows: list[dict[str, Any]]) -> str:
    table = [[h for h, _, _ in COLUMNS], *(_cells(r) for r in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in table)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--file-mib", type=int, default=1024)
    ap.add_argument("--article-size", type=int, default=716800)
    ap.add_argument("--connections", type=harness._csv(int), default=[4, 16])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--crash-pct", type=float, default=90.0, help="kill after this share of the articles"
    )
    ap.add_argument("--poll-ms", type=float, default=10.0, help="sink counter polling interval")
    ap.add_argument("--data-dir", type=Path, default=harness.default_data_dir())
    ap.add_argument(
        "--store-dir",
        type=Path,
        default=harness.default_store_dir().with_name("postie-bench-resume"),
        help="a fresh store (--db) per trial is made in a new folder in here, removed at "
        "the end (default under /dev/shm)",
    )
    ap.add_argument("--keep-store", action="store_true")
    ap.add_argument("--postie", help="postie command (default: postie on PATH, .venv/bin/postie)")
    ap.add_argument(
        "--postie-rev",
        metavar="REV",
        help="run postie from a git worktree of REV (as bench/run.py --postie-rev does)",
    )
    ap.add_argument("--python", type=Path, default=harness.REPO / ".venv" / "bin" / "python")
    ap.add_argument("--worktree-dir", type=Path, default=Path("/tmp"))
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument(
        "--max-other-cpu",
        type=float,
        default=0.25,
        metavar="S",
        help="a trial whose resume run saw other processes take more than S CPU seconds "
        "is kept in the JSON but run again",
    )
    ap.add_argument("--retries", type=int, default=3)
    ap.add_argument(
        "--workdir", type=Path, default=Path("/tmp/postie-bench-work"), help="logs and NZBs"
    )
    ap.add_argument("--keep-nzb", action="store_true")
    ap.add_argument("--out", type=Path, help="write the trials and the summary as JSON")
    ap.add_argument("--markdown", action="store_true")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tool = (
        harness.postie_at("postie", args.postie_rev, args.python, args.worktree_dir)
        if args.postie_rev
        else harness.find_postie(args.postie)
    )
    if tool.skip_reason:
        log(f"cannot run postie: {tool.skip_reason}")
        return 1
    if not tool.takes_db:
        log("this postie has no --db (no transfer store): nothing to resume")
        return 1
    args.workdir.mkdir(parents=True, exist_ok=True)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    harness.build_sink()
    data = harness.make_file(args.data_dir, args.file_mib)
    # a folder of our own in --store-dir, removed at the end
    args.store_root = args.store_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    trials: list[Trial] = []
    try:
        for rep in range(args.repeat):
            for conns in args.connections:
                for attempt in range(args.retries + 1):
                    t = trial(tool, data, conns, rep, args)
                    trials.append(t)
                    other = t.other_cpu_s
                    if not t.ok or other is None or other <= args.max_other_cpu:
                        break
                    if attempt == args.retries:
                        log(f"  disturbed (others {other:.2f} CPU s), kept: no retries left")
                        break
                    t.disturbed = True
                    log(f"  disturbed: others took {other:.2f} CPU s; running it again")
                if t.ok:
                    log(
                        f"  resume: {t.resume_wall_s:.3f} s wall, {t.resume_cpu_s:.2f} CPU s; "
                        f"first connection {_f(t.first_connection_s, '.3f')} s, first article "
                        f"{_f(t.first_post_s, '.3f')} s; STATed {t.stat_checked}, "
                        f"{t.stat_to_post} to post again; the sink got {t.resume_posts}, "
                        f"{t.duplicates} duplicates; others {_f(t.other_cpu_s, '.2f')} CPU s"
                    )
                else:
                    log(f"  FAILED: {t.error}")
    finally:
        if not args.keep_store:
            shutil.rmtree(args.store_root, ignore_errors=True)
            with contextlib.suppress(OSError):
                args.store_dir.rmdir()  # when nothing else is in it
    rows = summarize(trials)
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "postie_version": harness.tool_version(tool),
        "postie_rev": tool.describe or harness.repo_revision(),
        "data": data.describe(),
        "article_size": args.article_size,
        "store": f"{args.store_dir} ({harness.fs_type(args.store_dir)}), fresh per trial",
        "repeat": args.repeat,
        "poll_ms": args.poll_ms,
        "crash_pct": args.crash_pct,
        "cores": os.cpu_count(),
    }
    if args.out:
        doc = {"meta": meta, "summary": rows, "trials": [asdict(t) for t in trials]}
        args.out.write_text(json.dumps(doc, indent=2) + "\n")
        log(f"wrote {args.out}")
    print(markdown(rows, meta) if args.markdown else plain(rows))
    return 0 if trials and all(t.ok for t in trials) else 1


if __name__ == "__main__":
    raise SystemExit(main())
