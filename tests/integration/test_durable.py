"""Durable transfers in one process, against the fault-injecting server.

What the kill tests cannot see from outside: that no article reaches the server
before its planned line (frame 0) and a frontier covering it are durable (even when
syncing is slow or fails), that no article waits for its CRC line, that the store's
watermark never passes a CRC line that is not durable, that a rewritten Message-ID is
recorded and used, and that checkpoints are batched. Some tests run the real ``postie``
process against the server (killed, then run again) to count what the server received
across a resume.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zstandard

import postie.runtime.pipeline
import postie.transfers.run
from postie import errors, manifest, nzb
from postie.config import Config, parse_config
from postie.manifest import ManifestWriter
from postie.nntp import stat
from postie.runtime.runtime import Runtime
from postie.store import open_store
from postie.store.api import Store
from postie.store.lease import new_owner
from postie.testing import Faults, FaultyNNTPServer, make_tree
from postie.transfers.create import for_paths
from postie.transfers.resume import resume
from postie.transfers.run import Outcome, TransferRun
from tests.conftest import run_postie
from tests.integration.readback import rebuild_from_nzb
from tests.manifests import write_version

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
    """Takes its time to sync, then records which Message-IDs may be posted: those whose
    planned line is durable (frame 0, read back from the disk here) and before a durable
    frontier. May fail after ``fail_after`` frames."""

    def __init__(self, base: ManifestWriter, durable: set[str], fail_after: int | None) -> None:
        super().__init__(base.path, base.size, version=base.version, frontier=base.frontier)
        self.durable = durable
        self.fail_after = fail_after
        found = manifest.read(base.path)
        firsts = found.first_positions()
        self.order = sorted(
            (firsts[f] + n - 1, line.message_id)
            for f, lines in found.planned.items()
            for n, line in lines.items()
        )
        assert len(self.order) == sum(f.parts for f in found.files.values())

    def flush(self, frontier: int | None = None) -> int:
        time.sleep(0.02)
        if self.fail_after is not None and self.frames >= self.fail_after:
            raise errors.ManifestError(f"cannot append to the manifest {self.path}: test")
        size = super().flush(frontier)
        self.durable.update(mid for position, mid in self.order if position < self.frontier)
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
    on_checkpoint: Callable[[dict[str, Any]], None] | None = None,
    article: int = ARTICLE,
    budget: int | None = None,
    writer: Callable[[ManifestWriter], ManifestWriter] | None = None,
    before_post: Callable[[], object] | None = None,
    store_back: asyncio.Event | None = None,
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
        if store_calls is not None or on_checkpoint is not None or store_back is not None:
            real = store.checkpoint

            async def counting(*args: Any, **kwargs: Any) -> None:
                if store_back is not None:  # cleared: as a lost server, waited for
                    await store_back.wait()
                if store_calls is not None:
                    store_calls.append(time.monotonic())
                if on_checkpoint is not None:
                    on_checkpoint(kwargs)
                await real(*args, **kwargs)

            store.checkpoint = counting  # type: ignore[method-assign]
        if before_post is not None:
            before_post()
        async with Runtime(cfg) as runtime:
            run = TransferRun(runtime, store, prepared, owner=owner, checkpoint_interval=interval)
            return await run.post(), store


class Timed(dict[str, bytes]):
    """The server's article dict: when each article arrived (monotonic)."""

    def __init__(self, signal_at: int) -> None:
        super().__init__()
        self.at: list[float] = []
        self.signal_at = signal_at
        self.reached = asyncio.Event()  # set once signal_at articles arrived

    def __setitem__(self, key: str, value: bytes) -> None:
        self.at.append(time.monotonic())
        super().__setitem__(key, value)
        if len(self) >= self.signal_at:
            self.reached.set()


async def test_posting_holds_while_the_lease_cannot_be_renewed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint that does not get through (the store's server is away: it waits)
    holds the job once half the lease has passed since the last one did: no article is
    started until the lease is renewed, then the job goes on and completes."""
    monkeypatch.setattr(postie.transfers.run, "LEASE_SECONDS", 1.0)  # held after 0.5 s
    make_tree(tmp_path / "src", {"a.bin": 400 * ARTICLE})
    back = asyncio.Event()
    back.set()
    window: list[float] = []

    async def cut() -> None:
        await articles.reached.wait()
        back.clear()
        window.append(time.monotonic())
        await asyncio.sleep(2.5)
        window.append(time.monotonic())
        back.set()

    async with FaultyNNTPServer() as server:
        server.faults.reply_delay = 0.01
        articles = server.articles = Timed(signal_at=40)
        cutting = asyncio.create_task(cut())
        outcome, _ = await post(server, tmp_path, tmp_path / "src", store_back=back)
        await cutting
    assert outcome.complete
    assert len(articles) == 400
    start, end = window
    # held from 0.5 s after the last checkpoint that got through (at most one interval
    # before the cut), the articles on the wire then finishing (3 connections)
    during = [t for t in articles.at if start + 0.8 < t < end]
    assert during == [], f"{len(during)} articles posted while the lease could run out"
    assert any(t > end for t in articles.at), "nothing left to post after the cut"


async def test_a_transfer_taken_over_while_the_store_was_away_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store away (checkpoints wait) past the transfer's lease, and another
    instance takes the transfer over meanwhile: when the store is back, the checkpoint
    finds the lease gone and the run stops (TransferBusy), posting nothing more; the
    other instance's lease stands."""
    monkeypatch.setattr(postie.transfers.run, "LEASE_SECONDS", 1.0)
    make_tree(tmp_path / "src", {"a.bin": 400 * ARTICLE})
    back = asyncio.Event()
    back.set()
    taken: list[float] = []

    async def take_over() -> None:
        await articles.reached.wait()
        back.clear()
        await asyncio.sleep(1.5)  # the lease (1 s) ran out
        async with open_store(tmp_path / "db" / "postie.db") as other:
            await other.claim(1, owner="another-instance", lease=60)
        taken.append(time.monotonic())
        back.set()

    async with FaultyNNTPServer() as server:
        server.faults.reply_delay = 0.01
        articles = server.articles = Timed(signal_at=40)
        taking = asyncio.create_task(take_over())
        with pytest.raises(errors.TransferBusy, match="taken over by another process"):
            await post(server, tmp_path, tmp_path / "src", store_back=back)
        await taking
    (at,) = taken
    assert len(articles) < 400
    assert [t for t in articles.at if t > at] == [], "posted after another took it over"
    async with open_store(tmp_path / "db" / "postie.db") as store:
        transfer = await store.get(1)
    assert transfer is not None
    assert transfer.lease_owner == "another-instance"


@pytest.mark.parametrize("step", [1024, 8])
async def test_no_article_reaches_the_server_before_its_line_and_frontier_are_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: int
) -> None:
    """Every Message-ID is durable in frame 0 before anything is posted, and an article
    goes out only once a frontier past its place in the plan is durable (one frontier
    for the whole job, or one every 8 articles)."""
    monkeypatch.setattr(postie.runtime.pipeline, "FRONTIER_STEP", step)
    make_tree(tmp_path / "src", {"a.bin": 40 * ARTICLE + 7, "b/c.bin": 9 * ARTICLE})
    durable: set[str] = set()
    async with FaultyNNTPServer() as server:
        server.articles = Durable(durable)
        outcome, _ = await post(server, tmp_path, tmp_path / "src", durable=durable)
    assert outcome.complete
    assert isinstance(server.articles, Durable)
    assert server.articles.early == []
    assert len(server.articles) == 41 + 9


async def test_a_manifest_that_cannot_be_written_stops_posting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a frontier every 8 articles, checkpoints far apart: the second frame (the next
    # frontier) fails, so what lies past the first frontier is never posted
    monkeypatch.setattr(postie.runtime.pipeline, "FRONTIER_STEP", 8)
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
                interval=60,
            )
    assert isinstance(server.articles, Durable)
    assert server.articles.early == [], "posted an article no durable frontier covered"
    assert 0 < len(server.articles) <= 8
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


class HeldWriter(ManifestWriter):
    """Holds the frames of one kind until ``release`` is set: those with a frontier
    line, or (once the first frontier is durable) those of CRC lines alone."""

    def __init__(self, base: ManifestWriter, *, frontiers: bool) -> None:
        super().__init__(base.path, base.size, version=base.version, frontier=base.frontier)
        self.frontiers = frontiers
        self.release = threading.Event()
        self.held = 0

    def flush(self, frontier: int | None = None) -> int:
        marks = frontier is not None and frontier > self.frontier
        if marks if self.frontiers else (self.frontier > 0 and not marks and self.unsynced):
            self.held += 1
            assert self.release.wait(20), "never released"
        return super().flush(frontier)


async def release_when(
    writer: dict[str, HeldWriter], ready: Callable[[], bool], *, within: float
) -> bool:
    """Release the held frames once ``ready()`` (True) or after ``within`` seconds (False)."""
    deadline = time.monotonic() + within
    while not ready() and time.monotonic() < deadline:  # noqa: ASYNC110 (polls a server)
        await asyncio.sleep(0.005)
    ok = ready()
    while "held" not in writer:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    writer["held"].release.set()
    return ok


async def test_no_article_waits_for_a_crc_frame(tmp_path: Path) -> None:
    """CRC lines go to frames that no article waits for: with every frame of CRC lines
    held back (checkpoints ask for one every 10 ms), every article still reaches the
    server; the held lines are made durable afterwards, before the run ends."""
    make_tree(tmp_path / "src", {"a.bin": 200 * ARTICLE})
    made: dict[str, HeldWriter] = {}

    def held(base: ManifestWriter) -> ManifestWriter:
        made["held"] = HeldWriter(base, frontiers=False)
        return made["held"]

    async with FaultyNNTPServer(faults=Faults(reply_delay=0.003)) as server:
        everything = asyncio.create_task(
            release_when(made, lambda: len(server.articles) == 200, within=10)
        )
        outcome, _ = await post(server, tmp_path, tmp_path / "src", interval=0.01, writer=held)
        assert await everything, "articles waited for a frame of CRC lines"
    assert outcome.complete
    assert made["held"].held >= 1, "no frame of CRC lines was asked for while posting"
    found = manifest.read(next((tmp_path / "manifests").glob("*.zst")))
    assert len(found.articles[1]) == 200  # every CRC line durable in the end


async def test_a_frontier_frame_gates_the_articles_past_it(tmp_path: Path) -> None:
    """Nothing is posted while the first frontier frame is held back; once it is
    durable everything goes."""
    make_tree(tmp_path / "src", {"a.bin": 20 * ARTICLE})
    made: dict[str, HeldWriter] = {}

    def held(base: ManifestWriter) -> ManifestWriter:
        made["held"] = HeldWriter(base, frontiers=True)
        return made["held"]

    async with FaultyNNTPServer() as server:
        early = asyncio.create_task(
            release_when(made, lambda: bool(server.post_attempts), within=0.5)
        )
        outcome, _ = await post(server, tmp_path, tmp_path / "src", writer=held)
        assert not await early, "an article was posted before its frontier was durable"
    assert outcome.complete
    assert made["held"].held == 1
    assert len(server.articles) == 20


class CrcFramesFail(ManifestWriter):
    """Writes frontiers; every frame of CRC lines alone fails (a full disk, say)."""

    def __init__(self, base: ManifestWriter) -> None:
        super().__init__(base.path, base.size, version=base.version, frontier=base.frontier)

    def flush(self, frontier: int | None = None) -> int:
        if (frontier is None or frontier <= self.frontier) and self.unsynced:
            raise errors.ManifestError(f"cannot append to the manifest {self.path}: test")
        return super().flush(frontier)


async def test_a_checkpoint_that_cannot_sync_moves_no_watermark_and_stops(tmp_path: Path) -> None:
    """The CRC lines cannot be made durable: the first checkpoint stops the job with the
    error, no watermark is saved past the CRC lines on disk, the transfer is left
    incomplete, and the same command then finishes it (what arrived is STATed)."""
    make_tree(tmp_path / "src", {"a.bin": 200 * ARTICLE})
    async with FaultyNNTPServer(faults=Faults(reply_delay=0.003)) as server:
        with pytest.raises(errors.ManifestError, match="cannot append to the manifest"):
            await post(server, tmp_path, tmp_path / "src", interval=0.02, writer=CrcFramesFail)
        arrived = len(server.articles)
        assert 0 < arrived < 200
        found = manifest.read(next((tmp_path / "manifests").glob("*.zst")))
        async with open_store(tmp_path / "db" / "postie.db") as store:
            (row,) = await store.files(1)
            transfer = await store.get(1)
        assert transfer is not None
        assert transfer.state == "incomplete"
        assert "cannot append to the manifest" in (transfer.last_error or "")
        assert all(n in found.articles[1] for n in range(1, row.acked + 1)), row.acked
        outcome, _ = await post(server, tmp_path, tmp_path / "src")
        assert outcome.complete
        assert not server.duplicates
        assert len(server.articles) == 200


class Recording(ManifestWriter):
    """Slow to sync; after each frame, reads back which CRC lines (file, part) the
    manifest holds: those are durable, and so many bytes."""

    def __init__(self, base: ManifestWriter) -> None:
        super().__init__(base.path, base.size, version=base.version, frontier=base.frontier)
        self.durable: set[tuple[int, int]] = set()
        self.durable_size = base.size

    def flush(self, frontier: int | None = None) -> int:
        time.sleep(0.02)  # acknowledgements go on meanwhile, their lines in this frame
        size = super().flush(frontier)
        found = manifest.read(self.path)
        self.durable = {(f, n) for f, lines in found.articles.items() for n in lines}
        self.durable_size = size
        time.sleep(0.02)  # and those of articles encoded after the frame was taken
        return size


async def test_the_watermark_never_passes_a_crc_line_that_is_not_durable(tmp_path: Path) -> None:
    """Every checkpoint's watermarks (and "all uploaded") cover only parts whose CRC
    lines are durable at that moment, and the manifest length it records is durable."""
    big = 256 * 1024
    make_tree(tmp_path / "src", {"a.bin": 50 * big, "b.bin": 30 * big + 1})
    made: dict[str, Recording] = {}
    wrong: list[str] = []
    saved: list[int] = []

    def recording(base: ManifestWriter) -> ManifestWriter:
        made["writer"] = Recording(base)
        return made["writer"]

    def check(kwargs: dict[str, Any]) -> None:
        writer = made["writer"]
        marks = {p.file_id: p.acked for p in kwargs["files"]}
        if kwargs["all_uploaded"]:
            marks = {1: 50, 2: 31}
        for file, mark in marks.items():
            saved.append(mark)
            wrong.extend(
                f"file {file} watermark {mark}: part {n} has no durable CRC line"
                for n in range(1, mark + 1)
                if (file, n) not in writer.durable
            )
        if kwargs["manifest_bytes"] > writer.durable_size:
            wrong.append(
                f"{kwargs['manifest_bytes']} bytes recorded, {writer.durable_size} durable"
            )

    # a budget of two articles: the journal cannot run ahead of the acknowledgements
    async with FaultyNNTPServer(faults=Faults(reply_delay=0.002)) as server:
        outcome, _ = await post(
            server,
            tmp_path,
            tmp_path / "src",
            interval=0.02,
            writer=recording,
            on_checkpoint=check,
            article=big,
            budget=1 << 20,
        )
    assert outcome.complete
    assert wrong == []
    assert len([m for m in saved if 0 < m < 50]) >= 2, "no checkpoint saved a watermark midway"


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


@pytest.mark.parametrize("version", [1, 2])
async def test_resume_stats_what_arrived_and_posts_only_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: int
) -> None:
    """A transfer stopped by the server midway is resumed: the articles the server has
    are found with STAT, not posted again; the rest go out with their planned IDs. A
    transfer begun with a version 1 manifest resumes by version 1's rules."""
    make_tree(tmp_path / "src", {"a.bin": 30 * ARTICLE})
    async with FaultyNNTPServer() as server:
        server.articles = RefuseAfter(server, 12)
        with monkeypatch.context() as patch:
            write_version(patch, version)
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
        assert found.version == version
        planned = {r.message_id for lines in found.articles.values() for r in lines.values()}
        assert {m.strip("<>") for m in server.articles} == planned
        assert len(planned) == 30


@pytest.mark.parametrize(
    ("version", "why"),
    [
        pytest.param(1, "reads with CRC32", id="v1"),
        pytest.param(2, "reads with CRC32", id="v2"),
    ],
)
async def test_other_bytes_of_the_same_size_and_mtime_are_not_posted_on_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: int, why: str
) -> None:
    """Stopped midway (by the server: the last checkpoint made every CRC line durable),
    the file is rewritten in place with other bytes, its size and mtime kept: the first
    part read again fails its line's CRC32, and nothing more of it is posted. (Without
    CRC lines, version 2 refuses the file by its ctime before reading: test_resume.py,
    killed right after a frontier.)"""
    src = tmp_path / "src"
    files = make_tree(src, {"a.bin": 30 * ARTICLE})
    (path,) = files
    async with FaultyNNTPServer() as server:
        with monkeypatch.context() as patch:
            write_version(patch, version)
            arrived = await stop_midway(server, tmp_path)
        st = path.stat()
        path.write_bytes(bytes(b ^ 0x5A for b in files[path]))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        outcome, _ = await post(server, tmp_path, src)
        assert outcome.resumed
        (failure,) = outcome.failures
        assert isinstance(failure, errors.SourceChanged)
        assert why in str(failure)
        assert len(server.articles) == arrived, "something of the changed file was posted"
        assert not (tmp_path / "job.nzb").exists()


@pytest.mark.parametrize("version", [1, 2])
async def test_a_salvaged_manifest_keeps_what_it_can(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: int
) -> None:
    """A run stopped midway after a checkpoint; the manifest's last frames are damaged.
    ``resume --salvage`` keeps what comes before the damage and the run finishes with a
    complete NZB, no article posted twice. Version 2 keeps every planned Message-ID
    (frame 0): the parts whose CRC lines were lost are STATed, found and read again for
    them. Version 1 loses the Message-IDs of the lines lost: those parts get new ones."""
    monkeypatch.setattr(postie.runtime.pipeline, "FRONTIER_STEP", 4)  # frontiers get lost too
    src = tmp_path / "src"
    big = 65536
    make_tree(src, {"a.bin": 30 * big})
    async with FaultyNNTPServer(faults=Faults(reply_delay=0.002)) as server:
        server.articles = RefuseAfter(server, 20)
        with monkeypatch.context() as patch:
            write_version(patch, version)
            with pytest.raises(errors.JobFailed, match="too large"):
                # a budget of some 7 articles: version 1's lines come in several frames
                await post(server, tmp_path, src, interval=0.01, article=big, budget=1 << 20)
        arrived = {m.strip("<>") for m in server.articles}
        path = next((tmp_path / "manifests").glob("*.zst"))
        before = manifest.read(path)
        async with open_store(tmp_path / "db" / "postie.db") as store:
            (row,) = await store.files(1)
            assert row.acked > 0
            durable = (await store.get(1)).manifest_bytes  # type: ignore[union-attr]
        # damage the frame holding the line of the last part the store has as posted
        data = bytearray(path.read_bytes())
        starts = [i for i in range(len(data)) if data[i : i + 4] == ZSTD_MAGIC]
        frames = [bytes(data[a:b]) for a, b in zip(starts, [*starts[1:], len(data)], strict=True)]
        needle = f'"i":{row.acked},"{"crc" if version == 2 else "o"}"'.encode()
        (cut,) = [
            a
            for a, frame in zip(starts[1:], frames[1:], strict=True)
            if needle in zstandard.ZstdDecompressor().decompress(frame)
        ]
        data[cut + 5 : cut + 13] = bytes(8)
        path.write_bytes(bytes(data))
        server.faults.max_article_size = None
        server.articles.limit = 10**9
        cfg = config(server, big)
        owner = new_owner()
        async with open_store(tmp_path / "db" / "postie.db") as store:
            with pytest.raises(errors.ManifestError, match="is corrupt"):
                await resume(store, cfg, 1, owner=owner)
            prepared = await resume(store, cfg, 1, owner=owner, salvage=True)
            async with Runtime(cfg) as runtime:
                run = TransferRun(runtime, store, prepared, owner=owner)
                outcome = await run.post()
        assert outcome.complete
        assert durable > 0
        assert all(n == 1 for n in server.accepted.values()), "an article was posted twice"
        assert not server.duplicates, "an article the server had was posted again"
        listed = {s.message_id for f in nzb.read(tmp_path / "job.nzb").files for s in f.segments}
        assert arrived <= {m.strip("<>") for m in server.articles}
        assert prepared.watermarks[1] < row.acked, "the watermark was not moved back"
        if version == 2:  # every part above the watermark (moved back) is STATed
            assert run.stat_checked == 30 - prepared.watermarks[1]
            assert run.measured > 0
            assert listed == {line.message_id for line in before.planned[1].values()}
            assert listed == {m.strip("<>") for m in server.articles}
        else:
            assert len(listed) == 30
            assert listed <= {m.strip("<>") for m in server.articles}


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
    checkpoint (the store records no watermark; the manifest has every planned line and
    a frontier, but hardly any CRC line). The same command again STATs every part
    before the frontier, skips those the server has (reading the ones without a CRC
    line again for their sizes), and posts each Message-ID once in all; the NZB's sizes
    are those of the articles posted."""
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
        assert int(checked.group(1)) == 30 + 11  # all before the frontier
        assert int(checked.group(2)) == len(arrived) > 0
        measured = re.search(r"\((\d+) found without their CRC line", run.stdout)
        assert measured is not None, run.stdout
        assert 0 < int(measured.group(1)) <= len(arrived)
        assert not server.duplicates, "an article the server had was posted again"
        assert set(server.post_attempts.values()) == {1}
        assert set(server.accepted.values()) == {1}
        segments = [s for f in nzb.read(out).files for s in f.segments]
        listed = {f"<{s.message_id}>" for s in segments}
        assert listed == set(server.articles) == set(server.post_attempts)
        assert len(listed) == 30 + 11
        # the NZB's bytes are the articles' as posted (those measured again included)
        assert len({s.bytes - len(server.articles[f"<{s.message_id}>"]) for s in segments}) == 1


async def test_killed_right_after_its_first_frontier_the_resume_posts_each_once(
    tmp_path: Path,
) -> None:
    """Killed once the first frontier frame is durable and before any article went out:
    the resume STATs every part before that frontier (none there), posts each with its
    planned Message-ID (those without a CRC line from the same file, by its identity),
    once."""
    src = tmp_path / "src"
    make_tree(src, {"a.bin": 12 * ARTICLE, "b.bin": 3 * ARTICLE + 5})
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
        )
        args = ("post", src, "-c", cfg, "-o", out, "--plain", "-v")
        killed = await asyncio.to_thread(run_postie, *args, POSTIE_CRASH_AT="frontier:1")
        assert killed.returncode == -signal.SIGKILL, killed.output
        assert not server.post_attempts
        planned = manifest.read(next((tmp_path / "db" / "manifests").glob("*.zst")))
        assert planned.frontier == 1024
        run = await asyncio.to_thread(run_postie, *args)
        assert run.returncode == 0, run.output
        assert (
            "checked 16 articles that may have arrived before the interruption: 0 on the"
            " server, 16 to post again"
        ) in run.stdout
        assert set(server.post_attempts.values()) == {1}
        ids = {
            f"<{line.message_id}>" for lines in planned.planned.values() for line in lines.values()
        }
        assert set(server.articles) == ids
        listed = {f"<{s.message_id}>" for f in nzb.read(out).files for s in f.segments}
        assert listed == ids


async def test_the_nzb_of_a_resumed_transfer_lists_a_file_uploaded_before(
    tmp_path: Path,
) -> None:
    """A file uploaded and checkpointed as such by an interrupted run (its neighbour
    could not be read) is not posted again on resume, and the NZB still lists every
    part of it, from its manifest lines: it reads back whole.

    The neighbour went away by a rename and came back the same way: same size, mtime
    and inode, but another ctime. Its parts were in doubt (before the frontier) with no
    CRC line to check them against, so the resume refuses it as changed (manifest
    version 2's identity check) rather than post bytes it cannot check."""
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
        assert outcome.missing == ("b.bin",)
        (refused,) = outcome.failures
        assert isinstance(refused, errors.SourceChanged)
        assert "same size and mtime, but another ctime" in str(refused)
        assert "another inode" not in str(refused)
        assert len(server.post_attempts) == 7, "something was posted"
        document = nzb.read(tmp_path / "job.nzb")
        assert [len(f.segments) for f in document.files] == [7]
        rebuilt = await asyncio.to_thread(
            rebuild_from_nzb, tmp_path / "job.nzb", server.host, server.port
        )
    assert {name: r.data for name, r in rebuilt.items()} == {
        "a.bin": files[tmp_path / "src" / "a.bin"]
    }


@pytest.mark.parametrize("version", [1, 2])
async def test_a_rerun_after_the_folder_changed_keeps_what_was_posted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: int
) -> None:
    """Part of a folder failed (b.bin went away mid-run); the user puts a new b.bin back
    and adds d.bin. The same command keeps a.bin and c.bin as they were posted (same
    Message-IDs, not posted again), posts only b.bin and d.bin, lists all four in the NZB
    and abandons the old transfer as superseded. The old transfer's manifest may be of
    version 1: its lines become the new (version 2) manifest's planned and CRC lines."""
    src = tmp_path / "src"
    make_tree(src, {"a.bin": 5 * ARTICLE, "b.bin": 3 * ARTICLE, "c.bin": 4 * ARTICLE + 9})
    b = src / "b.bin"
    away = tmp_path / "b.away"
    async with FaultyNNTPServer() as server:
        with monkeypatch.context() as patch:
            write_version(patch, version)
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
