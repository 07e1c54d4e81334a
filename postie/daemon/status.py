"""The daemon as its HTTP endpoint shows it: the status page, the metrics, and the
actions on the queue (pause, resume, retry, remove, add).

``http.py`` serves what this returns; the daemon starts it (``Endpoint.server``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from postie import errors
from postie.daemon.http import Action, StatusServer
from postie.daemon.metrics import Metrics
from postie.store.api import LeaseKind
from postie.transfers.queue import add_job

if TYPE_CHECKING:
    from postie.daemon.daemon import Daemon

log = logging.getLogger("postie.daemon")


class Endpoint:
    """What ``GET /status``, ``GET /metrics`` and ``POST /actions/<name>`` answer."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def server(self) -> StatusServer:
        """The HTTP server for the daemon's ``daemon.http`` settings."""
        return StatusServer(
            self.daemon.config.daemon.http,
            status=self.status,
            metrics=self.metrics,
            actions=self.actions(),
        )

    def actions(self) -> dict[str, Action]:
        return {
            "pause": self.pause,
            "resume": self.resume,
            "retry": self.retry,
            "remove": self.remove,
            "add": self.add,
        }

    async def status(self) -> dict[str, Any]:
        daemon = self.daemon
        store = daemon.store
        runtime = daemon.runtime
        jobs = await store.jobs(50)
        leases = await store.leases()
        now = store.now()
        holders = {lease.ref: lease.holder for lease in leases if lease.kind == LeaseKind.JOB}
        running = []
        for item in list(daemon.running.values()):
            entry: dict[str, Any] = {"id": item.job.id, "path": str(item.job.path)}
            if item.statistics is not None:
                progress = item.statistics()
                entry.update(
                    transfer=item.transfer_id,
                    posted_bytes=progress.posted_bytes,
                    total_bytes=progress.total_bytes,
                    articles=f"{progress.posted_articles}/{progress.total_articles}",
                    elapsed=round(progress.elapsed, 1),
                )
            running.append(entry)
        stats = runtime.statistics() if runtime is not None else None
        return {
            "instance": daemon.instance,
            "owner": daemon.owner,
            "uptime": round(time.time() - daemon.started, 1),
            "stopping": daemon.stopping,
            "paused": await store.paused(),
            "queue": await store.job_counts(),
            "jobs": [
                {
                    "id": j.id,
                    "path": str(j.path),
                    "state": j.state,
                    "attempts": j.attempts,
                    "transfer": j.transfer_id,
                    "holder": holders.get(j.id),
                    "error": j.last_error,
                }
                for j in jobs
            ],
            "running": running,
            "instances": [
                {
                    "instance": w.shown,
                    "worker": w.name,
                    "host": w.host,
                    "pid": w.pid,
                    "owner": w.owner,
                    "heartbeat_age": round(now - w.heartbeat_at, 1),
                }
                for w in await store.workers()
            ],
            "leases": [
                {
                    "kind": lease.kind,
                    "id": lease.ref,
                    "holder": lease.holder,
                    "instance": lease.instance,
                    "worker": lease.worker,
                    "owner": lease.owner,
                    "count": lease.count,
                    "expires_in": round(lease.expires - now, 1),
                }
                for lease in leases
            ],
            "verification": await store.verify_counts(),
            "connections": [
                {"server": p.server, "open": p.open, "in_use": p.in_use, "max": p.max_connections}
                for p in (stats.pools if stats is not None else ())
            ],
            "buffer": {
                "in_use": stats.budget.in_use if stats is not None else 0,
                "capacity": stats.budget.capacity if stats is not None else 0,
            },
        }

    async def metrics(self) -> Metrics:
        daemon = self.daemon
        runtime = daemon.runtime
        counts = await daemon.store.job_counts()
        verify = await daemon.store.verify_counts()
        leases: dict[tuple[str, str], int] = {}
        for lease in await daemon.store.leases():
            key = (lease.holder, str(lease.kind))
            leases[key] = leases.get(key, 0) + lease.count
        stats = runtime.statistics() if runtime is not None else None
        pools = stats.pools if stats is not None else ()
        done = daemon.counts
        return Metrics(
            jobs_queued=counts.get("queued", 0),
            jobs_running=counts.get("running", 0),
            jobs_done_total=done.done,
            jobs_failed_total=done.failed,
            bytes_posted_total=done.posted_bytes,
            articles_posted_total=done.posted_articles,
            verify_pending_transfers=verify.get("pending", 0),
            verify_failed_transfers=verify.get("verification_failed", 0),
            connections_open={p.server: p.open for p in pools},
            connections_max={p.server: p.max_connections for p in pools},
            buffer_bytes_in_use=stats.budget.in_use if stats is not None else 0,
            buffer_bytes_capacity=stats.budget.capacity if stats is not None else 0,
            worker_slots_in_use=stats.slots.in_use if stats is not None else 0,
            worker_slots_total=stats.slots.total if stats is not None else 0,
            par2_jobs_running=stats.par2.running if stats is not None else 0,
            uptime_seconds=time.time() - daemon.started,
            instance=daemon.instance,
            leases=leases,
        )

    async def pause(self, body: dict[str, Any]) -> dict[str, Any]:
        await self.daemon.store.set_paused(True)
        log.info("queue paused")
        return {"paused": True}

    async def resume(self, body: dict[str, Any]) -> dict[str, Any]:
        await self.daemon.store.set_paused(False)
        self.daemon.wake()
        log.info("queue resumed")
        return {"paused": False}

    async def retry(self, body: dict[str, Any]) -> dict[str, Any]:
        job_id = _job_id(body)
        await self.daemon.store.retry_job(job_id)
        self.daemon.wake()
        return {"retried": job_id}

    async def remove(self, body: dict[str, Any]) -> dict[str, Any]:
        job_id = _job_id(body)
        await self.daemon.store.remove_job(job_id)
        return {"removed": job_id}

    async def add(self, body: dict[str, Any]) -> dict[str, Any]:
        raw = body.get("path")
        if not isinstance(raw, str) or not raw:
            raise errors.UsageError("add needs a path")
        daemon = self.daemon
        job = await add_job(
            daemon.store, daemon.config, Path(raw), priority=int(body.get("priority", 0))
        )
        daemon.wake()
        return {"queued": job.id}


def _job_id(body: dict[str, Any]) -> int:
    value = body.get("id")
    if not isinstance(value, int):
        raise errors.UsageError('give the job\'s id, e.g. {"id": 3}')
    return value
