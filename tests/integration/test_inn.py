"""Post to the real local INN2 and read every article back with pynntp."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import nntp
import pytest

from postie import nzb
from postie.article.plan import collect, plan_job
from postie.config import parse_config
from postie.runtime.engine import PostingJob
from postie.runtime.runtime import Runtime
from tests.conftest import Inn, run_postie
from tests.encoders import ENCODERS
from tests.engine_nzb import RUN_KEY, write_nzbs
from tests.integration.readback import Rebuilt, rebuild_from_nzb, sha256

pytestmark = pytest.mark.inn

ARTICLE = 716_800


def make_mixed_folder(root: Path) -> dict[str, bytes]:
    """1 byte, exactly one article, one byte over, ~20 MB, a non-ASCII name, a subfolder."""
    rng = __import__("random").Random(1234)
    files = {
        "one.bin": b"\x04",
        "exact.bin": rng.randbytes(ARTICLE),
        "over.bin": rng.randbytes(ARTICLE + 1),
        "large.bin": rng.randbytes(20_000_000),
        "naïve ファイル.txt": ("héllo wörld\n" * 5000).encode(),
        "sub/deeper/nested.bin": rng.randbytes(1_500_000),
        "sub/.dotfile": b".\r\n.\r\n..\r\n" * 1000,
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def assert_files_match(rebuilt: dict[str, Rebuilt], files: dict[str, bytes]) -> None:
    got = {name: sha256(r.data) for name, r in rebuilt.items()}
    want = {name: sha256(data) for name, data in files.items()}
    assert got == want


@pytest.mark.parametrize("encoder", ENCODERS)
def test_post_mixed_folder_reads_back_byte_for_byte(inn: Inn, tmp_path: Path, encoder: str) -> None:
    source = tmp_path / "mixed set"
    files = make_mixed_folder(source)
    out = tmp_path / "out"
    out.mkdir()
    run = run_postie(
        "post", source, "--host", inn.host, "--port", inn.port, "-o", out, "--quiet",
        "--connections", "4", POSTIE_ENCODER=encoder,
    )  # fmt: skip
    assert run.returncode == 0, run.output
    nzb_path = out / "mixed set.nzb"
    assert nzb_path.exists()
    document = nzb.read(nzb_path)
    assert len(document.files) == len(files)
    rebuilt = rebuild_from_nzb(nzb_path, inn.host, inn.port)
    assert_files_match(rebuilt, files)
    # the NZB subject names the real file and counts parts like Nyuu
    subjects = {r.name: r.subject for r in rebuilt.values()}
    assert re.fullmatch(
        r'\[\d+/7\] - "sub/deeper/nested\.bin" yEnc \(1/3\)', subjects["sub/deeper/nested.bin"]
    )
    # segment bytes is the size of the posted article
    for entry in document.files:
        for seg in entry.segments:
            assert seg.bytes > 0


def test_tls_port_with_certificate_verification(inn: Inn, tmp_path: Path) -> None:
    source = tmp_path / "tls.bin"
    source.write_bytes(os.urandom(900_000))
    out = tmp_path / "tls.nzb"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"servers:\n  - host: localhost\n    port: {inn.tls_port}\n    ssl: true\n"
        "    max_connections: 2\n"
    )
    # without trusting the self-signed certificate, verification refuses the server
    refused = run_postie("post", source, "-c", config, "-o", out, "--quiet")
    assert refused.returncode == 3, refused.output
    assert "certificate" in refused.stderr
    assert not out.exists()
    run = run_postie(
        "post", source, "-c", config, "-o", out, "--quiet", SSL_CERT_FILE=str(inn.cert)
    )
    assert run.returncode == 0, run.output
    rebuilt = rebuild_from_nzb(out, inn.host, inn.port)
    assert rebuilt["tls.bin"].data == source.read_bytes()


def test_authinfo_port(inn: Inn, tmp_path: Path) -> None:
    source = tmp_path / "auth.bin"
    source.write_bytes(os.urandom(800_000))
    out = tmp_path / "auth.nzb"
    run = run_postie(
        "post", source, "--host", inn.host, "--port", inn.auth_port, "--user", inn.user,
        "-o", out, "--quiet", POSTIE_PASSWORD=inn.password,
    )  # fmt: skip
    assert run.returncode == 0, run.output
    assert inn.password not in run.output
    rebuilt = rebuild_from_nzb(out, inn.host, inn.port)
    assert rebuilt["auth.bin"].data == source.read_bytes()


def test_wrong_password_is_refused_with_the_reply_line(inn: Inn, tmp_path: Path) -> None:
    source = tmp_path / "x.bin"
    source.write_bytes(b"x" * 1000)
    out = tmp_path / "x.nzb"
    run = run_postie(
        "post", source, "--host", inn.host, "--port", inn.auth_port, "--user", inn.user,
        "--password", "not-the-password", "-o", out, "--quiet",
    )  # fmt: skip
    assert run.returncode == 3, run.output
    assert "481" in run.stderr
    assert "not-the-password" not in run.output
    assert not out.exists()


def test_no_login_on_auth_port_names_the_reply(inn: Inn, tmp_path: Path) -> None:
    source = tmp_path / "x.bin"
    source.write_bytes(b"x" * 1000)
    run = run_postie(
        "post", source, "--host", inn.host, "--port", inn.auth_port, "-o", tmp_path, "--quiet"
    )
    assert run.returncode == 3, run.output
    assert "480" in run.stderr
    assert not (tmp_path / "x.nzb").exists()


def test_unknown_group_is_refused(inn: Inn, tmp_path: Path) -> None:
    source = tmp_path / "x.bin"
    source.write_bytes(b"x" * 1000)
    run = run_postie(
        "post", source, "--host", inn.host, "--port", inn.port, "--group", "alt.no.such.group",
        "-o", tmp_path, "--quiet",
    )  # fmt: skip
    assert run.returncode == 3, run.output
    assert "441" in run.stderr
    assert "alt.no.such.group" in run.stderr
    assert not (tmp_path / "x.nzb").exists()


def test_article_larger_than_the_server_accepts(inn: Inn, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(4_500_000))
    run = run_postie(
        "post", source, "--host", inn.host, "--port", inn.port, "--article-size", "4400000",
        "-o", tmp_path, "--quiet",
    )  # fmt: skip
    assert run.returncode == 3, run.output
    assert "441" in run.stderr
    assert "--article-size" in run.stderr
    assert not (tmp_path / "big.nzb").exists()


async def test_duplicate_refusal_then_stat_counts_as_posted(inn: Inn, tmp_path: Path) -> None:
    """INN answers 441 435 Duplicate to a repeated Message-ID; STAT 223 makes it posted."""
    source = tmp_path / "dup.bin"
    source.write_bytes(os.urandom(1_600_000))
    cfg = parse_config({"servers": [{"host": inn.host, "port": inn.port, "max_connections": 2}]})
    plan = plan_job(collect([source]), cfg.posting, name="dup")
    async with Runtime(cfg) as runtime:
        first = await PostingJob(runtime, plan, cfg.posting).run()
        assert first.complete
        again = PostingJob(runtime, plan, cfg.posting)
        second = await again.run()
    assert second.complete
    stats = again.statistics()
    assert stats.duplicates_confirmed == len(plan.files[0].segments) == 3
    assert stats.posted_articles == 3
    # the server still has exactly the first copy
    client = nntp.NNTPClient(inn.host, inn.port)
    try:
        for seg in plan.files[0].segments:
            code, _ = client.command("STAT", f"<{seg.message_id}>")
            assert code == 223
    finally:
        client.quit()


def test_starttls(inn: Inn, tmp_path: Path) -> None:
    source = tmp_path / "starttls.bin"
    source.write_bytes(os.urandom(750_000))
    out = tmp_path / "s.nzb"
    args = ("post", source, "--host", "localhost", "--port", inn.open_port, "--starttls")
    refused = run_postie(*args, "-o", out, "-q")
    assert refused.returncode == 3, refused.output
    assert "certificate" in refused.stderr
    run = run_postie(*args, "-o", out, "-q", SSL_CERT_FILE=str(inn.cert))
    assert run.returncode == 0, run.output
    assert rebuild_from_nzb(out, inn.host, inn.port)["starttls.bin"].data == source.read_bytes()


@pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="Linux TCP_QUICKACK")
async def test_pipelined_posts_to_inn_do_not_wait_for_delayed_acks(
    inn: Inn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nnrpd writes 240 and the pipelined 340 with Nagle on: without TCP_QUICKACK each
    article waited ~40 ms for our delayed ACK (measured: 50 ms per article, see
    docs/performance-history.md). The flag is set when a reader is about to wait for a
    reply after having read one (the 340 behind a 240), and the kernel clears it, so it is
    set each time: checked on the socket itself, not by timing (no timed assertions).
    With nnrpd that is once per pipelined post (measured: 40 for 39 pipelined, and the
    connection's first)."""
    from postie.nntp import transport

    armed: list[int] = []
    real = transport.ReplyStream._ack_now

    def ack_now(self: transport.ReplyStream) -> None:
        real(self)
        sock = self.transport.get_extra_info("socket") if self.transport else None
        if sock is not None:
            armed.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK))

    monkeypatch.setattr(transport.ReplyStream, "_ack_now", ack_now)
    source = tmp_path / "many.bin"
    source.write_bytes(os.urandom(40 * 4096))
    cfg = parse_config(
        {
            "servers": [{"host": inn.host, "port": inn.open_port, "max_connections": 1}],
            "posting": {"article_size": 4096},
        }
    )
    plan = plan_job(collect([source]), cfg.posting, name="many")
    async with Runtime(cfg) as runtime:
        job = PostingJob(runtime, plan, cfg.posting)
        result = await job.run()
    assert result.complete
    pipelined = job.statistics().pipelined_posts
    assert pipelined >= 20
    # set before the wait for (nearly) every 340 that nnrpd holds behind its 240
    assert len(armed) >= pipelined // 2
    assert all(armed), f"TCP_QUICKACK not set after {armed.count(0)} of {len(armed)} reads"
    rebuilt_nzb = tmp_path / "many.nzb"
    write_nzbs(result, cfg.nzb, {RUN_KEY: rebuilt_nzb}, cfg.posting)
    assert rebuild_from_nzb(rebuilt_nzb, inn.host, inn.port)["many.bin"].data == source.read_bytes()
