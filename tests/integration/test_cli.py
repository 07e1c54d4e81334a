"""The real ``postie`` command: bad input, exit codes, NZB naming, obfuscation, check-server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from postie import __version__, nzb
from tests.conftest import REPO, Inn, run_postie
from tests.integration.readback import rebuild_from_nzb

pytestmark = pytest.mark.inn


def post_args(inn: Inn, *extra: str | int | Path) -> list[str | int | Path]:
    return ["post", "--host", inn.host, "--port", inn.port, "--quiet", *extra]


def test_version() -> None:
    run = run_postie("--version")
    assert run.returncode == 0
    assert run.stdout.strip() == f"postie {__version__}"


def test_block_buffered_output_and_exit_status_survive_the_fast_exit() -> None:
    """main() ends the process with os._exit: what is still in a buffer must come out and
    the exit status must be the command's. The command here prints without flushing
    (postie's own commands all flush as they write), to a pipe, block-buffered."""
    code = (
        "import postie.cli as cli\n"
        "def run():\n"
        "    print('still buffered', end='')\n"
        "    raise SystemExit(3)\n"
        "cli.run = run\n"
        "cli.main()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert (proc.returncode, proc.stdout) == (3, "still buffered"), proc.stderr
    usage = run_postie("post")
    assert usage.returncode == 2
    assert usage.stderr == "postie: error: missing argument 'paths' (see postie post --help)\n"


def test_help_lists_the_commands() -> None:
    run = run_postie("--help")
    assert run.returncode == 0
    assert "post" in run.stdout
    assert "check-server" in run.stdout


def test_missing_path(inn: Inn, tmp_path: Path) -> None:
    run = run_postie(*post_args(inn, tmp_path / "nope.bin", "-o", tmp_path))
    assert run.returncode == 2
    assert f"no such file or folder: {tmp_path / 'nope.bin'}" in run.stderr


def test_empty_folder(inn: Inn, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    run = run_postie(*post_args(inn, tmp_path / "empty", "-o", tmp_path))
    assert run.returncode == 2
    assert "empty" in run.stderr
    assert not list(tmp_path.glob("*.nzb"))


def test_zero_byte_file_is_skipped_with_a_warning(inn: Inn, tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "zero.bin").write_bytes(b"")
    (folder / "data.bin").write_bytes(os.urandom(5000))
    run = run_postie(*post_args(inn, folder, "-o", tmp_path))
    assert run.returncode == 0, run.output
    assert "zero.bin" in run.stderr
    assert "zero bytes" in run.stderr
    document = nzb.read(tmp_path / "set.nzb")
    assert [f.subject for f in document.files] == ['[1/1] - "data.bin" yEnc (1/1)']


def test_symlink_loops_are_named_and_the_rest_is_posted(inn: Inn, tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "data.bin").write_bytes(os.urandom(5000))
    (folder / "loop").symlink_to(folder)
    (folder / "self").symlink_to(folder / "self")
    run = run_postie(*post_args(inn, folder, "-o", tmp_path, "--follow-symlinks"))
    assert run.returncode == 0, run.output
    assert "loop: symlink loop (points to a folder above it)" in run.stderr
    assert "self: symlink loop" in run.stderr
    assert [f.subject for f in nzb.read(tmp_path / "set.nzb").files] == [
        '[1/1] - "data.bin" yEnc (1/1)'
    ]


def test_links_out_of_the_folders_given_are_never_followed(inn: Inn, tmp_path: Path) -> None:
    """A folder holding a link to a folder outside it and a link to a file outside it:
    without --follow-symlinks no link is followed, with it only links into a folder
    the user named; one line per skipped link says why, and nothing from outside is
    posted (the NZB and what INN serves back hold only the folder's own file)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = os.urandom(7000)
    (outside / "secret.bin").write_bytes(secret)
    other = tmp_path / "other"
    other.mkdir()
    shared = os.urandom(3000)
    (other / "shared.bin").write_bytes(shared)
    folder = tmp_path / "set"
    folder.mkdir()
    data = os.urandom(5000)
    (folder / "data.bin").write_bytes(data)
    (folder / "dir-link").symlink_to(outside)
    (folder / "file-link.bin").symlink_to(outside / "secret.bin")
    (folder / "other-link").symlink_to(other)
    for extra in ((), ("--follow-symlinks", "--again")):
        out = tmp_path / f"set{len(extra)}.nzb"
        run = run_postie(*post_args(inn, folder, "-o", out, *extra))
        assert run.returncode == 0, run.output
        reason = "outside the folders given" if extra else "not followed (follow_symlinks is off)"
        skipped = [line for line in run.stderr.splitlines() if reason in line]
        assert len(skipped) == 3, run.stderr  # other/ is not a folder given: skipped too
        assert f"{folder / 'dir-link'}: symlink to {outside}" in run.stderr
        assert f"{folder / 'file-link.bin'}: symlink to {outside / 'secret.bin'}" in run.stderr
        rebuilt = rebuild_from_nzb(out, inn.host, inn.port)
        assert {n: r.data for n, r in rebuilt.items()} == {"data.bin": data}
    # a link into another folder the user named is followed with --follow-symlinks
    out = tmp_path / "both.nzb"
    run = run_postie(*post_args(inn, folder, other, "-o", out, "--follow-symlinks", "--again"))
    assert run.returncode == 0, run.output
    rebuilt = rebuild_from_nzb(out, inn.host, inn.port)
    assert {n: r.data for n, r in rebuilt.items()} == {
        "data.bin": data,
        "other-link/shared.bin": shared,
    }
    assert secret not in b"".join(r.data for r in rebuilt.values())


def test_non_utf8_file_name(inn: Inn, tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    data = os.urandom(3000)
    (folder / os.fsdecode(b"caf\xe9.bin")).write_bytes(data)
    run = run_postie(*post_args(inn, folder, "-o", tmp_path))
    assert run.returncode == 0, run.output
    assert "not valid UTF-8" in run.stderr
    rebuilt = rebuild_from_nzb(tmp_path / "set.nzb", inn.host, inn.port)
    assert rebuilt["caf\\xe9.bin"].data == data


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv"
)
def test_unreadable_file_fails_that_file_and_names_it(inn: Inn, tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "ok.bin").write_bytes(os.urandom(5000))
    secret = folder / "secret.bin"
    secret.write_bytes(os.urandom(5000))
    os.chown(secret, 65534, 65534)  # nobody
    secret.chmod(0o600)
    # root without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH obeys file permissions
    proc = subprocess.run(
        [
            "setpriv",
            "--bounding-set=-dac_override,-dac_read_search",
            sys.executable,
            "-m",
            "postie",
            *map(str, post_args(inn, folder, "-o", tmp_path)),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert f"{secret}: permission denied" in proc.stderr
    assert (
        f"1 of 2 files could not be posted; {tmp_path / 'set.nzb'} lists the 1 complete"
        f" (missing: {secret}); transfer 1: postie transfers show 1"
    ) in proc.stderr
    # the files that were posted are in an NZB (the run says which one is missing)
    assert [f.subject for f in nzb.read(tmp_path / "set.nzb").files] == [
        '[1/1] - "ok.bin" yEnc (1/1)'
    ]


def test_existing_nzb_is_not_overwritten(inn: Inn, tmp_path: Path) -> None:
    source = tmp_path / "x.bin"
    source.write_bytes(os.urandom(1000))
    (tmp_path / "x.nzb").write_text("mine")
    run = run_postie(*post_args(inn, source, "-o", tmp_path))
    assert run.returncode == 2
    assert "--overwrite" in run.stderr
    assert (tmp_path / "x.nzb").read_text() == "mine"


def test_the_same_command_after_success_says_so_and_posts_nothing(inn: Inn, tmp_path: Path) -> None:
    """A post that ended verified, run again as it was (a script, a cron retry): it names
    the transfer and its NZB, posts nothing and exits 0; --again posts them anew."""
    source = tmp_path / "set"
    source.mkdir()
    (source / "a.bin").write_bytes(os.urandom(5000))
    args: list[str | int | Path] = [
        "post",
        source,
        "--host",
        inn.host,
        "--port",
        inn.port,
        "-o",
        tmp_path,
    ]
    first = run_postie(*args)
    assert first.returncode == 0, first.output
    nzb_path = tmp_path / "set.nzb"
    before = nzb_path.read_bytes()
    again = run_postie(*args)
    assert again.returncode == 0, again.output
    assert (
        f"postie: transfer 1 (set) posted these files and verified them (NZB: {nzb_path});"
        " nothing to post (--again posts them anew)"
    ) in again.stdout
    assert "wrote" not in again.stdout
    assert nzb_path.read_bytes() == before
    anew = run_postie(*args, "--again", "--overwrite")
    assert anew.returncode == 0, anew.output
    assert "[transfer 2]" in anew.stdout
    ids = {s.message_id for f in nzb.read(nzb_path).files for s in f.segments}
    assert ids.isdisjoint({s.message_id for f in nzb.parse(before).files for s in f.segments})


def test_bad_config_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("servers:\n  - host: h\n    prot: 119\n")
    source = tmp_path / "x.bin"
    source.write_bytes(b"x")
    run = run_postie("post", source, "-c", config)
    assert run.returncode == 2
    assert "servers.0.prot: unknown key" in run.stderr


def test_no_server_is_a_usage_error(tmp_path: Path) -> None:
    source = tmp_path / "x.bin"
    source.write_bytes(b"x")
    run = run_postie("post", source)
    assert run.returncode == 2
    assert "no server configured" in run.stderr


def test_nzb_per_file_and_meta(inn: Inn, tmp_path: Path) -> None:
    folder = tmp_path / "set"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.bin").write_bytes(os.urandom(2000))
    (folder / "sub" / "b.bin").write_bytes(os.urandom(2000))
    out = tmp_path / "out"
    out.mkdir()
    run = run_postie(
        *post_args(inn, folder, "-o", out, "--nzb-per-file", "--title", "My <Set>", "--tag", "t")
    )
    assert run.returncode == 0, run.output
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.nzb")) == [
        "a.bin.nzb",
        "sub/b.bin.nzb",
    ]
    document = nzb.read(out / "sub" / "b.bin.nzb")
    assert dict(document.meta) == {"title": "My <Set>", "tag": "t"}
    assert len(document.files) == 1


def test_full_obfuscation_hides_names_on_the_wire(inn: Inn, tmp_path: Path) -> None:
    source = tmp_path / "Secret.Movie.2026.mkv"
    data = os.urandom(1_500_000)
    source.write_bytes(data)
    out = tmp_path / "o.nzb"
    run = run_postie(*post_args(inn, source, "-o", out, "--obfuscate", "full"))
    assert run.returncode == 0, run.output
    document = nzb.read(out)
    assert document.files[0].subject == '[1/1] - "Secret.Movie.2026.mkv" yEnc (1/3)'
    import nntp

    client = nntp.NNTPClient(inn.host, inn.port)
    try:
        posters, subjects = set(), set()
        for seg in document.files[0].segments:
            _, headers, body = client.article(f"<{seg.message_id}>", decode=False)
            lowered = {k.lower(): v for k, v in headers.items()}
            assert "Secret" not in lowered["subject"]
            assert b"Secret" not in body.split(b"\r\n", 1)[0]
            posters.add(lowered["from"])
            subjects.add(lowered["subject"])
    finally:
        client.quit()
    assert len(posters) == len(subjects) == 3
    rebuilt = rebuild_from_nzb(out, inn.host, inn.port)
    assert [r.data for r in rebuilt.values()] == [data]


def test_plain_progress_when_not_a_terminal(inn: Inn, tmp_path: Path) -> None:
    source = tmp_path / "x.bin"
    source.write_bytes(os.urandom(1000))
    run = run_postie("post", source, "--host", inn.host, "--port", inn.port, "-o", tmp_path)
    assert run.returncode == 0, run.output
    assert "postie: wrote" in run.stdout
    assert "postie: posted 1 files" in run.stdout
    assert "\x1b[" not in run.stdout


def test_check_server(inn: Inn) -> None:
    run = run_postie(
        "check-server", "--host", inn.host, "--port", inn.auth_port, "--user", inn.user,
        POSTIE_PASSWORD=inn.password,
    )  # fmt: skip
    assert run.returncode == 0, run.output
    assert "authenticated as postie" in run.stdout
    assert "posting allowed" in run.stdout
    assert "encoder: native (rapidyenc " in run.stdout or "encoder: sabctools" in run.stdout
    forced = run_postie(
        "check-server", "--host", inn.host, "--port", inn.auth_port, "--user", inn.user,
        POSTIE_PASSWORD=inn.password, POSTIE_ENCODER="sabctools",
    )  # fmt: skip
    assert "encoder: sabctools " in forced.stdout
    bad = run_postie(
        "check-server", "--host", inn.host, "--port", inn.auth_port, "--user", inn.user,
        "--password", "wrong",
    )  # fmt: skip
    assert bad.returncode == 3
    assert "481" in bad.stderr
