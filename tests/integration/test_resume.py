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
from collections.abc import Iterator
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
    assert "transfer 1 is already verified" in again.stderr


def test_source_changed_in_size_posts_nothing_more_of_it(inn: Inn, tmp_path: Path) -> None:
    s = Setup(inn, tmp_path)
    s.interrupted("acked:3")
    with s.files[0].open("ab") as handle:
        handle.write(b"more")
    run = s.resume("1")
    assert run.returncode == 4, run.output
    assert f"{s.files[0]}: the file changed since it was planned" in run.stderr
    assert len(s.log.accepted_since_last()) == s.articles(2), "only f2 may be posted"
    assert "1 of 2 files could not be posted" in run.stderr
    assert "(missing: f1.bin)" in run.stderr
    # the complete file is in the NZB; the changed one is not
    assert [len(f.segments) for f in nzb.read(s.out).files] == [s.articles(2)]
    shown = s.show()
    assert "source_changed" in shown
    assert "changed since it was planned" in shown
    # The same command again sees different files: a new transfer, and it says so.
    again = s.post()
    assert "files changed since; starting a new transfer" in again.stderr


@pytest.mark.parametrize("how", ["rewritten", "replaced"])
def test_a_file_changed_with_the_same_size_and_mtime_is_refused_by_its_identity(
    inn: Inn, tmp_path: Path, how: str
) -> None:
    """Killed once the first frontier is durable, before any article went out: every
    part is in doubt and has no CRC line (bar the first, maybe). A file rewritten in place
    (another ctime) or replaced by a copy of the same bytes (another inode), its size and
    mtime kept, is not the file frame 0 recorded: nothing of it is posted."""
    s = Setup(inn, tmp_path)
    s.interrupted("frontier:1")
    assert not s.before
    target = s.files[0]
    st = target.stat()
    if how == "rewritten":
        with target.open("r+b") as handle:
            handle.write(bytes(ARTICLE))
    else:
        copy = tmp_path / "copy"
        shutil.copyfile(target, copy)
        copy.replace(target)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    run = s.resume()
    assert run.returncode == 4, run.output
    assert f"{target}: the file changed since it was planned (same size and mtime, but" in (
        run.stderr
    )
    assert ("another inode" in run.stderr) == (how == "replaced")
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
@pytest.mark.parametrize("way_out", ["salvage", "abandon"])
def test_damaged_manifest_stops_the_resume_keeps_everything_and_names_the_way_out(
    inn: Inn, tmp_path: Path, damage: str, way_out: str
) -> None:
    """A damaged manifest: nothing is posted from it, the transfer is kept, and the line
    names both ways out. `resume ID --salvage` keeps what the manifest still holds (what
    arrived is STATed, not posted again) and finishes with a complete NZB; `transfers
    abandon ID` keeps the record and the same command then starts afresh, saying so."""
    s = Setup(inn, tmp_path)
    s.interrupted("checkpoint:1")  # the store knows how much of the manifest is durable
    path = s.manifest_path()
    data = bytearray(path.read_bytes())
    start = after_frame_zero(data)  # frame 0 (the plan) cannot be salvaged: damage after it
    if damage == "corrupt":
        middle = (start + len(data)) // 2
        data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    else:
        del data[start + (len(data) - start) // 3 :]
    path.write_bytes(bytes(data))
    run = s.resume()
    assert run.returncode == 1, run.output
    assert f"the manifest {path} is {damage}" in run.stderr
    assert (
        "; to go on: postie resume 1 --salvage (keeps what the manifest still holds) or"
        " postie transfers abandon 1 (the next post starts afresh)"
    ) in run.stderr
    assert not s.log.accepted_since_last(), "nothing may be posted from a damaged manifest"
    shown = s.show()
    assert "state:     uploading" in shown, "the transfer is kept for recovery"
    assert path.exists()
    if way_out == "salvage":
        again = s.resume("1", "--salvage")
        assert again.returncode == 0, again.output
        assert "salvaged" in again.stderr
    else:
        gave_up = run_postie("transfers", "abandon", "1", "-c", s.config)
        assert gave_up.returncode == 0, gave_up.output
        assert "transfer 1 (set) abandoned" in gave_up.stdout
        assert "abandoned" in run_postie("transfers", "-c", s.config).stdout
        refused = s.resume("1")
        assert refused.returncode == 2
        assert "transfer 1 is already abandoned" in refused.stderr
        again = s.post()
        assert again.returncode == 0, again.output
        assert "transfer 1 of these files was abandoned; starting a new transfer" in (again.stderr)
    after = s.log.accepted_since_last()
    assert not set(after) & set(s.before), "an article was posted twice under one ID"
    s.check_nzb_complete()


def after_frame_zero(data: bytes | bytearray) -> int:
    """Where the frames after frame 0 begin (a small plan's frame 0 is one zstd frame)."""
    return bytes(data).index(b"\x28\xb5\x2f\xfd", 4)


def test_damage_in_frame_zero_cannot_be_salvaged(inn: Inn, tmp_path: Path) -> None:
    """Frame 0 holds the plan, every Message-ID of it: damaged, nothing can be kept. The
    line says so and names the one way out; salvage refuses alike; nothing is posted."""
    s = Setup(inn, tmp_path)
    s.interrupted("checkpoint:1")
    path = s.manifest_path()
    data = bytearray(path.read_bytes())
    middle = after_frame_zero(data) // 2
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    path.write_bytes(bytes(data))
    for run in (s.resume(), s.resume("1", "--salvage")):
        assert run.returncode == 1, run.output
        assert f"the manifest {path} is corrupt at byte 0" in run.stderr
        assert (
            "; its plan is lost, nothing can be salvaged: postie transfers abandon 1 (the next"
            " post starts afresh)"
        ) in run.stderr
        assert "--salvage (keeps" not in run.stderr
    assert not s.log.accepted_since_last()
    assert path.read_bytes() == bytes(data), "the damaged manifest was changed"


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs (needs root)")
def test_disk_full_while_writing_the_manifest(inn: Inn, tmp_path: Path) -> None:
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", mount]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        # 459 articles: their CRC lines need more than what is left of the page frame 0
        # ends in (the first frontier frame fits, so posting starts and stops midway)
        s = Setup(inn, tmp_path, (20_000_000, 10_000_000), manifests=str(mount / "manifests"))
        s.interrupted("recorded")  # the manifest's frame 0 is written, nothing posted
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
        assert "no space left on the device (" in run.stderr  # and how much is free
        assert "free some space and run the same command again" in run.stderr
        found = list((mount / "manifests").glob("*.manifest.zst"))
        assert len(found) == 1
        accepted = s.log.accepted_since_last()
        recorded = manifest.read(found[0])
        firsts = recorded.first_positions()
        assert recorded.frontier is not None
        covered = {  # planned, and before a durable frontier
            line.message_id
            for f, lines in recorded.planned.items()
            for n, line in lines.items()
            if firsts[f] + n - 1 < recorded.frontier
        }
        assert set(accepted) <= covered, "an article was posted no durable frontier covered"
        filler.unlink()
        run = s.post()
        assert run.returncode == 0, run.output
        assert "resuming transfer 1" in run.stdout
        s.check_nzb_complete()
    finally:
        subprocess.run(["umount", "-l", mount], check=False)
        shutil.rmtree(mount, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a read-only tmpfs (needs root)")
def test_an_nzb_that_cannot_be_written_is_one_line_and_resume_writes_it_elsewhere(
    inn: Inn, tmp_path: Path
) -> None:
    """The NZB folder is read-only: every article is posted, the run ends with one line
    (no traceback) and exit 1, the transfer is kept unfinished, and `postie resume ID -o
    NEWPATH` writes the NZB there without posting anything again; so does the same
    command with a new -o."""
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,ro", "tmpfs", readonly]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        for how in ("resume", "post"):
            (tmp_path / how).mkdir()
            s = Setup(inn, tmp_path / how)
            s.out = readonly / "set.nzb"
            run = s.post()
            assert run.returncode == 1, run.output
            errors = [line for line in run.stderr.splitlines() if line.startswith("postie: ")]
            assert errors == [
                f"postie: error: the NZB could not be written to {readonly}/set.nzb: Read-only"
                " file system; every article is posted: run the same command again once it"
                " can be written, or write it elsewhere with: postie resume 1 -o FOLDER"
            ], run.stderr
            assert "Traceback" not in run.stderr
            posted = s.log.settle()
            assert len(posted) == s.articles(1) + s.articles(2)
            assert "incomplete" in s.show(), "the transfer is kept to be finished"
            s.out = tmp_path / how / "elsewhere.nzb"
            if how == "resume":
                again = run_postie("resume", "1", "-o", s.out, "-c", s.config, "--plain", "-v")
            else:
                again = s.post()  # the same command with a new -o
            assert again.returncode == 0, again.output
            assert f"wrote {s.out}" in again.stdout
            assert not s.log.accepted_since_last(), "an article was posted again"
            s.check_nzb_complete()
            assert "verified" in run_postie("transfers", "-c", s.config).stdout
    finally:
        subprocess.run(["umount", "-l", readonly], check=False)


def _fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` with one file; return it."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(bytes(4096))
        except OSError:
            pass
    return filler


def _postie_lines(run: Run) -> list[str]:
    """What postie told the user on stderr (not its -v log lines)."""
    return [
        line
        for line in run.stderr.splitlines()
        if line.startswith("postie: ") and not line.startswith(("postie: INFO:", "postie: DEBUG:"))
    ]


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (root only)."""
    if os.geteuid() != 0:
        pytest.skip("mounts a small tmpfs (needs root)")
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mount]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", mount], check=False)


def test_a_full_disk_under_the_store_is_one_line_and_loses_nothing(
    inn: Inn, tmp_path: Path, small_tmpfs: Path
) -> None:
    """The store's device is full when a new transfer is to be recorded: one line naming
    the store and what is free, exit 1, nothing posted; once there is room the same
    command posts it."""
    s = Setup(inn, tmp_path)
    s.db = small_tmpfs / "postie.db"
    text = s.config.read_text().replace(
        f"path: {tmp_path / 'state' / 'postie.db'}", f"path: {s.db}"
    )
    s.config.write_text(text + f"  manifests: {tmp_path / 'manifests'}\n")
    assert s.post().returncode == 0  # the store exists, with a transfer in it
    s.log.settle()
    extra = s.source / "f3.bin"
    extra.write_bytes(os.urandom(300_000))
    s.files.append(extra)
    s.sizes = (*s.sizes, 300_000)
    filler = _fill(small_tmpfs)
    run = s.post("", "--overwrite")
    assert run.returncode == 1, run.output
    (line,) = _postie_lines(run)
    assert line.startswith(
        f"postie: error: no space left on the device for the transfer store {s.db} ("
    ), line
    assert line.endswith(
        "; nothing recorded is lost: free some space and run the same command again"
    ), line
    assert not s.log.accepted_since_last(), "something was posted without a record"
    assert not list((tmp_path / "manifests").glob("*.tmp")), "a half-made manifest was left"
    filler.unlink()
    again = s.post("", "--overwrite")
    assert again.returncode == 0, again.output
    s.check_nzb_complete()


def test_a_par2_folder_without_room_fails_before_the_tool_runs(
    inn: Inn, tmp_path: Path, small_tmpfs: Path
) -> None:
    """PAR2 of 10% for 3 MB needs more than the 1 MiB work folder: one line with what is
    needed and what is free, exit 1, before anything is made or posted; with another
    work folder the same command finishes."""
    s = Setup(inn, tmp_path, (1_500_000, 1_500_000, 1_500_000))
    base = s.config.read_text()
    s.config.write_text(base + f"par2:\n  workdir: {small_tmpfs}\n  redundancy: '40%'\n")
    run = s.post(None, "--par2")
    assert run.returncode == 1, run.output
    (line,) = _postie_lines(run)
    assert line.startswith(
        f"postie: error: not enough space for the PAR2 files in {small_tmpfs}: about "
    ), line
    assert " needed, " in line
    assert line.endswith(
        " free; free some space (or set par2.workdir elsewhere) and run the same command again"
    ), line
    assert not s.log.accepted_since_last()
    assert list(small_tmpfs.iterdir()) == [], "PAR2 files were made"
    s.config.write_text(base + f"par2:\n  workdir: {tmp_path / 'par2'}\n  redundancy: '40%'\n")
    again = s.post(None, "--par2")
    assert again.returncode == 0, again.output
