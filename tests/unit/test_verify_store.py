"""The store's verification side: leased scans, outcomes, what is due when."""

from __future__ import annotations

from pathlib import Path

import pytest

from postie import errors
from postie.config import parse_config
from postie.store import open_store
from postie.store.api import NewFile, NewTransfer, Store, TransferState
from postie.testing import ManualClock
from postie.verify.finalize import hook_argv


async def uploaded(
    store: Store, tmp_path: Path, files: int = 2, options: dict[str, object] | None = None
) -> int:
    tid = await store.create(
        NewTransfer(
            name="job",
            roots=(str(tmp_path),),
            roots_key="r",
            files_key="f",
            options=options or {},
            nzb_path=None,
            manifest_path=tmp_path / "m.zst",
            files=tuple(
                NewFile(i, tmp_path / f"{i}.bin", f"{i}.bin", 10, 1, 3) for i in range(1, files + 1)
            ),
        ),
        owner="poster",
        lease=60,
    )
    await store.checkpoint(
        tid, owner="poster", lease=60, manifest_bytes=0, files=(), all_uploaded=True
    )
    return tid


async def test_a_scan_is_due_after_its_delay_and_leased_to_one_worker(tmp_path: Path) -> None:
    clock = ManualClock()
    async with open_store(tmp_path / "db", clock=clock) as store:
        tid = await uploaded(store, tmp_path)
        now = store.now()
        assert await store.claim_check(owner="a", lease=60) is None  # not asked
        await store.finish(tid, state=TransferState.UPLOADED, check_at=now + 10)
        assert await store.next_due() == pytest.approx(now + 10)
        assert await store.claim_check(owner="a", lease=60) is None  # not yet
        clock.advance(11)
        assert await store.claim_check(owner="a", lease=60) == (tid, (1, 2))
        clock.advance(1)
        assert await store.claim_check(owner="b", lease=60) is None  # leased
        # a worker that died: its lease runs out and the scan is due again
        clock.advance(60)
        assert await store.claim_check(owner="b", lease=60) == (tid, (1, 2))


async def test_outcomes_follow_the_misses(tmp_path: Path) -> None:
    async with open_store(tmp_path / "db") as store:
        tid = await uploaded(store, tmp_path)
        await store.finish(tid, state=TransferState.UPLOADED, check_at=0.0)
        claim = await store.claim_check(owner="w", lease=60)
        assert claim == (tid, (1, 2))
        await store.finish_check(
            tid, owner="w", files=(1, 2), misses={2: [(3, "m@x")]}, next_attempt_at=0.0
        )
        states = {f.file_id: f.verify_state for f in await store.files(tid)}
        assert states == {1: "verified", 2: "pending"}
        assert (await store.get(tid)).verify_state == "pending"  # type: ignore[union-attr]
        (miss,) = await store.claim_failures(owner="w", lease=60, limit=10)
        await store.reschedule_failure(
            miss.key,
            owner="w",
            repost_count=1,
            check_count=5,
            next_attempt_at=0.0,
            error="430",
            exhausted=True,
        )
        assert await store.settle(tid) == "verification_failed"
        states = {f.file_id: f.verify_state for f in await store.files(tid)}
        assert states == {1: "verified", 2: "verification_failed"}
        # asked again: outcomes and misses are forgotten, every file is checked afresh
        await store.schedule_checks(tid, at=0.0, again=True)
        assert await store.failures(tid) == ()
        assert (await store.get(tid)).verify_state == "pending"  # type: ignore[union-attr]
        await store.claim_check(owner="w", lease=60)
        await store.finish_check(tid, owner="w", files=(1, 2), misses={}, next_attempt_at=0.0)
        found = await store.get(tid)
        assert found is not None
        assert found.verify_state == "verified"
        assert found.display_state == "verified"
        assert await store.finalizable() == ()  # the poster still holds it
        await store.release(tid, owner="poster")
        assert [t.id for t in await store.finalizable()] == [tid]


async def test_a_file_never_scanned_is_never_verified(tmp_path: Path) -> None:
    async with open_store(tmp_path / "db") as store:
        tid = await uploaded(store, tmp_path)
        assert await store.settle(tid) == "pending"
        assert {f.verify_state for f in await store.files(tid)} == {"pending"}


async def test_a_scan_result_from_a_worker_that_lost_its_lease_is_ignored(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    async with open_store(tmp_path / "db", clock=clock) as store:
        tid = await uploaded(store, tmp_path, files=1)
        await store.finish(tid, state=TransferState.UPLOADED, check_at=0.0)
        await store.claim_check(owner="slow", lease=1)
        clock.advance(2)
        await store.claim_check(owner="fast", lease=60)
        await store.finish_check(
            tid, owner="slow", files=(1,), misses={1: [(1, "a@b")]}, next_attempt_at=0.0
        )
        assert await store.failures(tid) == ()
        (row,) = await store.files(tid)
        assert row.verify_state == "pending"
        assert row.check_owner == "fast"


def test_hook_placeholders_are_checked_and_expanded() -> None:
    cfg = parse_config({"finalize": {"hook": {"command": ["notify", "{nzb}", "x={name}"]}}})
    argv = hook_argv(
        cfg.finalize.hook, {"nzb": "a b;c.nzb", "name": "$(x)", "source": "", "id": "1"}
    )
    assert argv == ["notify", "a b;c.nzb", "x=$(x)"]
    with pytest.raises(errors.ConfigError, match=r"finalize\.hook\.command.*bad placeholder"):
        parse_config({"finalize": {"hook": {"command": ["notify", "{files}"]}}})


async def test_a_transfer_is_checked_only_against_the_server_it_was_posted_to(
    tmp_path: Path,
) -> None:
    """A daemon configured for server B must not STAT (and then re-post everything of)
    a transfer a CLI run posted to server A on the same store."""
    async with open_store(tmp_path / "db") as store:
        posted_to_a = await uploaded(store, tmp_path, options={"servers": ["a.example:119"]})
        legacy = await uploaded(store, tmp_path / "old")  # recorded no server
        for tid in (posted_to_a, legacy):
            await store.finish(tid, state=TransferState.UPLOADED, check_at=0.0)
        await store.record_misses(posted_to_a, 1, [(1, "x@y")], next_attempt_at=0.0)
        only_b = ["b.example:563"]
        assert await store.claim_check(owner="w", lease=60, servers=only_b) == (legacy, (1, 2))
        assert await store.claim_check(owner="w", lease=60, servers=only_b) is None
        assert await store.claim_failures(owner="w", lease=60, limit=10, servers=only_b) == ()
        assert await store.next_due(servers=only_b) is not None  # the legacy scan's lease
        both = ["b.example:563", "a.example:119"]
        claimed = await store.claim_check(owner="w", lease=60, servers=both)
        assert claimed == (posted_to_a, (1, 2))
        (miss,) = await store.claim_failures(owner="w", lease=60, limit=10, servers=both)
        assert miss.transfer_id == posted_to_a
