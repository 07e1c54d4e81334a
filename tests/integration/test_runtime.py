"""The Runtime's shared limits hold across servers and jobs (fault-injecting server)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from postie.article.plan import collect, plan_job
from postie.config import Config, parse_config
from postie.runtime.engine import PostingJob
from postie.runtime.runtime import Runtime
from postie.testing import Faults, FaultyNNTPServer, make_tree

ARTICLE = 16_384


def config(*servers: FaultyNNTPServer, **extra: Any) -> Config:
    return parse_config(
        {
            "servers": [
                {"host": s.host, "port": s.port, "max_connections": 2, "name": f"s{i}"}
                for i, s in enumerate(servers)
            ],
            "posting": {"article_size": ARTICLE, "retry_delay": 0.01},
            **extra,
        }
    )


async def test_articles_are_spread_over_every_upload_server(tmp_path: Path) -> None:
    make_tree(tmp_path / "t", {"a.bin": ARTICLE * 40})
    faults = Faults(reply_delay=0.005)
    async with FaultyNNTPServer(faults=faults) as one, FaultyNNTPServer(faults=faults) as two:
        cfg = config(one, two)
        plan = plan_job(collect([tmp_path / "t"]), cfg.posting, name="t")
        async with Runtime(cfg) as runtime:
            result = await PostingJob(runtime, plan, cfg.posting).run()
            assert runtime.slots.total == 4
    assert result.complete
    assert len(one.articles) > 5
    assert len(two.articles) > 5
    assert len(one.articles) + len(two.articles) == 40
    assert not set(one.articles) & set(two.articles)


async def test_two_jobs_share_the_connections(tmp_path: Path) -> None:
    make_tree(tmp_path / "a", {"a.bin": ARTICLE * 20})
    make_tree(tmp_path / "b", {"b.bin": ARTICLE * 20})
    async with FaultyNNTPServer(faults=Faults(reply_delay=0.005)) as server:
        cfg = config(server)
        plans = [plan_job(collect([tmp_path / n]), cfg.posting, name=n) for n in ("a", "b")]
        async with Runtime(cfg) as runtime:
            results = await asyncio.gather(
                *(PostingJob(runtime, p, cfg.posting).run() for p in plans)
            )
            slots = runtime.slots.statistics()
            pools = runtime.statistics().pools
    assert all(r.complete for r in results)
    assert slots.peak_in_use == 2
    assert slots.in_use == 0
    assert pools[0].open <= 2
    assert server.statistics().max_concurrent_connections == 2
    assert len(server.articles) == 40


async def test_read_ahead_stays_within_the_byte_budget(tmp_path: Path) -> None:
    make_tree(tmp_path / "t", {"a.bin": ARTICLE * 200})
    budget = 1024 * 1024  # room for 28 articles in flight
    async with FaultyNNTPServer(faults=Faults(reply_delay=0.01)) as server:
        cfg = config(server, limits={"buffer_bytes": budget})
        plan = plan_job(collect([tmp_path / "t"]), cfg.posting, name="t")
        async with Runtime(cfg) as runtime:
            job = PostingJob(runtime, plan, cfg.posting)
            task = asyncio.create_task(job.run())
            peaks = []
            while not task.done():
                peaks.append(runtime.budget.statistics().in_use)
                await asyncio.sleep(0.002)
            result = await task
            final = runtime.budget.statistics()
    assert result.complete
    assert final.in_use == 0
    assert final.peak_in_use <= budget
    # read-ahead really ran ahead of the two connections, up to the budget
    assert max(peaks) > budget // 2


async def test_tiny_articles_in_flight_are_counted_not_only_their_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Articles of a few bytes would fit by the thousand in the byte budget; at most
    MAX_IN_FLIGHT are read, encoded or on the wire at once (their bookkeeping, not
    their bytes, is what costs memory)."""
    from postie.runtime import pipeline

    monkeypatch.setattr(pipeline, "MAX_IN_FLIGHT", 8)
    make_tree(tmp_path / "t", {f"f{i:03}.bin": 100 for i in range(120)})
    async with FaultyNNTPServer(faults=Faults(reply_delay=0.005)) as server:
        cfg = config(server)
        plan = plan_job(collect([tmp_path / "t"]), cfg.posting, name="t")
        async with Runtime(cfg) as runtime:
            job = PostingJob(runtime, plan, cfg.posting)
            task = asyncio.create_task(job.run())
            most = 0
            while not task.done():
                most = max(most, len(job._pipeline._live))
                await asyncio.sleep(0)
            result = await task
    assert result.complete
    assert 1 < most <= 8


async def test_jobs_with_more_workers_than_connections_take_turns(tmp_path: Path) -> None:
    """Three jobs over two servers of one connection each all finish (lanes give way)."""
    for name in "abc":
        make_tree(tmp_path / name, {f"{name}.bin": ARTICLE * 12})
    faults = Faults(reply_delay=0.002)
    async with FaultyNNTPServer(faults=faults) as one, FaultyNNTPServer(faults=faults) as two:
        cfg = parse_config(
            {
                "servers": [
                    {"host": s.host, "port": s.port, "max_connections": 1} for s in (one, two)
                ],
                "posting": {"article_size": ARTICLE, "retry_delay": 0.01},
            }
        )
        plans = [plan_job(collect([tmp_path / n]), cfg.posting, name=n) for n in "abc"]
        async with Runtime(cfg) as runtime:
            results = await asyncio.wait_for(
                asyncio.gather(*(PostingJob(runtime, p, cfg.posting).run() for p in plans)), 30
            )
            assert runtime.slots.statistics().in_use == 0
    assert all(r.complete for r in results)
    assert len(one.articles) + len(two.articles) == 36
