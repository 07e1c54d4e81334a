"""Durable transfers in one process, against the fault-injecting server.

What the kill tests cannot see from outside: that no article reaches the server
before its manifest line is durable (even when syncing is slow or fails), that
a rewritten Message-ID is recorded and used, and that checkpoints are batched.
One test runs the real ``postie`` process against the server (killed, then run
again) to count what the server received across a resume.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from postie import errors, manifest, nzb
from postie.config import Config, parse_config
from postie.manifest import ArticleRecord, ManifestWriter
from postie.nntp import stat
from postie.runtime.runtime import Runtime
from postie.store import open_store
from postie.store.api import Store
from postie.store.lease import new_owner
from postie.testing import Faults, FaultyNNTPServer, make_tree
from postie.transfers.create import for_paths
from postie.transfers.run import Outcome, TransferRun
from tests.conftest import run_postie
from tests.integration.readback import rebuild_from_nzb

ARTICLE = 4096
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def config(server: FaultyNNTPServer, article: int = ARTICLE, budget: int | None = None) -> Config:
    return parse_config(
        {
            "servers": [{"host": server.host, "port": server.port, "max_connections": 3}],
            "posting": {"article_size": article, "retry_delay": 0.01},
            "limits": {"buffer_bytes": budget},
        }
    )


class Durable(dict[str, bytes]):
    """The server's article dict: refuses an article whose line is not durable yet."""

    def __init__(self, durable: set[str]) -> None:
        super().__init__()
        self.durable = durable
        self.early: list[str] = []

    def __setitem__(self, key: str, value: bytes) -> None:
        if key.strip("<>") not in self.durable:
            self.early.append(key)
        super().__setitem__(key, value)


class SlowWriter(ManifestWriter):
    """Takes its time to sync, then records which IDs are durable; may fail."""

    def __init__(self, base: ManifestWriter, durable: set[str], fail_after: int | None) -> None:
        super().__init__(base.path, base.size)
        self.durable = durable
        self.fail_after = fail_after
        self.frames = 0

    def append(self, records: Sequence[ArticleRecord]) -> int:
        time.sleep(0.02)
        if self.fail_after is not None and self.frames >= self.fail_after:
            raise errors.ManifestError(f"cannot append to the manifest {self.path}: test")
        size = super().append(records)
        self.frames += 1
        self.durable.update(r.message_id for r in records)
        return size


async def post(
    server: FaultyNNTPServer,
    tmp_path: Path,
    root: Path,
    *,
    fail_after: int | None = None,
    interval: float = 0.05,
    durable: set[str] | None = None,
    store_calls: list[float] | None = None,
    article: int = ARTICLE,
    budget: int | None = None,
    writer: Callable[[ManifestWriter], ManifestWriter] | None = None,
    before_post: Callable[[], object] | None = None,
) -> tuple[Outcome, Store]:
    cfg = config(server, article, budget)
    owner = new_owner()
    async with open_store(tmp_path / "db" / "postie.db") as store:
        prepared = await for_paths(
            store,
            cfg,
            [root],
            name="job",
            output=tmp_path / "job.nzb",
            overwrite=False,
            owner=owner,
            manifests=tmp_path / "manifests",
        )
        if durable is not None:
            prepared.writer = SlowWriter(prepared.writer, durable, fail_after)
        if writer is not None:
            prepared.writer = writer(prepared.writer)
        if store_calls is not None:
            real = store.checkpoint

            async def counting(*args: Any, **kwargs: Any) -> None:
                store_calls.append(time.monotonic())
                await real(*args, **kwargs)

            store.checkpoint = counting  # type: ignore[method-assign]
        if before_post is not None:
            before_post()
        async with Runtime(cfg) as runtime:
            run = TransferRun(runtime, store, prepared, owner=owner, checkpoint_interval=interval)
            return await run.post(), store


async def test_no_article_reaches_the_server_before_its_line_is_durable(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", {"a.bin": 40 * ARTICLE + 7, "b/c.bin": 9 * ARTICLE})
    durable: set[str] = set()
    async with FaultyNNTPServer() as server:
        server.articles = Durable(durable)
        outcome, _ = await post(server, tmp_path, tmp_path / "src", durable=durable)
    assert outcome.complete
    assert isinstance(server.articles, Durable)
    assert server.articles.early == []
    assert len(server.articles) == 41 + 9


async def test_a_manifest_that_cannot_be_written_stops_posting(tmp_path: Path) -> None:
    # 60 articles of 64 KiB through a 1 MiB budget: at most 7 in flight, so the lines
    # cannot all go out in the first frame (the one that succeeds)
    make_tree(tmp_path / "src", {"a.bin": 60 * 65536})
    durable: set[str] = set()
    async with FaultyNNTPServer() as server:
        server.articles = Durable(durable)
        with pytest.raises(errors.ManifestError, match="cannot append to the manifest"):
            await post(
                server,
                tmp_path,
                tmp_path / "src",
                durable=durable,
                fail_after=1,
                article=65536,
                budget=1 << 20,
            )
    assert isinstance(server.articles, Durable)
    assert server.articles.early == [], "posted an article whose line was not durable"
    assert 0 < len(server.articles) < 60
    assert not (tmp_path / "job.nzb").exists()
    async with open_store(tmp_path / "db" / "postie.db") as store:
        found = await store.get(1)
    assert found is not None
    assert found.state == "incomplete"
    assert "cannot append to the manifest" in (found.last_error or "")


async def test_the_nzb_lists_every_line_of_the_manifest(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", {"a.bin": 7 * ARTICLE + 5, "b/c.bin": 3 * ARTICLE, "d.bin": 9})
    async with FaultyNNTPServer() as server:
        outcome, _ = await post(server, tmp_path, tmp_path / "src")
    assert outcome.complete
    found = manifest.read(next((tmp_path / "manifests").glob("*.zst")))
    listed = {
        (f.subject.split('"')[1], s.number): (s.bytes, s.message_id)
        for f in nzb.read(tmp_path / "job.nzb").files
        for s in f.segments
    }
    assert listed == {
        (found.files[file].name, number): (line.size, line.message_id.strip("<>"))
        for file, parts in found.articles.items()
        for number, line in parts.items()
    }
    assert len(listed) == 8 + 3 + 1


class ShortenedOnClose(ManifestWriter):
    """Loses the manifest's last byte once posting is over (as a disk error would)."""

    def __init__(self, base: ManifestWriter) -> None:
        super().__init__(base.path, base.size)

    def close(self) -> None:
        super().close()
        os.truncate(self.path, self.size - 1)


async def test_no_nzb_from_a_manifest_shorter_than_what_was_synced(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", {"a.bin": 3 * ARTICLE})
    async with FaultyNNTPServer() as server:
        with pytest.raises(errors.ManifestError, match="shorter than the"):
            await post(server, tmp_path, tmp_path / "src", writer=ShortenedOnClose)
    assert not (tmp_path / "job.nzb").exists()


async def test_a_rewritten_message_id_is_recorded_and_listed(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", {"a.bin": 5 * ARTICLE})
    async with FaultyNNTPServer(faults=Faults(rewrite_ids=2)) as server:
        outcome, _ = await post(server, tmp_path, tmp_path / "src")
        assert outcome.complete
        listed = [s.message_id for f in nzb.read(tmp_path / "job.nzb").files for s in f.segments]
        assert all(f"<{mid}>" in server.articles for mid in listed)
    assert sum(mid.startswith("rewritten.") for mid in listed) == 2
    async with open_store(tmp_path / "db" / "postie.db") as store:
        recorded = await store.accepted_ids(1)
    assert len(recorded) == 2
    assert all(mid.startswith("<rewritten.") for mid in recorded.values())


async def test_checkpoints_are_batched_not_per_article(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", {"a.bin": 150 * ARTICLE})
    calls: list[float] = []
    async with FaultyNNTPServer(faults=Faults(reply_delay=0.01)) as server:
        started = time.monotonic()
        outcome, _ = await post(server, tmp_path, tmp_path / "src", interval=0.1, store_calls=calls)
        elapsed = time.monotonic() - started
    assert outcome.complete
    # one per interval plus the final one, however many articles were acknowledged
    assert len(calls) <= elapsed / 0.1 + 2
    assert len(calls) < 150 / 5
    async with open_store(tmp_path / "db" / "postie.db") as store:
        (row,) = await store.files(1)
    assert row.acked == 150
    assert row.upload_state == "uploaded"


class RefuseAfter(dict[str, bytes]):
    """Stores articles; after ``limit`` of them the server refuses every article as too large."""

    def __init__(self, server: FaultyNNTPServer, limit: int) -> None:
        super().__init__()
        self.server = server
        self.limit = limit

    def __setitem__(self, key: str, value: bytes) -> None:
        super().__setitem__(key, value)
        if len(self) >= self.limit:
            self.server.faults.max_article_size = 10


async def test_resume_stats_what_arrived_and_posts_only_the_rest(tmp_path: Path) -> None:
    """A transfer stopped by the server midway is resumed: the articles the server has
    are found with STAT, not posted again; the rest go out with their planned IDs."""
    make_tree(tmp_path / "src", {"a.bin": 30 * ARTICLE})
    async with FaultyNNTPServer() as server:
        server.articles = RefuseAfter(server, 12)
        with pytest.raises(errors.JobFailed, match="too large"):
            await post(server, tmp_path, tmp_path / "src", interval=60)
        arrived = len(server.articles)
        assert 12 <= arrived < 30
        server.faults.max_article_size = None
        server.articles.limit = 10**9
        outcome, _ = await post(server, tmp_path, tmp_path / "src")
        assert outcome.resumed
        assert outcome.complete
        # every article that arrived is either below the saved watermark or found by STAT
        watermark = 30 - outcome.stat_checked
        assert watermark + outcome.stat_checked - outcome.stat_missing == arrived
        assert not server.duplicates, "an article the server had was posted again"
        assert all(n == 1 for n in server.accepted.values())
        found = manifest.read(next((tmp_path / "manifests").glob("*.zst")))
        planned = {r.message_id for lines in found.articles.values() for r in lines.values()}
        assert {m.strip("<>") for m in server.articles} == planned
        assert len(planned) == 30


async def stop_midway(server: FaultyNNTPServer, tmp_path: Path) -> int:
    """Post until the server refuses everything after 12 articles; let it accept again.
    Returns how many arrived."""
    server.articles = RefuseAfter(server, 12)
    with pytest.raises(errors.JobFailed, match="too large"):
        await post(server, tmp_path, tmp_path / "src", interval=60)
    server.faults.max_article_size = None
    server.articles.limit = 10**9
    return len(server.articles)


async def test_resume_stat_retries_a_stat_error_on_a_fresh_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The resume's STAT meets server errors (403) on its first connection: the batch
    is tried again on a fresh one; nothing the server has is posted again."""
    monkeypatch.setattr(stat, "BACKOFF", 0.0)
    make_tree(tmp_path / "src", {"a.bin": 30 * ARTICLE})
    async with FaultyNNTPServer() as server:
        arrived = await stop_midway(server, tmp_path)
        server.faults.stat_errors = 2
        outcome, _ = await post(server, tmp_path, tmp_path / "src")
        assert outcome.complete
        assert outcome.stat_checked >= 1
        assert 30 - outcome.stat_missing == arrived
        assert server.faults.stat_errors == 0
        assert not server.duplicates


async def test_resume_stat_gives_up_after_its_attempts_and_posts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stat, "BACKOFF", 0.0)
    make_tree(tmp_path / "src", {"a.bin": 30 * ARTICLE})
    async with FaultyNNTPServer() as server:
        arrived = await stop_midway(server, tmp_path)
        server.faults.stat_errors = 1_000_000
        with pytest.raises(errors.ServerBusy, match="403"):
            await post(server, tmp_path, tmp_path / "src")
        assert len(server.articles) == arrived


async def test_lines_are_batched_into_frames_when_the_budget_is_the_limit(tmp_path: Path) -> None:
    # A slow link and a budget of ~30 articles: the producer always waits for the budget.
    # The lines still go out several to a frame, not one frame (and one fdatasync) each.
    make_tree(tmp_path / "src", {"a.bin": 60 * 65536})
    async with FaultyNNTPServer(faults=Faults(reply_delay=0.01)) as server:
        outcome, _ = await post(server, tmp_path, tmp_path / "src", article=65536, budget=4 << 20)
    assert outcome.complete
    assert len(server.articles) == 60
    (path,) = (tmp_path / "manifests").iterdir()
    frames = path.read_bytes().count(ZSTD_MAGIC) - 1  # frame 0: the header and file records
    assert 0 < frames <= 10, f"{frames} frames of lines for 60 articles"


async def test_a_killed_run_resumed_posts_nothing_the_server_has(tmp_path: Path) -> None:
    """A real ``postie post`` is SIGKILLed at its 8th acknowledgement before any
    checkpoint (the store records no watermark; the manifest has the lines of what
    went out). The same command again STATs every recorded part, skips those the
    server has, and posts each Message-ID once in all."""
    src = tmp_path / "src"
    make_tree(src, {"a.bin": 30 * ARTICLE, "b.bin": 10 * ARTICLE + 5})
    db = tmp_path / "db" / "postie.db"
    out = tmp_path / "job.nzb"
    async with FaultyNNTPServer() as server:
        cfg = tmp_path / "postie.yaml"
        cfg.write_text(
            "servers:\n"
            f"  - host: {server.host}\n"
            f"    port: {server.port}\n"
            "    max_connections: 2\n"
            "posting:\n"
            f"  article_size: {ARTICLE}\n"
            "store:\n"
            f"  path: {db}\n"
            "  checkpoint_interval: 60\n"
        )
        args = ("post", src, "-c", cfg, "-o", out, "--plain", "-v")
        killed = await asyncio.to_thread(run_postie, *args, POSTIE_CRASH_AT="acked:8")
        assert killed.returncode == -signal.SIGKILL, killed.output
        arrived = set(server.articles)
        assert len(arrived) >= 8
        async with open_store(db) as store:
            assert [f.acked for f in await store.files(1)] == [0, 0], "a checkpoint was saved"
        run = await asyncio.to_thread(run_postie, *args)
        assert run.returncode == 0, run.output
        checked = re.search(
            r"checked (\d+) articles .*: (\d+) on the server, (\d+) to post", run.stdout
        )
        assert checked is not None, run.stdout
        assert int(checked.group(2)) == len(arrived) > 0
        assert not server.duplicates, "an article the server had was posted again"
        assert set(server.post_attempts.values()) == {1}
        assert set(server.accepted.values()) == {1}
        listed = {f"<{s.message_id}>" for f in nzb.read(out).files for s in f.segments}
        assert listed == set(server.articles) == set(server.post_attempts)
        assert len(listed) == 30 + 11


async def test_the_nzb_of_a_resumed_transfer_lists_a_file_uploaded_before(
    tmp_path: Path,
) -> None:
    """A file uploaded and checkpointed as such by an interrupted run (its neighbour
    could not be read) is not posted again on resume, and the NZB still lists every
    part of it, from its manifest lines: both files read back whole."""
    files = make_tree(tmp_path / "src", {"a.bin": 6 * ARTICLE + 1, "b.bin": 5 * ARTICLE})
    b = tmp_path / "src" / "b.bin"
    away = tmp_path / "b.away"
    async with FaultyNNTPServer() as server:
        # b.bin is gone while the first run posts (a rename keeps its size and mtime)
        first, _ = await post(
            server, tmp_path, tmp_path / "src", before_post=lambda: b.rename(away)
        )
        assert not first.complete
        assert first.missing == ("b.bin",)
        # the NZB of the run lists the complete file (the run names the missing one)
        assert [len(f.segments) for f in nzb.read(tmp_path / "job.nzb").files] == [7]
        async with open_store(tmp_path / "db" / "postie.db") as store:
            rows = await store.files(1)
        assert [(r.name, r.upload_state, r.acked) for r in rows] == [
            ("a.bin", "uploaded", 7),
            ("b.bin", "failed", 0),
        ]
        assert len(server.post_attempts) == 7
        away.rename(b)
        outcome, _ = await post(server, tmp_path, tmp_path / "src")
        assert outcome.resumed
        assert outcome.complete
        assert set(server.post_attempts.values()) == {1}, "a.bin was posted again"
        assert len(server.post_attempts) == 7 + 5
        document = nzb.read(tmp_path / "job.nzb")
        assert [len(f.segments) for f in document.files] == [7, 5]
        rebuilt = await asyncio.to_thread(
            rebuild_from_nzb, tmp_path / "job.nzb", server.host, server.port
        )
    assert {name: r.data for name, r in rebuilt.items()} == {
        p.name: content for p, content in files.items()
    }


async def test_a_rerun_after_the_folder_changed_keeps_what_was_posted(tmp_path: Path) -> None:
    """Part of a folder failed (b.bin went away mid-run); the user puts a new b.bin back
    and adds d.bin. The same command keeps a.bin and c.bin as they were posted (same
    Message-IDs, not posted again), posts only b.bin and d.bin, lists all four in the NZB
    and abandons the old transfer as superseded."""
    src = tmp_path / "src"
    make_tree(src, {"a.bin": 5 * ARTICLE, "b.bin": 3 * ARTICLE, "c.bin": 4 * ARTICLE + 9})
    b = src / "b.bin"
    away = tmp_path / "b.away"
    async with FaultyNNTPServer() as server:
        first, _ = await post(server, tmp_path, src, before_post=lambda: b.rename(away))
        assert first.missing == ("b.bin",)
        old_ids = {
            f.subject.split('"')[1]: [s.message_id for s in f.segments]
            for f in nzb.read(tmp_path / "job.nzb").files
        }
        assert sorted(old_ids) == ["a.bin", "c.bin"]
        posted_first = dict(server.post_attempts)
        b.write_bytes(os.urandom(3 * ARTICLE + 1))  # changed
        (src / "d.bin").write_bytes(os.urandom(2 * ARTICLE))  # new
        second, store = await post(server, tmp_path, src)
        assert second.uploaded, second.reason
        document = nzb.read(tmp_path / "job.nzb")
        new_ids = {
            f.subject.split('"')[1]: [s.message_id for s in f.segments] for f in document.files
        }
        assert sorted(new_ids) == ["a.bin", "b.bin", "c.bin", "d.bin"]
        assert new_ids["a.bin"] == old_ids["a.bin"]
        assert new_ids["c.bin"] == old_ids["c.bin"]
        again = {m: n for m, n in server.post_attempts.items() if n > posted_first.get(m, 0)}
        assert len(again) == 4 + 2, "only b.bin and d.bin are posted"
        assert all(posted_first.get(m, 0) == 0 for m in again), "a posted article went again"
        async with open_store(tmp_path / "db" / "postie.db") as reopened:
            old = await reopened.get(1)
            assert old is not None
            assert (old.display_state, old.last_error) == ("abandoned", "superseded by transfer 2")
            rows = await reopened.files(2)
            assert all(r.upload_state == "uploaded" for r in rows)
        del store
        rebuilt = await asyncio.to_thread(
            rebuild_from_nzb, tmp_path / "job.nzb", server.host, server.port
        )
    assert {n: r.data for n, r in rebuilt.items()} == {
        p.name: p.read_bytes() for p in sorted(src.iterdir())
    }
