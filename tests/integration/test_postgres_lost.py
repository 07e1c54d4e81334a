"""A PostgreSQL server lost while postie works (restarted, the network cut): postie
waits for it, one warning and one line when it is back, and the work goes on and
completes; only past ``store.reconnect_timeout`` does a command end, with one line,
and the same command then goes on with the same Message-IDs.

The shared test cluster is never disturbed: postie reaches it through a relay
(``tests.relay``) that the test cuts (every connection reset, new ones refused for a
few seconds). Posting goes through a slowed relay to INN, so the cut falls mid-post.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from postie import nzb
from tests import postgres
from tests.conftest import Inn, Run, run_postie
from tests.integration.innlog import NEWS_LOG, InnLog
from tests.integration.readback import rebuild_from_nzb
from tests.integration.test_daemons_shared import Shared
from tests.relay import Relay

ARTICLE = 16_384
LOST = "lost the database"
BACK = "is back after"


def through(url: str, relay: Relay) -> str:
    """``url`` with its host and port those of ``relay``."""
    parts = urllib.parse.urlsplit(url)
    userinfo = parts.netloc.rsplit("@", 1)[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{userinfo}@127.0.0.1:{relay.port}"))


class Posting:
    """A folder of files, a config whose store (PostgreSQL) and server (INN) are each
    reached through a relay, and INN's log of what it accepted."""

    def __init__(self, inn: Inn, tmp_path: Path, url: str, **store: object) -> None:
        if not NEWS_LOG.exists():
            pytest.skip("needs INN's log of accepted articles")
        host, port = postgres.address()
        self.db = Relay(host, port)
        self.news = Relay(inn.host, inn.open_port, delay=0.02)  # ~50 articles a second
        self.inn = inn
        self.domain = f"lost{os.urandom(4).hex()}.postie.test"
        self.source = tmp_path / "set"
        self.source.mkdir()
        self.files: dict[str, bytes] = {}
        for i, articles in enumerate((120, 90, 60)):
            data = os.urandom(articles * ARTICLE - 1000 * i)
            (self.source / f"f{i}.bin").write_bytes(data)
            self.files[f"f{i}.bin"] = data
        self.out = tmp_path / "set.nzb"
        self.config = tmp_path / "postie.yaml"
        settings = {
            "servers": [{"host": "127.0.0.1", "port": self.news.port, "max_connections": 2}],
            "posting": {"article_size": ARTICLE, "message_id_domain": self.domain},
            "store": {
                "url": through(url, self.db),
                "manifests": str(tmp_path / "manifests"),
                "checkpoint_interval": 0.1,
                **store,
            },
            "verify": {"delay": 0},
            "par2": {"enabled": False},
        }
        self.config.write_text(json.dumps(settings))  # JSON is YAML
        self.log = InnLog(self.domain)
        self.accepted: dict[str, int] = {}

    def close(self) -> None:
        self.db.close()
        self.news.close()

    def post(self) -> Run:
        return run_postie(
            "post", self.source, "-c", self.config, "-o", self.out, "--plain", timeout=240
        )

    def post_cutting(self, after: int, seconds: float) -> Run:
        """``postie post``, the database cut for ``seconds`` once INN has accepted
        ``after`` of its articles."""
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            running = pool.submit(self.post)
            self.wait(lambda: len(self.seen()) >= after or running.done(), "articles posted")
            assert not running.done(), running.result().output
            self.db.cut(seconds)
            return running.result()

    def seen(self, settle: bool = False) -> dict[str, int]:
        """Message-ID -> how many times INN accepted it, so far (``settle``: until INN
        logs nothing more)."""
        more = self.log.settle() if settle else self.log.accepted_since_last(pause=0)
        for mid in more:
            self.accepted[mid] = self.accepted.get(mid, 0) + 1
        return self.accepted

    @staticmethod
    def wait(what: Callable[[], bool], why: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not what():
            assert time.monotonic() < deadline, f"timed out waiting for {why}"
            time.sleep(0.2)

    def check_posted_once(self) -> None:
        """Every article INN accepted is in the NZB, once, and the NZB reads back."""
        accepted = self.seen(settle=True)
        assert all(n == 1 for n in accepted.values()), "a Message-ID accepted twice"
        listed = [seg.message_id for f in nzb.read(self.out).files for seg in f.segments]
        assert len(listed) == len(set(listed)) == 270
        assert set(listed) == set(accepted)
        rebuilt = rebuild_from_nzb(self.out, self.inn.host, self.inn.open_port)
        assert {name: r.data for name, r in rebuilt.items()} == self.files


@pytest.fixture
def url() -> Iterator[str]:
    with postgres.fresh() as url:
        yield url


def lines(run: Run, text: str) -> list[str]:
    return [line for line in run.stderr.splitlines() if text in line]


@pytest.mark.inn
def test_a_post_rides_out_a_lost_database(inn: Inn, tmp_path: Path, url: str) -> None:
    """The database cut for 5 s mid-post: one warning, one line when it is back, exit 0,
    the NZB complete and byte-exact, no article accepted twice."""
    s = Posting(inn, tmp_path, url)
    try:
        run = s.post_cutting(after=40, seconds=5)
    finally:
        s.close()
    assert run.returncode == 0, run.output
    assert s.db.cuts, "the cut dropped no connection"
    assert len(lines(run, LOST)) == 1, run.stderr
    assert len(lines(run, BACK)) == 1, run.stderr
    assert "postie-secret" not in run.stderr  # the password is never shown
    s.check_posted_once()


@pytest.mark.inn
def test_a_database_away_too_long_ends_the_post_and_the_same_command_goes_on(
    inn: Inn, tmp_path: Path, url: str
) -> None:
    """The database cut for longer than store.reconnect_timeout (2 s): the post ends
    (exit 1) with one error line saying to run the same command again; that command
    resumes the transfer and completes it, every article under the Message-ID it was
    planned with, none accepted twice, the NZB complete."""
    s = Posting(inn, tmp_path, url, reconnect_timeout=2)
    try:
        first = s.post_cutting(after=40, seconds=8)
        s.wait(lambda: not s.db.down, "the database to be back")
        second = s.post()
    finally:
        s.close()
    assert first.returncode == 1, first.output
    errors = [line for line in first.stderr.splitlines() if line.startswith("postie: error:")]
    assert len(errors) == 1, first.stderr
    assert "has been away for more than 2 s" in errors[0]
    assert "run the same command again" in errors[0]
    assert len(lines(first, LOST)) == 1, first.stderr
    assert second.returncode == 0, second.output
    assert "resuming transfer 1" in second.stdout
    s.check_posted_once()


class DaemonPosting:
    """A daemon (``Shared``) whose store and news server are each reached through a
    relay, a 200-article file dropped into its watch folder, INN's log."""

    def __init__(self, inn: Inn, tmp_path: Path, url: str, **store: object) -> None:
        if not NEWS_LOG.exists():
            pytest.skip("needs INN's log of accepted articles")
        host, port = postgres.address()
        self.inn = inn
        self.tmp = tmp_path
        self.db = Relay(host, port)
        self.news = Relay(inn.host, inn.open_port, delay=0.02)
        self.shared = Shared(inn, tmp_path, through(url, self.db))
        settings = json.loads(self.shared.config.read_text())
        settings["servers"][0].update(host="127.0.0.1", port=self.news.port)
        settings["posting"]["article_size"] = ARTICLE
        settings["store"].update(store)
        self.shared.config.write_text(json.dumps(settings))
        self.log = InnLog(self.shared.domain)
        self.data = os.urandom(200 * ARTICLE)
        self.accepted: dict[str, int] = {}
        self.nzb = self.shared.output / "big.bin.nzb"

    def close(self) -> None:
        self.shared.kill()
        self.db.close()
        self.news.close()

    def drop_and_cut(self, seconds: float) -> None:
        """Start a daemon, drop the file, cut the database once 40 articles are in."""
        s = self.shared
        s.start(1)
        s.wait_for(lambda: "ready: " in s.texts()[0], 60, "the daemon to be ready")
        staging = self.tmp / "big.bin"
        staging.write_bytes(self.data)
        staging.rename(s.watch / "big.bin")
        s.wait_for(lambda: len(self.seen()) >= 40, 60, "the job under way")
        self.db.cut(seconds)

    def seen(self, settle: bool = False) -> dict[str, int]:
        more = self.log.settle() if settle else self.log.accepted_since_last(pause=0)
        for mid in more:
            self.accepted[mid] = self.accepted.get(mid, 0) + 1
        return self.accepted

    def wait_done(self) -> None:
        s = self.shared
        s.wait_for(self.nzb.exists, 120, "the NZB")
        s.wait_for(
            lambda: [j["state"] for j in s.rows("SELECT state FROM jobs")] == ["done"],
            60,
            "the job done",
        )

    def check_posted_once(self) -> None:
        accepted = self.seen(settle=True)
        assert all(n == 1 for n in accepted.values()), "a Message-ID accepted twice"
        listed = [seg.message_id for f in nzb.read(self.nzb).files for seg in f.segments]
        assert len(listed) == 200
        assert set(listed) == set(accepted)
        rebuilt = rebuild_from_nzb(self.nzb, self.inn.host, self.inn.open_port)
        assert rebuilt["big.bin"].data == self.data


@pytest.mark.inn
def test_a_daemons_job_rides_out_a_lost_database(inn: Inn, tmp_path: Path, url: str) -> None:
    """A daemon posting a job when its database is cut for 5 s: one warning, one line
    when it is back, the job done, the NZB complete and byte-exact, no article accepted
    twice; the daemon stops cleanly after."""
    d = DaemonPosting(inn, tmp_path, url)
    try:
        d.drop_and_cut(5)
        d.wait_done()
        assert d.shared.stop() == [0], d.shared.texts()[0]
    finally:
        d.close()
    text = d.shared.texts()[0]
    assert d.db.cuts, "the cut dropped no connection"
    assert text.count(LOST) == 1, text
    assert text.count(BACK) == 1, text
    d.check_posted_once()


@pytest.mark.inn
def test_a_daemon_whose_database_stays_away_stops_and_its_job_is_taken_again(
    inn: Inn, tmp_path: Path, url: str
) -> None:
    """The database cut for longer than store.reconnect_timeout (2 s) mid-job: the
    daemon stops (exit 1) with one error line; a daemon started once the database is
    back takes the job again and completes it with the same Message-IDs."""
    d = DaemonPosting(inn, tmp_path, url, reconnect_timeout=2)
    s = d.shared
    try:
        d.drop_and_cut(8)
        assert s.procs[0].wait(60) == 1, s.texts()[0]
        del s.procs[0]  # ended
        Posting.wait(lambda: not d.db.down, "the database to be back")
        s.start(1)
        d.wait_done()
        assert s.stop() == [0], s.texts()[1]
    finally:
        d.close()
    first, second = s.texts()
    errors = [line for line in first.splitlines() if line.startswith("postie: error:")]
    assert len(errors) == 1, first
    assert "has been away for more than 2 s" in errors[0]
    assert "run the same command again" in errors[0]
    assert first.count(LOST) == 1, first
    assert "resuming transfer 1" in second, second
    d.check_posted_once()
