"""The verification service against the fault-injecting server, in one process.

Upload a folder through a transfer, then let the service STAT, re-post and
recheck until the transfer is decided; look at what the server received and
what the store and the file system kept.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from postie import manifest
from postie.config import Config, parse_config
from postie.runtime.runtime import Runtime
from postie.store import open_store
from postie.store.api import Transfer
from postie.store.lease import new_owner
from postie.testing import Faults, FaultyNNTPServer, make_tree
from postie.transfers.create import for_paths
from postie.transfers.run import TransferRun
from postie.verify import work as work_module
from postie.verify.service import VerifyStatistics, verification
from tests.manifests import write_version

ARTICLE = 4096
HOOK = Path(__file__).with_name("hook_probe.py")


def config(server: FaultyNNTPServer, **sections: Any) -> Config:
    verify = {
        "delay": 0,
        "backoff": 0.05,
        "backoff_max": 0.2,
        "poll_interval": 0.2,
        "max_checks": 3,
        **sections.pop("verify", {}),
    }
    return parse_config(
        {
            "servers": [{"host": server.host, "port": server.port, "max_connections": 3}],
            "posting": {"article_size": ARTICLE, "retry_delay": 0.01},
            "verify": verify,
            **sections,
        }
    )


@dataclass
class Verified:
    transfer: Transfer
    stats: VerifyStatistics
    store_path: Path
    manifest_path: Path
    ids: dict[tuple[int, int], str]  # (file, part) -> Message-ID from the manifest


async def post_and_verify(
    server: FaultyNNTPServer,
    tmp_path: Path,
    root: Path,
    cfg: Config,
    *,
    before_verify: Any = None,
) -> Verified:
    owner = new_owner()
    db = tmp_path / "db" / "postie.db"
    async with open_store(db) as store:
        prepared = await for_paths(
            store,
            cfg,
            [root],
            name="job",
            output=tmp_path / "job.nzb",
            overwrite=True,
            owner=owner,
            manifests=tmp_path / "manifests",
        )
        found = manifest.read(prepared.manifest_path)
        async with Runtime(cfg) as runtime:
            run = TransferRun(runtime, store, prepared, owner=owner, check_delay=cfg.verify.delay)
            outcome = await run.post()
            assert outcome.complete
            ids = {
                (f, p): r.message_id
                for f, lines in manifest.read(prepared.manifest_path).articles.items()
                for p, r in lines.items()
            }
            del found
            if before_verify is not None:
                before_verify()
            async with verification(
                runtime, store, owner=owner, only=prepared.transfer_id
            ) as service:
                decided = await service.wait(prepared.transfer_id)
            return Verified(decided, service.statistics(), db, prepared.manifest_path, ids)


@pytest.mark.parametrize("version", [1, 2])
async def test_lost_articles_are_found_and_posted_again_with_the_same_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: int
) -> None:
    """240 to three articles, none of them kept: the service finds exactly those three,
    re-posts them with the same Message-IDs and the same bytes, and the transfer ends
    verified (and finalized: its manifest is gone). Also from a version 1 manifest."""
    write_version(monkeypatch, version)
    make_tree(tmp_path / "src", {"a.bin": 20 * ARTICLE + 7, "b.bin": 9 * ARTICLE})
    async with FaultyNNTPServer(faults=Faults(lose_articles=3)) as server:
        result = await post_and_verify(server, tmp_path, tmp_path / "src", config(server))
        lost = set(server.lost)
        assert len(lost) == 3
        assert result.transfer.verify_state == "verified"
        assert result.transfer.finalize_state == "done"
        assert result.stats.missing == 3
        assert result.stats.reposted == 3
        # each lost ID was posted exactly twice (the lost post and the re-post), and
        # no other article was posted again
        assert {m for m, n in server.post_attempts.items() if n > 1} == lost
        assert all(server.post_attempts[m] == 2 for m in lost)
        for mid in lost:
            assert _without_date(server.articles[mid]) == _without_date(
                server.lost_articles[mid]
            ), f"re-post of {mid} differs from the first post"
        assert {f"<{m}>" for m in result.ids.values()} == set(server.articles)
        assert not result.manifest_path.exists(), "a finalized transfer drops its manifest"
        async with open_store(result.store_path) as store:
            assert await store.failures(result.transfer.id) == ()
            assert {f.verify_state for f in await store.files(result.transfer.id)} == {"verified"}


async def test_articles_lost_for_good_end_verification_failed_keeping_everything(
    tmp_path: Path,
) -> None:
    """Re-posts are lost too: after its re-post and its rechecks each article is
    exhausted; the transfer is verification_failed, the originals and the manifest
    are kept, the hook never runs and the reason names the articles and replies."""
    src = tmp_path / "src"
    make_tree(src, {"a.bin": 10 * ARTICLE, "b.bin": 3 * ARTICLE})
    probe = tmp_path / "hook.jsonl"
    async with FaultyNNTPServer(faults=Faults(lose_for_good=2)) as server:
        cfg = config(
            server,
            finalize={
                "delete_originals": True,
                "hook": {"command": [sys.executable, str(HOOK), str(probe), "{nzb}"]},
            },
        )
        result = await post_and_verify(server, tmp_path, src, cfg)
        assert result.transfer.verify_state == "verification_failed"
        assert result.transfer.finalize_state == "pending"
        assert result.stats.exhausted == 2
        doomed = set(server.doomed)
        assert all(server.post_attempts[m] == 2 for m in doomed)  # max_reposts 1
    assert not probe.exists(), "the hook ran for a transfer that was not verified"
    assert (src / "a.bin").exists()
    assert (src / "b.bin").exists()
    assert result.manifest_path.exists()
    async with open_store(result.store_path) as store:
        failures = await store.failures(result.transfer.id)
        assert {f"<{f.message_id.strip('<>')}>" for f in failures} == doomed
        assert {f.state for f in failures} == {"exhausted"}
        for f in failures:
            assert f.repost_count == 1
            assert f.check_count == 3
            assert f.last_error is not None
            assert "430" in f.last_error
            assert "re-posted (240)" in (f.last_error or "")
        files = {f.file_id: f.verify_state for f in await store.files(result.transfer.id)}
        failed = {f.file_id for f in failures}
        assert {k for k, v in files.items() if v == "verification_failed"} == failed


async def test_a_stat_error_spends_no_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """STAT answered 403 (not 430) for a while: the checks wait and try again without
    counting a check or a re-post; the transfer still ends verified."""
    make_tree(tmp_path / "src", {"a.bin": 6 * ARTICLE})
    async with FaultyNNTPServer(faults=Faults(lose_articles=1)) as server:

        def break_stat() -> None:
            # every STAT fails for 2 s: longer than stat_all's attempts (0.5 + 1 s of
            # backoff), so the first scan gives up and is postponed
            server.faults.stat_errors = 1_000_000
            asyncio.get_running_loop().call_later(2.0, setattr, server.faults, "stat_errors", 0)

        monkeypatch.setattr(work_module, "ERROR_RETRY", 0.1)
        result = await post_and_verify(
            server, tmp_path, tmp_path / "src", config(server), before_verify=break_stat
        )
        assert result.transfer.verify_state == "verified"
        assert result.stats.stat_errors >= 1
        assert result.stats.missing == 1
        assert result.stats.reposted == 1
        assert sum(server.post_attempts.values()) == 6 + 1


async def test_verified_transfer_runs_its_hook_once_with_unsafe_names(tmp_path: Path) -> None:
    """The hook runs once, after verification, with paths full of spaces and shell
    metacharacters passed as they are (no shell); originals go when asked."""
    src = tmp_path / "my files; touch PWNED $(id) `id` & 'q'"
    make_tree(src, {"a b;c|d.bin": 5 * ARTICLE})
    probe = tmp_path / "hook.jsonl"
    async with FaultyNNTPServer() as server:
        cfg = config(
            server,
            finalize={
                "delete_originals": True,
                "hook": {
                    "command": [
                        sys.executable,
                        str(HOOK),
                        str(probe),
                        "{source}",
                        "{nzb}",
                        "name={name}",
                        "{id}",
                    ]
                },
            },
        )
        result = await post_and_verify(server, tmp_path, src, cfg)
    assert result.transfer.verify_state == "verified"
    assert result.transfer.finalize_state == "done"
    runs = [json.loads(line) for line in probe.read_text().splitlines()]
    assert len(runs) == 1
    argv = runs[0]["argv"]
    assert argv == [
        os.fspath(src.resolve()),
        os.fspath(tmp_path / "job.nzb"),
        "name=job",
        str(result.transfer.id),
    ]
    assert not _pwned(tmp_path), "a shell ran the hook's arguments"
    assert not (src / "a b;c|d.bin").exists(), "delete_originals: the posted file goes"


async def test_a_failing_hook_is_retried_then_reported(tmp_path: Path) -> None:
    """Failing twice then succeeding: done after three runs. Failing every time: the
    transfer stays verified with finalize failed, the error names the hook's output,
    and the manifest and originals are kept."""
    make_tree(tmp_path / "one", {"a.bin": 2 * ARTICLE})
    make_tree(tmp_path / "two", {"b.bin": 2 * ARTICLE})
    probe = tmp_path / "hook.jsonl"
    hook = {
        "command": [sys.executable, str(HOOK), str(probe), "{name}"],
        "retries": 2,
        "retry_delay": 0.05,
    }
    async with FaultyNNTPServer() as server:
        os.environ["HOOK_PROBE_FAILURES"] = "2"
        try:
            cfg = config(server, finalize={"hook": hook})
            first = await post_and_verify(server, tmp_path / "t1", tmp_path / "one", cfg)
            os.environ["HOOK_PROBE_FAILURES"] = "99"
            probe.unlink()
            cfg = config(server, finalize={"hook": hook, "delete_originals": True})
            second = await post_and_verify(server, tmp_path / "t2", tmp_path / "two", cfg)
        finally:
            os.environ.pop("HOOK_PROBE_FAILURES", None)
    assert first.transfer.finalize_state == "done"
    assert first.transfer.finalize_attempts == 3
    assert second.transfer.verify_state == "verified"
    assert second.transfer.finalize_state == "failed"
    assert second.transfer.finalize_attempts == 3
    error = second.transfer.last_error or ""
    assert "failed 3 times" in error, error
    assert "probe says no" in error, error
    assert second.manifest_path.exists()
    assert (tmp_path / "two" / "b.bin").exists()
    assert len(probe.read_text().splitlines()) == 3


def _pwned(root: Path) -> bool:
    return bool(list(root.rglob("PWNED"))) or Path("PWNED").exists()


def _without_date(article: bytes) -> bytes:
    """The article minus its Date header, which a re-post sets afresh (a server refuses
    articles dated older than its cutoff, INN's artcutoff for one)."""
    return re.sub(rb"(?m)^Date: [^\r\n]*\r\n", b"", article)


async def test_a_stat_error_on_a_recheck_leaves_the_counts_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pass by pass: the scan records the miss (one check); a recheck whose STAT fails
    with 403 leaves its checks and re-posts as they were and says why; the next pass
    re-posts it and the transfer is verified."""
    from postie.nntp import stat
    from postie.verify.service import VerificationService

    monkeypatch.setattr(stat, "BACKOFF", 0.0)
    monkeypatch.setattr(work_module, "ERROR_RETRY", 0.1)
    make_tree(tmp_path / "src", {"a.bin": 4 * ARTICLE})
    owner = new_owner()
    async with (
        FaultyNNTPServer(faults=Faults(lose_articles=1)) as server,
        open_store(tmp_path / "postie.db") as store,
    ):
        cfg = config(server)
        prepared = await for_paths(
            store,
            cfg,
            [tmp_path / "src"],
            name="job",
            output=tmp_path / "job.nzb",
            overwrite=False,
            owner=owner,
            manifests=tmp_path / "manifests",
        )
        tid = prepared.transfer_id
        async with Runtime(cfg) as runtime:
            await TransferRun(runtime, store, prepared, owner=owner, check_delay=0).post()
            service = VerificationService(
                runtime, store, owner=owner, config=cfg.verify, only=tid, sweep=False
            )
            claim = await store.claim_check(owner=owner, lease=60, only=tid)
            assert claim is not None
            await service._scan(*claim)
            (miss,) = await store.failures(tid)
            assert (miss.check_count, miss.repost_count) == (1, 0)
            server.faults.stat_errors = 1_000_000
            due = await store.claim_failures(owner=owner, lease=60, limit=10, only=tid)
            await service._recheck(due)
            (after,) = await store.failures(tid)
            assert (after.check_count, after.repost_count, after.state) == (1, 0, "pending")
            assert after.lease_owner is None
            assert (after.last_error or "").startswith("STAT: "), after.last_error
            assert "403" in (after.last_error or "")
            server.faults.stat_errors = 0
            state = "pending"
            for _ in range(50):
                await service.run_pass()
                state = (await store.files(tid))[0].verify_state
                if state != "pending":
                    break
                await asyncio.sleep(0.05)
            assert state == "verified"
            assert service.statistics().reposted == 1


async def test_checks_go_to_a_dedicated_verify_server(tmp_path: Path) -> None:
    """With a server of role verify, every STAT goes there and none to the upload
    server (the two share one article store here, as a provider's backends do)."""
    make_tree(tmp_path / "src", {"a.bin": 5 * ARTICLE})
    async with FaultyNNTPServer() as upload, FaultyNNTPServer() as checker:
        checker.articles = upload.articles
        cfg = parse_config(
            {
                "servers": [
                    {"host": upload.host, "port": upload.port, "role": "upload"},
                    {"host": checker.host, "port": checker.port, "role": "verify"},
                ],
                "posting": {"article_size": ARTICLE},
                "verify": {"delay": 0},
            }
        )
        result = await post_and_verify(upload, tmp_path, tmp_path / "src", cfg)
    assert result.transfer.verify_state == "verified"
    assert result.stats.checked == 5
    assert sum(c.startswith("STAT") for c in checker.commands) == 5
    assert not any(c.startswith("STAT") for c in upload.commands)
    assert not any(c.startswith("POST") for c in checker.commands)


async def test_originals_are_moved_once_verified_when_the_policy_says_so(
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.bin": 3 * ARTICLE, "sub/b.bin": ARTICLE + 5})
    before = {p.relative_to(src): p.read_bytes() for p in src.rglob("*.bin")}
    done = tmp_path / "posted"
    async with FaultyNNTPServer() as server:
        cfg = config(server, finalize={"move_originals": str(done)})
        result = await post_and_verify(server, tmp_path, src, cfg)
    assert result.transfer.finalize_state == "done"
    assert not list(src.rglob("*.bin")), "the originals should have been moved"
    moved = {p.relative_to(done / "job"): p.read_bytes() for p in (done / "job").rglob("*.bin")}
    assert moved == before


@pytest.mark.parametrize("version", [1, 2])
async def test_a_repost_of_changed_bytes_with_the_same_size_and_mtime_fails_the_crc_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: int
) -> None:
    """An article is lost, then its file is rewritten with other bytes of the same size
    and mtime: the re-post reads the part again, its CRC32 differs from the manifest
    line's (version 2: its CRC line, durable since the upload), and nothing is posted
    under the old Message-ID; the article stays missing, the transfer ends
    verification_failed and the failure names the CRC mismatch."""
    write_version(monkeypatch, version)
    src = tmp_path / "src"
    files = make_tree(src, {"a.bin": 8 * ARTICLE + 3})
    (path,) = files
    async with FaultyNNTPServer(faults=Faults(lose_articles=1)) as server:
        first: dict[str, bytes] = {}

        def rewrite() -> None:
            first.update(server.articles)
            first.update(server.lost_articles)
            st = path.stat()
            path.write_bytes(bytes(b ^ 0x5A for b in files[path]))
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
            assert path.stat().st_size == st.st_size

        result = await post_and_verify(server, tmp_path, src, config(server), before_verify=rewrite)
        lost = set(server.lost)
        assert len(lost) == 1
        posts = {m: server.post_attempts[m] for m in lost}
        assert posts == dict.fromkeys(lost, 1), "the lost ID was posted again"
        assert set(server.articles) | lost == set(first)
        for mid, article in server.articles.items():
            assert _without_date(article) == _without_date(first[mid]), f"{mid} changed"
        assert result.transfer.verify_state == "verification_failed"
        assert result.stats.reposted == 0
        async with open_store(result.store_path) as store:
            (failure,) = await store.failures(result.transfer.id)
            assert f"<{failure.message_id.strip('<>')}>" in lost
            assert failure.state == "exhausted"
            error = failure.last_error or ""
            assert "the file changed since it was planned" in error, error
            assert "reads with CRC32" in error, error
            (row,) = await store.files(result.transfer.id)
            assert row.verify_state == "verification_failed"
    assert path.exists(), "a transfer that failed its verification keeps its originals"


async def test_originals_are_kept_when_no_policy_says_otherwise(tmp_path: Path) -> None:
    """Without delete_originals or move_originals a verified, finalized transfer leaves
    the user's files where they were, byte for byte (only the manifest goes)."""
    src = tmp_path / "src"
    files = make_tree(src, {"a.bin": 3 * ARTICLE, "sub/b.bin": ARTICLE + 5})
    async with FaultyNNTPServer() as server:
        result = await post_and_verify(server, tmp_path, src, config(server))
    assert result.transfer.verify_state == "verified"
    assert result.transfer.finalize_state == "done"
    assert not result.manifest_path.exists()
    assert {p: p.read_bytes() for p in files if p.exists()} == files, "an original is gone"
    async with open_store(result.store_path) as store:
        assert {f.cleanup for f in await store.files(result.transfer.id)} == {"keep"}


@pytest.mark.parametrize("turns", range(5))
async def test_a_kick_and_a_close_in_one_loop_turn_end_the_service(
    tmp_path: Path, turns: int
) -> None:
    """``wait()`` kicks the loop and the post closes the service at once. Whatever the
    number of loop turns between the two, the close ends the loop task. (3.11's
    ``asyncio.wait_for`` returned the kick's result when the cancellation came in the
    turn after the kick finished, so the loop went on polling and the close waited for
    ever: a resumed ``postie post`` that did not end.)"""
    from postie.verify.service import VerificationService

    async with FaultyNNTPServer() as server, open_store(tmp_path / "postie.db") as store:
        cfg = config(server, verify={"poll_interval": 3600})
        async with Runtime(cfg) as runtime:
            service = VerificationService(
                runtime, store, owner=new_owner(), config=cfg.verify, sweep=False
            )
            service.start()
            for _ in range(500):
                if service.statistics().passes:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # in the wait for a kick
            service.kick()
            for _ in range(turns):
                await asyncio.sleep(0)
            async with asyncio.timeout(5):
                await service.aclose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    from tests import postgres

    with postgres.fresh() as url:
        yield url


async def test_another_instance_verifies_and_reposts_from_the_manifest_in_the_database(
    tmp_path: Path, pg_url: str
) -> None:
    """PostgreSQL keeps the manifests: one instance posts (three articles lost), its
    manifests folder is then deleted, and another instance (another store object,
    another folder, which never saw a manifest file) STATs the transfer, re-posts the
    three with the same Message-IDs from the manifest in the database, and finalizes
    it, which deletes the manifest's rows."""
    make_tree(tmp_path / "src", {"a.bin": 20 * ARTICLE + 7, "b.bin": 9 * ARTICLE})
    async with FaultyNNTPServer(faults=Faults(lose_articles=3)) as server:
        cfg = config(server)
        first, there = new_owner(), tmp_path / "first" / "manifests"
        async with open_store(pg_url) as store, Runtime(cfg) as runtime:
            prepared = await for_paths(
                store,
                cfg,
                [tmp_path / "src"],
                name="job",
                output=tmp_path / "job.nzb",
                overwrite=True,
                owner=first,
                manifests=there,
            )
            run = TransferRun(runtime, store, prepared, owner=first, check_delay=0)
            assert (await run.post()).complete
            ref = prepared.manifest_path
            found = await store.manifests.read(ref)
        ids = {
            (f, p): r.message_id for f, lines in found.articles.items() for p, r in lines.items()
        }
        assert not there.exists() or not any(there.iterdir()), "no manifest file"
        shutil.rmtree(tmp_path / "first", ignore_errors=True)
        lost = set(server.lost)
        assert len(lost) == 3
        second = new_owner()
        async with open_store(pg_url) as store, Runtime(cfg) as runtime:
            async with verification(runtime, store, owner=second, only=1) as service:
                async with asyncio.timeout(60):  # a manifest it cannot read: never decided
                    decided = await service.wait(1)
            stats = service.statistics()
            assert (decided.verify_state, decided.finalize_state) == ("verified", "done")
            assert (stats.missing, stats.reposted) == (3, 3)
            assert {m for m, n in server.post_attempts.items() if n > 1} == lost
            assert all(server.post_attempts[m] == 2 for m in lost)
            for mid in lost:
                assert _without_date(server.articles[mid]) == _without_date(
                    server.lost_articles[mid]
                )
            assert {f"<{m}>" for m in ids.values()} == set(server.articles)
            assert await store.manifests.length(ref) == 0, "finalizing drops its rows"
