"""``postie verify NZB``: STAT every segment, report the missing ones."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from postie import nzb
from postie.article.plan import collect, plan_job
from postie.config import parse_config
from postie.nntp import stat
from postie.nntp.pool import ConnectionPool
from postie.runtime.engine import PostingJob
from postie.runtime.runtime import Runtime
from postie.testing import Faults, FaultyNNTPServer, make_tree
from postie.verify.segments import check_segments
from tests.conftest import Inn, run_postie
from tests.engine_nzb import RUN_KEY, write_nzbs


async def test_lost_articles_are_found_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server says 240 to three articles and keeps none of them: a check of the
    NZB finds exactly those three, in batches over several connections."""
    monkeypatch.setattr(stat, "BATCH", 7)
    make_tree(tmp_path / "src", {"a.bin": 30 * 4096, "b.bin": 12 * 4096})
    async with FaultyNNTPServer(faults=Faults(lose_articles=3)) as server:
        cfg = parse_config(
            {
                "servers": [{"host": server.host, "port": server.port, "max_connections": 3}],
                "posting": {"article_size": 4096},
            }
        )
        plan = plan_job(collect([tmp_path / "src"]), cfg.posting, name="job")
        async with Runtime(cfg) as runtime:
            result = await PostingJob(runtime, plan, cfg.posting).run()
        path = tmp_path / "job.nzb"
        write_nzbs(result, cfg.nzb, {RUN_KEY: path}, cfg.posting)
        async with ConnectionPool(cfg.servers[0].settings()) as pool:
            check = await check_segments(pool, nzb.read(path))
        lost = {mid.strip("<>") for mid in server.lost}
    assert check.checked == 42
    assert {m.message_id for m in check.missing} == lost
    assert len(lost) == 3
    assert not check.complete


@pytest.mark.inn
def test_verify_command_against_inn(inn: Inn, tmp_path: Path) -> None:
    source = tmp_path / "v.bin"
    source.write_bytes(bytes(range(256)) * 4000)
    out = tmp_path / "v.nzb"
    server = ("--host", inn.host, "--port", inn.open_port)
    posted = run_postie("post", source, *server, "--article-size", 100_000, "-o", out, "-q")
    assert posted.returncode == 0, posted.output
    ok = run_postie("verify", out, *server)
    assert ok.returncode == 0, ok.output
    assert "11 segments of 1 files STATed" in ok.stdout
    assert "all there" in ok.stdout
    document = nzb.read(out)
    file = document.files[0]
    fake = nzb.NzbSegment(12, 100, "never-posted.postie-verify@postie.test")
    damaged = tmp_path / "damaged.nzb"
    nzb.write(damaged, [msgspec.structs.replace(file, segments=(*file.segments, fake))])
    bad = run_postie("verify", damaged, *server)
    assert bad.returncode == 4, bad.output
    assert "missing: file 1 part 12 <never-posted.postie-verify@postie.test>" in bad.stdout
    assert "1 missing, in 1 of 1 files" in bad.stdout
