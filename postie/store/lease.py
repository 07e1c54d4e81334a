"""Who holds a transfer: an owner string a later process can check for life.

An owner is ``host/pid/start/random``. A process that was killed (SIGKILL,
power loss) cannot release its lease; rather than making the user wait for
the lease to run out, a process on the same host takes over a lease whose
owner process is gone (no such pid, or a pid reused by a later process).
"""

from __future__ import annotations

import os
import secrets
import socket


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return fields[19].decode()
    except (OSError, IndexError):
        return "?"


def new_owner() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}/{pid}/{_start_time(pid)}/{secrets.token_hex(4)}"


def owner_is_gone(owner: str | None) -> bool:
    """True when ``owner`` is a process on this host that no longer runs."""
    if not owner:
        return True
    try:
        host, pid_text, start, _ = owner.split("/")
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return start != "?" and _start_time(pid) != start
