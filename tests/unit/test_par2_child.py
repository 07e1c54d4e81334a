"""The PAR2 tool's start: SIGKILL when postie ends, signals as a shell would leave them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from postie.par2.child import dies_with_this_process

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's"
)

PDEATHSIG = """\
import ctypes
got = ctypes.c_int()
ctypes.CDLL(None).prctl(2, ctypes.byref(got), 0, 0, 0)  # PR_GET_PDEATHSIG
print(got.value)
"""


def test_the_tool_gets_sigkill_when_postie_ends() -> None:
    argv = dies_with_this_process([sys.executable, "-c", PDEATHSIG])
    assert argv[0] == sys.executable
    assert subprocess.run(argv, capture_output=True, text=True, check=True).stdout == "9\n"
    plain = subprocess.run([sys.executable, "-c", PDEATHSIG], capture_output=True, text=True)
    assert plain.stdout == "0\n"


def test_the_tool_ignores_no_signal() -> None:
    """The helper is Python, which ignores SIGPIPE: the tool must not inherit that (it
    is how a tool writing to a closed pipe ends)."""
    argv = dies_with_this_process(["grep", "^SigIgn:", "/proc/self/status"])
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert int(out.split()[1], 16) == 0, out


def test_a_tool_that_cannot_be_started_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-par2"
    proc = subprocess.run(
        dies_with_this_process([str(missing), "create"]), capture_output=True, text=True
    )
    assert proc.returncode == 127
    assert proc.stderr == f"{missing}: No such file or directory\n"
