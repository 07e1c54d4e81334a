"""PAR2 sets that really repair: post a folder with PAR2 to the local INN2, read it
all back with an independent client, and let Debian's own par2 (par2cmdline 0.8,
another implementation than the turbo engine that made the set) verify it and
repair a damaged file."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from postie import nzb
from tests.conftest import Inn, run_postie
from tests.integration.readback import rebuild_from_nzb

pytestmark = pytest.mark.inn

ARTICLE = 65_536
DEBIAN_PAR2 = Path("/usr/bin/par2")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_folder_with_par2_reads_back_and_repairs(inn: Inn, tmp_path: Path) -> None:
    if not DEBIAN_PAR2.exists():
        pytest.skip("needs Debian's par2 (apt-get install par2)")
    source = tmp_path / "Holiday Set"
    (source / "sub dir").mkdir(parents=True)
    originals = {
        "big.bin": os.urandom(6_000_000),
        "sub dir/middle.bin": os.urandom(1_500_000),
        "notes.txt": b"postie par2 test\n" * 100,
    }
    for name, data in originals.items():
        (source / name).write_bytes(data)
    out = tmp_path / "set.nzb"
    db = tmp_path / "state" / "postie.db"
    run = run_postie(
        "post", source, "--host", inn.host, "--port", inn.open_port, "--connections", 2,
        "--article-size", ARTICLE, "-o", out, "--db", db, "--plain",
        "--par2", "--redundancy", "25%",
        POSTIE_PAR2="1",
    )  # fmt: skip
    assert run.returncode == 0, run.output
    assert "creating PAR2" in run.stdout
    assert "postie: verified" in run.stdout
    document = nzb.read(out)
    names = [f.subject for f in document.files]
    par2_entries = [n for n in names if ".par2" in n]
    assert any('"Holiday Set.par2"' in n for n in par2_entries), names
    assert any(".vol" in n for n in par2_entries), names
    # the PAR2 files were generated in postie's work folder and dropped once verified
    assert not list((db.parent / "par2").rglob("*.par2"))
    # download everything with an independent client, as a downloader would
    rebuilt = rebuild_from_nzb(out, inn.host, inn.open_port)
    download = tmp_path / "download"
    for name, item in rebuilt.items():
        path = download / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(item.data)
    for name, data in originals.items():
        assert digest((download / name).read_bytes()) == digest(data), name
    index = download / "Holiday Set.par2"
    check = subprocess.run(
        [str(DEBIAN_PAR2), "verify", "-q", str(index)],
        cwd=download,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    # damage 1 MiB of the largest file, then repair it with Debian's par2
    damaged = download / "big.bin"
    with damaged.open("r+b") as handle:
        handle.seek(2_000_000)
        handle.write(os.urandom(1 << 20))
    assert digest(damaged.read_bytes()) != digest(originals["big.bin"])
    broken = subprocess.run(
        [str(DEBIAN_PAR2), "verify", "-q", str(index)],
        cwd=download,
        capture_output=True,
        check=False,
    )
    assert broken.returncode != 0, "par2 should see the damage"
    repair = subprocess.run(
        [str(DEBIAN_PAR2), "repair", "-q", str(index)],
        cwd=download,
        capture_output=True,
        text=True,
        check=False,
    )
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert digest(damaged.read_bytes()) == digest(originals["big.bin"])
    shutil.rmtree(download)


def test_full_obfuscation_hides_par2_names_on_the_wire(inn: Inn, tmp_path: Path) -> None:
    """On the wire a PAR2 article's subject and yEnc name are random like any other's;
    the NZB keeps the real name and the set inside names the real files, so a
    downloader can rename what it fetched."""
    import nntp

    from tests.integration.readback import fetch_article
    from tests.yenc_ref import parse_article_body

    source = tmp_path / "Secret.Name"
    source.mkdir()
    (source / "movie.bin").write_bytes(os.urandom(400_000))
    out = tmp_path / "set.nzb"
    run = run_postie(
        "post", source, "--host", inn.host, "--port", inn.open_port, "--article-size", ARTICLE,
        "-o", out, "--db", tmp_path / "db" / "postie.db", "--plain", "--obfuscate", "full",
        POSTIE_PAR2="1",
    )  # fmt: skip
    assert run.returncode == 0, run.output
    index = next(f for f in nzb.read(out).files if '"Secret.Name.par2"' in f.subject)
    client = nntp.NNTPClient(inn.host, inn.open_port)
    try:
        headers, body = fetch_article(client, index.segments[0].message_id)
    finally:
        client.quit()
    assert "Secret" not in headers["subject"]
    assert "par2" not in headers["subject"].lower()
    part = parse_article_body(body)
    assert "Secret" not in part.name
    assert not part.name.endswith(".par2")
    assert b"movie.bin" in part.data, "the PAR2 set must carry the real file names"


def test_killed_after_planning_the_same_command_keeps_its_par2(inn: Inn, tmp_path: Path) -> None:
    """SIGKILL once the transfer (with its PAR2 files) is recorded: the same command
    resumes it with the PAR2 files it made, without making PAR2 again, and the NZB
    lists them."""
    import signal

    source = tmp_path / "set"
    source.mkdir()
    (source / "a.bin").write_bytes(os.urandom(700_000))
    out = tmp_path / "set.nzb"
    db = tmp_path / "db" / "postie.db"
    args = (
        "post", source, "--host", inn.host, "--port", inn.open_port, "--article-size", ARTICLE,
        "-o", out, "--db", db, "--plain",
    )  # fmt: skip
    killed = run_postie(*args, POSTIE_PAR2="1", POSTIE_CRASH_AT="recorded")
    assert killed.returncode == -signal.SIGKILL, killed.output
    assert "creating PAR2" in killed.stdout
    made = sorted(p.name for p in (db.parent / "par2").rglob("*.par2"))
    assert made, "the killed run should have made its PAR2 files"
    run = run_postie(*args, POSTIE_PAR2="1")
    assert run.returncode == 0, run.output
    assert "resuming transfer 1" in run.stdout
    assert "creating PAR2" not in run.stdout, "PAR2 was made again"
    subjects = " ".join(f.subject for f in nzb.read(out).files)
    for name in made:
        assert f'"{name}"' in subjects, f"{name} missing from the NZB"
