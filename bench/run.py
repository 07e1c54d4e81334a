#!/usr/bin/env python3
"""Benchmark postie against Nyuu on the same data and the same NNTP server.

    python3 bench/run.py                       # every case, both tools
    python3 bench/run.py --servers sink --connections 16 --markdown
    python3 bench/run.py --cases 'sink20-*' --repeat 3 --out bench/results.json
    python3 bench/run.py --servers sink --baseline-rev b644feb --repeat 3

With --baseline-rev REV a third tool, "postie-base", runs postie as it was at REV: a git
worktree of REV (made once, /tmp/postie-bench-rev-HASH) imported through PYTHONPATH by
the same venv python, so the two postie rows differ only in postie's own code.
--postie-rev REV does the same for the tool "postie" (default: the working tree), for a
fixed snapshot while someone else edits or commits.
--tools postie,postie-nostore,... adds "postie-nostore" (bench/nostore.py): the working
tree's postie with no transfer store, no manifests and no checkpoints, so the two postie
rows differ only in what durability costs (a baseline revision differs in more).
--tools postie,postie-pg,... adds "postie-pg": the working tree's postie with its store in
PostgreSQL (POSTIE_BENCH_PG, default the cluster of scripts/postgres), a fresh database
per run made from a migrated template with createdb.

postie records every transfer in its store (SQLite + manifests).  The harness gives it
an empty store per run (a copy of one made before the first run, in --store-dir, default
under /dev/shm), removed after the run.

The machine's busy CPU during each run minus the tool's and the sink's is "other CPU";
a run where it exceeds --max-other-cpu (something else ran) is kept in the JSON, marked
disturbed, left out of the medians and run again (--retries).  So is a run during which a
memory-copy probe of the host, timed before and after it, took more than
--max-probe-slowdown times the session's fastest (the shared host slows down for minutes
at a time, invisibly to /proc/stat).

Each case is a server, a data set and a connection count.  Servers: the C sink
(bench/sink.c) with no delay ("sink"), the sink delaying every reply by 20 ms ("sink20",
a simulated round trip), and the local INN2 ("inn", the nnrpd port that takes POST with
no MODE READER and no authentication, default 1120).  Not by default: "sinkbw", the sink
behind a rate limit on the loopback device (tc tbf, --rate-mbit, root only), where the
sockets fill as on a real link; "stunnel", the sink behind a TLS terminator (stunnel with a
self-signed certificate; the tools post with TLS and skip the certificate check), what
every provider asks for.  Data sets: one big file ("file")
and a folder of many small files ("folder"); the INN cases use smaller ones because INN
keeps every article on disk.

Each tool is run as a direct child (no shell), so os.wait4's rusage is the tool's own:
user+sys CPU seconds and peak RSS.  For Nyuu the child is `node`.  The sink's CPU during
each run comes from /proc/PID/stat, and its article count checks that everything arrived.
Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import json
import math
import os
import platform
import random
import re
import shlex
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SINK_SRC = BENCH / "sink.c"
SINK_BIN = BENCH / ".build" / "sink"
DEFAULT_NYUU = Path("/tmp/nyuu/node_modules/nyuu/bin/nyuu.js")
GROUP = "alt.binaries.test"
MB = 1_000_000
MIB = 1 << 20
CLK_TCK = os.sysconf("SC_CLK_TCK")
TOOLS = ("postie", "postie-base", "postie-nostore", "postie-pg", "nyuu")
POSTIE_KINDS = ("postie", "postie-base", "postie-nostore", "postie-pg")
# the PostgreSQL the "postie-pg" tool records its transfers in (scripts/postgres start);
# its role must be allowed to create databases: one per run, from a migrated template
PG_URL = os.environ.get(
    "POSTIE_BENCH_PG", "postgresql://postie:postie-secret@127.0.0.1:55432/postie"
)
SERVERS = ("sink", "sink20", "inn", "sinkbw", "stunnel")
DEFAULT_SERVERS = ("sink", "sink20", "inn")
TLS_SERVERS = ("stunnel",)
DATASETS = ("file", "folder")
SINK_DELAY_MS = {"sink": 0, "sink20": 20, "sinkbw": 0, "stunnel": 0}


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# ---- data ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    name: str
    path: Path  # what both tools are given: the file, or the folder
    file_sizes: tuple[int, ...]
    nested: bool = False  # the folder's files are in sub-folders (--folders)

    @property
    def total_bytes(self) -> int:
        return sum(self.file_sizes)

    def articles(self, article_size: int) -> int:
        return sum(max(1, math.ceil(s / article_size)) for s in self.file_sizes)

    def describe(self) -> str:
        if len(self.file_sizes) == 1:
            return f"1 file of {self.total_bytes / MIB:.0f} MiB"
        where = " in sub-folders" if self.nested else ""
        return f"{len(self.file_sizes)} files of {self.file_sizes[0] / 1024:.0f} KiB{where}"


def default_data_dir() -> Path:
    """tmpfs when there is one: file pages on disk are dropped from the page cache here
    after a minute or so unused, so disk-backed data would be read from disk on some runs
    and from memory on others.  tmpfs pages stay in memory (there is no swap)."""
    shm = Path("/dev/shm")
    if shm.is_dir():
        st = os.statvfs(shm)
        if st.f_bavail * st.f_frsize > 4 * 1024 * MIB:
            return shm / "postie-bench-data"
    return Path("/tmp/postie-bench-data")


def warm_data(data: Dataset) -> None:
    """Read the data once so that neither tool pays for bringing it into memory."""
    paths = [data.path] if data.path.is_file() else sorted(data.path.rglob("*.bin"))
    buf = bytearray(4 * MIB)
    for p in paths:
        with p.open("rb", buffering=0) as f:
            while f.readinto(buf):
                pass


def _write_random(path: Path, size: int, seed: int) -> None:
    rng = random.Random(seed)
    tmp = path.with_name(path.name + ".part")
    with tmp.open("wb") as f:
        left = size
        while left:
            n = min(left, 4 * MIB)
            f.write(rng.randbytes(n))
            left -= n
    tmp.rename(path)


def make_file(data_dir: Path, mib: int) -> Dataset:
    path = data_dir / f"file-{mib}m.bin"
    size = mib * MIB
    if not path.exists() or path.stat().st_size != size:
        log(f"generating {path} ({mib} MiB of random bytes)")
        _write_random(path, size, seed=mib)
    return Dataset(f"file-{mib}m", path, (size,))


def make_folder(
    data_dir: Path, count: int, kib: int, source: Dataset | None = None, folders: int = 1
) -> Dataset:
    """`count` random files of `kib` KiB, spread over `folders` sub-folders when more than
    one; hard links into `source` when it has enough."""
    nested = folders > 1
    label = f"folder-{count}x{kib}k" + (f"-in{folders}" if nested else "")
    folder = data_dir / label
    size = kib * 1024
    names = [
        (f"d{i * folders // count:03d}/" if nested else "") + f"part{i:05d}.bin"
        for i in range(count)
    ]
    folder.mkdir(parents=True, exist_ok=True)
    existing = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    for extra in existing - set(names):
        (folder / extra).unlink()
    made = 0
    for i, name in enumerate(names):
        p = folder / name
        if p.exists() and p.stat().st_size == size:
            continue
        p.parent.mkdir(exist_ok=True)
        p.unlink(missing_ok=True)
        src = source.path / name if source is not None else None
        if src is not None and src.exists() and src.stat().st_size == size:
            os.link(src, p)
        else:
            _write_random(p, size, seed=i)
        made += 1
    if made:
        log(f"generated {made} files in {folder}")
    return Dataset(label, folder, (size,) * count, nested)


# ---- servers ------------------------------------------------------------------------


def build_sink(force: bool = False) -> Path:
    if force or not SINK_BIN.exists() or SINK_BIN.stat().st_mtime < SINK_SRC.stat().st_mtime:
        SINK_BIN.parent.mkdir(parents=True, exist_ok=True)
        cmd = ["cc", "-O2", "-Wall", "-o", str(SINK_BIN), str(SINK_SRC)]
        log("building the sink: " + shlex.join(cmd))
        subprocess.run(cmd, check=True)
    return SINK_BIN


@dataclass
class SinkStats:
    cpu_s: float
    posts: int
    article_bytes: int


class Sink:
    """The C sink on a free port; stats from /proc and from its SIGUSR1 report."""

    def __init__(self, binary: Path, delay_ms: int, workdir: Path, remember: bool = False) -> None:
        self.err_path = workdir / f"sink-d{delay_ms}{'-r' if remember else ''}.err"
        args = [str(binary)]
        if delay_ms:
            args += ["-d", str(delay_ms)]
        if remember:
            args.append("-r")  # STAT: 223 only for Message-IDs received, else 430
        self.err = self.err_path.open("w")
        self.proc = subprocess.Popen([*args, "0"], stdout=subprocess.PIPE, stderr=self.err)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        m = re.match(r"sink listening on ([\d.]+):(\d+)", line)
        if not m:
            self.stop()
            raise RuntimeError(f"sink did not start: {line!r}")
        self.port = int(m.group(2))
        self.delay_ms = delay_ms
        self._reports = 0
        self.front: Stunnel | None = None  # TLS in front of it: its CPU counts as the sink's

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # after the ")" the fields start at 3 (state): utime is field 14, stime 15
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def stats(self) -> SinkStats:
        cpu = self.cpu_s() + (self.front.cpu_s() if self.front is not None else 0.0)
        kv = self.counters()
        return SinkStats(cpu, kv["posts"], kv["article_bytes"])

    def counters(self) -> dict[str, int]:
        """Every counter of the sink's SIGUSR1 report (posts, ids, article_bytes, ...)."""
        self.proc.send_signal(signal.SIGUSR1)
        self._reports += 1
        deadline = time.monotonic() + 5
        while True:
            lines = [
                ln for ln in self.err_path.read_text().splitlines() if ln.startswith("sink stats")
            ]
            if len(lines) >= self._reports:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("sink did not report its stats")
            time.sleep(0.01)
        return {k: int(v) for k, v in (p.split("=") for p in lines[self._reports - 1].split()[2:])}

    def stop(self) -> None:
        if self.front is not None:
            self.front.stop()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


class Stunnel:
    """stunnel in front of a sink port: TLS on a free port of 127.0.0.1, a self-signed
    certificate made once in the workdir. TCP_NODELAY on both sides, as a provider's
    terminator would have (without it the 340/240 replies wait for Nagle)."""

    def __init__(self, target_port: int, workdir: Path) -> None:
        binary = shutil.which("stunnel4") or shutil.which("stunnel")
        if binary is None:
            raise RuntimeError("stunnel not found: apt-get install stunnel4")
        cert, key = workdir / "stunnel-cert.pem", workdir / "stunnel-key.pem"
        if not cert.exists() or not key.exists():
            openssl = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30"]
            subprocess.run(
                [*openssl, "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                check=True,
                capture_output=True,
            )
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        conf = workdir / "stunnel.conf"
        conf.write_text(
            "foreground = yes\npid =\nsyslog = no\ndebug = 4\n"
            "socket = l:TCP_NODELAY=1\nsocket = r:TCP_NODELAY=1\n"
            f"[nntps]\naccept = 127.0.0.1:{self.port}\nconnect = 127.0.0.1:{target_port}\n"
            f"cert = {cert}\nkey = {key}\n"
        )
        self.err = (workdir / "stunnel.log").open("w")
        self.proc = subprocess.Popen([binary, str(conf)], stdout=self.err, stderr=self.err)
        deadline = time.monotonic() + 10
        while nntp_greeting("127.0.0.1", self.port, tls=True) is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"stunnel did not start: see {workdir / 'stunnel.log'}")
            time.sleep(0.05)

    def cpu_s(self) -> float:
        """Its CPU, every thread's (one per connection; /proc/PID/stat sums them)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


def machine_busy_s() -> float | None:
    """CPU seconds all cores have been busy (not idle, not waiting for IO), /proc/stat.

    Busy time during a run minus the tool's and the sink's is what everything else
    took: the kernel's softirq work for loopback TCP, and any other process (a test
    run, say), which would skew the run on two cores."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    # cpu user nice system idle iowait irq softirq steal ...
    busy = sum(int(fields[i]) for i in (1, 2, 3, 6, 7, 8))
    return busy / CLK_TCK


class HostProbe:
    """A memory-copy probe: 4 x 64 MiB into a buffer allocated once, timed.

    On this shared virtual machine the host's load comes and goes: for minutes at a
    time every memory-bound step (the kernel's socket and page-cache copies, yEnc
    output copies) runs at half speed, with no trace in /proc/stat (not steal, not
    another process). The probe runs before and after each measured run; a run whose
    slower probe exceeds --max-probe-slowdown times the fastest probe of the session is
    disturbed, as one during which other processes took CPU."""

    # In a child process of its own: a child's peak RSS (what os.wait4 reports for the
    # tools) includes the peak of its parent at fork, so the harness must stay small.
    CODE = (
        "import os, time\n"
        "size = 64 << 20\n"
        "src = bytearray(os.urandom(1 << 20) * 64)\n"
        "dst = bytearray(size)\n"
        "dst[:] = src\n"
        "t0 = time.perf_counter()\n"
        "for _ in range(4):\n"
        "    dst[:] = src\n"
        "print((time.perf_counter() - t0) * 1000)\n"
    )

    def __init__(self) -> None:
        self.best_ms = math.inf
        self.best_ms = min(self.measure() for _ in range(5))

    def measure(self) -> float:
        out = subprocess.run(
            [sys.executable, "-c", self.CODE], capture_output=True, text=True, check=True
        )
        ms = float(out.stdout)
        self.best_ms = min(self.best_ms, ms)
        return ms


PROBE: HostProbe | None = None


def nntp_greeting(host: str, port: int, timeout: float = 3.0, tls: bool = False) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            if not tls:
                return s.makefile("rb").readline().decode(errors="replace").strip()
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            with context.wrap_socket(s) as t:
                return t.makefile("rb").readline().decode(errors="replace").strip()
    except OSError:
        return None


def inn_high_water(host: str, port: int) -> int | None:
    """The group's highest article number, read with GROUP on the nnrpd port."""
    try:
        with socket.create_connection((host, port), timeout=5) as s:
            f = s.makefile("rwb")
            f.readline()
            f.write(f"GROUP {GROUP}\r\n".encode())
            f.flush()
            reply = f.readline().decode().split()
            f.write(b"QUIT\r\n")
            f.flush()
    except OSError:
        return None
    if len(reply) >= 4 and reply[0] == "211":
        return int(reply[3])
    return None


def inn_spool_mb() -> int | None:
    out = subprocess.run(
        ["du", "-sm", "/var/spool/news"], capture_output=True, text=True, check=False
    )
    return int(out.stdout.split()[0]) if out.returncode == 0 and out.stdout else None


def ensure_inn(host: str, port: int, start: bool, clean: bool) -> str | None:
    """None when INN answers on host:port, else the reason it is skipped."""
    script = REPO / "scripts" / "inn2"
    if clean:
        log("wiping INN's spool: bash scripts/inn2 clean")
        subprocess.run(["bash", str(script), "clean"], check=False)
    greeting = nntp_greeting(host, port)
    if (greeting is None or not greeting.startswith("200")) and start and script.exists():
        log("INN is not answering; bash scripts/inn2 start")
        subprocess.run(["bash", str(script), "start"], check=False)
        greeting = nntp_greeting(host, port)
    if greeting is None:
        return f"nothing answers on {host}:{port} (bash scripts/inn2 start)"
    if not greeting.startswith("200"):
        return f"{host}:{port} does not allow posting: {greeting!r}"
    return None


# ---- tools --------------------------------------------------------------------------


@dataclass
class VerifyMode:
    """--verify K: both tools check their articles after posting (default: neither).

    postie: its verification on (no --no-verify) with --verify-delay 0: every article
    STATed after the upload on one connection of the upload pool, pipelined; the run ends
    when the transfer is verified. Nyuu: --check-connections K (K extra connections) with
    --check-delay 0s: each article STATed as it is posted, one STAT per round trip. The
    sink runs with -r, so STAT answers 223 only for articles it received."""

    on: bool = False
    connections: int = 1


VERIFY = VerifyMode()


@dataclass
class Tool:
    name: str
    argv_prefix: list[str]
    extra: list[str] = field(default_factory=list)
    skip_reason: str | None = None
    env: dict[str, str] = field(default_factory=dict)  # on top of os.environ
    takes_db: bool = False  # `post --help` lists --db: postie with a transfer store
    store: str | None = None  # the --db given to every run (None: postie's default)
    describe: str | None = None  # what was run, for the report (e.g. the baseline's commit)

    def environ(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def argv(
        self,
        data: Dataset,
        host: str,
        port: int,
        conns: int,
        art: int,
        nzb: Path,
        tls: bool = False,
    ) -> list[str]:
        if self.name in POSTIE_KINDS:
            db = ["--db", str(self.store)] if self.takes_db and self.store is not None else []
            return [
                *self.argv_prefix,
                "post",
                str(data.path),
                "--host",
                host,
                "--port",
                str(port),
                *(["--ssl", "--insecure"] if tls else []),
                "--connections",
                str(conns),
                "--article-size",
                str(art),
                "--group",
                GROUP,
                "-o",
                str(nzb),
                "--quiet",
                *db,
                *(
                    ["--verify-delay", "0"]
                    if VERIFY.on
                    else [x for x in self.extra if x == "--no-verify"]
                ),
                *[x for x in self.extra if x != "--no-verify"],
            ]
        return [
            *self.argv_prefix,
            "-h",
            host,
            "-P",
            str(port),
            *(["--ssl", "--ignore-cert"] if tls else []),
            "-n",
            str(conns),
            "-a",
            str(art),
            "-g",
            GROUP,
            "-o",
            str(nzb),
            "-O",
            "--post-chunk-size",
            "0",
            "--check-connections",
            str(VERIFY.connections if VERIFY.on else 0),
            *(["--check-delay", "0s"] if VERIFY.on else []),
            "--progress",
            "none",
            "--log-level",
            "1",
            *(["--subdirs", "keep"] if data.nested else []),
            *self.extra,
            str(data.path),
        ]


def _probe(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    try:
        # unwrapped --help text
        env = {**(env or os.environ), "COLUMNS": "200", "NO_COLOR": "1"}
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, env=env)
    except (OSError, subprocess.TimeoutExpired) as e:
        return 127, str(e)
    return p.returncode, p.stdout + p.stderr


def _tail(text: str, lines: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def find_postie(cmd: str | None) -> Tool:
    if cmd:
        prefix = shlex.split(cmd)
    elif shutil.which("postie"):
        prefix = ["postie"]
    elif (REPO / ".venv" / "bin" / "postie").exists():
        prefix = [str(REPO / ".venv" / "bin" / "postie")]
    else:
        return Tool("postie", [], skip_reason="no `postie` on PATH nor .venv/bin/postie")
    return probe_postie("postie", prefix)


def probe_postie(name: str, prefix: list[str], env: dict[str, str] | None = None) -> Tool:
    """A postie tool from `post --help`: --no-verify if it has it, --db if it keeps a store."""
    full_env = {**os.environ, **(env or {})}
    rc, out = _probe([*prefix, "post", "--help"], full_env)
    if rc != 0:
        return Tool(
            name,
            prefix,
            skip_reason=f"`{shlex.join([*prefix, 'post', '--help'])}` failed (exit {rc}):\n"
            + _tail(out),
            env=env or {},
        )
    extra = ["--no-verify"] if "--no-verify" in out else []
    extra += ["--no-par2"] if "--no-par2" in out else []  # Nyuu makes no PAR2 either
    return Tool(name, prefix, extra, env=env or {}, takes_db="--db" in out)


_STALE_CHECK = """
import importlib.util, pathlib, sys
n = 0
for src in pathlib.Path(sys.argv[1]).rglob("*.py"):
    pyc = pathlib.Path(importlib.util.cache_from_source(str(src)))
    try:
        head = pyc.read_bytes()[:16]
    except OSError:
        n += 1
        continue
    st = src.stat()
    if head[:4] != importlib.util.MAGIC_NUMBER:
        n += 1
    elif int.from_bytes(head[4:8], "little") == 0 and (
        int.from_bytes(head[8:12], "little") != int(st.st_mtime) & 0xFFFFFFFF
        or int.from_bytes(head[12:16], "little") != st.st_size & 0xFFFFFFFF
    ):
        n += 1
print(n)
"""


def stale_bytecode(python: Path, package: Path) -> int:
    """How many modules of `package` have no up-to-date .pyc for `python`.

    With PYTHONDONTWRITEBYTECODE set (as on these machines) such a module is compiled
    again at every start: start-up time the tool would not have after scripts/setup."""
    rc, out = _probe([str(python), "-c", _STALE_CHECK, str(package)])
    return int(out.strip()) if rc == 0 and out.strip().isdigit() else 0


def baseline_worktree(rev: str, parent: Path) -> tuple[Path, str]:
    """A detached git worktree of `rev` under `parent`, made once; (its path, full hash)."""
    full = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if full.returncode != 0:
        raise RuntimeError(f"git rev-parse {rev}: {full.stderr.strip()}")
    sha = full.stdout.strip()
    path = parent / f"postie-bench-rev-{sha[:12]}"
    head = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    if not (path.is_dir() and head.returncode == 0 and head.stdout.strip() == sha):
        if path.exists():
            raise RuntimeError(f"{path} exists but is not a worktree of {sha}: remove it")
        cmd = ["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), sha]
        log("worktree: " + shlex.join(cmd))
        subprocess.run(cmd, check=True, capture_output=True)
    return path, sha


def postie_at(name: str, rev: str, python: Path, parent: Path) -> Tool:
    """postie at `rev`: its worktree first on PYTHONPATH for the venv's python."""
    try:
        tree, sha = baseline_worktree(rev, parent)
    except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
        return Tool(name, [], skip_reason=f"no worktree of {rev}: {e}")
    if not python.exists():
        return Tool(name, [], skip_reason=f"{python} not found (bash scripts/setup)")
    native_note = build_native(python, tree)
    # the same step as scripts/setup: compiled bytecode, or every start compiles it all
    if stale_bytecode(python, tree / "postie"):
        subprocess.run([str(python), "-m", "compileall", "-q", str(tree / "postie")], check=False)
    # PYTHONSAFEPATH: `python -m`/`-c` would put the current folder first on sys.path,
    # and run from the repository that is the new postie, not the worktree's
    env = {"PYTHONPATH": str(tree), "PYTHONSAFEPATH": "1"}
    rc, out = _probe(
        [str(python), "-c", "import postie; print(postie.__file__)"], {**os.environ, **env}
    )
    imported = out.strip().splitlines()[-1] if out.strip() else ""
    if rc != 0 or not imported.startswith(str(tree / "postie") + os.sep):
        return Tool(
            name,
            [],
            skip_reason=f"PYTHONPATH={tree} imports postie from {imported or out!r}, not the"
            " worktree",
        )
    log(f"{name}: {rev} = {sha[:12]}, imports {imported}")
    tool = probe_postie(name, [str(python), "-m", "postie"], env)
    describe = subprocess.run(
        ["git", "-C", str(tree), "log", "-1", "--format=%h"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    tool.describe = f"{describe} (worktree {tree}{native_note})"
    return tool


def build_native(python: Path, tree: Path) -> str:
    """Build a revision's native encoder in its worktree (as `pip install` does), once:
    without it that postie falls back to sabctools and the comparison measures the
    encoders, not the change. Returns a note for the tool's description."""
    ext = tree / "postie" / "_yenc"
    if not (ext / "pool.c").exists():
        return ""  # a revision before the native encoder
    if any(ext.glob("_pool*.so")):
        return ""
    log(f"building the native encoder in {tree} (once)")
    with tempfile.TemporaryDirectory() as tmp:
        # pip builds in an isolated environment with a current setuptools, as an install
        built = subprocess.run(
            [str(python), "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp, str(tree)],
            capture_output=True,
            text=True,
            check=False,
        )
        for wheel in Path(tmp).glob("*.whl"):
            with zipfile.ZipFile(wheel) as zf:
                for member in zf.namelist():
                    if member.startswith("postie/_yenc/_pool") and member.endswith(".so"):
                        (ext / Path(member).name).write_bytes(zf.read(member))
    if not any(ext.glob("_pool*.so")):
        log(
            f"WARNING: no native encoder in {tree}: it encodes with sabctools\n"
            + _tail(built.stderr)
        )
        return ", sabctools: native encoder not built"
    return ""


def without_store(python: Path) -> Tool:
    """The working tree's postie without its transfer store (bench/nostore.py)."""
    if not python.exists():
        return Tool("postie-nostore", [], skip_reason=f"{python} not found (bash scripts/setup)")
    if VERIFY.on:  # verification needs the store
        return Tool("postie-nostore", [], skip_reason="it cannot verify (--verify needs the store)")
    tool = probe_postie("postie-nostore", [str(python), str(BENCH / "nostore.py")])
    tool.takes_db = False  # it has postie's --db option, and ignores it
    tool.describe = "the working tree without its store (bench/nostore.py)"
    return tool


def find_nyuu(path: Path, node: str) -> Tool:
    prefix = [node, str(path)]
    if not path.exists():
        return Tool("nyuu", prefix, skip_reason=f"{path} not found: bash bench/setup-nyuu.sh")
    rc, out = _probe([*prefix, "--version"])
    if rc != 0:
        return Tool(
            "nyuu", prefix, skip_reason=f"nyuu --version failed (exit {rc}):\n" + _tail(out)
        )
    return Tool("nyuu", prefix)


def tool_version(tool: Tool) -> str | None:
    if tool.skip_reason:
        return None
    rc, out = _probe([*tool.argv_prefix, "--version"], tool.environ())
    return out.strip().splitlines()[-1] if rc == 0 and out.strip() else None


@dataclass
class Child:
    rc: int
    wall_s: float
    user_s: float
    sys_s: float
    maxrss_kib: int
    timed_out: bool
    ctx_switches: int = 0  # voluntary + involuntary, all its threads


def run_child(
    argv: list[str], log_path: Path, timeout: float, env: dict[str, str] | None = None
) -> Child:
    """Run argv as a direct child; its own rusage comes back from os.wait4."""
    exe = argv[0] if "/" in argv[0] else shutil.which(argv[0]) or argv[0]
    with log_path.open("wb") as out:
        fd = out.fileno()
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, fd, 1),
            (os.POSIX_SPAWN_DUP2, fd, 2),
        ]
        t0 = time.monotonic()
        pid = os.posix_spawn(exe, argv, env or dict(os.environ), file_actions=actions)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, ru = os.wait4(pid, 0)
        finally:
            timer.cancel()
        wall = time.monotonic() - t0
    return Child(
        rc=os.waitstatus_to_exitcode(status),
        wall_s=wall,
        user_s=ru.ru_utime,
        sys_s=ru.ru_stime,
        maxrss_kib=ru.ru_maxrss,
        timed_out=timed_out.is_set(),
        ctx_switches=ru.ru_nvcsw + ru.ru_nivcsw,
    )


# ---- cases --------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    server: str  # sink | sink20 | inn | sinkbw | stunnel
    data: str  # file | folder
    conns: int

    @property
    def id(self) -> str:
        return f"{self.server}-{self.data}-c{self.conns}"


@dataclass
class Run:
    case: str
    tool: str
    repeat: int
    argv: list[str]
    rc: int
    ok: bool
    error: str | None
    wall_s: float
    cpu_s: float
    user_s: float
    sys_s: float
    maxrss_mib: float
    data_bytes: int
    mb_s: float
    mb_per_cpu_s: float
    expected_articles: int
    server_articles: int | None
    sink_cpu_s: float | None
    sink_wire_bytes: int | None
    other_cpu_s: float | None  # the machine's busy CPU during the run minus tool and sink
    log: str
    probe_ms: float | None = None  # the slower host probe, before or after the run
    probe_ratio: float | None = None  # probe_ms / the fastest probe of the session
    disturbed: bool = False  # other processes took more than --max-other-cpu: run again
    ctx_switches: int = 0  # the tool's context switches (rusage): thread hand-offs, GIL waits


def select_cases(args: argparse.Namespace) -> list[Case]:
    cases = [
        Case(server, data, conns)
        for server in args.servers
        for data in args.data
        for conns in args.connections
    ]
    if args.cases:
        pats = [p.strip() for p in args.cases.split(",") if p.strip()]
        cases = [c for c in cases if any(fnmatch.fnmatchcase(c.id, p) for p in pats)]
    return cases


def run_case(
    case: Case,
    dataset: Dataset,
    tools: list[Tool],
    args: argparse.Namespace,
    workdir: Path,
) -> list[Run]:
    runs: list[Run] = []
    sink: Sink | None = None
    if case.server == "inn":
        port = args.inn_port
    else:
        sink = Sink(build_sink(), SINK_DELAY_MS[case.server], workdir, remember=VERIFY.on)
        port = sink.port
        if case.server in TLS_SERVERS:
            try:
                sink.front = Stunnel(sink.port, workdir)
            except BaseException:
                sink.stop()
                raise
            port = sink.front.port
    shaped = case.server == "sinkbw"
    if shaped:
        shape_loopback(args.rate_mbit)
    try:
        for rep in range(args.repeat):
            order = tools if rep % 2 == 0 else tools[::-1]
            for tool in order:
                for attempt in range(args.retries + 1):
                    run = measure(case, dataset, tool, rep, sink, port, args, workdir)
                    runs.append(run)
                    why = disturbance(run, args, judge_other=sink is not None)
                    if not run.ok or why is None:
                        break
                    if attempt == args.retries:
                        log(f"  disturbed ({why}), kept: no retries left")
                        break
                    run.disturbed = True
                    log(f"  disturbed: {why}; running it again")
    finally:
        if shaped:
            shape_loopback(None)
        if sink:
            sink.stop()
    return runs


def disturbance(run: Run, args: argparse.Namespace, *, judge_other: bool) -> str | None:
    """Why a run does not count (it is run again), or None."""
    # INN's own processes are "other" CPU too: judged on the sink cases only
    other = run.other_cpu_s if judge_other else None
    if other is not None and other > args.max_other_cpu:
        return f"other processes took {other:.2f} CPU s (--max-other-cpu {args.max_other_cpu:g})"
    if run.probe_ratio is not None and run.probe_ratio > args.max_probe_slowdown:
        return (
            f"the host was slow: memory-copy probe {run.probe_ratio:.2f}x the session's best"
            f" (--max-probe-slowdown {args.max_probe_slowdown:g})"
        )
    return None


def shape_loopback(rate_mbit: int | None) -> None:
    """Put a token bucket (tc tbf) on the loopback device, or take it off (None).

    Every loopback connection shares it while a sinkbw case runs: posting fills the
    sockets' send buffers, as on a link slower than the machine, so each article is
    sent in parts."""
    if rate_mbit is None:
        subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], check=False)
        log("loopback rate limit removed")
        return
    burst_kib = max(4096, rate_mbit * 1000 // 8 // 100)  # >= 10 ms of data
    cmd = ["tc", "qdisc", "replace", "dev", "lo", "root", "tbf", "rate", f"{rate_mbit}mbit"]
    cmd += ["burst", f"{burst_kib}kb", "latency", "100ms"]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise SystemExit(
            f"bench: cannot limit the loopback rate ({shlex.join(cmd)}): {detail}"
        ) from None
    log(f"loopback limited to {rate_mbit} Mbit/s ({rate_mbit / 8:.0f} MB/s): {shlex.join(cmd)}")


def measure(
    case: Case,
    dataset: Dataset,
    tool: Tool,
    rep: int,
    sink: Sink | None,
    port: int,
    args: argparse.Namespace,
    workdir: Path,
) -> Run:
    """One run of one tool: warm up, run it as a direct child, check what arrived."""
    host = args.inn_host if case.server == "inn" else "127.0.0.1"
    expected = dataset.articles(args.article_size)
    nzb = workdir / f"{case.id}-{tool.name}-{rep}.nzb"
    nzb.unlink(missing_ok=True)
    log_path = workdir / f"{case.id}-{tool.name}-{rep}.log"
    run_store = fresh_store(tool, f"{case.id}-{tool.name}-{rep}")
    run_tool = replace(tool, store=run_store) if run_store is not None else tool
    tls = case.server in TLS_SERVERS
    argv = run_tool.argv(dataset, host, port, case.conns, args.article_size, nzb, tls)
    before = sink.stats() if sink else None
    hw0 = inn_high_water(host, port) if case.server == "inn" else None
    if not args.no_warm:
        warm_data(dataset)
        _probe([*tool.argv_prefix, "--version"], tool.environ())  # its code back in memory
    env_note = "".join(f"{k}={shlex.quote(v)} " for k, v in tool.env.items())
    log(f"{case.id} #{rep} {tool.name}: {env_note}{shlex.join(argv)}")
    probe0 = PROBE.measure() if PROBE else None
    busy0 = machine_busy_s()
    child = run_child(argv, log_path, args.timeout, tool.environ())
    busy1 = machine_busy_s()
    probe_ms = max(probe0, PROBE.measure()) if PROBE and probe0 is not None else None
    after = sink.stats() if sink else None
    if run_store is not None and not args.keep_store:
        drop_store(run_store)
    hw1 = inn_high_water(host, port) if case.server == "inn" else None
    server_articles: int | None = None
    sink_cpu = wire = None
    if before and after:
        server_articles = after.posts - before.posts
        sink_cpu = after.cpu_s - before.cpu_s
        wire = after.article_bytes - before.article_bytes
    elif hw0 is not None and hw1 is not None:
        server_articles = hw1 - hw0
    error = None
    if child.timed_out:
        error = f"killed after {args.timeout:.0f} s"
    elif child.rc != 0:
        error = f"exit {child.rc}: " + _tail(log_path.read_text(errors="replace"), 4)
    elif server_articles is not None and server_articles < expected:
        error = f"server got {server_articles} articles, expected {expected}"
    elif not nzb.exists():
        error = "no NZB written"
    cpu = child.user_s + child.sys_s
    other = None
    if busy0 is not None and busy1 is not None:
        other = max(0.0, busy1 - busy0 - cpu - (sink_cpu or 0.0))
    mb = dataset.total_bytes / MB
    run = Run(
        case=case.id,
        tool=tool.name,
        repeat=rep,
        argv=argv,
        rc=child.rc,
        ok=error is None,
        error=error,
        wall_s=round(child.wall_s, 4),
        cpu_s=round(cpu, 3),
        user_s=round(child.user_s, 3),
        sys_s=round(child.sys_s, 3),
        maxrss_mib=round(child.maxrss_kib / 1024, 1),
        data_bytes=dataset.total_bytes,
        mb_s=round(mb / child.wall_s, 1),
        mb_per_cpu_s=round(mb / cpu, 1) if cpu > 0 else 0.0,
        expected_articles=expected,
        server_articles=server_articles,
        sink_cpu_s=round(sink_cpu, 3) if sink_cpu is not None else None,
        sink_wire_bytes=wire,
        other_cpu_s=round(other, 3) if other is not None else None,
        log=str(log_path),
        probe_ms=round(probe_ms, 1) if probe_ms is not None else None,
        probe_ratio=round(probe_ms / PROBE.best_ms, 2) if PROBE and probe_ms else None,
        ctx_switches=child.ctx_switches,
    )
    if run.ok:
        log(
            f"  {run.mb_s:.1f} MB/s, {run.cpu_s:.2f} CPU s, "
            f"{run.mb_per_cpu_s:.0f} MB/CPU-s, {run.maxrss_mib:.0f} MiB RSS, "
            f"{run.ctx_switches} context switches"
            + (f", sink {run.sink_cpu_s:.2f} CPU s" if sink_cpu is not None else "")
            + (f", others {other:.2f} CPU s" if other is not None else "")
            + (f", host probe {run.probe_ratio:.2f}x" if run.probe_ratio is not None else "")
        )
    else:
        log(f"  FAILED: {error}")
    if not args.keep_nzb:
        nzb.unlink(missing_ok=True)
    return run


# ---- summary ------------------------------------------------------------------------


def rtt_limit_mb_s(case: Case, dataset: Dataset, article_size: int) -> float | None:
    """connections * article / (2 * RTT): POST->340 and article->240 are two round trips."""
    delay = SINK_DELAY_MS.get(case.server, 0)
    if not delay:
        return None
    mean_article = dataset.total_bytes / dataset.articles(article_size)
    return case.conns * mean_article / (2 * delay / 1000) / MB


def summarize(
    cases: list[Case], datasets: dict[Case, Dataset], runs: list[Run], article_size: int
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for case in cases:
        ds = datasets[case]
        limit = rtt_limit_mb_s(case, ds, article_size)
        per_tool: dict[str, dict[str, Any]] = {}
        for tool in TOOLS:
            ok = [
                r for r in runs if r.case == case.id and r.tool == tool and r.ok and not r.disturbed
            ]
            failed = [r for r in runs if r.case == case.id and r.tool == tool and not r.ok]
            if not ok:
                if failed:
                    per_tool[tool] = {"error": failed[-1].error}
                continue

            def med(attr: str, runs_: list[Run] = ok) -> float:
                return float(statistics.median(getattr(r, attr) for r in runs_))

            sink_cpu = [r.sink_cpu_s for r in ok if r.sink_cpu_s is not None]
            other_cpu = [r.other_cpu_s for r in ok if r.other_cpu_s is not None]
            t: dict[str, Any] = {
                "runs": len(ok),
                "runs_disturbed": sum(
                    1 for r in runs if r.case == case.id and r.tool == tool and r.disturbed
                ),
                "mb_s": round(med("mb_s"), 1),
                "mb_s_min": min(r.mb_s for r in ok),
                "mb_s_max": max(r.mb_s for r in ok),
                "cpu_s": round(med("cpu_s"), 3),
                "mb_per_cpu_s": round(med("mb_per_cpu_s"), 1),
                "maxrss_mib": round(med("maxrss_mib"), 1),
                "ctx_switches": round(med("ctx_switches")),
                "sink_cpu_s": round(statistics.median(sink_cpu), 3) if sink_cpu else None,
                "other_cpu_s": round(statistics.median(other_cpu), 3) if other_cpu else None,
                "sink_core_pct": (
                    round(100 * statistics.median(sink_cpu) / med("wall_s"), 1)
                    if sink_cpu
                    else None
                ),
            }
            if limit:
                t["pct_of_rtt_limit"] = round(100 * t["mb_s"] / limit, 1)
            per_tool[tool] = t
        rows.append(
            {
                "case": case.id,
                "server": case.server,
                "data": ds.describe(),
                "data_bytes": ds.total_bytes,
                "connections": case.conns,
                "articles": ds.articles(article_size),
                "rtt_ms": SINK_DELAY_MS.get(case.server),
                "rtt_limit_mb_s": round(limit, 1) if limit else None,
                "tools": per_tool,
                "ratio_postie_over_nyuu": _ratios(per_tool, "nyuu"),
                "ratio_postie_over_base": _ratios(per_tool, "postie-base"),
                "ratio_postie_over_nostore": _ratios(per_tool, "postie-nostore"),
                "ratio_postie_over_pg": _ratios(per_tool, "postie-pg"),
            }
        )
    return rows


def _ratios(per_tool: dict[str, dict[str, Any]], other: str) -> dict[str, float]:
    ratio: dict[str, float] = {}
    p, n = per_tool.get("postie", {}), per_tool.get(other, {})
    for key in ("mb_s", "cpu_s", "mb_per_cpu_s", "maxrss_mib"):
        if p.get(key) and n.get(key):
            ratio[key] = round(p[key] / n[key], 2)
    return ratio


RATIO_ROWS = (
    ("ratio_postie_over_base", "postie/postie-base"),
    ("ratio_postie_over_nostore", "postie/postie-nostore"),
    ("ratio_postie_over_pg", "postie/postie-pg"),
    ("ratio_postie_over_nyuu", "postie/Nyuu"),
)


def _fmt(v: Any, spec: str = "") -> str:
    if v is None:
        return "-"
    return format(v, spec) if spec else str(v)


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    rev = f" at {meta['postie_rev']}" if meta.get("postie_rev") else ""
    base = f"; postie-base = {meta['postie_base']}" if meta.get("postie_base") else ""
    if meta.get("postie_nostore"):
        base += f"; postie-nostore = {meta['postie_nostore']}"
    store = f"; postie's store: {meta['store']}" if meta.get("store") else ""
    if meta.get("verify", "off") != "off":
        store += f"; verification {meta['verify']}"
    probe = meta.get("probe")
    if probe:
        store += (
            f"; host memory-copy probe {probe['best_ms']:.0f} ms at best, runs at a median"
            f" {_fmt(probe['runs_median_ratio'], '.2f')}x of it (runs over"
            f" {probe['max_slowdown']:g}x were run again)"
        )
    out = [
        f"Measured {meta['date']} on {meta['cpu']} ({meta['cores']} cores), "
        f"{meta['kernel']}; {meta['nyuu_version'] or 'Nyuu ?'} on Node {meta['node']}, "
        f"{meta['postie_version'] or 'postie ?'}{rev}{base}{store}; article size "
        f"{meta['article_size']} bytes; median of {meta['repeat']} run(s), min-max MB/s in "
        "brackets. MB = 10^6 bytes of input data; CPU = the uploader's user+sys; RSS = its "
        "peak.",
        "",
        "| case | data | conns | tool | MB/s | CPU s | MB/CPU-s | peak RSS MiB "
        "| sink CPU s | other CPU s | % of 2-RTT limit |",
        "|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        lim = row["rtt_limit_mb_s"]
        for tool in TOOLS:
            t = row["tools"].get(tool)
            if t is None:
                continue
            if "error" in t:
                out.append(
                    f"| {row['case']} | {row['data']} | {row['connections']} | {tool} "
                    f"| failed: {str(t['error']).splitlines()[0][:60]} | | | | | | |"
                )
                continue
            pct = f"{t['pct_of_rtt_limit']:.0f}% of {lim:.0f}" if lim else "-"
            spread = f" ({t['mb_s_min']:.0f}-{t['mb_s_max']:.0f})" if t["runs"] > 1 else ""
            out.append(
                f"| {row['case']} | {row['data']} | {row['connections']} | {tool} "
                f"| {t['mb_s']:.1f}{spread} | {t['cpu_s']:.2f} | {t['mb_per_cpu_s']:.0f} "
                f"| {t['maxrss_mib']:.0f} | {_fmt(t['sink_cpu_s'], '.2f')} "
                f"| {_fmt(t.get('other_cpu_s'), '.2f')} | {pct} |"
            )
        for key, label in RATIO_ROWS:
            r = row[key]
            if r:
                out.append(
                    f"| {row['case']} | | | **{label}** | {_fmt(r.get('mb_s'), '.2f')} "
                    f"| {_fmt(r.get('cpu_s'), '.2f')} | {_fmt(r.get('mb_per_cpu_s'), '.2f')} "
                    f"| {_fmt(r.get('maxrss_mib'), '.2f')} | | | |"
                )
    return "\n".join(out)


def plain(rows: list[dict[str, Any]]) -> str:
    head = (
        "case",
        "tool",
        "MB/s",
        "min-max",
        "CPU s",
        "MB/CPU-s",
        "RSS MiB",
        "sink CPU s",
        "other CPU s",
        "% 2-RTT",
    )
    table: list[tuple[str, ...]] = [head]
    for row in rows:
        for tool in TOOLS:
            t = row["tools"].get(tool)
            if t is None:
                continue
            if "error" in t:
                table.append((row["case"], tool, "FAILED", "", "", "", "", "", "", ""))
                continue
            table.append(
                (
                    row["case"],
                    tool,
                    f"{t['mb_s']:.1f}",
                    f"{t['mb_s_min']:.0f}-{t['mb_s_max']:.0f}",
                    f"{t['cpu_s']:.2f}",
                    f"{t['mb_per_cpu_s']:.0f}",
                    f"{t['maxrss_mib']:.0f}",
                    _fmt(t["sink_cpu_s"], ".2f"),
                    _fmt(t.get("other_cpu_s"), ".2f"),
                    _fmt(t.get("pct_of_rtt_limit"), ".0f"),
                )
            )
        for key, label in RATIO_ROWS:
            r = row[key]
            if r:
                table.append(
                    (
                        row["case"],
                        label,
                        _fmt(r.get("mb_s"), ".2f"),
                        "",
                        _fmt(r.get("cpu_s"), ".2f"),
                        _fmt(r.get("mb_per_cpu_s"), ".2f"),
                        _fmt(r.get("maxrss_mib"), ".2f"),
                        "",
                        "",
                        "",
                    )
                )
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in table
    )


def repo_revision() -> str | None:
    """HEAD of the repository the harness is in, and whether postie/ has local changes."""
    head = subprocess.run(
        ["git", "-C", str(REPO), "log", "-1", "--format=%h"],
        capture_output=True,
        text=True,
        check=False,
    )
    if head.returncode != 0:
        return None
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "postie"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return head.stdout.strip() + (" + uncommitted changes in postie/" if dirty else "")


def machine_meta(args: argparse.Namespace, tools: dict[str, Tool]) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    node = _probe([args.node, "--version"])[1].strip() if shutil.which(args.node) else None
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": f"Linux {platform.release()}",
        "python": platform.python_version(),
        "node": node,
        "nyuu_version": (f"Nyuu {v}" if (v := tool_version(tools["nyuu"])) else None),
        "verify": (
            f"on: postie verification (delay 0), Nyuu --check-connections {VERIFY.connections}"
            if VERIFY.on
            else "off"
        ),
        "postie_version": tool_version(tools["postie"]),
        "postie_rev": tools["postie"].describe or repo_revision(),
        "postie_base": tools["postie-base"].describe if "postie-base" in tools else None,
        "postie_nostore": tools["postie-nostore"].describe if "postie-nostore" in tools else None,
        "store": args.store_note,
        "article_size": args.article_size,
        "repeat": args.repeat,
        "inn": (
            f"{args.inn_host}:{args.inn_port} (standalone nnrpd: takes POST with no MODE "
            "READER and no AUTHINFO) for both tools, so both post to the same server. innd "
            "itself listens on 119, which postie could use (it sends MODE READER) but Nyuu "
            "cannot (it never sends MODE READER)."
        ),
        "tools": {
            name: {
                "argv_prefix": t.argv_prefix,
                "extra": t.extra,
                "env": t.env,
                "db": str(t.store) if t.takes_db and t.store else None,
                "skipped": t.skip_reason,
            }
            for name, t in tools.items()
        },
    }


# ---- main ---------------------------------------------------------------------------


def _csv(kind: type[int] | type[str], allowed: tuple[str, ...] | None = None) -> Any:
    def parse(text: str) -> list[Any]:
        items = [kind(x.strip()) for x in text.split(",") if x.strip()]
        if allowed is not None:
            bad = [x for x in items if x not in allowed]
            if bad:
                raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {allowed}")
        return items

    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sel = ap.add_argument_group("which cases")
    sel.add_argument(
        "--cases",
        help="comma-separated case ids or globs, e.g. 'sink-file-c16,sink20-*' "
        "(ids are SERVER-DATA-cCONNS)",
    )
    sel.add_argument(
        "--servers",
        type=_csv(str, SERVERS),
        default=list(DEFAULT_SERVERS),
        help="sink, sink20, inn (the default), and sinkbw: the sink behind a bandwidth "
        "limit on the loopback device (tc tbf, --rate-mbit; needs root), so sockets fill "
        "as on a real link and MB per CPU-second is what a slow machine pays per MB; "
        "stunnel: the sink behind a TLS terminator (stunnel4), both tools posting over TLS "
        "without checking its self-signed certificate; its CPU counts as the sink's",
    )
    sel.add_argument(
        "--rate-mbit",
        type=int,
        default=2400,
        help="sinkbw: loopback rate in Mbit/s (default 2400, 300 MB/s)",
    )
    sel.add_argument("--data", type=_csv(str, DATASETS), default=list(DATASETS))
    sel.add_argument("--connections", type=_csv(int), default=[4, 16])
    sel.add_argument(
        "--tools",
        type=_csv(str, TOOLS),
        help="default: postie,nyuu, and postie-base with --baseline-rev; postie-nostore"
        " (bench/nostore.py: postie without its store) only when named",
    )
    sel.add_argument("--repeat", type=int, default=1)
    sel.add_argument("--list", action="store_true", help="print the selected cases and exit")

    d = ap.add_argument_group("data")
    d.add_argument(
        "--data-dir",
        type=Path,
        default=default_data_dir(),
        help="kept and reused (default: under /dev/shm when it has room, else /tmp)",
    )
    d.add_argument("--file-mib", type=int, default=1024, help="the big file (sink cases)")
    d.add_argument("--files", type=int, default=2000, help="files in the folder (sink cases)")
    d.add_argument("--file-kib", type=int, default=512, help="size of each folder file")
    d.add_argument(
        "--folders",
        type=int,
        default=1,
        help="spread the folder's files over this many sub-folders (sink cases; Nyuu gets"
        " --subdirs keep)",
    )
    d.add_argument(
        "--inn-file-mib", type=int, default=100, help="the file for INN cases (INN keeps it all)"
    )
    d.add_argument("--inn-files", type=int, default=100, help="folder files for INN cases")
    d.add_argument("--article-size", type=int, default=716800)
    d.add_argument("--delete-data", action="store_true", help="remove the data dir at the end")

    t = ap.add_argument_group("tools and servers")
    t.add_argument("--postie", help="postie command (default: postie on PATH, .venv/bin/postie)")
    t.add_argument("--nyuu", type=Path, default=DEFAULT_NYUU, help="path to Nyuu's bin/nyuu.js")
    t.add_argument("--node", default="node")
    t.add_argument(
        "--baseline-rev",
        metavar="REV",
        help="also run postie as of this git revision, as the tool postie-base (a worktree "
        "under --baseline-dir, made once, imported with PYTHONPATH by --baseline-python)",
    )
    t.add_argument(
        "--postie-rev",
        metavar="REV",
        help="run the tool postie from a worktree of REV too (like --baseline-rev), not from "
        "the working tree: a fixed snapshot while others edit and commit",
    )
    t.add_argument(
        "--baseline-dir",
        type=Path,
        default=Path("/tmp"),
        help="where the worktrees go (postie-bench-rev-HASH)",
    )
    t.add_argument("--baseline-python", type=Path, default=REPO / ".venv" / "bin" / "python")
    t.add_argument(
        "--store-dir",
        type=Path,
        default=default_store_dir(),
        help="where postie's transfer store (--db) for this invocation is made, in a fresh "
        "subfolder removed at the end (default: under /dev/shm when it exists, else /tmp)",
    )
    t.add_argument("--keep-store", action="store_true", help="don't remove the store at the end")
    t.add_argument("--inn-host", default="127.0.0.1")
    t.add_argument(
        "--inn-port", type=int, default=1120, help="an nnrpd port that takes POST (no auth)"
    )
    t.add_argument("--no-inn-start", action="store_true", help="don't run scripts/inn2 start")
    t.add_argument("--inn-clean", action="store_true", help="scripts/inn2 clean first")
    t.add_argument(
        "--no-warm",
        action="store_true",
        help="don't read the data and start the tool once before each measured run",
    )
    t.add_argument(
        "--verify",
        type=int,
        metavar="K",
        help="both tools verify what they posted: postie's verification (delay 0), Nyuu's"
        " post check on K extra connections (delay 0); the sink remembers IDs (-r)",
    )
    t.add_argument("--timeout", type=float, default=900.0, help="per tool run, seconds")
    t.add_argument(
        "--max-other-cpu",
        type=float,
        default=0.25,
        metavar="S",
        help="a sink run during which other processes (not the tool, not the sink) took "
        "more than S CPU seconds is disturbed: it is kept in the JSON but run again (INN "
        "cases are not judged: INN's own CPU counts as other)",
    )
    t.add_argument(
        "--max-probe-slowdown",
        type=float,
        default=1.3,
        metavar="X",
        help="a run during which a memory-copy probe of the host (before and after it) took "
        "more than X times the session's fastest is disturbed: kept in the JSON, run again "
        "(0 turns the probe off)",
    )
    t.add_argument("--retries", type=int, default=3, help="runs again of a disturbed run")

    o = ap.add_argument_group("output")
    o.add_argument("--out", type=Path, help="write runs and summary as JSON")
    o.add_argument("--markdown", action="store_true", help="print a markdown table")
    o.add_argument(
        "--workdir", type=Path, default=Path("/tmp/postie-bench-work"), help="logs and NZBs"
    )
    o.add_argument("--keep-nzb", action="store_true")
    ap.set_defaults(store_note=None)  # set by setup_store: which store postie used
    return ap.parse_args(argv)


def default_store_dir() -> Path:
    shm = Path("/dev/shm")
    return (shm if shm.is_dir() else Path("/tmp")) / "postie-bench-store"


def fs_type(path: Path) -> str:
    """The file system type of the mount holding `path` (from /proc/mounts)."""
    path = path.resolve()
    while not path.exists():
        path = path.parent
    best, kind = "", "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) < 3:
                continue
            mnt = parts[1].replace("\\040", " ")
            inside = str(path) == mnt or str(path).startswith(mnt.rstrip("/") + "/")
            if inside and len(mnt) >= len(best):
                best, kind = mnt, parts[2]
    return kind


MAKE_STORE = (
    "import asyncio, sys\n"
    "from postie.store import open_store\n"
    "async def make():\n"
    "    async with open_store(sys.argv[1]):\n"
    "        pass\n"
    "asyncio.run(make())\n"
)


def setup_store(tool: Tool, args: argparse.Namespace) -> Path | None:
    """Make the empty store each run of a postie that keeps one starts from; return its folder.

    The store is made (and migrated) here with `postie queue resume --db` (a command
    that writes to the store, so it creates one; `postie transfers` only reads and creates
    none), so the first measured run does not pay for creating it, as a user's would not.
    For "postie-pg" the store is a template database; manifests and PAR2 work folders go
    to the folder returned (its XDG_DATA_HOME)."""
    if not tool.takes_db:
        if tool.name == "postie":
            args.store_note = None
        return None
    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    root: Path = args.store_dir / f"{stamp}-{tool.name}"
    root.mkdir(parents=True, exist_ok=False)
    if tool.name == "postie-pg":
        pg = PgServer.parse(PG_URL)
        tool.env = {**tool.env, **pg.env(), "XDG_DATA_HOME": str(root)}
        template = f"postie_bench_tpl_{os.getpid()}"
        pg.admin("dropdb", "--if-exists", template)
        pg.admin("createdb", template)
        tool.store = pg.url(template)
        where = f"PostgreSQL {pg.host}:{pg.port}, a fresh database per run"
    else:
        tool.store = str(root / "postie.db")
        where = f"--db under {root} ({fs_type(root)}), a fresh copy of an empty store per run"
    rc, out = _probe([*tool.argv_prefix, "queue", "resume", "--db", tool.store], tool.environ())
    if rc != 0:
        log(f"could not make the store {tool.store}: {_tail(out)}")
    if tool.name == "postie":
        args.store_note = where
    log(f"{tool.name}'s store: {where}")
    return root


@dataclass(frozen=True)
class PgServer:
    """The PostgreSQL of the "postie-pg" tool: its databases made and dropped with the
    client programs (createdb, dropdb), the password handed over in PGPASSWORD."""

    host: str
    port: int
    user: str
    password: str | None

    @classmethod
    def parse(cls, url: str) -> PgServer:
        parts = urllib.parse.urlsplit(url)
        return cls(
            parts.hostname or "127.0.0.1",
            parts.port or 5432,
            parts.username or "postgres",
            urllib.parse.unquote(parts.password) if parts.password else None,
        )

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def env(self) -> dict[str, str]:
        return {"PGPASSWORD": self.password} if self.password else {}

    def admin(self, program: str, *args: str) -> None:
        argv = [program, "-h", self.host, "-p", str(self.port), "-U", self.user, *args]
        done = subprocess.run(
            argv, env={**os.environ, **self.env()}, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"{shlex.join(argv)} failed: {done.stderr.strip()}")


def fresh_store(tool: Tool, name: str) -> str | None:
    """A copy of the invocation's (made, migrated, empty) store for one run.

    Each run needs a store of its own: a second `postie post` of the same paths into a
    store that has the first run's transfer finds it uploaded and posts nothing."""
    if not tool.takes_db or tool.store is None:
        return None
    if tool.name == "postie-pg":
        pg = PgServer.parse(PG_URL)
        database = re.sub(r"[^a-z0-9_]", "_", f"postie_bench_{os.getpid()}_{name}".lower())
        pg.admin("dropdb", "--if-exists", database)
        pg.admin("createdb", "-T", tool.store.rsplit("/", 1)[1], database)
        return pg.url(database)
    store = Path(tool.store)
    run_dir = store.parent / name
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    shutil.copy2(store, run_dir / store.name)
    return str(run_dir / store.name)


def drop_store(store: str) -> None:
    """Remove a run's store (its folder, or its database)."""
    if store.startswith("postgresql://"):
        PgServer.parse(PG_URL).admin("dropdb", "--if-exists", store.rsplit("/", 1)[1])
    else:
        shutil.rmtree(Path(store).parent, ignore_errors=True)


def datasets_for(cases: list[Case], args: argparse.Namespace) -> Iterator[tuple[Case, Dataset]]:
    args.data_dir.mkdir(parents=True, exist_ok=True)
    made: dict[tuple[str, bool], Dataset] = {}
    big_folder: Dataset | None = None
    # the small INN folder is hard links into the big one when that exists
    for case in sorted(cases, key=lambda c: c.server == "inn"):
        inn = case.server == "inn"
        key = (case.data, inn)
        if key not in made:
            if case.data == "file":
                made[key] = make_file(args.data_dir, args.inn_file_mib if inn else args.file_mib)
            else:
                count = args.inn_files if inn else args.files
                made[key] = make_folder(
                    args.data_dir, count, args.file_kib, big_folder, 1 if inn else args.folders
                )
                if not inn:
                    big_folder = made[key]
        yield case, made[key]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cases = select_cases(args)
    if not cases:
        log("no case selected")
        return 2
    if args.list:
        for c in cases:
            print(c.id)
        return 0

    if args.verify is not None:
        VERIFY.on, VERIFY.connections = True, args.verify
    if args.tools is None:
        args.tools = ["postie", *(["postie-base"] if args.baseline_rev else []), "nyuu"]
    if "postie-base" in args.tools and not args.baseline_rev:
        log("--tools postie-base needs --baseline-rev REV")
        return 2
    tools_all = {
        "postie": (
            postie_at("postie", args.postie_rev, args.baseline_python, args.baseline_dir)
            if args.postie_rev
            else find_postie(args.postie)
        ),
        "nyuu": find_nyuu(args.nyuu, args.node),
    }
    if "postie-nostore" in args.tools:
        tools_all["postie-nostore"] = without_store(args.baseline_python)
    if "postie-pg" in args.tools:
        tools_all["postie-pg"] = replace(find_postie(args.postie), name="postie-pg")
        tools_all["postie-pg"].describe = "the working tree with its store in PostgreSQL"
    if args.baseline_rev:
        tools_all["postie-base"] = postie_at(
            "postie-base", args.baseline_rev, args.baseline_python, args.baseline_dir
        )
    stale = stale_bytecode(args.baseline_python, REPO / "postie")
    if stale and "postie" in args.tools and not args.postie and not args.postie_rev:
        log(
            f"WARNING: {stale} modules of {REPO / 'postie'} have no up-to-date bytecode, so "
            "every start compiles them (PYTHONDONTWRITEBYTECODE): run "
            f"`{args.baseline_python} -m compileall -q postie` (a step of scripts/setup)"
        )
    tools: list[Tool] = []
    for name in args.tools:
        tool = tools_all[name]
        if tool.skip_reason:
            log(f"SKIPPING {name}: {tool.skip_reason}")
        else:
            tools.append(tool)
    if not tools:
        log("no tool can run")
        return 1
    global PROBE
    if args.max_probe_slowdown > 0:
        PROBE = HostProbe()
        log(f"host memory-copy probe: {PROBE.best_ms:.1f} ms (fastest of 5)")

    if any(c.server == "inn" for c in cases):
        reason = ensure_inn(args.inn_host, args.inn_port, not args.no_inn_start, args.inn_clean)
        if reason:
            log(f"SKIPPING the INN cases: {reason}")
            cases = [c for c in cases if c.server != "inn"]
        else:
            planned = (
                sum(
                    (
                        args.inn_file_mib
                        if c.data == "file"
                        else args.inn_files * args.file_kib / 1024
                    )
                    for c in cases
                    if c.server == "inn"
                )
                * len(tools)
                * args.repeat
            )
            log(f"INN spool is {inn_spool_mb()} MB; these cases post {planned:.0f} MiB to it")
    if any(c.server != "inn" for c in cases):
        build_sink()

    args.workdir.mkdir(parents=True, exist_ok=True)
    store_roots = [
        root
        for name in POSTIE_KINDS
        if name in args.tools and name in tools_all
        for root in [setup_store(tools_all[name], args)]
        if root is not None
    ]
    datasets = dict(datasets_for(cases, args))
    runs: list[Run] = []
    try:
        for case in cases:
            runs += run_case(case, datasets[case], tools, args, args.workdir)
    finally:
        if "postie-pg" in tools_all and tools_all["postie-pg"].store and not args.keep_store:
            drop_store(tools_all["postie-pg"].store)
        for store_root in store_roots if not args.keep_store else ():
            shutil.rmtree(store_root, ignore_errors=True)
            with contextlib.suppress(OSError):
                store_root.parent.rmdir()  # when no other invocation uses it

    meta = machine_meta(args, tools_all)
    if PROBE is not None:
        probes = [r.probe_ratio for r in runs if r.probe_ratio is not None]
        meta["probe"] = {
            "best_ms": round(PROBE.best_ms, 1),
            "max_slowdown": args.max_probe_slowdown,
            "runs_median_ratio": round(statistics.median(probes), 2) if probes else None,
        }
    rows = summarize(cases, datasets, runs, args.article_size)
    if args.out:
        doc = {"meta": meta, "summary": rows, "runs": [asdict(r) for r in runs]}
        args.out.write_text(json.dumps(doc, indent=2) + "\n")
        log(f"wrote {args.out}")
    print(markdown(rows, meta) if args.markdown else plain(rows))
    for name, tool in tools_all.items():
        if tool.skip_reason and name in args.tools:
            print(f"\n{name} skipped: {tool.skip_reason}", file=sys.stderr)
    if args.delete_data:
        shutil.rmtree(args.data_dir, ignore_errors=True)
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
