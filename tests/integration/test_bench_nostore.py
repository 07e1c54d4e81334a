"""bench/nostore.py, the benchmark's postie without its store: it must post what postie
posts (same articles, a complete NZB) and keep nothing, or the comparison is void."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, Inn
from tests.integration.readback import rebuild_from_nzb

pytestmark = pytest.mark.inn

NOSTORE = REPO / "bench" / "nostore.py"


def nostore(*args: str | int | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(NOSTORE), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=False,
    )


def test_it_posts_a_folder_whole_and_records_nothing(inn: Inn, tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    data = {f"f{i}.bin": os.urandom(size) for i, size in enumerate((1, 5_000, 70_000))}
    for name, content in data.items():
        (folder / name).write_bytes(content)
    out = tmp_path / "set.nzb"
    db = tmp_path / "unused.db"
    run = nostore(
        "post", folder, "--host", inn.host, "--port", inn.port, "--article-size", 30_000,
        "-o", out, "--db", db, "--no-verify", "--no-par2", "--plain",
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "postie (no store): NZB" in run.stdout
    rebuilt = rebuild_from_nzb(out, inn.host, inn.port)
    assert {name: r.data for name, r in rebuilt.items()} == data
    assert not db.exists()
    data_home = Path(os.environ["XDG_DATA_HOME"])
    assert not any(data_home.rglob("*.db")), "the baseline kept a store"
    assert not any(data_home.rglob("*.manifest.zst")), "the baseline wrote a manifest"


def test_it_refuses_what_needs_the_store(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"x")
    run = nostore("post", tmp_path, "--host", "127.0.0.1", "--port", 9, "--no-par2")
    assert run.returncode == 2
    assert "--no-verify --no-par2 only" in run.stderr
