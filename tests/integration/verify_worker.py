"""A verification worker process for the tests of several workers on one store.

``python -m tests.integration.verify_worker DB PORT LOG LEASE [hold] [elsewhere]``:
runs verification passes on the store at DB (an SQLite path or a PostgreSQL URL)
against the server on 127.0.0.1:PORT until no missing article is left, writing one
JSON line per claim to LOG
(``{"t": time, "keys": [[transfer, file, part], ...]}``). With ``hold`` it stops
after its first claim without releasing it (to be killed while holding leases).
It runs as a worker of the store (a heartbeat row); with ``elsewhere`` its owner and
its worker row name another host (as a worker on another machine sharing the store
would), so its process cannot be checked from here and its leases are taken over
only when they expire (or its heartbeat is older than the store's TTL, 60 s).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from postie.config import parse_config
from postie.runtime.runtime import Runtime
from postie.store import open_store
from postie.store.api import Failure
from postie.store.lease import Process, new_owner
from postie.verify.service import VerificationService


async def main(db: str, port: int, log: Path, lease: float, hold: bool, elsewhere: bool) -> None:
    cfg = parse_config(
        {
            "servers": [{"host": "127.0.0.1", "port": port, "max_connections": 2}],
            "verify": {"lease": lease, "batch_size": 7, "poll_interval": 0.05},
        }
    )
    owner = new_owner()
    process = Process.current()
    if elsewhere:
        owner = "elsewhere.invalid/" + owner.split("/", 1)[1]
        process = msgspec.structs.replace(process, host="elsewhere.invalid")
    async with (
        open_store(db) as store,
        store.worker(owner, name="verify", process=process),
        Runtime(cfg) as runtime,
    ):
        claim = store.claim_failures

        async def logged(**kwargs: Any) -> tuple[Failure, ...]:
            got = await claim(**kwargs)
            if got:
                with log.open("a") as out:
                    line = {"t": time.time(), "owner": owner, "keys": [list(f.key) for f in got]}
                    out.write(json.dumps(line) + "\n")
                if hold:
                    print("holding", flush=True)
                    await asyncio.sleep(3600)
            return got

        store.claim_failures = logged  # type: ignore[method-assign]
        service = VerificationService(runtime, store, owner=owner, config=cfg.verify, sweep=False)
        # a start line: the test lets workers go together, whatever their start-up took
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        while True:
            await service.run_pass()
            left = [f for t in (1,) for f in await store.failures(t)]
            if not left:
                return
            await asyncio.sleep(0.05)


if __name__ == "__main__":
    db, port, log, lease = sys.argv[1:5]
    flags = sys.argv[5:]
    asyncio.run(main(db, int(port), Path(log), float(lease), "hold" in flags, "elsewhere" in flags))
