"""The queue daemon as a real process against the local INN2.

Each test writes a config (watch folder, output folder, store, the INN server),
starts ``postie daemon`` in a child process, drops files, and judges from
outside: the NZBs that land, the articles read back, INN's log, the queue in the
store, the status endpoint, the exit status.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from postie import nzb
from tests.conftest import REPO, Inn, run_postie
from tests.integration.innlog import NEWS_LOG, InnLog
from tests.integration.readback import rebuild_from_nzb

pytestmark = pytest.mark.inn

ARTICLE = 65_536
KEY = "test-key-123"


class Daemon:
    """A config, a watch folder, an output folder, and the daemon process."""

    def __init__(self, inn: Inn, tmp_path: Path, **daemon: Any) -> None:
        self.tmp = tmp_path
        self.watch = tmp_path / "watch"
        self.watch.mkdir()
        self.output = tmp_path / "nzb"
        self.db = tmp_path / "state" / "postie.db"
        self.domain = f"daemon{os.urandom(4).hex()}.postie.test"
        self.config = tmp_path / "postie.yaml"
        settings = {
            "servers": [{"host": inn.host, "port": inn.open_port, "max_connections": 2}],
            "posting": {"article_size": ARTICLE, "message_id_domain": self.domain},
            "store": {"path": str(self.db), "checkpoint_interval": 0.2},
            "verify": {"delay": 0, "poll_interval": 0.5},
            "par2": {"enabled": False},
            "daemon": {
                "watch": [{"path": str(self.watch), "min_file_age": 1.0}],
                "output": str(self.output),
                "scan_interval": 0.2,
                "max_concurrent_jobs": 2,
                "shutdown_timeout": 10,
                "http": {"port": 0, "api_key": KEY},
                **daemon,
            },
        }
        self.config.write_text(json.dumps(settings))  # JSON is YAML
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tmp_path / "daemon.log"
        self.port: int | None = None

    def start(self, *prefix: str, command: tuple[str, ...] = ("daemon",), **env: str) -> None:
        """Start the daemon (``prefix``: a command it runs under, e.g. setpriv;
        ``command``: postie's arguments before ``-c CONFIG``)."""
        with self.log.open("ab") as err:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [*prefix, sys.executable, "-m", "postie", *command, "-c", str(self.config)],
                cwd=REPO,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        self.port = None

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, what: Callable[[], bool], timeout: float = 60, why: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if what():
                return
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {why or what}:\n{self.text()[-3000:]}")

    def status_port(self) -> int:
        if self.port is None:
            self.wait_for(lambda: "status on http" in self.text(), why="the status endpoint")
            found = re.findall(r"status on http://127\.0\.0\.1:(\d+)/status", self.text())
            self.port = int(found[-1])
        return self.port

    def request(self, path: str, body: dict[str, Any] | None = None, key: str | None = None) -> Any:
        headers = {"X-API-Key": key} if key else {}
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.status_port()}{path}", data=data, headers=headers
        )
        with urllib.request.urlopen(req, timeout=10) as reply:
            raw = reply.read().decode()
        return json.loads(raw) if path != "/metrics" else raw

    def jobs(self) -> list[sqlite3.Row]:
        with sqlite3.connect(self.db) as db:
            db.row_factory = sqlite3.Row
            return list(db.execute("SELECT * FROM jobs ORDER BY id"))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def make_daemon(inn: Inn, tmp_path: Path) -> Any:
    made: list[Daemon] = []

    def make(**daemon: Any) -> Daemon:
        d = Daemon(inn, tmp_path, **daemon)
        made.append(d)
        return d

    yield make
    for d in made:
        d.kill()


def grow(path: Path, seconds: float, step: int = 20_000) -> threading.Thread:
    """Append to ``path`` every 0.2 s for ``seconds`` (a download still running)."""

    def run() -> None:
        end = time.monotonic() + seconds
        with path.open("ab") as out:
            while time.monotonic() < end:
                out.write(os.urandom(step))
                out.flush()
                time.sleep(0.2)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_dropped_folders_and_files_are_posted_once_stable(inn: Inn, make_daemon: Any) -> None:
    d: Daemon = make_daemon()
    d.start()
    d.wait_for(lambda: "status on http" in d.text(), why="the daemon to start")
    show = d.watch / "Show.S01"
    (show / "extras").mkdir(parents=True)
    files = {
        show / "e01.bin": os.urandom(300_000),
        show / "extras" / "cover.bin": os.urandom(50_000),
        d.watch / "movie.bin": os.urandom(200_000),
    }
    for path, data in files.items():
        path.write_bytes(data)
    growing = d.watch / "growing.bin"
    growing.write_bytes(b"")
    writer = grow(growing, 3.0)
    (d.watch / "ignored.part").write_bytes(b"x" * 1000)
    writer.join()
    stopped_growing = time.time()
    final = growing.read_bytes()
    expected = {
        "Show.S01.nzb": {
            "e01.bin": files[show / "e01.bin"],
            "extras/cover.bin": files[show / "extras" / "cover.bin"],
        },
        "movie.bin.nzb": {"movie.bin": files[d.watch / "movie.bin"]},
        "growing.bin.nzb": {"growing.bin": final},
    }
    d.wait_for(lambda: all((d.output / n).exists() for n in expected), 90, "the three NZBs")
    jobs = {Path(j["path"]).name: j for j in d.jobs()}
    assert set(jobs) == {"Show.S01", "movie.bin", "growing.bin"}, "ignored.part was queued"
    assert jobs["growing.bin"]["created_at"] >= stopped_growing, "a growing file was taken"
    for name, contents in expected.items():
        rebuilt = rebuild_from_nzb(d.output / name, inn.host, inn.open_port)
        assert {n: r.data for n, r in rebuilt.items()} == contents
    assert d.stop() == 0


def test_sigkill_mid_job_resumes_without_duplicates(inn: Inn, make_daemon: Any) -> None:
    if not NEWS_LOG.exists():
        pytest.skip("needs INN's log of accepted articles")
    d: Daemon = make_daemon()
    log = InnLog(d.domain)
    data = os.urandom(40 * ARTICLE)
    (d.watch / "big.bin").write_bytes(data)
    d.start(POSTIE_CRASH_AT="acked:10")
    assert d.proc is not None
    assert d.proc.wait(90) == -signal.SIGKILL, d.text()[-2000:]
    first = log.settle()
    assert 10 <= len(first) < 40
    d.start()
    d.wait_for(lambda: (d.output / "big.bin.nzb").exists(), 90, "the NZB after the restart")
    second = log.settle()
    assert not set(first) & set(second), "a Message-ID was posted twice"
    assert len(first) + len(second) == 40
    assert [Path(j["path"]).name for j in d.jobs()] == ["big.bin"], "a second job for the path"
    rebuilt = rebuild_from_nzb(d.output / "big.bin.nzb", inn.host, inn.open_port)
    assert rebuilt["big.bin"].data == data
    assert "interrupted before" in d.text()
    assert d.stop() == 0


def test_three_jobs_two_at_a_time_the_third_starts_when_one_finishes(
    inn: Inn, make_daemon: Any, tmp_path: Path
) -> None:
    d: Daemon = make_daemon(allowed_paths=[str(tmp_path / "in")])
    sizes = {"a-small.bin": 100_000, "b-big.bin": 60_000_000, "c-next.bin": 100_000}
    for name, size in sizes.items():
        path = d.tmp / "in" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(os.urandom(size))
        added = run_postie("queue", "add", path, "-c", d.config)
        assert added.returncode == 0, added.output
    d.start()
    d.wait_for(
        lambda: all(j["state"] == "done" for j in d.jobs()) and len(d.jobs()) == 3,
        120,
        "all three jobs",
    )
    jobs = {Path(j["path"]).name: j for j in d.jobs()}
    spans = [(j["started_at"], j["finished_at"]) for j in jobs.values()]
    for start, _ in spans:
        overlapping = sum(1 for s, e in spans if s <= start < e)
        assert overlapping <= 2, "more than two jobs ran at once"
    a, b, c = jobs["a-small.bin"], jobs["b-big.bin"], jobs["c-next.bin"]
    assert c["started_at"] >= a["finished_at"]
    assert c["started_at"] < b["finished_at"], "the third job waited for both to finish"
    assert d.stop() == 0


def test_sigterm_stops_within_the_bound_and_the_next_start_finishes(
    inn: Inn, make_daemon: Any
) -> None:
    d: Daemon = make_daemon(max_concurrent_jobs=1)
    data = os.urandom(120 * ARTICLE)
    (d.watch / "long.bin").write_bytes(data)
    d.start()
    d.wait_for(lambda: "job 1 started" in d.text(), 60, "the job to start")
    time.sleep(0.3)
    started = time.monotonic()
    assert d.stop() == 0
    assert time.monotonic() - started < 12
    assert d.jobs()[0]["state"] in ("queued", "done")
    d.start()
    d.wait_for(lambda: (d.output / "long.bin.nzb").exists(), 90, "the NZB after the restart")
    assert (
        rebuild_from_nzb(d.output / "long.bin.nzb", inn.host, inn.open_port)["long.bin"].data
        == data
    )
    assert d.stop() == 0


def test_status_metrics_and_keyed_actions(inn: Inn, make_daemon: Any, tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    logfile = tmp_path / "logs" / "daemon.log"
    logfile.parent.mkdir()
    d: Daemon = make_daemon(log_file=str(logfile))
    d.start()
    status = d.request("/status")
    assert status["queue"] == {}
    assert status["connections"][0]["max"] == 2
    metrics = d.request("/metrics")
    names = {f.name for f in text_string_to_metric_families(metrics)}
    assert "postie_jobs_queued" in names
    for key in (None, "wrong"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            d.request("/actions/pause", {}, key=key)
        assert refused.value.code == 401
        refused.value.close()
    assert d.request("/actions/pause", {}, key=KEY) == {"paused": True}
    assert d.request("/status")["paused"] is True
    listing = run_postie("queue", "list", "-c", d.config)
    assert "the queue is paused" in listing.stdout
    assert d.stop() == 0
    logged = logfile.read_text()
    assert "status on http" in logged
    assert "queue paused" in logged
    assert KEY not in logged


def test_bad_input_is_reported_and_the_rest_is_served(
    inn: Inn, make_daemon: Any, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(os.urandom(10_000))
    locked = tmp_path / "locked-nzb"
    locked.write_text("a file where a folder should be")
    d: Daemon = make_daemon(
        watch=[
            {"path": str(tmp_path / "no-such-folder"), "min_file_age": 1.0},
            {"path": str(tmp_path / "watch"), "min_file_age": 1.0, "follow_symlinks": True},
            {"path": str(tmp_path / "other"), "min_file_age": 1.0, "output": str(locked / "x")},
        ]
    )
    (tmp_path / "other").mkdir()
    (d.watch / "link.bin").symlink_to(outside)
    (tmp_path / "other" / "stuck.bin").write_bytes(os.urandom(10_000))
    (d.watch / "good.bin").write_bytes(os.urandom(100_000))
    d.start()
    d.wait_for(lambda: (d.output / "good.bin.nzb").exists(), 60, "the good job")
    d.wait_for(lambda: "stuck.bin" in d.text() and "NZB folder" in d.text(), 30, "the error")
    text = d.text()
    assert "no-such-folder" in text
    assert "outside the watch root; not followed" in text
    assert not (d.output / "link.bin.nzb").exists()
    assert d.proc is not None
    assert d.proc.poll() is None, "the daemon died"
    assert d.stop() == 0


def test_a_job_takes_only_what_its_watch_root_allows(
    inn: Inn, make_daemon: Any, tmp_path: Path
) -> None:
    """A folder job with a .env, a finished x.part, a link out of the root and a broken
    link: only the real files are posted (the root's rules hold inside the job too), each
    link is named in the log, and the job is done with its NZB written."""
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.txt").write_bytes(b"outside the root " * 100)
    d: Daemon = make_daemon(
        watch=[{"path": str(tmp_path / "watch"), "min_file_age": 1.0, "follow_symlinks": True}]
    )
    job = d.tmp / "stage"
    job.mkdir()
    data = os.urandom(100_000)
    (job / "a.bin").write_bytes(data)
    (job / ".env").write_bytes(b"API_KEY=hunter2")
    (job / "x.part").write_bytes(os.urandom(5000))
    (job / "key.txt").symlink_to(secret / "key.txt")
    (job / "gone.bin").symlink_to(tmp_path / "nowhere.bin")
    job.rename(d.watch / "Set")  # lands whole
    d.start()
    d.wait_for(lambda: (d.output / "Set.nzb").exists(), 60, "the job's NZB")
    rebuilt = rebuild_from_nzb(d.output / "Set.nzb", inn.host, inn.open_port)
    assert {n: r.data for n, r in rebuilt.items()} == {"a.bin": data}
    d.wait_for(lambda: d.jobs()[0]["state"] == "done", 30, "the job to be done")
    text = d.text()
    assert f"{d.watch / 'Set' / 'key.txt'}: symlink to {secret / 'key.txt'}, outside" in text
    assert f"{d.watch / 'Set' / 'gone.bin'}: broken symlink" in text
    assert ".env" not in text
    assert "x.part" not in text
    assert d.stop() == 0


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv"
)
def test_a_job_whose_transfer_stays_incomplete_fails_with_the_reason(
    inn: Inn, make_daemon: Any
) -> None:
    """One file of a job cannot be read: the other is posted, but the transfer is
    incomplete and no NZB is written, so the job is failed (not done), with the reason in
    `queue list` and /status."""
    d: Daemon = make_daemon(max_attempts=1)
    job = d.tmp / "stage"
    job.mkdir()
    (job / "ok.bin").write_bytes(os.urandom(50_000))
    secret = job / "secret.bin"
    secret.write_bytes(os.urandom(5000))
    os.chown(secret, 65534, 65534)  # nobody
    secret.chmod(0o600)
    job.rename(d.watch / "Set")
    # root without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH obeys file permissions
    d.start("setpriv", "--bounding-set=-dac_override,-dac_read_search")
    d.wait_for(lambda: "status on http" in d.text(), 30, "the daemon to start")
    d.wait_for(lambda: bool(d.jobs()) and d.jobs()[0]["state"] == "failed", 60, "the failure")
    assert not (d.output / "Set.nzb").exists()
    reason = f"{d.watch / 'Set' / 'secret.bin'}: permission denied"
    assert reason in d.jobs()[0]["last_error"]
    listing = run_postie("queue", "list", "-c", d.config)
    assert "failed" in listing.stdout
    assert reason in listing.stdout
    (entry,) = d.request("/status")["jobs"]
    assert (entry["state"], reason in entry["error"]) == ("failed", True)
    assert d.request("/metrics").count("postie_jobs_failed_total 1.0") == 1
    assert d.stop() == 0


def test_only_paths_inside_a_watch_root_or_allowed_path_can_be_queued(
    inn: Inn, make_daemon: Any, tmp_path: Path
) -> None:
    """`queue add` and POST /actions/add refuse /etc, a path outside the roots, and a
    link inside a root that leads out of it; a path in daemon.allowed_paths is taken."""
    allowed = tmp_path / "allowed"
    (allowed / "Set").mkdir(parents=True)
    (allowed / "Set" / "a.bin").write_bytes(os.urandom(5000))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "b.bin").write_bytes(os.urandom(5000))
    d: Daemon = make_daemon(allowed_paths=[str(allowed)])
    (d.watch / "escape").symlink_to(tmp_path / "elsewhere")
    for path in ("/etc", tmp_path / "elsewhere", d.watch / "escape"):
        refused = run_postie("queue", "add", path, "-c", d.config)
        assert refused.returncode == 2, refused.output
        assert "is not inside a watch root or daemon.allowed_paths" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    d.start()
    for path in ("/etc", str(tmp_path / "elsewhere")):
        with pytest.raises(urllib.error.HTTPError) as info:
            d.request("/actions/add", {"path": path}, key=KEY)
        assert info.value.code == 409  # the action refused it (see postie/daemon/http.py)
        assert "is not inside a watch root" in info.value.read().decode()
        info.value.close()
    assert d.request("/actions/add", {"path": str(allowed / "Set")}, key=KEY) == {"queued": 1}
    d.wait_for(lambda: (d.output / "Set.nzb").exists(), 60, "the allowed job's NZB")
    assert [Path(j["path"]) for j in d.jobs()] == [allowed / "Set"]
    assert d.stop() == 0


def test_watch_takes_the_posting_options_of_post(
    inn: Inn, make_daemon: Any, tmp_path: Path
) -> None:
    """`postie watch` with --group, --no-par2 and --verify-delay (over the config's and
    the environment's settings): the job's articles go to that group, with no PAR2, and
    its check waits for the delay."""
    d: Daemon = make_daemon()
    d.start(
        command=(
            "watch", str(d.watch), "-o", str(d.output), "--min-file-age", "0.5",
            "--group", "alt.test.postie", "--no-par2", "--verify-delay", "3600",
        ),
        POSTIE_PAR2="1",
    )  # fmt: skip
    (d.watch / "movie.bin").write_bytes(os.urandom(200_000))
    nzb_path = d.output / "movie.bin.nzb"
    d.wait_for(nzb_path.exists, 60, "the job's NZB")
    document = nzb.read(nzb_path)
    assert [f.groups for f in document.files] == [("alt.test.postie",)]
    assert not any(".par2" in f.subject for f in document.files)
    shown = run_postie("transfers", "show", "1", "--db", d.db)
    assert "verify:    check due at" in shown.stdout, shown.output
    assert d.stop() == 0


def test_a_daemon_alone_fails_a_job_whose_path_is_gone_at_once(inn: Inn, make_daemon: Any) -> None:
    """A job queued while the queue is paused, its folder deleted before the daemon (the
    only one on the store) takes it: it fails at once, with one line naming the path and
    the instance that could not read it; it is not deferred for ever, nor retried."""
    d: Daemon = make_daemon(max_attempts=5)
    d.start(command=("daemon", "--instance", "solo"))
    d.wait_for(lambda: "ready: " in d.text(), 60, "the daemon to be ready")
    assert "(instance solo, worker " in d.text()
    assert run_postie("queue", "pause", "-c", d.config).returncode == 0
    (d.watch / "Gone").mkdir()
    (d.watch / "Gone" / "a.bin").write_bytes(os.urandom(5000))
    d.wait_for(lambda: bool(d.jobs()), 60, "the job to be queued")
    shutil.rmtree(d.watch / "Gone")
    assert run_postie("queue", "resume", "-c", d.config).returncode == 0
    d.wait_for(lambda: d.jobs()[0]["state"] == "failed", 30, "the job to fail")
    expected = (
        f"no instance can read {d.watch / 'Gone'} (solo: No such file or directory);"
        " postie queue retry puts it back"
    )
    (job,) = d.jobs()
    assert (job["last_error"], job["attempts"]) == (expected, 1)
    assert f"job 1 failed: {expected}" in d.text()
    assert d.request("/status")["instance"] == "solo"
    assert d.stop() == 0
