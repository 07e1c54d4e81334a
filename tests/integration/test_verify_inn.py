"""Verification against the local INN2, through the real ``postie`` process.

A normal post is checked and ends verified. An article INN removed (``ctlinnd
cancel``: gone from the spool, its Message-ID kept in the history) is missing to
STAT, and its re-post meets ``441 435 Duplicate``: the server claims the ID, so
it is rechecked, never counted as posted, and the transfer ends
verification_failed with that reply as the reason.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from postie import nzb
from tests.conftest import Inn, Run, run_postie
from tests.integration.innlog import NEWS_LOG, InnLog

pytestmark = pytest.mark.inn

ARTICLE = 65_536
CTLINND = Path("/usr/lib/news/bin/ctlinnd")


class Setup:
    def __init__(self, inn: Inn, tmp_path: Path, **verify: object) -> None:
        self.domain = f"verify{os.urandom(4).hex()}.postie.test"
        self.source = tmp_path / "set"
        self.source.mkdir()
        (self.source / "a.bin").write_bytes(os.urandom(5 * ARTICLE + 100))
        (self.source / "b.bin").write_bytes(os.urandom(2 * ARTICLE))
        self.db = tmp_path / "state" / "postie.db"
        self.config = tmp_path / "postie.yaml"
        lines = [
            "servers:",
            f"  - host: {inn.host}",
            f"    port: {inn.open_port}",
            "    max_connections: 2",
            "posting:",
            f"  article_size: {ARTICLE}",
            f"  message_id_domain: {self.domain}",
            "store:",
            f"  path: {self.db}",
            "verify:",
        ]
        lines += [f"  {k}: {v}" for k, v in {"delay": 0, **verify}.items()]
        self.config.write_text("\n".join(lines) + "\n")
        self.out = tmp_path / "set.nzb"

    def post(self, *extra: str, crash: str | None = None) -> Run:
        args: tuple[str | Path, ...] = (
            "post",
            self.source,
            "-c",
            self.config,
            "-o",
            self.out,
            "--plain",
            *extra,
        )
        if crash is not None:
            return run_postie(*args, POSTIE_CRASH_AT=crash)
        return run_postie(*args)

    def show(self) -> str:
        run = run_postie("transfers", "show", "1", "-c", self.config)
        assert run.returncode == 0, run.output
        return run.stdout


def test_a_post_to_inn_ends_verified(inn: Inn, tmp_path: Path) -> None:
    s = Setup(inn, tmp_path)
    run = s.post()
    assert run.returncode == 0, run.output
    assert "postie: verified: 8 articles STATed" in run.stdout, run.stdout
    assert "0 were missing" in run.stdout
    shown = s.show()
    assert "state:     verified" in shown
    assert "finalize done" in shown
    assert not list((s.db.parent / "manifests").glob("*.manifest.zst"))
    listing = run_postie("transfers", "-c", s.config)
    assert " verified " in listing.stdout


def test_a_repost_refused_as_duplicate_is_rechecked_not_counted(inn: Inn, tmp_path: Path) -> None:
    if not CTLINND.exists() or os.geteuid() != 0:
        pytest.skip("needs ctlinnd (root) to cancel an article")
    s = Setup(inn, tmp_path, backoff=0.1, max_checks=3)
    run = s.post("--no-wait")
    assert run.returncode == 0, run.output
    assert "not waiting for verification" in run.stdout
    document = nzb.read(s.out)
    victim = document.files[0].segments[2].message_id
    cancel = subprocess.run(
        [str(CTLINND), "cancel", f"<{victim}>"], capture_output=True, text=True, check=False
    )
    assert cancel.returncode == 0, cancel.stdout + cancel.stderr
    check = run_postie("verify", "1", "-c", s.config, "--plain")
    assert check.returncode == 4, check.output
    assert f"<{victim}>" in check.stderr
    assert "441 435" in check.stderr, check.stderr
    shown = s.show()
    assert "state:     verification_failed" in shown
    assert victim in shown
    assert "441 435" in shown
    assert "exhausted, 3 checks, 1 re-posts" in shown
    # kept for recovery: the manifest and the originals
    assert len(list((s.db.parent / "manifests").glob("*.manifest.zst"))) == 1
    assert (s.source / "a.bin").exists()
    # and the NZB check (any NZB) agrees that exactly this one is missing
    nzb_check = run_postie("verify", s.out, "--host", inn.host, "--port", inn.open_port, "-q")
    assert nzb_check.returncode == 4
    assert victim in nzb_check.stdout


def test_no_verify_leaves_the_check_to_a_later_verify(inn: Inn, tmp_path: Path) -> None:
    s = Setup(inn, tmp_path)
    run = s.post("--no-verify")
    assert run.returncode == 0, run.output
    assert "postie: verif" not in run.stdout
    shown = s.show()
    assert "state:     uploaded" in shown
    assert "not asked for (postie verify 1 checks it)" in shown
    again = s.post("--no-verify")
    assert again.returncode == 0, again.output
    assert "uploaded these files already; not posting them again" in again.stdout
    listing = run_postie("transfers", "-c", s.config).stdout.splitlines()
    assert len(listing) == 2, listing  # the header and transfer 1: no second transfer
    check = run_postie("verify", "1", "-c", s.config, "--plain")
    assert check.returncode == 0, check.output
    assert "postie: verified: 8 articles STATed" in check.stdout
    assert "state:     verified" in s.show()


@pytest.mark.parametrize("point", ["uploaded", "scanned"])
def test_killed_while_verifying_the_same_command_verifies_without_posting(
    inn: Inn, tmp_path: Path, point: str
) -> None:
    """SIGKILL right after the upload was recorded (``uploaded``) or during the check
    (``scanned``: STATs done, outcome not recorded): running the same command again posts
    nothing (INN's log) and ends verified, taking over the dead process's leases at
    once rather than waiting for them to run out."""
    if not NEWS_LOG.exists():
        pytest.skip("needs INN's log of accepted articles")
    s = Setup(inn, tmp_path, lease=600)
    log = InnLog(s.domain)
    killed = s.post(crash=point)
    assert killed.returncode == -signal.SIGKILL, killed.output
    assert len(log.settle()) == 8
    run = s.post()
    assert run.returncode == 0, run.output
    assert "postie: verified: 8 articles STATed" in run.stdout, run.output
    assert not log.accepted_since_last(), "the second run posted again"
    assert "state:     verified" in s.show()
    assert nzb.read(s.out).files
