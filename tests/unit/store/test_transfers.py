"""The store's transfers: creating, finding, leasing, checkpoints, outcomes.

Behaviour every implementation keeps (see conftest.IMPLEMENTATIONS)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from postie.errors import StoreError, StoreLocked, TransferBusy, UsageError
from postie.store import lease as lease_module
from postie.store.api import (
    FileProgress,
    NewFile,
    Store,
    Transfer,
    TransferFile,
    TransferState,
    UploadState,
)
from postie.testing import ManualClock
from tests.unit.store.conftest import Backend
from tests.unit.store.helpers import ODD_PATH, file_row, must_get, new_transfer


async def test_closed_store_raises_store_error(backend: Backend) -> None:
    async with backend.open() as store:
        pass
    with pytest.raises(StoreError, match="not open"):
        await store.get(1)
    await store.aclose()  # closing again is fine


async def test_never_opened_store_raises_store_error(backend: Backend) -> None:
    with pytest.raises(StoreError, match="not open"):
        await backend.open().get(1)


async def test_create_records_transfer_and_files(store: Store) -> None:
    before = store.now()
    tid = await store.create(new_transfer(), owner="me", lease=60)
    after = store.now()

    transfer = await must_get(store, tid)
    assert isinstance(transfer, Transfer)
    assert (transfer.id, transfer.name, transfer.state) == (tid, "job", "uploading")
    assert transfer.roots == ("/data", "/tmp/x")
    assert (transfer.roots_key, transfer.files_key) == ("roots-1", "files-1")
    assert transfer.options == {"groups": ["alt.binaries.test"], "article_size": 716800}
    assert transfer.nzb_path is None
    assert transfer.manifest_path == Path("/state/job.manifest")
    assert transfer.manifest_bytes == 0
    assert transfer.lease_owner == "me"
    assert transfer.lease_expires is not None
    assert before + 60 <= transfer.lease_expires <= after + 60
    assert before <= transfer.created_at == transfer.updated_at <= after
    assert transfer.finished_at is None
    assert transfer.last_error is None
    assert transfer.unfinished
    with pytest.raises(AttributeError):
        transfer.name = "other"  # type: ignore[misc]

    files = await store.files(tid)
    assert all(isinstance(f, TransferFile) for f in files)
    assert [f.file_id for f in files] == [1, 2, 3]
    assert [f.source_path for f in files] == [Path("/data/a.bin"), ODD_PATH, Path("/data/a.par2")]
    assert os.fsencode(files[1].source_path) == b"/tmp/\xff odd.bin"
    assert [f.name for f in files] == ["a.bin", "\\xff odd.bin", "a.par2"]
    assert [f.role for f in files] == ["data", "data", "par2"]
    assert [(f.size, f.mtime_ns, f.article_count) for f in files] == [
        (1000, 11, 2),
        (2500, 22, 3),
        (40, 33, 1),
    ]
    for f in files:
        assert f.transfer_id == tid
        assert f.manifest_path == Path("/state/job.manifest")
        assert (f.acked, f.upload_state, f.verify_state, f.cleanup) == (
            0,
            "pending",
            "pending",
            "keep",
        )
        assert f.next_check_at is None
        assert f.last_error is None
    assert await store.accepted_ids(tid) == {}


async def test_create_is_one_transaction(store: Store) -> None:
    files = (
        NewFile(1, Path("/a"), "a", 1, 1, 1),
        NewFile(1, Path("/b"), "b", 1, 1, 1),  # the same file id twice: the insert fails
    )
    with pytest.raises(StoreError, match="record a new transfer failed") as info:
        await store.create(new_transfer(files=files), owner="me", lease=60)
    assert not isinstance(info.value, StoreLocked)
    assert await store.summaries() == ()
    assert await store.last_unfinished() is None
    # and the store is still usable (the transaction was rolled back, not left open)
    tid = await store.create(new_transfer(), owner="me", lease=60)
    assert len(await store.files(tid)) == 3


async def test_get_missing_transfer_is_none(store: Store) -> None:
    assert await store.get(42) is None
    assert await store.files(42) == ()


async def test_unfinished_and_last_unfinished(store: Store) -> None:
    assert await store.last_unfinished() is None
    first = await store.create(new_transfer("one", roots_key="k1"), owner="me", lease=60)
    second = await store.create(new_transfer("two", roots_key="k1"), owner="me", lease=60)
    other = await store.create(new_transfer("three", roots_key="k2"), owner="me", lease=60)

    assert [t.id for t in await store.unfinished("k1")] == [second, first]  # newest first
    assert [t.id for t in await store.unfinished("k2")] == [other]
    assert await store.unfinished("nope") == ()
    last = await store.last_unfinished()
    assert last is not None
    assert last.id == other

    await store.finish(other, state=TransferState.UPLOADED)
    await store.finish(second, state=TransferState.INCOMPLETE, error="2 files failed")
    assert [t.id for t in await store.unfinished("k1")] == [second, first]  # incomplete counts
    assert await store.unfinished("k2") == ()
    last = await store.last_unfinished()
    assert last is not None
    assert last.id == second
    await store.finish(second, state=TransferState.UPLOADED)
    await store.finish(first, state=TransferState.UPLOADED)
    assert await store.last_unfinished() is None
    assert await store.unfinished("k1") == ()


async def test_summaries(store: Store) -> None:
    empty = await store.create(new_transfer("empty", files=()), owner="me", lease=60)
    full = await store.create(new_transfer("full"), owner="me", lease=60)
    await store.checkpoint(
        full,
        owner="me",
        lease=60,
        manifest_bytes=0,
        files=[FileProgress(1, 2, UploadState.UPLOADED), FileProgress(3, 1, UploadState.UPLOADED)],
    )
    summaries = await store.summaries()
    assert [s.transfer.id for s in summaries] == [full, empty]  # newest first
    s_full, s_empty = summaries
    assert s_full.transfer.name == "full"
    assert (s_full.files, s_full.bytes, s_full.articles, s_full.uploaded_files) == (
        3,
        1000 + 2500 + 40,
        2 + 3 + 1,
        2,
    )
    assert (s_empty.files, s_empty.bytes, s_empty.articles, s_empty.uploaded_files) == (0, 0, 0, 0)
    assert [s.transfer.id for s in await store.summaries(limit=1)] == [full]


async def test_claim_while_the_lease_is_live_is_busy(store: Store) -> None:
    a = lease_module.new_owner()
    b = lease_module.new_owner()
    assert a != b
    tid = await store.create(new_transfer(), owner=a, lease=60)
    with pytest.raises(TransferBusy) as info:
        await store.claim(tid, owner=b, lease=60)
    assert a in str(info.value)
    assert f"transfer {tid}" in str(info.value)
    assert (await must_get(store, tid)).lease_owner == a
    # the holder itself may claim again (renewing)
    await store.claim(tid, owner=a, lease=120)
    assert (await must_get(store, tid)).lease_owner == a


async def test_claim_after_the_lease_expired(store: Store, clock: ManualClock) -> None:
    a = lease_module.new_owner()
    b = lease_module.new_owner()
    tid = await store.create(new_transfer(), owner=a, lease=10)
    clock.advance(11)
    before = store.now()
    await store.claim(tid, owner=b, lease=60)
    transfer = await must_get(store, tid)
    assert transfer.lease_owner == b
    assert transfer.lease_expires is not None
    assert transfer.lease_expires >= before + 60
    with pytest.raises(TransferBusy):
        await store.claim(tid, owner=a, lease=60)


async def test_claim_of_a_missing_transfer(store: Store) -> None:
    with pytest.raises(StoreError, match="no transfer 7"):
        await store.claim(7, owner="me", lease=60)


async def test_release(store: Store) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=3600)
    await store.release(tid, owner="b")  # not the holder: nothing happens
    assert (await must_get(store, tid)).lease_owner == "a"
    with pytest.raises(TransferBusy):
        await store.claim(tid, owner="b", lease=60)
    await store.release(tid, owner="a")
    transfer = await must_get(store, tid)
    assert (transfer.lease_owner, transfer.lease_expires) == (None, None)
    await store.claim(tid, owner="b", lease=60)
    assert (await must_get(store, tid)).lease_owner == "b"


async def test_checkpoint_advances_acked_only_forward(store: Store) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=60)
    await store.checkpoint(
        tid, owner="a", lease=60, manifest_bytes=100, files=[FileProgress(1, 1), FileProgress(2, 2)]
    )
    assert [f.acked for f in await store.files(tid)] == [1, 2, 0]
    await store.checkpoint(
        tid,
        owner="a",
        lease=60,
        manifest_bytes=50,  # lower than recorded: kept at 100
        files=[FileProgress(1, 0), FileProgress(2, 1), FileProgress(3, 1)],
    )
    assert [f.acked for f in await store.files(tid)] == [1, 2, 1]
    assert (await must_get(store, tid)).manifest_bytes == 100
    await store.checkpoint(tid, owner="a", lease=60, manifest_bytes=300, files=[FileProgress(2, 3)])
    assert [f.acked for f in await store.files(tid)] == [1, 3, 1]
    assert (await must_get(store, tid)).manifest_bytes == 300


async def test_checkpoint_sets_state_and_error_and_renews(store: Store) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=1)
    created = await must_get(store, tid)
    await store.checkpoint(
        tid,
        owner="a",
        lease=600,
        manifest_bytes=10,
        files=[
            FileProgress(1, 2, state=UploadState.UPLOADED),
            FileProgress(
                2, 1, state=UploadState.SOURCE_CHANGED, error="a.bin changed since planned"
            ),
            FileProgress(3, 0),  # no new state: untouched
        ],
    )
    files = await store.files(tid)
    assert [(f.upload_state, f.last_error) for f in files] == [
        ("uploaded", None),
        ("source_changed", "a.bin changed since planned"),
        ("pending", None),
    ]
    renewed = await must_get(store, tid)
    assert renewed.lease_expires is not None
    assert created.lease_expires is not None
    assert renewed.lease_expires >= created.lease_expires + 598
    assert renewed.updated_at >= created.updated_at
    # a state change back clears the error with it
    await store.checkpoint(
        tid,
        owner="a",
        lease=600,
        manifest_bytes=10,
        files=[FileProgress(2, 1, state=UploadState.PENDING)],
    )
    assert (await file_row(store, tid, 2)).last_error is None


async def test_checkpoint_records_accepted_ids(store: Store) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=60)
    await store.checkpoint(
        tid,
        owner="a",
        lease=60,
        manifest_bytes=0,
        files=[],
        accepted=[(1, 2, "x1@server"), (2, 1, "y@server")],
    )
    await store.checkpoint(
        tid, owner="a", lease=60, manifest_bytes=0, files=[], accepted=iter([(1, 2, "x2@server")])
    )
    assert await store.accepted_ids(tid) == {(1, 2): "x2@server", (2, 1): "y@server"}
    other = await store.create(new_transfer("other"), owner="a", lease=60)
    assert await store.accepted_ids(other) == {}


async def test_checkpoint_by_an_owner_that_lost_the_lease_is_busy(
    store: Store, clock: ManualClock
) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=10)
    clock.advance(11)
    await store.claim(tid, owner="b", lease=60)
    with pytest.raises(TransferBusy, match="taken over by another process"):
        await store.checkpoint(
            tid,
            owner="a",
            lease=60,
            manifest_bytes=999,
            files=[FileProgress(1, 2, UploadState.UPLOADED)],
            accepted=[(1, 1, "x@y")],
        )
    transfer = await must_get(store, tid)
    assert (transfer.lease_owner, transfer.manifest_bytes) == ("b", 0)
    row = await file_row(store, tid, 1)
    assert (row.acked, row.upload_state) == (0, "pending")
    assert await store.accepted_ids(tid) == {}


async def checkpointed_state(store: Store, tid: int) -> tuple[object, ...]:
    t = await must_get(store, tid)
    return (
        t.manifest_bytes,
        t.lease_expires,
        tuple((f.acked, f.upload_state, f.last_error) for f in await store.files(tid)),
        await store.accepted_ids(tid),
    )


async def test_checkpoint_is_one_transaction_on_a_database_error(store: Store) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=60)
    await store.checkpoint(tid, owner="a", lease=60, manifest_bytes=5, files=[FileProgress(1, 1)])
    before = await checkpointed_state(store, tid)
    with pytest.raises(StoreError, match=r"(?i)foreign key") as info:
        await store.checkpoint(
            tid,
            owner="a",
            lease=600,
            manifest_bytes=500,
            files=[
                FileProgress(1, 2, UploadState.UPLOADED),
                FileProgress(2, 3, UploadState.FAILED, "x"),
            ],
            accepted=[(1, 2, "ok@server"), (99, 1, "no-such-file@server")],  # breaks the FK
        )
    assert not isinstance(info.value, (StoreLocked, TransferBusy))
    assert await checkpointed_state(store, tid) == before
    # still usable afterwards
    await store.checkpoint(tid, owner="a", lease=60, manifest_bytes=6, files=[FileProgress(1, 2)])
    assert (await file_row(store, tid, 1)).acked == 2


async def test_checkpoint_is_one_transaction_on_any_error(store: Store) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=60)
    before = await checkpointed_state(store, tid)

    def accepted() -> Iterator[tuple[int, int, str]]:
        yield (1, 1, "first@server")
        raise KeyError("interrupted while listing the accepted IDs")

    with pytest.raises(KeyError):
        await store.checkpoint(
            tid,
            owner="a",
            lease=600,
            manifest_bytes=500,
            files=[FileProgress(1, 2, UploadState.UPLOADED)],
            accepted=accepted(),
        )
    assert await checkpointed_state(store, tid) == before


@pytest.mark.parametrize("yields", [0, 1, 2, 3, 4, 5])
async def test_a_cancelled_checkpoint_leaves_no_transaction_open(store: Store, yields: int) -> None:
    """Cancelled at any await (also while its BEGIN is still queued in aiosqlite's
    thread), a checkpoint leaves the connection ready for the next transaction."""
    tid = await store.create(new_transfer(), owner="a", lease=60)
    task = asyncio.create_task(
        store.checkpoint(
            tid, owner="a", lease=60, manifest_bytes=1, files=[FileProgress(1, 1, None)]
        )
    )
    for _ in range(yields):
        await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await store.checkpoint(
        tid, owner="a", lease=60, manifest_bytes=2, files=[FileProgress(1, 2, UploadState.UPLOADED)]
    )
    row = await file_row(store, tid, 1)
    assert (row.acked, row.upload_state) == (2, "uploaded")


async def test_checkpoint_all_uploaded_marks_every_file_in_one_statement(
    store: Store,
) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=60)
    await store.checkpoint(
        tid, owner="a", lease=60, manifest_bytes=9, files=[], accepted=[], all_uploaded=True
    )
    rows = await store.files(tid)
    assert rows
    assert all(r.upload_state == "uploaded" and r.acked == r.article_count for r in rows)


async def test_checkpoint_saves_uploaded_files_in_bulk_beside_partial_ones(
    store: Store,
) -> None:
    files = tuple(
        NewFile(i, Path(f"/data/{i}.bin"), f"{i}.bin", 10, i, 1 + i % 3) for i in range(1, 8)
    )
    tid = await store.create(new_transfer(files=files), owner="a", lease=60)
    await store.checkpoint(
        tid,
        owner="a",
        lease=60,
        manifest_bytes=9,
        files=[FileProgress(2, 1, UploadState.FAILED, "gone")],
    )
    await store.checkpoint(
        tid,
        owner="a",
        lease=60,
        manifest_bytes=9,
        files=[
            FileProgress(1, 2, UploadState.UPLOADED),
            FileProgress(2, 1, UploadState.UPLOADED),  # a failure seen before: its error goes
            FileProgress(3, 1),  # progress only
            FileProgress(4, 0, UploadState.FAILED, "refused"),
            FileProgress(6, 1, UploadState.UPLOADED),
        ],
    )
    rows = {r.file_id: r for r in await store.files(tid)}
    assert {i: (r.acked, r.upload_state, r.last_error) for i, r in rows.items()} == {
        1: (2, "uploaded", None),
        2: (3, "uploaded", None),
        3: (1, "pending", None),
        4: (0, "failed", "refused"),
        5: (0, "pending", None),
        6: (1, "uploaded", None),
        7: (0, "pending", None),
    }


async def test_create_records_more_files_than_one_insert_takes(store: Store) -> None:
    count = 2 * 1000 + 7  # the SQLite store inserts (up to) 1000 files a statement
    files = tuple(
        NewFile(i, Path(f"/data/{i:05d}.bin"), f"{i:05d}.bin", i, 10 * i, 1 + i % 5)
        for i in range(1, count + 1)
    )
    tid = await store.create(new_transfer(files=files), owner="a", lease=60)
    rows = await store.files(tid)
    assert [
        (r.file_id, r.source_path, r.name, r.size, r.mtime_ns, r.article_count) for r in rows
    ] == [(f.file_id, f.source_path, f.name, f.size, f.mtime_ns, f.article_count) for f in files]


async def test_finish_states(store: Store) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=60)
    before = store.now()
    await store.finish(tid, state=TransferState.INCOMPLETE, error="1 file failed")
    t = await must_get(store, tid)
    assert (t.state, t.last_error, t.finished_at, t.nzb_path) == (
        "incomplete",
        "1 file failed",
        None,
        None,
    )
    assert t.unfinished
    await store.finish(tid, state=TransferState.UPLOADED, nzb_path="/out/job.nzb")
    t = await must_get(store, tid)
    assert (t.state, t.last_error, t.nzb_path) == ("uploaded", None, "/out/job.nzb")
    assert t.finished_at is not None
    assert before <= t.finished_at <= store.now()
    assert not t.unfinished
    await store.finish(
        tid, state=TransferState.UPLOADED
    )  # no NZB path given: the recorded one stays
    assert (await must_get(store, tid)).nzb_path == "/out/job.nzb"
    await store.finish(tid, state=TransferState.UPLOADING)
    t = await must_get(store, tid)
    assert (t.state, t.finished_at) == ("uploading", None)


async def test_finish_with_an_unknown_state_is_refused(store: Store) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=60)
    with pytest.raises(StoreError, match=r"(?i)check constraint"):
        await store.finish(tid, state=cast(Any, "done"))
    assert (await must_get(store, tid)).state == "uploading"


async def test_delete_removes_files_and_accepted_ids(store: Store) -> None:
    tid = await store.create(new_transfer(), owner="a", lease=60)
    keep = await store.create(new_transfer("keep"), owner="a", lease=60)
    await store.checkpoint(
        tid, owner="a", lease=60, manifest_bytes=0, files=[], accepted=[(1, 1, "x")]
    )
    await store.delete(tid)
    assert await store.get(tid) is None
    assert await store.files(tid) == ()
    assert await store.accepted_ids(tid) == {}
    assert len(await store.files(keep)) == 3


async def test_abandon_keeps_the_record_and_refuses_a_live_lease(store: Store) -> None:
    """An abandoned transfer is kept (and says so) but never offered to resume again; a
    transfer another owner holds, or one that finished, is not abandoned."""
    tid = await store.create(new_transfer(), owner="other", lease=600)
    with pytest.raises(TransferBusy, match="being posted by another process"):
        await store.abandon(tid, owner="me")
    await store.release(tid, owner="other")
    await store.abandon(tid, owner="me", reason="given up")
    found = await must_get(store, tid)
    assert found.abandoned_at is not None
    assert (found.display_state, found.last_error, found.unfinished) == (
        "abandoned",
        "given up",
        False,
    )
    assert await store.last_unfinished() is None
    assert [t.id for t in await store.unfinished(found.roots_key)] == [tid]  # the caller says so
    with pytest.raises(UsageError, match="only an unfinished one is abandoned"):
        await store.abandon(tid, owner="me")


async def test_rewind_lowers_watermarks_for_the_lease_holder_only(store: Store) -> None:
    """A salvaged manifest: watermarks go back (a finished file is pending again) and the
    durable length is what is left; another owner cannot do it."""
    tid = await store.create(new_transfer(), owner="me", lease=600)
    await store.checkpoint(
        tid,
        owner="me",
        lease=600,
        manifest_bytes=5000,
        files=[FileProgress(1, 2, UploadState.UPLOADED)],
    )
    with pytest.raises(TransferBusy):
        await store.rewind(tid, {1: 1}, owner="other", manifest_bytes=100)
    await store.rewind(tid, {1: 1}, owner="me", manifest_bytes=100)
    row = await file_row(store, tid, 1)
    assert (row.acked, row.upload_state) == (1, UploadState.PENDING)
    assert (await must_get(store, tid)).manifest_bytes == 100
