"""SIGKILL ``postie post`` while its PAR2 tool runs: the tool dies with it, and the next
run leaves no work folder behind.

The tool is the real par2cmdline-turbo, made slow enough to be seen (many recovery
blocks, one thread, little memory), or a quiet one: a wrapper that says nothing for
a while before it runs par2. par2 reports its progress many times a second, so it
ends soon after postie anyway (its next write to the closed pipe: SIGPIPE); a tool
that writes nothing for a while (another par2.binary, or par2 in a quiet stretch)
outlived postie for as long as it ran. The test finds the tool in /proc as postie's
child, kills postie from outside and watches the tool's pid.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from postie.par2.runner import default_binary
from tests.conftest import REPO, Inn, run_postie

pytestmark = pytest.mark.inn

ARTICLE = 16_384

QUIET = """#!{python}
import os, sys, time
time.sleep(30)
os.execv({real!r}, [{real!r}, *sys.argv[1:]])
"""


def children(parent: int) -> dict[int, bytes]:
    """The processes whose parent is ``parent``: pid -> command line."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(b")", 1)[1].split()[1]) == parent:
            found[int(entry)] = cmdline
    return found


def running(pid: int) -> bool:
    """Runs (a zombie, killed but not yet reaped by whoever inherited it, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state != b"Z"


@pytest.mark.parametrize("tool", ["par2", "quiet"])
def test_killed_while_making_par2_the_tool_dies_and_nothing_is_left(
    inn: Inn, tmp_path: Path, tool: str
) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux's")
    source = tmp_path / "Set"
    source.mkdir()
    (source / "data.bin").write_bytes(os.urandom(20_000_000))
    db = tmp_path / "state" / "postie.db"
    slow: dict[str, object] = {"threads": 1, "memory_mb": 16}
    if tool == "quiet":
        quiet = tmp_path / "quiet-par2"
        quiet.write_text(QUIET.format(python=sys.executable, real=os.fspath(default_binary())))
        quiet.chmod(0o755)
        slow["binary"] = str(quiet)
    config = tmp_path / "slow.yaml"
    config.write_text(json.dumps({"par2": slow}))  # JSON is YAML
    args = [
        "post", str(source), "--host", inn.host, "--port", str(inn.open_port),
        "--article-size", str(ARTICLE), "-o", str(tmp_path / "set.nzb"), "--db", str(db),
        "--plain",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "POSTIE_PAR2": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "postie", *args, "-c", str(config), "--redundancy", "6000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    pid: int | None = None
    try:
        deadline = time.monotonic() + 60
        while pid is None:
            assert proc.poll() is None, "postie ended before its PAR2 tool was seen"
            assert time.monotonic() < deadline, "no PAR2 tool started"
            for child, cmdline in children(proc.pid).items():
                if b"create" in cmdline and os.fsencode(source) in cmdline:
                    pid = child
            time.sleep(0.01)
        time.sleep(0.3)  # past the helper's prctl and exec: the tool itself runs
        assert running(pid)
        work = db.parent / "par2"
        assert [p.name for p in work.iterdir()], "the PAR2 run made no work folder"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 2
        while running(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not running(pid), "the PAR2 tool outlived the postie that started it"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if pid is not None and running(pid):
            os.kill(pid, signal.SIGKILL)  # the tool this test made postie start
        assert proc.stderr is not None
        proc.stderr.close()
    # the same files again (the real par2, fewer recovery blocks): it makes its PAR2 in a
    # folder of its own, posts, verifies and finalizes; the killed run's folder is gone too
    run = run_postie(*args, "--redundancy", "2", POSTIE_PAR2="1")
    assert run.returncode == 0, run.output
    assert "postie: verified" in run.stdout
    assert list(work.iterdir()) == [], "a PAR2 work folder was left behind"
