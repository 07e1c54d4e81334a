"""PAR2 files on the durable path, in one process against the fault-injecting server.

Generated PAR2 files are part of the transfer (role par2): posted with manifest
lines, verified, re-posted when missing (they are kept until the transfer is
verified), then deleted; a user's own .par2 is posted as data and never deleted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from postie import manifest
from postie.config import Config, parse_config
from postie.par2.make import Par2Step
from postie.runtime.runtime import Runtime
from postie.store import open_store
from postie.store.lease import new_owner
from postie.testing import FaultyNNTPServer
from postie.transfers.create import for_paths
from postie.transfers.run import TransferRun
from postie.verify.service import verification

ARTICLE = 16_384


def config(server: FaultyNNTPServer, **sections: Any) -> Config:
    return parse_config(
        {
            "servers": [{"host": server.host, "port": server.port, "max_connections": 3}],
            "posting": {"article_size": ARTICLE, "retry_delay": 0.01},
            "verify": {"delay": 0, "backoff": 0.05, "poll_interval": 0.2},
            **sections,
        }
    )


async def test_par2_is_posted_verified_reposted_and_cleaned_up(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(os.urandom(40 * ARTICLE))
    (src / "mine.par2").write_bytes(b"PAR2\x00PKT a user's own recovery file" * 50)
    work = tmp_path / "par2-work"
    owner = new_owner()
    async with FaultyNNTPServer() as server, open_store(tmp_path / "postie.db") as store:
        cfg = config(server, finalize={"delete_originals": True}, par2={"redundancy": "20%"})
        async with Runtime(cfg) as runtime:
            prepared = await for_paths(
                store,
                cfg,
                [src],
                name="src",
                output=tmp_path / "src.nzb",
                overwrite=False,
                owner=owner,
                manifests=tmp_path / "manifests",
                par2=Par2Step(runtime.par2, cfg.par2, work),
            )
            rows = await store.files(prepared.transfer_id)
            generated = [r for r in rows if r.role == "par2"]
            assert {r.name for r in rows if r.role == "data"} == {"a.bin", "mine.par2"}
            assert generated, "no PAR2 files in the transfer"
            assert all(r.name.startswith("src.") and r.cleanup == "delete" for r in generated)
            assert all(work in r.source_path.parents for r in generated)
            mine = next(r for r in rows if r.name == "mine.par2")
            assert mine.cleanup == "keep", "a user's own .par2 must never be deleted"
            await TransferRun(runtime, store, prepared, owner=owner, check_delay=0).post()
            # lose one article of a generated PAR2 file before the check
            lines = manifest.read(prepared.manifest_path).articles
            victim = lines[generated[-1].file_id][1].message_id
            lost = server.articles.pop(f"<{victim}>")
            async with verification(
                runtime, store, owner=owner, only=prepared.transfer_id
            ) as service:
                decided = await service.wait(prepared.transfer_id)
            assert decided.verify_state == "verified"
            assert decided.finalize_state == "done"
            assert service.statistics().reposted == 1
            assert server.post_attempts[f"<{victim}>"] == 2
            assert (
                server.articles[f"<{victim}>"].split(b"\r\n\r\n", 1)[1]
                == lost.split(b"\r\n\r\n", 1)[1]
            ), "the re-posted PAR2 article differs"
    assert not (src / "a.bin").exists(), "delete_originals: the data file goes once verified"
    assert (src / "mine.par2").exists(), "a user's own .par2 was deleted"
    assert not any(r.source_path.exists() for r in generated), "generated PAR2 was kept"
    assert not list(work.rglob("*")), "the PAR2 work folder was left behind"


async def test_keep_par2_keeps_the_generated_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(os.urandom(10 * ARTICLE))
    owner = new_owner()
    async with FaultyNNTPServer() as server, open_store(tmp_path / "postie.db") as store:
        cfg = config(server, par2={"keep_par2": True, "redundancy": "3"})
        async with Runtime(cfg) as runtime:
            prepared = await for_paths(
                store,
                cfg,
                [src],
                name="src",
                output=tmp_path / "src.nzb",
                overwrite=False,
                owner=owner,
                manifests=tmp_path / "manifests",
                par2=Par2Step(runtime.par2, cfg.par2, tmp_path / "work"),
            )
            await TransferRun(runtime, store, prepared, owner=owner, check_delay=0).post()
            async with verification(
                runtime, store, owner=owner, only=prepared.transfer_id
            ) as service:
                assert (await service.wait(prepared.transfer_id)).finalize_state == "done"
            rows = await store.files(prepared.transfer_id)
    kept = [r.source_path for r in rows if r.role == "par2"]
    assert kept
    assert all(p.exists() for p in kept)
