"""The engine against the fault-injecting server: every run completes, nothing is posted twice."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from postie import errors, nzb
from postie.article.plan import JobPlan, collect, plan_job
from postie.config import Config, parse_config
from postie.runtime.engine import PostingJob
from postie.runtime.runtime import Runtime
from postie.runtime.state import JobResult
from postie.testing import Expect, Faults, FaultyNNTPServer, Send, Step, make_tree
from tests import yenc_ref
from tests.engine_nzb import RUN_KEY, write_nzbs

ARTICLE = 16_384
SPEC: dict[str, int | bytes] = {
    "a.bin": ARTICLE * 5 + 7,
    "b.bin": ARTICLE,
    "sub/c.bin": 1,
    "sub/d.bin": ARTICLE * 3,
}


def make_config(server: FaultyNNTPServer, **server_fields: Any) -> Config:
    return parse_config(
        {
            "servers": [
                {
                    "host": server.host,
                    "port": server.port,
                    "max_connections": 3,
                    "timeouts": {"connect": 2, "reply": 2, "post": 0.5},
                    **server_fields,
                }
            ],
            "posting": {"article_size": ARTICLE, "retry_delay": 0.01, "max_retries": 4},
        }
    )


async def post(
    server: FaultyNNTPServer, root: Path, **server_fields: Any
) -> tuple[JobResult, PostingJob]:
    cfg = make_config(server, **server_fields)
    plan = plan_job(collect([root]), cfg.posting, name="job")
    async with Runtime(cfg) as runtime:
        job = PostingJob(runtime, plan, cfg.posting)
        return await job.run(), job


def assert_nzb_complete(result: JobResult, server: FaultyNNTPServer, out: Path) -> None:
    """The run's NZB is written and lists every segment of every file, all on the server."""
    cfg = parse_config({"servers": [{"host": server.host}]})
    path = out / "job.nzb"
    written = write_nzbs(result, cfg.nzb, {RUN_KEY: path}, cfg.posting)
    assert written == [path]
    document = nzb.read(path)
    assert len(document.files) == len(result.plan.files)
    for entry, file in zip(document.files, result.plan.files, strict=True):
        assert [s.number for s in entry.segments] == [s.number for s in file.segments]
        for seg in entry.segments:
            assert f"<{seg.message_id}>" in server.articles


def assert_all_on_server_once(server: FaultyNNTPServer, plan: JobPlan, root: Path) -> None:
    """Every article is stored, was accepted exactly once, and the files rebuild byte-exact."""
    for file in plan.files:
        data = b""
        for seg in file.segments:
            mid = f"<{seg.message_id}>"
            assert server.accepted[mid] == 1, f"{mid} accepted {server.accepted[mid]} times"
            _, body = yenc_ref.split_article(server.articles[mid])
            part = yenc_ref.parse_article_body(body)
            data += part.data
        source = (root / file.name).read_bytes()
        assert hashlib.sha256(data).digest() == hashlib.sha256(source).digest()
    assert not server.duplicates


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    make_tree(root, SPEC)
    return root


async def test_clean_run(tree: Path) -> None:
    async with FaultyNNTPServer() as server:
        result, job = await post(server, tree)
    assert result.complete
    assert_all_on_server_once(server, result.plan, tree)
    assert job.statistics().retries == 0
    assert server.statistics().max_concurrent_connections <= 3


async def test_connection_dropped_after_340(tree: Path, tmp_path: Path) -> None:
    async with FaultyNNTPServer(faults=Faults(drop_after_340=3)) as server:
        result, job = await post(server, tree)
    assert result.complete
    assert_all_on_server_once(server, result.plan, tree)
    assert_nzb_complete(result, server, tmp_path)
    assert job.statistics().checked_in_doubt >= 3  # STAT before each re-post


async def test_reply_lost_after_article_is_not_posted_twice(tree: Path, tmp_path: Path) -> None:
    async with FaultyNNTPServer(faults=Faults(drop_after_article=3)) as server:
        result, job = await post(server, tree)
    assert result.complete
    assert_all_on_server_once(server, result.plan, tree)
    assert_nzb_complete(result, server, tmp_path)
    # the articles whose 240 was lost were found by STAT, never sent again
    assert max(server.post_attempts.values()) == 1
    assert job.statistics().checked_in_doubt == 3


async def test_441_once_is_retried_with_the_same_message_id(tree: Path, tmp_path: Path) -> None:
    async with FaultyNNTPServer(faults=Faults(reject_441=2)) as server:
        result, job = await post(server, tree)
    assert result.complete
    assert_all_on_server_once(server, result.plan, tree)
    assert_nzb_complete(result, server, tmp_path)
    assert sorted(server.post_attempts.values()).count(2) == 2
    assert job.statistics().retries == 2


async def test_480_mid_session_reauthenticates(tree: Path, tmp_path: Path) -> None:
    faults = Faults(auth_expire_after=2)
    async with FaultyNNTPServer(faults=faults, username="u", password="p") as server:
        result, _ = await post(server, tree, username="u", password="p")
    assert result.complete
    assert_all_on_server_once(server, result.plan, tree)
    assert_nzb_complete(result, server, tmp_path)
    assert sum(1 for c in server.commands if c.startswith("AUTHINFO PASS")) > 3


async def test_stalled_reply_times_out_then_stat_then_repost(tree: Path, tmp_path: Path) -> None:
    async with FaultyNNTPServer(faults=Faults(stall_posts=2)) as server:
        result, job = await post(server, tree)
    assert result.complete
    assert_all_on_server_once(server, result.plan, tree)
    assert_nzb_complete(result, server, tmp_path)
    assert job.statistics().checked_in_doubt >= 2


async def test_everything_at_once(tree: Path, tmp_path: Path) -> None:
    faults = Faults(
        drop_after_340=2, drop_after_article=2, reject_441=2, stall_posts=1, auth_expire_after=7
    )
    async with FaultyNNTPServer(faults=faults, username="u", password="p") as server:
        result, _ = await post(server, tree, username="u", password="p")
    assert result.complete
    assert_all_on_server_once(server, result.plan, tree)
    assert_nzb_complete(result, server, tmp_path)


async def test_no_nzb_when_a_file_failed(tree: Path, tmp_path: Path) -> None:
    async with FaultyNNTPServer(faults=Faults(reject_441=1000)) as server:
        result, _ = await post(server, tree)
    cfg = parse_config({"servers": [{"host": server.host}]})
    path = tmp_path / "job.nzb"
    assert write_nzbs(result, cfg.nzb, {RUN_KEY: path}, cfg.posting) == []
    assert not path.exists()


async def test_retries_exhausted_fail_the_file_not_the_job(tree: Path) -> None:
    async with FaultyNNTPServer(faults=Faults(reject_441=1000)) as server:
        result, _ = await post(server, tree)
    assert not result.complete
    assert result.failed
    assert all("441 Posting failed" in str(f.error) for f in result.failed)
    assert not server.articles


async def test_article_too_large_fails_the_job_with_the_reply(tree: Path) -> None:
    async with FaultyNNTPServer(faults=Faults(max_article_size=4000)) as server:
        with pytest.raises(errors.JobFailed, match="bigger than local limit"):
            await post(server, tree)


async def test_connections_never_exceed_the_maximum(tree: Path) -> None:
    async with FaultyNNTPServer(faults=Faults(reply_delay=0.01)) as server:
        result, _ = await post(server, tree, max_connections=2)
    assert result.complete
    assert server.statistics().max_concurrent_connections == 2


@pytest.mark.parametrize("pipelining", [True, False])
async def test_pipelined_posts_send_the_next_post_behind_the_article(
    tree: Path, tmp_path: Path, pipelining: bool
) -> None:
    async with FaultyNNTPServer(faults=Faults(reply_delay=0.005)) as server:
        result, job = await post(server, tree, max_connections=1, pipelining=pipelining)
    assert result.complete
    assert_all_on_server_once(server, result.plan, tree)
    assert_nzb_complete(result, server, tmp_path)
    articles = result.plan.article_count
    pipelined = job.statistics().pipelined_posts
    if pipelining:
        # every article but the last has its successor's POST sent right behind it
        assert pipelined >= articles // 2
        assert server.commands.count("POST") == articles
    else:
        assert pipelined == 0


async def test_pipelined_post_survives_faults(tree: Path, tmp_path: Path) -> None:
    faults = Faults(drop_after_340=1, drop_after_article=1, reject_441=1, auth_expire_after=5)
    async with FaultyNNTPServer(faults=faults, username="u", password="p") as server:
        result, job = await post(server, tree, max_connections=1, username="u", password="p")
    assert result.complete
    assert_all_on_server_once(server, result.plan, tree)
    assert_nzb_complete(result, server, tmp_path)
    assert job.statistics().pipelined_posts > 0


async def test_garbled_replies_fail_the_file_not_the_process(tree: Path) -> None:
    """A reply that is not NNTP breaks its connection: retried on a fresh one like a
    dropped connection, then the file fails; the job does not crash on ProtocolError."""
    script: list[Step] = [Send(b"200 ok\r\n"), Expect("line"), Send(b"\x16\x03\x01 what\r\n")]
    async with FaultyNNTPServer(script=script) as server:
        result, job = await post(server, tree, max_connections=1)
    assert len(result.failed) == len(result.plan.files)
    assert all("not an NNTP reply" in str(f.error) for f in result.failed)
    assert job.statistics().retries > 0
