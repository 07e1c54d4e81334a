"""The PAR2 tool dies with postie, however postie ends.

A cancelled PAR2 run kills the tool's process group (``runner``), but a postie
killed with SIGKILL (or crashing) runs no code at all: the tool, in a session of
its own, went on for as long as its run took, with its memory, its CPU and a
work folder nothing would use. On Linux the kernel can do it instead: a process
that set ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` gets SIGKILL when its parent dies.

The call has to be made in the child, between fork and exec. subprocess's
``preexec_fn`` would run it there, but that runs Python in a child forked from a
process with threads (aiosqlite's, the executor's), which may deadlock, and it
gives up the vfork/posix_spawn path. So the child is a tiny program of its own:
the same interpreter, isolated and without site (``-I -S``), sets the signal and
execs the tool, which keeps it (it survives exec; par2 is not set-uid). That costs
an interpreter start per PAR2 run (one per job with the default one set per
folder). Three edges are covered: a postie that died before the prctl took hold
(the child's parent is then no longer the pid postie passed it: it exits at once
instead of starting the tool); the signals Python ignores (SIGPIPE, SIGXFSZ),
which the tool would inherit, are set back to their defaults first, as
subprocess does for the children it starts itself; and a tool that cannot be
started is one line on stderr and exit 127, as a shell says it.

The signal comes when the *thread* that forked the child ends: asyncio starts
subprocesses from the event loop's thread, which lives as long as the loop.
Elsewhere than Linux, or without a path to the interpreter, the tool is started
as it is; a killed postie then leaves it running, as before.
"""

from __future__ import annotations

import os
import sys

# argv: [pid postie expects as the parent, tool, tool's arguments...]
HELPER = """\
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
except Exception:
    pass  # no prctl here: the tool still runs
if os.getppid() != int(sys.argv[1]):
    os._exit(128 + signal.SIGKILL)  # postie is gone already
for name in ("SIGPIPE", "SIGXFSZ"):  # Python ignores them; an exec keeps that (subprocess
    if hasattr(signal, name):  # restores them for the children it starts itself)
        signal.signal(getattr(signal, name), signal.SIG_DFL)
try:
    os.execvp(sys.argv[2], sys.argv[2:])
except OSError as exc:
    print(f"{sys.argv[2]}: {exc.strerror or exc}", file=sys.stderr)
    os._exit(127)
"""


def dies_with_this_process(argv: list[str]) -> list[str]:
    """``argv``, started so that the process it runs gets SIGKILL when this one ends
    (Linux); elsewhere ``argv`` as it is."""
    if not sys.platform.startswith("linux") or not sys.executable:
        return argv
    return [sys.executable, "-I", "-S", "-c", HELPER, str(os.getpid()), *argv]
