"""Resume and bad input against the local INN2, through the real ``postie`` process.

Each test interrupts a transfer with a crash point (``POSTIE_CRASH_AT``, a real
SIGKILL), damages something (the source, the manifest, the store, the disk)
and checks the clear error and that nothing was posted that is not in a
durable manifest. INN's log says what was accepted.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from postie import manifest, nzb
from tests.conftest import Inn, Run, run_postie
from tests.integration.innlog import NEWS_LOG, InnLog
from tests.integration.readback import rebuild_from_nzb

pytestmark = pytest.mark.inn

ARTICLE = 65_536
SIZES = (1_000_000, 600_000)  # 16 and 10 articles


class Setup:
    """Two files, a config with a test-own Message-ID domain, an NZB path."""

    def __init__(
        self, inn: Inn, tmp_path: Path, sizes: tuple[int, ...] = SIZES, **store: object
    ) -> None:
        if not NEWS_LOG.exists():
            pytest.skip("needs INN's log of accepted articles")
        self.domain = f"resume{os.urandom(4).hex()}.postie.test"
        self.source = tmp_path / "set"
        self.source.mkdir()
        self.files = []
        self.sizes = sizes
        for i, size in enumerate(sizes, start=1):
            path = self.source / f"f{i}.bin"
            path.write_bytes(os.urandom(size))
            self.files.append(path)
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
            "  checkpoint_interval: 0.1",
        ]
        lines += [f"  {k}: {v}" for k, v in store.items()]
        self.config.write_text("\n".join(lines) + "\n")
        self.out = tmp_path / "set.nzb"
        self.log = InnLog(self.domain)
        self.before: dict[str, int] = {}
        self.inn = inn

    def articles(self, index: int) -> int:
        return math.ceil(self.sizes[index - 1] / ARTICLE)

    def post(self, crash: str | None = None, *extra: str | Path) -> Run:
        args = ("post", self.source, "-c", self.config, "-o", self.out, "--plain", "-v", *extra)
        if crash:
            return run_postie(*args, POSTIE_CRASH_AT=crash)
        return run_postie(*args)

    def resume(self, *args: str) -> Run:
        return run_postie("resume", *args, "-c", self.config, "--plain", "-v")

    def interrupted(self, crash: str) -> None:
        run = self.post(crash)
        assert run.returncode == -signal.SIGKILL, run.output
        self.before = self.log.settle()  # what the killed run got onto the server

    def manifest_path(self) -> Path:
        found = list((self.db.parent / "manifests").glob("*.manifest.zst"))
        assert len(found) == 1, found
        return found[0]

    def show(self, transfer: int = 1) -> str:
        run = run_postie("transfers", "show", transfer, "-c", self.config)
        assert run.returncode == 0, run.output
        return run.stdout

    def check_nzb_complete(self) -> None:
        document = nzb.read(self.out)
        assert [len(f.segments) for f in document.files] == [
            self.articles(i + 1) for i in range(len(self.sizes))
        ]
        rebuilt = rebuild_from_nzb(self.out, self.inn.host, self.inn.open_port)
        for path in self.files:
            assert rebuilt[path.name].data == path.read_bytes()


def test_post_again_resumes_with_the_same_message_ids(inn: Inn, tmp_path: Path) -> None:
    s = Setup(inn, tmp_path)
    s.interrupted("acked:5")
    before = s.before
    assert before
    run = s.post()
    assert run.returncode == 0, run.output
    assert "resuming transfer 1" in run.stdout
    after = s.log.accepted_since_last()
    assert not set(before) & set(after)
    s.check_nzb_complete()
    listed = {seg.message_id for f in nzb.read(s.out).files for seg in f.segments}
    assert listed == set(before) | set(after), "the NZB must list exactly what INN accepted"
    listing = run_postie("transfers", "-c", s.config)
    assert listing.returncode == 0
    assert "verified" in listing.stdout  # uploaded, then every article found by STAT
    assert "2/2" in listing.stdout
    shown = s.show()
    assert f"{s.articles(1)}/{s.articles(1)}" in shown
    assert "uploaded" in shown


def test_resume_under_full_obfuscation_keeps_each_articles_identity(
    inn: Inn, tmp_path: Path
) -> None:
    """Re-posted articles carry the subject, From and yEnc name their manifest line
    recorded (the yEnc name is part of the body: byte-identical re-posts need it)."""
    import nntp

    s = Setup(inn, tmp_path)
    killed = s.post("acked:5", "--obfuscate", "full")
    assert killed.returncode == -signal.SIGKILL, killed.output
    # --no-wait: the manifest is read below, and finalizing a verified transfer drops it
    run = s.post(None, "--obfuscate", "full", "--no-wait")
    assert run.returncode == 0, run.output
    reposted = re.search(r"(\d+) to post again", run.stdout)
    assert reposted is not None
    assert int(reposted.group(1)) > 0, "no recorded article was posted again"
    found = manifest.read(s.manifest_path())
    lines = [r for per_file in found.articles.values() for r in per_file.values()]
    assert len(lines) == s.articles(1) + s.articles(2)
    client = nntp.NNTPClient(inn.host, inn.open_port)
    try:
        for line in lines:
            assert line.subject
            assert line.poster
            assert line.wire_name
            _, headers, body = client.article(f"<{line.message_id}>", decode=False)
            assert headers["Subject"] == line.subject
            assert headers["From"] == line.poster
            assert f" name={line.wire_name}".encode() in body.split(b"\r\n", 1)[0]
    finally:
        client.quit()
    # the NZB keeps the real names; the files read back (yEnc names are random) whole
    document = nzb.read(s.out)
    assert [f.subject.split('"')[1] for f in document.files] == ["f1.bin", "f2.bin"]
    rebuilt = list(rebuild_from_nzb(s.out, inn.host, inn.open_port).values())
    assert [r.data for r in rebuilt] == [p.read_bytes() for p in s.files]


def test_nzb_per_file_after_resume(inn: Inn, tmp_path: Path) -> None:
    s = Setup(inn, tmp_path)
    s.out = tmp_path / "nzbs"
    s.out.mkdir()
    killed = s.post("file-done:1", "--nzb-per-file")
    assert killed.returncode == -signal.SIGKILL, killed.output
    run = s.post(None, "--nzb-per-file")
    assert run.returncode == 0, run.output
    for path in s.files:
        written = s.out / f"{path.name}.nzb"
        rebuilt = rebuild_from_nzb(written, inn.host, inn.open_port)
        assert rebuilt[path.name].data == path.read_bytes()


def test_resume_command_finishes_the_newest_unfinished_transfer(inn: Inn, tmp_path: Path) -> None:
    s = Setup(inn, tmp_path)
    s.interrupted("file-done:1")
    run = s.resume()
    assert run.returncode == 0, run.output
    assert f"wrote {s.out}" in run.stdout
    s.check_nzb_complete()
    again = s.resume("1")
    assert again.returncode == 2
    assert "already uploaded" in again.stderr


def test_source_changed_in_size_posts_nothing_more_of_it(inn: Inn, tmp_path: Path) -> None:
    s = Setup(inn, tmp_path)
    s.interrupted("acked:3")
    with s.files[0].open("ab") as handle:
        handle.write(b"more")
    run = s.resume("1")
    assert run.returncode == 4, run.output
    assert f"{s.files[0]}: the file changed since it was planned" in run.stderr
    assert len(s.log.accepted_since_last()) == s.articles(2), "only f2 may be posted"
    assert not s.out.exists()
    shown = s.show()
    assert "source_changed" in shown
    assert "changed since it was planned" in shown
    # The same command again sees different files: a new transfer, and it says so.
    again = s.post()
    assert "files changed since; starting a new transfer" in again.stderr


def test_changed_bytes_with_the_same_size_and_mtime_fail_the_crc_check(
    inn: Inn, tmp_path: Path
) -> None:
    s = Setup(inn, tmp_path)
    s.interrupted("frame:1")  # the first frame is durable, its articles never went out
    assert not s.before
    target = s.files[0]
    st = target.stat()
    with target.open("r+b") as handle:
        handle.write(bytes(ARTICLE))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    run = s.resume()
    assert run.returncode == 4, run.output
    assert "reads with CRC32" in run.stderr
    assert str(target) in run.stderr
    accepted = s.log.accepted_since_last()
    assert len(accepted) == s.articles(2), "nothing of the changed file may be posted"
    assert "source_changed" in s.show()


def test_missing_source_on_resume(inn: Inn, tmp_path: Path) -> None:
    s = Setup(inn, tmp_path)
    s.interrupted("acked:3")
    s.files[0].unlink()
    run = s.resume()
    assert run.returncode == 4, run.output
    assert f"{s.files[0]}: the source file is gone" in run.stderr
    assert len(s.log.accepted_since_last()) == s.articles(2)
    assert "source_missing" in s.show()


def test_locked_store_is_a_clear_error_and_posts_nothing(inn: Inn, tmp_path: Path) -> None:
    s = Setup(inn, tmp_path, busy_timeout=0.5)
    # the store exists (`postie transfers` creates none); then another process locks it
    assert run_postie("queue", "resume", "-c", s.config).returncode == 0
    assert s.db.exists()
    holder = sqlite3.connect(s.db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        run = s.post()
    finally:
        holder.close()
    assert run.returncode == 1, run.output
    assert f"the transfer store {s.db} is locked by another process" in run.stderr
    assert not s.log.accepted_since_last()
    assert not list((s.db.parent / "manifests").glob("*.zst"))
    ok = s.post()
    assert ok.returncode == 0, ok.output
    s.check_nzb_complete()


def test_store_from_a_newer_postie_is_refused(inn: Inn, tmp_path: Path) -> None:
    s = Setup(inn, tmp_path)
    s.db.parent.mkdir(parents=True)
    with sqlite3.connect(s.db) as db:
        db.execute("PRAGMA user_version = 99")
    run = s.post()
    assert run.returncode == 1, run.output
    assert "schema version 99, newer than this postie knows" in run.stderr
    assert str(s.db) in run.stderr
    with sqlite3.connect(s.db) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 99
    assert not s.log.accepted_since_last()


@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_damaged_manifest_stops_the_resume_and_keeps_everything(
    inn: Inn, tmp_path: Path, damage: str
) -> None:
    s = Setup(inn, tmp_path)
    s.interrupted("checkpoint:1")  # the store knows how much of the manifest is durable
    path = s.manifest_path()
    data = bytearray(path.read_bytes())
    if damage == "corrupt":
        middle = len(data) // 2
        data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    else:
        del data[len(data) // 3 :]
    path.write_bytes(bytes(data))
    run = s.resume()
    assert run.returncode == 1, run.output
    assert f"the manifest {path} is {damage}" in run.stderr
    assert not s.log.accepted_since_last(), "nothing may be posted from a damaged manifest"
    shown = s.show()
    assert "state:     uploading" in shown, "the transfer is kept for recovery"
    assert path.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs (needs root)")
def test_disk_full_while_writing_the_manifest(inn: Inn, tmp_path: Path) -> None:
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", mount]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        # 184 articles: their lines need more than the page the first frame starts
        s = Setup(inn, tmp_path, (9_000_000, 3_000_000), manifests=str(mount / "manifests"))
        s.interrupted("recorded")  # the manifest's first frame is written, nothing posted
        # Fill the tmpfs: no room for a single article line.
        filler = mount / "filler"
        with filler.open("wb", buffering=0) as handle:
            try:
                while True:
                    handle.write(bytes(4096))
            except OSError:
                pass
        run = s.post()
        assert run.returncode == 1, run.output
        assert "no space left on the device" in run.stderr
        found = list((mount / "manifests").glob("*.manifest.zst"))
        assert len(found) == 1
        accepted = s.log.accepted_since_last()
        recorded = manifest.read(found[0])
        in_manifest = {r.message_id for lines in recorded.articles.values() for r in lines.values()}
        assert set(accepted) <= in_manifest, "an article was posted without a durable line"
        filler.unlink()
        run = s.post()
        assert run.returncode == 0, run.output
        assert "resuming transfer 1" in run.stdout
        s.check_nzb_complete()
    finally:
        subprocess.run(["umount", "-l", mount], check=False)
        shutil.rmtree(mount, ignore_errors=True)
