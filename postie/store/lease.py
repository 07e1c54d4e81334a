"""Who holds a lease, and when a holder counts as dead.

Every leased row carries ``(owner, expires_at)`` on the store's clock. An owner
is a string, ``host/pid/start/random``, a process makes once (``new_owner``)
and shows in messages ("transfer 3 is being posted by another process (...)").

A process that takes leases registers a **worker** under its owner and beats a
heartbeat while it runs (``Store.worker``: ``heartbeating`` below). Whether a
worker is dead is decided in one place, ``dead_workers``, from its row alone:

- its heartbeat is older than the store's TTL: dead, whatever host it is on
  (a machine that lost power, a process stopped for good);
- it runs on this host and its process is gone (no such pid, or the pid now
  belongs to a later process: another start time): dead at once, so a user who
  runs the same command again after ``kill -9`` does not wait for anything.

A worker also records the **instance** it runs as: a name users see with every
lease it holds (``postie daemon --instance NAME``; by default ``default_instance()``,
``<short host name>-<pid>``). The owner stays the lease's key; the instance is found
by joining the owner to the worker row (``Store.leases``).

The store reaps the dead (``Store.reap_workers``): every lease they held is
released and their rows deleted, in one transaction. After that, every claim
is only "free, or expired". A lease whose owner never registered a worker is
not taken over early: it runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING

import msgspec

from postie.errors import StoreError, StoreUnreachable
from postie.store.records import Worker

if TYPE_CHECKING:
    from postie.store.api import Workers

log = logging.getLogger(__name__)

WORKER_TTL = 60.0  # seconds without a heartbeat before a worker counts as dead
HEARTBEATS_PER_TTL = 6  # a worker beats every TTL / 6 (10 s): five may fail in a row


def _start_time(pid: int) -> int | None:
    """When the process started (clock ticks after boot), None if that cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


class Process(msgspec.Struct, frozen=True):
    """A process on some host: what a worker row records to be checked for life."""

    host: str
    pid: int
    start: int | None  # clock ticks after boot; None: not known

    @classmethod
    def current(cls) -> Process:
        pid = os.getpid()
        return cls(socket.gethostname(), pid, _start_time(pid))

    def is_gone(self) -> bool:
        """True when this is a process of this host that no longer runs: no such pid,
        or the pid belongs to a process started at another time. (A process of another
        host is never known to be gone from here.)"""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # it exists, owned by someone else
        return self.start is not None and _start_time(self.pid) != self.start


def new_owner() -> str:
    """A new owner string for this process's leases: ``host/pid/start/random``."""
    me = Process.current()
    start = "?" if me.start is None else str(me.start)
    return f"{me.host}/{me.pid}/{start}/{secrets.token_hex(4)}"


def default_instance() -> str:
    """This process's instance name when none is given: ``<short host name>-<pid>``."""
    return f"{socket.gethostname().split('.', 1)[0]}-{os.getpid()}"


def dead_workers(workers: Iterable[Worker], *, now: float, ttl: float) -> dict[str, bool]:
    """The dead among ``workers``: ``owner -> gone`` (True: a process of this host that is
    gone; False: only its heartbeat is older than ``ttl``). This process's own workers
    are never dead."""
    me = Process.current()
    dead: dict[str, bool] = {}
    for worker in workers:
        process = Process(worker.host, worker.pid, worker.process_start)
        if process == me:
            continue
        if process.is_gone():
            dead[worker.owner] = True
        elif worker.heartbeat_at < now - ttl:
            dead[worker.owner] = False
    return dead


@contextlib.asynccontextmanager
async def heartbeating(
    store: Workers,
    owner: str,
    *,
    name: str,
    process: Process | None,
    instance: str | None,
    interval: float,
) -> AsyncIterator[None]:
    """Register ``owner`` as a worker (of ``instance``, by default ``default_instance()``),
    beat its heartbeat every ``interval`` seconds in the background, and on the way out
    (however it is left) release every lease it holds and deregister it. The
    implementation of ``Store.worker`` for any store."""
    instance = instance or default_instance()
    await store.register_worker(owner, name=name, process=process, instance=instance)
    beat = asyncio.create_task(
        _beat(store, owner, name=name, process=process, instance=instance, interval=interval),
        name=f"heartbeat {name}",
    )
    try:
        yield
    finally:
        beat.cancel()
        await asyncio.gather(beat, return_exceptions=True)
        try:
            await asyncio.shield(store.deregister_worker(owner))
        except StoreUnreachable:
            pass  # the server stayed away: the error that ends the command says so
        except StoreError as exc:
            log.warning("this process's leases were not released (they run out): %s", exc)


async def _beat(
    store: Workers,
    owner: str,
    *,
    name: str,
    process: Process | None,
    instance: str,
    interval: float,
) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            if not await store.heartbeat(owner):
                log.warning(
                    "this process (%s) was taken for dead by another (no heartbeat for too"
                    " long) and its leases were released; registered again",
                    owner,
                )
                await store.register_worker(owner, name=name, process=process, instance=instance)
        except StoreUnreachable:
            return  # the server stayed away past its bound: the command is ending
        except StoreError as exc:
            log.warning("heartbeat not recorded (will try again): %s", exc)
