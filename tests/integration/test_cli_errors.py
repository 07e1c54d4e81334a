"""The real ``postie`` command when it cannot do what it was asked: one line that says
why, the right exit status, and nothing left behind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import run_postie


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["post"], "missing argument 'paths' (see postie post --help)"),
        (
            ["post", "x.bin", "--hots", "h"],
            "no such option: --hots; did you mean --host or --port? (see postie post --help)",
        ),
        (
            ["post", "x.bin", "--port", "abc"],
            "invalid value for '--port': 'abc' is not a valid int (see postie post --help)",
        ),
        (["queue"], "missing command (see postie queue --help)"),
        (["pots"], "no such command 'pots'; did you mean 'post'? (see postie --help)"),
        (
            ["transfers", "show"],
            "missing argument 'transfer_id' (see postie transfers show --help)",
        ),
    ],
)
def test_usage_errors_are_one_line_like_every_other_error(args: list[str], line: str) -> None:
    """Not a usage block and a boxed panel: the line every other error is, exit 2."""
    run = run_postie(*args)
    assert run.returncode == 2, run.output
    assert run.stdout == ""
    assert one_error_line(run.stderr) == f"postie: error: {line}"


@pytest.mark.parametrize("command", ["post", "watch", "daemon", "resume", "verify", "queue"])
def test_help_shows_flags_as_flags(command: str) -> None:
    """A flag, or the counter -v, takes no value: --help shows no type beside it (it said
    <bool>, and <int> for -v, which counts: -v 3 reads 3 as a path)."""
    run = run_postie(command, "--help", COLUMNS="200")
    assert run.returncode == 0, run.output
    lines = {
        re.split(r"\s+", line.strip("│ "))[0]: line
        for line in run.stdout.splitlines()
        if line.lstrip("│ ").startswith("-")
    }
    assert "<bool>" not in run.stdout
    assert "<int>" not in lines["--help"]
    if command != "queue":
        assert "-vv" in lines["--verbose"]
        assert not re.search(r"<\w+>", lines["--verbose"]), lines["--verbose"]
    if command in ("post", "watch"):
        assert re.search(r"--par2\s+--no-par2\s+Create PAR2", lines["--par2"]), lines["--par2"]


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("postie: error: "), stderr
    return lines[0]


@pytest.mark.parametrize(
    "command",
    [
        ["transfers"],
        ["transfers", "show", "1"],
        ["queue", "list"],
        ["post", "{file}", "--host", "127.0.0.1"],
    ],
)
def test_a_folder_given_as_the_store_is_one_line(command: list[str], tmp_path: Path) -> None:
    """Not the 25 lines of "RuntimeError: Event loop is closed" that came after it."""
    source = tmp_path / "x.bin"
    source.write_bytes(b"x")
    run = run_postie(*(str(source) if a == "{file}" else a for a in command), "--db", tmp_path)
    assert run.returncode == 1, run.output
    line = one_error_line(run.stderr)
    assert f"the transfer store {tmp_path} is a folder" in line
    assert "Event loop is closed" not in run.output


@pytest.mark.parametrize(
    "command",
    [
        ["transfers"],
        ["transfers", "show", "1"],
        ["queue", "list"],
        ["queue", "remove", "1"],
        ["verify", "1", "--host", "127.0.0.1"],
    ],
)
def test_commands_that_read_the_store_create_none(command: list[str], tmp_path: Path) -> None:
    """A mistyped --db: the command says there is no store there and creates nothing."""
    typo = tmp_path / "stat" / "postie.db"
    run = run_postie(*command, "--db", typo)
    assert run.returncode == 1, run.output
    line = one_error_line(run.stderr)
    assert f"no transfer store at {typo}" in line
    assert list(tmp_path.iterdir()) == []


def test_before_anything_is_recorded_the_default_store_reads_as_empty(tmp_path: Path) -> None:
    """No --db and no store yet (a new user): nothing recorded, nothing created."""
    data = tmp_path / "data"
    home = str(data)
    assert run_postie("transfers", XDG_DATA_HOME=home).stdout == "no transfers recorded\n"
    assert run_postie("queue", "list", XDG_DATA_HOME=home).stdout == "no jobs\n"
    shown = run_postie("transfers", "show", "3", XDG_DATA_HOME=home)
    assert shown.returncode == 2
    assert one_error_line(shown.stderr) == (
        f"postie: error: no transfer 3 in {data / 'postie' / 'postie.db'}"
    )
    assert not data.exists()


def test_a_store_sqlite_cannot_open_is_one_line(tmp_path: Path) -> None:
    """SQLite's own open fails (the store is a link into a folder that does not exist):
    its error, and not the "RuntimeError: Event loop is closed" tracebacks the
    connection's thread printed after it."""
    source = tmp_path / "x.bin"
    source.write_bytes(b"x")
    db = tmp_path / "postie.db"
    db.symlink_to(tmp_path / "gone" / "postie.db")
    run = run_postie("post", source, "--host", "127.0.0.1", "--db", db)
    assert run.returncode == 1, run.output
    line = one_error_line(run.stderr)
    assert f"cannot open the transfer store {db}: unable to open database file" in line
    too_long = tmp_path / ("x" * 300)
    run = run_postie("transfers", "--db", too_long)
    assert run.returncode == 1, run.output
    assert f"cannot open the transfer store {too_long}: File name too long" in run.stderr
