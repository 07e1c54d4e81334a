"""PAR2 work folders: named after their maker; abandoned ones go as soon as it is gone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from postie.par2.workdir import ORPHAN_AGE, job_folder, maker, remove_abandoned
from postie.store.lease import Process


def dead_process() -> Process:
    """A process of this host that ran and is gone."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        stat = Path(f"/proc/{child.pid}/stat").read_bytes()
        start = int(stat.rsplit(b")", 1)[1].split()[19])  # clock ticks after boot
    finally:
        child.kill()
        child.wait()
    return Process(socket.gethostname(), child.pid, start)


def folder_of(workdir: Path, process: Process, token: str = "abcd") -> Path:
    folder = workdir / f"{process.pid}-{process.start}-{token}-{process.host}"
    folder.mkdir(parents=True)
    (folder / "set.par2").write_bytes(b"PAR2")
    return folder


def test_a_job_folder_names_this_process(tmp_path: Path) -> None:
    folder = job_folder(tmp_path)
    assert folder.parent == tmp_path
    assert maker(folder) == Process.current()
    assert job_folder(tmp_path) != folder
    assert maker(tmp_path / "0123456789abcdef") is None  # named by an older postie
    assert maker(tmp_path / "12-x-ab-host") is None


async def test_abandoned_folders_go_at_once_when_their_maker_is_gone(tmp_path: Path) -> None:
    work = tmp_path / "par2"
    gone = dead_process()
    abandoned = folder_of(work, gone, "aaaa")
    recorded = folder_of(work, gone, "bbbb")  # its transfer was recorded before the kill
    mine = folder_of(work, Process.current(), "cccc")  # a PAR2 run of this process
    elsewhere = folder_of(work, Process("another-host", gone.pid, gone.start), "dddd")
    unnamed = work / "0123456789abcdef"
    unnamed.mkdir()
    asked: list[float] = []

    async def used() -> set[Path]:
        asked.append(time.monotonic())
        return {recorded}

    assert await remove_abandoned(work, used) == 1
    assert asked, "the store was not asked"
    assert not abandoned.exists()
    assert recorded.exists()
    assert mine.exists()
    assert elsewhere.exists(), "a process of another host is never known to be gone"
    assert unnamed.exists()
    # a day later, whatever the maker: no PAR2 run takes a day
    later = time.time() + ORPHAN_AGE + 1
    assert await remove_abandoned(work, used, now=later) == 3
    assert sorted(os.listdir(work)) == [recorded.name]


async def test_the_store_is_not_asked_when_no_folder_could_go(tmp_path: Path) -> None:
    folder_of(tmp_path, Process.current())

    async def used() -> set[Path]:
        raise AssertionError("asked the store")

    assert await remove_abandoned(tmp_path, used) == 0
    assert await remove_abandoned(tmp_path / "missing", used) == 0
