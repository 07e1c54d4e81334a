"""The Par2Scheduler and the runner, watched from outside: the processes that run.

A wrapper stands in for the PAR2 tool (``par2.binary``): it makes itself
visible for a while (so the test can see it among the processes), writes a
partial output file the way a tool does (when asked), then runs the real
par2cmdline-turbo.
The test polls /proc for processes whose command line names the test's folder.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from pathlib import Path

import pytest

from postie.config import Par2Config
from postie.par2.plan import Par2Options, Par2Source, parse_redundancy, plan_par2
from postie.par2.runner import Par2Failed, default_binary
from postie.par2.scheduler import Par2Scheduler

WRAPPER = """#!{python}
import os, sys, time
args = sys.argv[1:]
target = args[args.index("--") + 1]
if os.environ.get("WRAPPER_PARTIAL"):
    with open(target[: -len(".par2")] + ".vol000+01.par2", "wb") as partial:
        partial.write(b"partial")  # a tool writes its output as it goes
time.sleep(float(os.environ.get("WRAPPER_SLEEP", "0.4")))
os.execv({real!r}, [{real!r}, *args])
"""


def wrapper(tmp_path: Path) -> Path:
    path = tmp_path / "par2-wrapper"
    path.write_text(WRAPPER.format(python=sys.executable, real=os.fspath(default_binary())))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def running(marker: str) -> int:
    """Processes whose command line mentions ``marker`` (ours, not this test's own)."""
    count = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline and b"create" in cmdline:
            count += 1
    return count


def job(tmp_path: Path, name: str, size: int) -> list[object]:
    folder = tmp_path / "src" / name
    folder.mkdir(parents=True)
    data = folder / "data.bin"
    data.write_bytes(os.urandom(size))
    options = Par2Options(
        redundancy=parse_redundancy("10%"),
        per="folder",
        slice_size=None,
        recovery_files=None,
        min_size=0,
    )
    plan = plan_par2(
        [Par2Source(data, "data.bin", size)], set_name=name, article_size=65536, options=options
    )
    return list(plan.sets)


async def test_queued_jobs_never_run_two_par2_processes_at_once(tmp_path: Path) -> None:
    scheduler = Par2Scheduler(Par2Config(binary=wrapper(tmp_path), max_concurrent_jobs=1))
    jobs = [job(tmp_path, f"job{i}", 3_000_000) for i in range(3)]
    seen: list[int] = []
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            seen.append(running(os.fspath(tmp_path)))
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    try:
        results = await asyncio.gather(
            *(
                scheduler.create(sets, tmp_path / "out" / f"job{i}")  # type: ignore[arg-type]
                for i, sets in enumerate(jobs)
            )
        )
    finally:
        done.set()
        await watcher
    assert max(seen) == 1, f"two PAR2 processes at once: {max(seen)}"
    assert seen.count(1) > 10, "the wrapper should have been seen running"
    for i, runs in enumerate(results):
        (run,) = runs
        assert run.files[0].name == f"job{i}.par2"
        assert all(p.exists() for p in run.files)
    stats = scheduler.statistics()
    assert stats.peak_running == 1
    assert stats.jobs_done == 3


async def test_a_cancelled_job_leaves_no_process_and_no_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WRAPPER_SLEEP", "30")
    monkeypatch.setenv("WRAPPER_PARTIAL", "1")
    scheduler = Par2Scheduler(Par2Config(binary=wrapper(tmp_path)))
    out = tmp_path / "out"
    task = asyncio.create_task(scheduler.create(job(tmp_path, "big", 1_000_000), out))  # type: ignore[arg-type]
    for _ in range(500):
        if running(os.fspath(tmp_path)) and list(out.glob("*.par2")):
            break
        await asyncio.sleep(0.01)
    assert running(os.fspath(tmp_path)) == 1
    assert list(out.glob("*.par2")), "the wrapper writes a partial file"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert running(os.fspath(tmp_path)) == 0, "the PAR2 process outlived its job"
    assert list(out.iterdir()) == [], "partial PAR2 files were left behind"
    assert scheduler.statistics().jobs_failed == 1


async def test_a_missing_or_failing_tool_is_named_with_its_message(tmp_path: Path) -> None:
    missing = Par2Scheduler(Par2Config(binary=tmp_path / "no-such-par2"))
    with pytest.raises(Par2Failed, match="no-such-par2"):
        await missing.create(job(tmp_path, "a", 10_000), tmp_path / "out")  # type: ignore[arg-type]
    failing = tmp_path / "failing-par2"
    failing.write_text("#!/bin/sh\necho 'out of cheese' >&2\nexit 3\n")
    failing.chmod(0o755)
    broken = Par2Scheduler(Par2Config(binary=failing))
    with pytest.raises(Par2Failed, match=r"failing-par2.*exit status 3.*out of cheese"):
        await broken.create(job(tmp_path, "b", 10_000), tmp_path / "out2")  # type: ignore[arg-type]
    assert not list((tmp_path / "out2").glob("*"))


async def test_progress_is_read_from_the_tool(tmp_path: Path) -> None:
    shares: list[float] = []
    scheduler = Par2Scheduler(Par2Config())
    await scheduler.create(
        job(tmp_path, "p", 20_000_000),  # type: ignore[arg-type]
        tmp_path / "out",
        progress=shares.append,
    )
    assert shares, "no progress parsed from the tool's output"
    assert shares == sorted(shares)
    assert 0.0 < shares[-1] <= 1.0
    assert shares[-1] > 0.9
