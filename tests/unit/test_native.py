"""The native encoder against sabctools: the same bytes, the same CRCs; and the fallback."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sys
import zlib
from pathlib import Path

import pytest
import sabctools
from hypothesis import given, settings
from hypothesis import strategies as st

from postie import errors
from postie.runtime import encoder_choice as encoder
from tests import yenc_ref
from tests.encoders import NATIVE_MISSING

needs_native = pytest.mark.skipif(NATIVE_MISSING is not None, reason=str(NATIVE_MISSING))

# Bytes that encode to a critical character (NUL, LF, CR, "="), to a tab, space or dot
# (escaped at a line's start or end), and their neighbours.
ESCAPING = [(c - 42) & 0xFF for c in (0x00, 0x0A, 0x0D, 0x3D, 0x09, 0x20, 0x2E)]
NEAR = sorted({(b + d) & 0xFF for b in ESCAPING for d in (-1, 1)})
THREE_LINES = 3 * 128 + 8  # a little more than three encoded lines of plain bytes

edge_bytes = st.lists(
    st.one_of(st.sampled_from(ESCAPING), st.sampled_from(NEAR), st.integers(0, 255)),
    max_size=THREE_LINES,
).map(bytes)


def both(data: bytes) -> tuple[tuple[bytes, int], tuple[bytes, int]]:
    from postie.runtime import native

    return native.encode(data), sabctools.yenc_encode(data)


@needs_native
@given(st.one_of(st.binary(max_size=THREE_LINES), edge_bytes))
@settings(max_examples=1000, deadline=None)
def test_the_same_body_and_crc_as_sabctools(data: bytes) -> None:
    ours, theirs = both(data)
    assert ours == theirs
    assert ours[1] == zlib.crc32(data)
    assert yenc_ref.decode(ours[0]) == data


@needs_native
@given(
    st.integers(0, THREE_LINES),
    st.sampled_from([*ESCAPING, 0x04]),
    st.integers(0, 255),
)
@settings(max_examples=300, deadline=None)
def test_line_boundaries_with_an_escape_on_either_side(n: int, special: int, fill: int) -> None:
    """An escape-worthy byte at every place around a line boundary (column 127/128)."""
    for at in range(max(0, n - 3), n):
        data = bytearray([fill]) * n
        data[at] = special
        ours, theirs = both(bytes(data))
        assert ours == theirs


@needs_native
def test_every_length_up_to_three_lines_and_a_body_starting_with_a_dot() -> None:
    rng = random.Random(7)
    for n in range(THREE_LINES + 130):
        for data in (
            rng.randbytes(n),
            bytes([0x04]) * n,  # 0x04 + 42 is ".": every line starts with a dot
            bytes([rng.choice(ESCAPING) for _ in range(n)]),
        ):
            ours, theirs = both(data)
            assert ours == theirs, n
    body, _ = both(b"\x04" + bytes(200))[0]
    assert body.startswith(b"=n")


@needs_native
def test_a_whole_article_of_random_bytes() -> None:
    data = random.Random(3).randbytes(716_800)
    ours, theirs = both(data)
    assert ours == theirs


@needs_native
async def test_the_pool_encodes_file_parts_as_sabctools_does(tmp_path: Path) -> None:
    rng = random.Random(11)
    data = rng.randbytes(40_000) + bytes([0x04, 0xE0, 0xD6, 0xE3]) * 2_000
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    parts = [(0, 0), (0, 1), (len(data) - 1, 1), (0, len(data))]
    parts += [
        (o, rng.randint(0, 3 * 128)) for o in (rng.randrange(len(data) - 400) for _ in range(200))
    ]
    pool = encoder.encode_pool(2, "native")
    try:
        results = await asyncio.gather(*(pool.submit(str(path), o, n) for o, n in parts))
    finally:
        pool.shutdown()
    for (offset, length), got in zip(parts, results, strict=True):
        assert got == sabctools.yenc_encode(data[offset : offset + length])


@needs_native
async def test_many_small_articles_from_many_files(tmp_path: Path) -> None:
    """A stress test: 6,000 small parts of 60 files through two threads, in one go."""
    rng = random.Random(5)
    files = []
    for i in range(60):
        data = rng.randbytes(rng.randint(1, 5_000))
        path = tmp_path / f"{i}.bin"
        path.write_bytes(data)
        files.append((str(path), data))
    jobs = []
    for _ in range(6_000):
        name, data = rng.choice(files)
        offset = rng.randrange(len(data))
        jobs.append((name, data, offset, rng.randint(0, len(data) - offset)))
    pool = encoder.encode_pool(2, "native")
    try:
        results = await asyncio.gather(*(pool.submit(n, o, k) for n, _, o, k in jobs))
        stats = pool.statistics()
    finally:
        pool.shutdown()
    for (_, data, offset, length), (body, crc) in zip(jobs, results, strict=True):
        raw = data[offset : offset + length]
        assert crc == zlib.crc32(raw)
        assert body == sabctools.yenc_encode(raw)[0]
    assert stats.encoded == 6_000
    assert stats.in_flight == 0
    assert 1 <= stats.wakeups < 6_000  # handed back in batches


@needs_native
async def test_errors_name_the_file(tmp_path: Path) -> None:
    pool = encoder.encode_pool(1, "native")
    path = tmp_path / "short.bin"
    path.write_bytes(b"x" * 10)
    try:
        with pytest.raises(OSError, match=r"short\.bin: short read at offset 4 \(6 of 100 bytes\)"):
            await pool.submit(str(path), 4, 100)
        with pytest.raises(IsADirectoryError):
            await pool.submit(str(tmp_path), 0, 1)  # opens; the read fails
        with pytest.raises(FileNotFoundError) as missing:
            await pool.submit(str(tmp_path / "gone"), 0, 1)
        assert missing.value.filename == str(tmp_path / "gone")
        # the pool goes on after errors
        assert (await pool.submit(str(path), 0, 10))[1] == zlib.crc32(b"x" * 10)
    finally:
        pool.shutdown()
    assert pool.statistics().in_flight == 0


@needs_native
def test_the_native_pool_says_which_kernels_it_runs() -> None:
    pool = encoder.encode_pool(1, "native")
    stats = pool.statistics()
    pool.shutdown()
    assert stats.kind == "native"
    assert stats.detail.startswith("rapidyenc ")
    assert "CRC32" in stats.detail
    assert stats.threads == 0  # started by the first job


def test_the_choice_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTIE_ENCODER", "sabctools")
    pool = encoder.encode_pool(1)
    pool.shutdown()
    assert pool.kind == "sabctools"
    assert pool.statistics().detail == f"sabctools {sabctools.__version__}"
    monkeypatch.setenv("POSTIE_ENCODER", "fast")
    with pytest.raises(errors.ConfigError, match="POSTIE_ENCODER='fast'"):
        encoder.encode_pool(1)


@pytest.fixture
def without_native(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the extension had not been built: importing it fails."""
    import postie._yenc

    monkeypatch.setitem(sys.modules, "postie._yenc._pool", None)
    monkeypatch.delattr(postie._yenc, "_pool", raising=False)
    monkeypatch.delitem(sys.modules, "postie.runtime.native", raising=False)


@pytest.mark.usefixtures("without_native")
def test_without_the_extension_auto_falls_back_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="postie.runtime.encoder_choice"):
        pool = encoder.encode_pool(1, "auto")
    pool.shutdown()
    assert pool.kind == "sabctools"
    assert "encoder: sabctools" in caplog.text
    assert "the native one is not built" in caplog.text
    with pytest.raises(errors.ConfigError, match="the native encoder is not built"):
        encoder.encode_pool(1, "native")


def test_not_built_in_ci_is_a_failure() -> None:
    if os.environ.get("CI"):
        assert NATIVE_MISSING is None
