"""Deferring a job an instance cannot read: the rule, and what the job's error says.

Several daemons share one queue, and a job's path may be on a folder only some of
them have mounted. A daemon instance that cannot read a claimed job's path does not
fail the job: it **defers** it (``Store.defer_job``). The job goes back to the queue
(its attempt given back) with the deferral recorded, and that instance's claims skip
it until the deferral runs out (``daemon.defer_for``, 10 minutes by default: a mount
may come back) or a user retries the job (``postie queue retry ID`` clears every
deferral of the job). The other instances take it as usual.

When no live daemon instance is left that has not deferred the job (a daemon alone:
at once), the job fails as any job does, its error naming the path and each instance
that could not read it, so that a folder a user deleted does not sit in the queue for
ever. "Live" is a worker row named ``daemon`` whose heartbeat is within the store's
TTL (``postie.store.lease``).
"""

from __future__ import annotations

from collections.abc import Iterable

DEFER_FOR = 600.0  # seconds a deferral holds by default (daemon.defer_for)


def deferred_error(instance: str, path: str, reason: str) -> str:
    """A deferred job's ``last_error``."""
    return f"{instance} cannot read {path}: {reason}; left to the other instances"


def unreadable_error(path: str, deferrals: Iterable[tuple[str, str]]) -> str:
    """The error of a job every live instance deferred: ``deferrals`` are ``(instance,
    reason)``, oldest first."""
    by = "; ".join(f"{instance}: {reason}" for instance, reason in deferrals)
    return f"no instance can read {path} ({by}); postie queue retry puts it back"
