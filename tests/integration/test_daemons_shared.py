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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from postie import nzb
from tests import postgres
from tests.conftest import REPO, Inn
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

    def start(self, n: int, config: Path | None = None, **env: str) -> None:
        for _ in range(n):
            log = self.tmp / f"daemon-{len(self.logs)}.log"
            with log.open("ab") as err:
                self.procs.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "postie",
                            "daemon",
                            "-c",
                            str(config or self.config),
                        ],
                        cwd=REPO,
                        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
                        stdout=subprocess.DEVNULL,
                        stderr=err,
                    )
                )
            self.logs.append(log)

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
    one set of Message-IDs; every NZB is complete and byte-exact. (How the jobs spread
    over daemons that are all free follows timing, and is not asserted.)"""
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
