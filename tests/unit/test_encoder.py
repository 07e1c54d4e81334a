"""Both encode pools (native and sabctools) against one set of expectations."""

import asyncio
import os
import threading
import time
import zlib
from pathlib import Path

import pytest

from postie.runtime.encoder import EncodePool
from postie.runtime.encoder_choice import encode_pool
from postie.runtime.memory import give_back, tune_allocator
from tests import yenc_ref
from tests.encoders import ENCODERS


@pytest.fixture(params=ENCODERS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make(kind: str, threads: int) -> EncodePool:
    pool = encode_pool(threads, kind)
    assert pool.kind == kind
    return pool


async def test_reads_and_encodes_the_requested_range(tmp_path: Path, kind: str) -> None:
    data = bytes(range(256)) * 100
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    pool = make(kind, 2)
    try:
        results = await asyncio.gather(
            *(pool.submit(str(path), off, 1000) for off in range(0, 20000, 1000))
        )
    finally:
        pool.shutdown()
    for i, (body, crc) in enumerate(results):
        chunk = data[i * 1000 : (i + 1) * 1000]
        assert yenc_ref.decode(body) == chunk
        assert crc == zlib.crc32(chunk)
    assert pool.statistics().encoded == 20


async def test_read_errors_reach_the_waiting_task(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(b"x" * 10)
    pool = make(kind, 1)
    try:
        with pytest.raises(OSError, match="short read"):
            await pool.submit(str(path), 0, 100)
        with pytest.raises(FileNotFoundError):
            await pool.submit(str(tmp_path / "missing"), 0, 1)
    finally:
        pool.shutdown()


async def test_shutdown_is_idempotent_and_refuses_new_work(tmp_path: Path, kind: str) -> None:
    pool = make(kind, 1)
    pool.shutdown()
    pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit(str(tmp_path), 0, 1)


def test_allocator_tuning_applies_once() -> None:
    assert tune_allocator() is True
    assert tune_allocator() is True


def _rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_what_a_thread_freed_is_given_back() -> None:
    """Planning's leftovers (freed, but kept by the tuned heap of the thread that made
    them) go back to the kernel once posting starts."""
    assert tune_allocator() is True

    pinned: list[bytes] = []

    def churn() -> None:  # 64 MB in 256 KiB blocks (heap, not mmap, once tuned), each
        blocks = []  # followed by a small one that stays: the heap cannot shrink from its top
        for _ in range(256):
            blocks.append(b"x" * (256 * 1024))  # written: resident
            pinned.append(bytes(1024))
        for b in blocks:
            assert b[-1:] == b"x"
        del blocks

    thread = threading.Thread(target=churn)
    thread.start()
    thread.join()
    kept = _rss()
    assert give_back() is True
    assert kept - _rss() > 32 * 1024 * 1024
    assert len(pinned) == 256


def _open_on(path: Path) -> list[str]:
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            if Path(os.readlink(fd)) == path:
                found.append(fd.name)
        except OSError:
            continue
    return found


async def test_no_descriptor_stays_open_once_the_work_is_done(tmp_path: Path, kind: str) -> None:
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(os.urandom(50_000))
    b.write_bytes(os.urandom(50_000))
    pool = make(kind, 2)
    try:
        jobs = [pool.submit(str(p), off, 1000) for p in (a, b, a) for off in range(0, 50_000, 1000)]
        results = await asyncio.gather(*jobs)
        assert [crc for _, crc in results[:50]] == [crc for _, crc in results[100:]]
        # a thread closes its descriptor as soon as it finds no more work
        for _ in range(200):
            if not _open_on(a) and not _open_on(b):
                break
            await asyncio.sleep(0.01)
        assert _open_on(a) == []
        assert _open_on(b) == []
        # a file replaced under the same name is opened anew for the next job
        a.write_bytes(b"y" * 1000)
        _, crc = await pool.submit(str(a), 0, 1000)
        assert crc == zlib.crc32(b"y" * 1000)
        stats = pool.statistics()
        assert stats.encoded == 151
        assert 1 <= stats.wakeups <= stats.encoded
    finally:
        pool.shutdown()


async def test_results_that_arrive_together_take_one_wakeup(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(64_000))
    pool = make(kind, 1)
    try:
        # the loop is blocked (a synchronous sleep) while the thread encodes all 64
        jobs = [pool.submit(str(path), off, 1000) for off in range(0, 64_000, 1000)]
        while pool.statistics().encoded < 64:
            time.sleep(0.01)  # noqa: ASYNC251 - blocking the loop on purpose
        await asyncio.gather(*jobs)
        assert pool.statistics().wakeups == 1
    finally:
        pool.shutdown()
