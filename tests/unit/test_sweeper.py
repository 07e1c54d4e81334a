"""The sweeper: finished transfers go after their retention, a locked store is no crash."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path

from postie.config import VerifyConfig
from postie.store import open_store
from postie.store.api import FileRole, NewFile, NewTransfer, Store, TransferState
from postie.store.lease import new_owner
from postie.verify.sweeper import Sweeper

DAY = 86400.0


async def make(store: Store, tmp_path: Path, name: str, **options: object) -> int:
    manifest = tmp_path / f"{name}.manifest.zst"
    manifest.write_bytes(b"manifest")
    tid = await store.create(
        NewTransfer(
            name=name,
            roots=(str(tmp_path / name),),
            roots_key=name,
            files_key=name,
            options=dict(options),
            nzb_path=None,
            manifest_path=manifest,
            files=(NewFile(1, tmp_path / name / "a.bin", "a.bin", 10, 1, 2),),
        ),
        owner="nobody",
        lease=0.0,
    )
    await store.finish(tid, state=TransferState.UPLOADED)
    return tid


def age(db: Path, tid: int, days: float) -> None:
    """Move a transfer's timestamps into the past (as if it finished days ago)."""
    then = time.time() - days * DAY
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE transfers SET updated_at = ?, finished_at = ? WHERE id = ?", (then, then, tid)
        )


def set_state(db: Path, tid: int, verify: str, finalize: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE transfers SET verify_state = ?, finalize_state = ? WHERE id = ?",
            (verify, finalize, tid),
        )


async def test_finished_transfers_go_after_retention(tmp_path: Path) -> None:
    db = tmp_path / "postie.db"
    async with open_store(db) as store:
        old_done = await make(store, tmp_path, "old-done")
        new_done = await make(store, tmp_path, "new-done")
        old_failed = await make(store, tmp_path, "old-failed")
        old_unverified = await make(store, tmp_path, "old-unverified", verify=False)
        old_pending = await make(store, tmp_path, "old-pending", verify=True)
        await store.record_misses(old_failed, 1, [(1, "x@y")], next_attempt_at=0.0)
        set_state(db, old_done, "verified", "done")
        set_state(db, new_done, "verified", "done")
        set_state(db, old_failed, "verification_failed", "pending")
        for tid in (old_done, old_failed, old_unverified, old_pending):
            age(db, tid, 8)
        age(db, new_done, 6)
        report = await Sweeper(store, VerifyConfig(retention=7 * DAY)).sweep()
        assert report is not None
        assert report.transfers == 2
        assert report.manifests == 2
        left = {s.transfer.name for s in await store.summaries()}
        # kept: inside retention, failed (kept for recovery), waiting for verification
        assert left == {"new-done", "old-failed", "old-pending"}
        assert not (tmp_path / "old-done.manifest.zst").exists()
        assert not (tmp_path / "old-unverified.manifest.zst").exists()
        assert (tmp_path / "old-failed.manifest.zst").exists()
        assert len(await store.failures(old_failed)) == 1
        # the rows of a swept transfer went with it (files, misses)
        assert await store.files(old_done) == ()


async def test_expired_leases_are_reclaimed_and_counted(tmp_path: Path) -> None:
    db = tmp_path / "postie.db"
    async with open_store(db) as store:
        tid = await make(store, tmp_path, "job")
        await store.record_misses(tid, 1, [(1, "a@b"), (2, "c@d")], next_attempt_at=0.0)
        claimed = await store.claim_failures(owner=new_owner(), lease=0.01, limit=10)
        assert len(claimed) == 2
        await asyncio.sleep(0.05)
        report = await Sweeper(store, VerifyConfig()).sweep()
        assert report is not None
        assert report.leases >= 2
        assert all(f.lease_owner is None for f in await store.failures(tid))


async def test_a_locked_store_does_not_crash_the_sweeper(tmp_path: Path) -> None:
    """Another process holds the write lock: the sweep is skipped with a warning and
    the sweeper keeps running; once the lock is gone the next sweep does its work."""
    db = tmp_path / "postie.db"
    async with open_store(db, busy_timeout=0.2) as store:
        tid = await make(store, tmp_path, "done")
        set_state(db, tid, "verified", "done")
        age(db, tid, 30)
        sweeper = Sweeper(store, VerifyConfig(retention=DAY, sweep_interval=0.1))
        locker = sqlite3.connect(db, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        task = asyncio.create_task(sweeper.run())
        try:
            await asyncio.sleep(0.8)
            assert sweeper.errors >= 1
            assert not task.done(), "a locked store ended the sweeper"
            assert sweeper.sweeps == 0
            locker.execute("ROLLBACK")
            for _ in range(50):
                if sweeper.sweeps:
                    break
                await asyncio.sleep(0.1)
            assert sweeper.last is not None
            assert sweeper.last.transfers == 1
        finally:
            locker.close()
            task.cancel()
        assert await store.get(tid) is None


async def test_abandoned_par2_folders_go_after_a_day(tmp_path: Path) -> None:
    """A run killed while making PAR2 leaves a folder no transfer refers to: it goes once
    a day old; a folder a transfer uses, or a fresh one (a PAR2 run now), stays."""
    work = tmp_path / "par2"
    used, old, fresh = work / "used", work / "old", work / "fresh"
    for folder in (used, old, fresh):
        folder.mkdir(parents=True)
        (folder / "x.par2").write_bytes(b"PAR2")
    two_days = time.time() - 2 * DAY
    for folder in (used, old):
        os.utime(folder, (two_days, two_days))
    async with open_store(tmp_path / "postie.db") as store:
        await store.create(
            NewTransfer(
                name="job",
                roots=(str(tmp_path),),
                roots_key="r",
                files_key="f",
                options={},
                nzb_path=None,
                manifest_path=tmp_path / "m.zst",
                files=(NewFile(1, used / "x.par2", "job.par2", 4, 1, 1, role=FileRole.PAR2),),
            ),
            owner="nobody",
            lease=0.0,
        )
        report = await Sweeper(store, VerifyConfig(), par2_dir=work).sweep()
    assert report is not None
    assert report.par2_folders == 1
    assert not old.exists()
    assert used.exists()
    assert fresh.exists()
