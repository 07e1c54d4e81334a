"""Several daemons on one queue: three ``postie daemon`` processes share one store, one
watch folder and one output folder (what several machines do with a shared drive and one
PostgreSQL; here on one machine), each test once with SQLite and once with PostgreSQL
(an empty database the daemons migrate as they start together).

Judged from outside: INN's log of accepted articles, the NZBs read back, the store's
jobs and transfers, each daemon's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from postie import nzb
from tests import postgres
from tests.conftest import REPO, Inn, run_postie
from tests.integration.innlog import NEWS_LOG, InnLog
from tests.integration.readback import rebuild_from_nzb
from tests.relay import Relay

pytestmark = pytest.mark.inn

ARTICLE = 16_384
JOBS = 12


class Shared:
    """One config (store, watch folder, output folder, INN) and the daemons running it."""

    def __init__(self, inn: Inn, tmp_path: Path, url: str | None = None) -> None:
        self.tmp = tmp_path
        self.watch = tmp_path / "watch"
        self.watch.mkdir()
        self.output = tmp_path / "nzb"
        self.db = tmp_path / "state" / "postie.db"
        self.url = url  # a PostgreSQL database; None: the SQLite file self.db
        self.domain = f"shared{os.urandom(4).hex()}.postie.test"
        self.config = tmp_path / "postie.yaml"
        settings = {
            "servers": [{"host": inn.host, "port": inn.open_port, "max_connections": 2}],
            "posting": {"article_size": ARTICLE, "message_id_domain": self.domain},
            "store": {
                **({"url": url} if url else {"path": str(self.db)}),
                "checkpoint_interval": 0.2,
            },
            "verify": {"delay": 0, "poll_interval": 0.5},
            "par2": {"enabled": False},
            "daemon": {
                "watch": [{"path": str(self.watch), "min_file_age": 0.5}],
                "output": str(self.output),
                "scan_interval": 0.2,
                "max_concurrent_jobs": 1,
                "shutdown_timeout": 10,
                "http": {"enabled": False},
            },
        }
        self.config.write_text(json.dumps(settings))  # JSON is YAML
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(
        self,
        n: int,
        config: Path | None = None,
        *,
        args: tuple[str, ...] = (),
        prefix: tuple[str, ...] = (),
        **env: str,
    ) -> None:
        """Start ``n`` daemons (``args``: more of their arguments; ``prefix``: a command
        they run under); on PostgreSQL each with a manifests folder of its own (another
        machine's), as the manifests are in the database."""
        for _ in range(n):
            log = self.tmp / f"daemon-{len(self.logs)}.log"
            path = config or self.config
            if self.url:
                settings = json.loads(path.read_text())
                settings["store"]["manifests"] = str(self.own_manifests(len(self.logs)))
                path = self.tmp / f"daemon-{len(self.logs)}.yaml"
                path.write_text(json.dumps(settings))
            with log.open("ab") as err:
                self.procs.append(
                    subprocess.Popen(
                        [
                            *prefix,
                            sys.executable,
                            "-m",
                            "postie",
                            "daemon",
                            "-c",
                            str(path),
                            *args,
                        ],
                        cwd=REPO,
                        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
                        stdout=subprocess.DEVNULL,
                        stderr=err,
                    )
                )
            self.logs.append(log)

    def own_manifests(self, n: int) -> Path:
        return self.tmp / f"daemon-{n}" / "manifests"

    def manifest_files(self) -> list[Path]:
        """The manifest files the daemons' own folders hold (PostgreSQL: none)."""
        return [p for n in range(len(self.logs)) for p in self.own_manifests(n).glob("*")]

    def texts(self) -> list[str]:
        return [log.read_text(errors="replace") for log in self.logs]

    def wait_for(self, what: Any, timeout: float, why: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if what():
                return
            dead = [p.args for p in self.procs if p.poll() not in (None, -signal.SIGKILL)]
            assert not dead, f"a daemon ended: {dead}\n" + "\n---\n".join(self.texts())
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {why}:\n" + "\n---\n".join(self.texts()))

    def rows(self, query: str) -> list[Any]:
        """The rows of a query (by column name) in whichever store the daemons share."""
        if self.url is None:
            with sqlite3.connect(self.db) as db:
                db.row_factory = sqlite3.Row
                return list(db.execute(query))

        async def fetch(url: str) -> list[Any]:
            conn = await asyncpg.connect(url)
            try:
                return list(await conn.fetch(query))
            finally:
                await conn.close()

        return asyncio.run(fetch(self.url))

    def daemons(self) -> int:
        """Daemons registered as workers in the store (0 before it exists)."""
        try:
            return len(self.rows("SELECT owner FROM workers WHERE name = 'daemon'"))
        except (sqlite3.OperationalError, asyncpg.UndefinedTableError):  # not migrated yet
            return 0

    def stop(self) -> list[int]:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        return [p.wait(30) for p in self.procs]

    def kill(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.fixture(params=["sqlite", "postgresql"])
def shared(inn: Inn, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Shared]:
    with contextlib.ExitStack() as stack:
        url = (
            stack.enter_context(postgres.fresh(migrated=False))
            if request.param != "sqlite"
            else None
        )
        s = Shared(inn, tmp_path, url)
        try:
            yield s
        finally:
            s.kill()


def test_three_daemons_post_twelve_jobs_each_once(inn: Inn, shared: Shared) -> None:
    """Twelve jobs dropped at once into a folder three daemons watch. The first daemon
    is killed (SIGKILL) at its first acknowledged article: the other two take its job
    over from the manifest and drain the rest. Each job is queued once and posted under
    one set of Message-IDs; every NZB is complete and byte-exact. (How quick jobs spread
    over free daemons follows timing; that free daemons share the jobs is
    test_free_daemons_share_the_jobs.)"""
    if not NEWS_LOG.exists():
        pytest.skip("needs INN's log of accepted articles")
    s = shared
    innlog = InnLog(s.domain)
    s.start(1, POSTIE_CRASH_AT="acked:1")
    s.wait_for(lambda: s.daemons() >= 1, 60, "the first daemon to register")
    contents: dict[str, dict[str, bytes]] = {}
    staging = s.tmp / "staging"
    staging.mkdir()
    for i in range(JOBS):
        name = f"job{i:02d}"
        if i % 2:
            folder = staging / name
            folder.mkdir()
            files = {f"part{k}.bin": os.urandom(3 * ARTICLE + 100 * k) for k in range(2)}
            for fname, data in files.items():
                (folder / fname).write_bytes(data)
        else:
            files = {f"{name}.bin": os.urandom(5 * ARTICLE + i)}
            (staging / f"{name}.bin").write_bytes(files[f"{name}.bin"])
            name = f"{name}.bin"
        contents[name] = files
    for name in contents:  # all at once: a rename each, as a finished download appears
        (staging / name).rename(s.watch / name)
    assert s.procs[0].wait(60) == -signal.SIGKILL, s.texts()[0][-2000:]

    s.start(2)
    nzbs = {name: s.output / f"{name}.nzb" for name in contents}
    s.wait_for(lambda: all(p.exists() for p in nzbs.values()), 180, "twelve NZBs")
    s.wait_for(
        lambda: all(j["state"] == "done" for j in s.rows("SELECT state FROM jobs")),
        60,
        "every job done",
    )
    accepted = innlog.settle()
    del s.procs[0]  # dead already
    assert s.stop() == [0, 0]

    jobs = s.rows("SELECT * FROM jobs ORDER BY id")
    assert sorted(Path(j["path"]).name for j in jobs) == sorted(contents), "queued twice"
    transfers = s.rows("SELECT id FROM transfers")
    assert len(transfers) == JOBS, "a job was posted as two transfers"
    listed: set[str] = set()
    for name, path in nzbs.items():
        segments = [seg.message_id for f in nzb.read(path).files for seg in f.segments]
        assert not listed & set(segments)
        listed |= set(segments)
        rebuilt = rebuild_from_nzb(path, inn.host, inn.open_port)
        assert {n: r.data for n, r in rebuilt.items()} == contents[name]
    # Every article INN accepted is in exactly one NZB, and nothing was posted under a
    # second Message-ID: no job ran twice, not even in part (the frozen daemon's job
    # was resumed with the IDs of its manifest).
    assert set(accepted) == listed

    texts = s.texts()
    started = [re.findall(r"job (\d+) started", text) for text in texts]
    assert len(started[0]) == 1, "the first daemon died on its first job"
    killed_job = int(started[0][0])
    assert sorted(int(j) for ids in started[1:] for j in ids) == [j["id"] for j in jobs]
    assert any(f"job {killed_job} interrupted before" in t for t in texts[1:])
    assert all(j["attempts"] == 1 for j in jobs if j["id"] != killed_job), [dict(j) for j in jobs]
    if s.url:  # each daemon had a folder of its own: every manifest was in the database
        assert s.manifest_files() == []


def test_free_daemons_share_the_jobs(inn: Inn, shared: Shared) -> None:
    """Three daemons of one job slot each, posting through a slow relay (every reply
    chunk 0.3 s late, so a job takes seconds), and three jobs dropped at once: each
    daemon takes one, none waits while another holds two. (A daemon that queues a job
    wakes only itself; the others find it within their one-second poll.)"""
    s = shared
    relay = Relay(inn.host, inn.open_port, delay=0.3)
    try:
        config = variant(s, "slow", port=relay.port)
        for name in ("nas-a", "nas-b", "nas-c"):
            s.start(1, config=config, args=("--instance", name))
        s.wait_for(lambda: s.daemons() >= 3, 60, "three daemons to register")
        staging = s.tmp / "staging"
        staging.mkdir()
        contents = {f"job{i}.bin": os.urandom(12 * ARTICLE + i) for i in range(3)}
        for name, data in contents.items():
            (staging / name).write_bytes(data)
        for name in contents:
            (staging / name).rename(s.watch / name)
        s.wait_for(
            lambda: len(s.rows("SELECT id FROM jobs WHERE state = 'running'")) == 3,
            60,
            "three jobs running at once",
        )
        owners = {j["lease_owner"] for j in s.rows("SELECT lease_owner FROM jobs")}
        assert len(owners) == 3, "a daemon took two jobs while another was free"
        relay.delay = 0.0
        nzbs = [s.output / f"{name}.nzb" for name in contents]
        s.wait_for(lambda: all(p.exists() for p in nzbs), 120, "three NZBs")
    finally:
        relay.close()
    assert s.stop() == [0, 0, 0]
    started = [len(re.findall(r"job \d+ started", text)) for text in s.texts()]
    assert started == [1, 1, 1], started


def test_a_running_daemon_takes_over_a_dead_daemons_job(inn: Inn, shared: Shared) -> None:
    """The first daemon posts through a relay the test holds once its job is under way;
    a second daemon starts and sees it alive. Then the first is killed: the second,
    still running (no restart), queues the job again within seconds, resumes the
    transfer from its manifest with the same Message-IDs and writes the NZB."""
    if not NEWS_LOG.exists():
        pytest.skip("needs INN's log of accepted articles")
    s = shared
    relay = Relay(inn.host, inn.open_port)
    try:
        first_config = s.tmp / "first.yaml"
        settings = json.loads(s.config.read_text())
        settings["servers"][0]["port"] = relay.port
        first_config.write_text(json.dumps(settings))
        innlog = InnLog(s.domain)
        data = os.urandom(40 * ARTICLE)
        s.start(1, config=first_config)
        s.wait_for(lambda: s.daemons() >= 1, 60, "the first daemon to register")
        staging = s.tmp / "big.bin"
        staging.write_bytes(data)
        staging.rename(s.watch / "big.bin")
        s.wait_for(lambda: "job 1 started" in s.texts()[0], 60, "the first daemon's job")
        relay.held.set()
        s.start(1)
        # Once ready, the second daemon's look for interrupted jobs at start is over.
        s.wait_for(lambda: "ready: " in s.texts()[1], 60, "the second daemon to be ready")
        assert "interrupted" not in s.texts()[1], "a live daemon counted as dead"
        s.procs[0].kill()
        assert s.procs[0].wait(10) == -signal.SIGKILL
        nzb_path = s.output / "big.bin.nzb"
        s.wait_for(lambda: nzb_path.exists(), 60, "the NZB written by the other daemon")
        accepted = innlog.settle()
    finally:
        relay.close()
    rebuilt = rebuild_from_nzb(nzb_path, inn.host, inn.open_port)
    assert rebuilt["big.bin"].data == data
    segments = {seg.message_id for f in nzb.read(nzb_path).files for seg in f.segments}
    assert len(segments) == 40
    # INN took each article once, all under the NZB's Message-IDs: none posted anew
    assert set(accepted) == segments
    (job,) = s.rows("SELECT * FROM jobs")
    assert job["state"] == "done"
    assert len(s.rows("SELECT id FROM transfers")) == 1, "a second transfer for the job"
    assert "job 1 was interrupted elsewhere" in s.texts()[1]
    assert "resuming transfer 1" in s.texts()[1]
    del s.procs[0]  # dead already
    assert s.stop() == [0]
    if s.url:
        assert s.manifest_files() == []


# --- instances -----------------------------------------------------------------------------


def variant(s: Shared, name: str, *, port: int | None = None, http: bool = False) -> Path:
    """A config like the shared one, posting through ``port`` (a relay), with the status
    endpoint on (on a free port) if ``http``."""
    settings = json.loads(s.config.read_text())
    if port is not None:
        settings["servers"][0]["port"] = port
    if http:
        settings["daemon"]["http"] = {"port": 0}
    path = s.tmp / f"{name}.yaml"
    path.write_text(json.dumps(settings))
    return path


def status_of(s: Shared, n: int, path: str) -> Any:
    """``path`` (/status or /metrics) of daemon ``n``'s status endpoint."""
    s.wait_for(lambda: "status on http" in s.texts()[n], 60, f"daemon {n}'s status endpoint")
    port = re.findall(r"status on http://127\.0\.0\.1:(\d+)/status", s.texts()[n])[-1]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as reply:
        raw = reply.read().decode()
    return json.loads(raw) if path == "/status" else raw


def busy(s: Shared, relay: Relay) -> None:
    """Daemon 0 (instance nas-b, one job slot, posting through ``relay``) takes job 1 and
    waits with it in hand: alive, holding the job and its transfer."""
    s.start(1, config=variant(s, "busy", port=relay.port), args=("--instance", "nas-b"))
    s.wait_for(lambda: s.daemons() >= 1, 60, "nas-b to register")
    staging = s.tmp / "big.bin"
    staging.write_bytes(os.urandom(40 * ARTICLE))
    staging.rename(s.watch / "big.bin")
    s.wait_for(lambda: "job 1 started" in s.texts()[0], 60, "nas-b's job")
    relay.held.set()


def test_every_instance_shows_which_instance_holds_each_lease(inn: Inn, shared: Shared) -> None:
    """nas-b holds job 1 and its transfer (held up at a relay); nas-a, idle, and the
    CLI show nas-b as the holder: postie queue list, postie transfers, nas-a's /status
    (every instance's work, not only its own) and /metrics."""
    s = shared
    relay = Relay(inn.host, inn.open_port)
    try:
        busy(s, relay)
        s.start(1, config=variant(s, "idle", http=True), args=("--instance", "nas-a"))
        s.wait_for(lambda: s.daemons() >= 2, 60, "nas-a to register")
        s.wait_for(lambda: bool(s.rows("SELECT id FROM transfers")), 60, "job 1's transfer")
        listing = run_postie("queue", "list", "-c", s.config)
        assert "\n                held by: nas-b (daemon)\n" in listing.stdout, listing.stdout
        transfers = run_postie("transfers", "-c", s.config)
        assert "\n       held by: nas-b (daemon)\n" in transfers.stdout, transfers.stdout
        status = status_of(s, 1, "/status")
        assert status["instance"] == "nas-a"
        (job,) = status["jobs"]
        assert (job["id"], job["state"], job["holder"]) == (1, "running", "nas-b")
        assert status["running"] == []  # nas-a runs nothing itself
        held = {(x["kind"], x["id"], x["holder"], x["worker"]) for x in status["leases"]}
        assert {("job", 1, "nas-b", "daemon"), ("transfer", 1, "nas-b", "daemon")} <= held
        assert {"nas-a", "nas-b"} <= {w["instance"] for w in status["instances"]}
        metrics = {
            (m.name, tuple(sorted(m.labels.items()))): m.value
            for f in text_string_to_metric_families(status_of(s, 1, "/metrics"))
            for m in f.samples
        }
        assert metrics[("postie_instance_info", (("instance", "nas-a"),))] == 1
        key = ("postie_leases_held", (("instance", "nas-b"), ("kind", "job")))
        assert metrics[key] == 1
        assert ("postie_leases_held", (("instance", "nas-a"), ("kind", "job"))) not in metrics
        relay.held.clear()
        s.wait_for(lambda: (s.output / "big.bin.nzb").exists(), 60, "job 1's NZB")
    finally:
        relay.held.clear()
        relay.close()
    assert s.stop() == [0, 0]


def private_mount_works(folder: Path) -> bool:
    """Whether this test may give a process a private mount namespace (root, unshare)."""
    probe = ["unshare", "--mount", "--propagation", "private", "mount", "-t", "tmpfs", "none"]
    try:
        return (
            subprocess.run([*probe, str(folder)], capture_output=True, timeout=30).returncode == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_a_daemon_that_cannot_read_a_job_leaves_it_to_the_others(inn: Inn, shared: Shared) -> None:
    """nas-a runs in a private mount namespace with an empty tmpfs over the watch folder
    (the shared folder not mounted on its machine); nas-b sees the files. nas-b, busy
    with job 1, queues job 2; nas-a claims it, cannot read it and defers it (queued
    again, its error saying so) and does not claim it again; nas-b posts it once free.
    nas-a never fails it."""
    s = shared
    if not private_mount_works(s.watch):
        pytest.skip("unshare --mount (a private mount namespace) is not permitted here")
    relay = Relay(inn.host, inn.open_port)
    try:
        busy(s, relay)
        unmounted = ("unshare", "--mount", "--propagation", "private", "sh", "-c")
        script = 'mount -t tmpfs none "$0" && exec "$@"'
        s.start(1, args=("--instance", "nas-a"), prefix=(*unmounted, script, str(s.watch)))
        s.wait_for(lambda: "ready: " in s.texts()[1], 60, "nas-a to be ready")
        data = os.urandom(3 * ARTICLE)
        staging = s.tmp / "shared.bin"
        staging.write_bytes(data)
        staging.rename(s.watch / "shared.bin")
        s.wait_for(lambda: "job 2 deferred" in s.texts()[1], 60, "nas-a to defer job 2")
        shared_path = s.watch / "shared.bin"
        expected = (
            f"nas-a cannot read {shared_path}: No such file or directory; left to the other"
            " instances"
        )
        assert expected in s.texts()[1]
        (job,) = s.rows("SELECT * FROM jobs WHERE id = 2")
        assert (job["state"], job["attempts"], job["last_error"]) == ("queued", 0, expected)
        listing = run_postie("queue", "list", "-c", s.config)
        assert f"error: {expected}" in listing.stdout
        time.sleep(3)  # nas-a polls for work every second: it leaves job 2 alone
        assert s.texts()[1].count("job 2 deferred") == 1
        relay.held.clear()
        s.wait_for(lambda: (s.output / "shared.bin.nzb").exists(), 90, "job 2's NZB by nas-b")
        s.wait_for(
            lambda: (
                [j["state"] for j in s.rows("SELECT state FROM jobs ORDER BY id")]
                == ["done", "done"]
            ),
            60,
            "both jobs done",
        )
    finally:
        relay.held.clear()
        relay.close()
    assert s.stop() == [0, 0]
    rebuilt = rebuild_from_nzb(s.output / "shared.bin.nzb", inn.host, inn.open_port)
    assert rebuilt["shared.bin"].data == data
    assert "job 2 started" in s.texts()[0]
    assert "job 2 started" not in s.texts()[1]
    assert "failed" not in s.texts()[1]
    (job,) = s.rows("SELECT * FROM jobs WHERE id = 2")
    assert job["attempts"] == 1  # nas-a's attempt was given back
