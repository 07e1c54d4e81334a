"""The plain progress lines of a command whose output is not a terminal."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from postie.cli import progress


async def test_a_plain_line_that_did_not_change_is_not_repeated(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(progress, "PLAIN_INTERVAL", 0.01)
    monkeypatch.setattr(progress, "PLAIN_UNCHANGED", 0.2)
    said = iter(["a"] * 5 + ["b"] * 40)
    task = asyncio.create_task(progress._plain(lambda: next(said, "b"), first=True))
    await asyncio.sleep(0.6)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    lines = capsys.readouterr().out.splitlines()
    # "a" once, "b" when it came, and "b" again once PLAIN_UNCHANGED had passed
    assert lines[:2] == ["postie: a", "postie: b"]
    assert 3 <= len(lines) <= 5  # of ~60 ticks
    assert set(lines[2:]) == {"postie: b"}
