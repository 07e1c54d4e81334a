"""Ctrl-C: ``postie post`` stops at once with exit 130 and one line (asyncio.Runner's
SIGINT handler cancels the command's task), and ``postie resume`` finishes the transfer
without posting anything twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from postie.testing import Faults, FaultyNNTPServer

ARTICLE = 20_000
ARTICLES = 40


def _sigint_default() -> None:
    # A test run started in the background by a shell inherits SIGINT ignored, and Python
    # keeps an ignored SIGINT ignored: the child gets the default back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def _postie(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "postie", *args,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=_sigint_default,
    )  # fmt: skip


async def test_sigint_stops_post_and_resume_finishes(tmp_path: Path) -> None:
    source = tmp_path / "a.bin"
    source.write_bytes(os.urandom(ARTICLE * ARTICLES))
    nzb, db = tmp_path / "out.nzb", tmp_path / "postie.db"
    # 40 ms per article on one connection: ~1.6 s for the whole file
    async with FaultyNNTPServer(faults=Faults(reply_delay=0.02)) as server:
        where = ("--host", server.host, "--port", str(server.port), "--db", str(db))
        post = await _postie(
            "post", str(source), *where, "--connections", "1", "--article-size", str(ARTICLE),
            "-o", str(nzb), "--no-verify", "--no-pipelining",
        )  # fmt: skip
        async with asyncio.timeout(60):
            while len(server.articles) < 3:  # noqa: ASYNC110 (polls the server)
                await asyncio.sleep(0.005)
        post.send_signal(signal.SIGINT)
        async with asyncio.timeout(20):
            out, _ = await post.communicate()
        assert post.returncode == 130, out.decode()
        assert out.decode().strip().splitlines()[-1] == "postie: error: interrupted"
        assert len(server.articles) < ARTICLES
        assert not nzb.exists()

        server.faults.reply_delay = 0.0
        resume = await _postie("resume", *where, "--no-verify")
        async with asyncio.timeout(60):
            out, _ = await resume.communicate()
        assert resume.returncode == 0, out.decode()
    assert len(server.articles) == ARTICLES
    assert server.statistics().duplicates == 0
    assert nzb.exists()
