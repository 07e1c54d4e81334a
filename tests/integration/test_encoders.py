"""Both encode pools in a real job: nothing leaks when a job is stopped mid-way, and the
fallback to sabctools when the native extension cannot be imported."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from postie import errors
from postie.article.plan import collect, plan_job
from postie.config import parse_config
from postie.runtime.engine import PostingJob
from postie.runtime.runtime import Runtime
from postie.testing import Faults, FaultyNNTPServer, make_tree
from tests.encoders import ENCODERS

ARTICLE = 65_536
# where the encode pools allocate bodies (and sabctools' pool its raw reads)
ALLOCATED_IN = ("postie/runtime/native.py", "postie/article/yenc.py")


def _open_on(path: Path) -> list[str]:
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            if Path(os.readlink(fd)) == path:
                found.append(fd.name)
        except OSError:
            continue
    return found


def _encoder_bytes(snapshot: tracemalloc.Snapshot) -> int:
    return sum(
        stat.size
        for stat in snapshot.statistics("filename")
        if stat.traceback[0].filename.endswith(ALLOCATED_IN)
    )


@pytest.mark.parametrize("kind", ENCODERS)
async def test_a_job_stopped_mid_way_leaves_no_descriptor_nor_buffer(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTIE_ENCODER", kind)
    make_tree(tmp_path / "t", {"a.bin": ARTICLE * 300})
    source = tmp_path / "t" / "a.bin"
    async with FaultyNNTPServer(faults=Faults(reply_delay=0.005)) as server:
        cfg = parse_config(
            {
                "servers": [{"host": server.host, "port": server.port, "max_connections": 2}],
                "posting": {"article_size": ARTICLE, "retry_delay": 0.01},
                "limits": {"buffer_bytes": 4 * 1024 * 1024},
            }
        )
        plan = plan_job(collect([tmp_path / "t"]), cfg.posting, name="t")
        tracemalloc.start(1)
        try:
            async with Runtime(cfg) as runtime:
                assert runtime.encoder.kind == kind
                job = PostingJob(runtime, plan, cfg.posting)
                task = asyncio.create_task(job.run())
                for _ in range(2000):
                    if len(server.articles) >= 20:
                        break
                    await asyncio.sleep(0.005)
                # the probe sees the bodies read ahead (the budget holds dozens)
                assert _encoder_bytes(tracemalloc.take_snapshot()) > 4 * ARTICLE
                job.stop("stopped by the test")
                with pytest.raises(errors.Stopped):
                    await task
                assert len(server.articles) < 300
                assert runtime.budget.statistics().in_use == 0
                # encodes already queued finish and are dropped; then nothing is in flight
                for _ in range(500):
                    if runtime.encoder.statistics().in_flight == 0:
                        break
                    await asyncio.sleep(0.01)
                assert runtime.encoder.statistics().in_flight == 0
                for _ in range(200):  # a thread closes its descriptor once out of work
                    if not _open_on(source):
                        break
                    await asyncio.sleep(0.01)
                assert _open_on(source) == []
                await asyncio.sleep(0.05)  # the last results handed back are settled
                del job, task
                gc.collect()
                left = _encoder_bytes(tracemalloc.take_snapshot())
        finally:
            tracemalloc.stop()
    assert left < ARTICLE, f"{left} bytes of encoded bodies still alive after the job"


def test_post_without_the_extension_posts_with_sabctools_and_says_so(tmp_path: Path) -> None:
    """The whole CLI in a fresh interpreter that cannot import the extension."""
    source = tmp_path / "a.bin"
    source.write_bytes(os.urandom(50_000))
    script = (
        "import sys\n"
        "sys.modules['postie._yenc._pool'] = None\n"
        "from postie.cli import main\n"
        "sys.argv = ['postie', *sys.argv[1:]]\n"
        "main()\n"
    )

    async def run() -> tuple[int, str, int]:
        async with FaultyNNTPServer() as server:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", script, "post", str(source), "--host", server.host,
                "--port", str(server.port), "--article-size", "20000", "-o",
                str(tmp_path / "out.nzb"), "--no-verify", "-v",
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                env={**os.environ, "POSTIE_ENCODER": "auto"},
            )  # fmt: skip
            out, _ = await asyncio.wait_for(proc.communicate(), 120)
            return proc.returncode or 0, out.decode(), len(server.articles)

    code, output, articles = asyncio.run(run())
    assert code == 0, output
    assert "encoder: sabctools" in output
    assert "the native one is not built" in output
    assert articles == 3
