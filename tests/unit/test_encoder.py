import asyncio
import zlib
from pathlib import Path

import pytest

from postie.runtime.encoder import EncodePool
from postie.runtime.memory import tune_allocator
from tests import yenc_ref


async def test_reads_and_encodes_the_requested_range(tmp_path: Path) -> None:
    data = bytes(range(256)) * 100
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    pool = EncodePool(2)
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


async def test_read_errors_reach_the_waiting_task(tmp_path: Path) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(b"x" * 10)
    pool = EncodePool(1)
    try:
        with pytest.raises(OSError, match="short read"):
            await pool.submit(str(path), 0, 100)
        with pytest.raises(FileNotFoundError):
            await pool.submit(str(tmp_path / "missing"), 0, 1)
    finally:
        pool.shutdown()


async def test_shutdown_is_idempotent_and_refuses_new_work(tmp_path: Path) -> None:
    pool = EncodePool(1)
    pool.shutdown()
    pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit(str(tmp_path), 0, 1)


def test_allocator_tuning_applies_once() -> None:
    assert tune_allocator() is True
    assert tune_allocator() is True
