"""The command line pointed at PostgreSQL (``--db``, ``POSTIE_DB``): a server that is
not there, a wrong password, a missing database are one line each, never showing the
password; a URL without a password takes it from ``PGPASSWORD``; a killed post resumes
from a PostgreSQL store."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from postie import nzb
from tests import postgres
from tests.conftest import Inn, run_postie
from tests.integration.test_resume import Setup


@pytest.fixture
def migrated() -> Iterator[str]:
    with postgres.fresh() as url:
        yield url


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("postie: error: "), stderr
    return lines[0]


def bad_url(**parts: str) -> str:
    host, port = postgres.address()
    user = parts.get("user", "postie")
    password = parts.get("password", "postie-secret")
    port_text = parts.get("port", str(port))
    database = parts.get("database", "postie")
    return f"postgresql://{user}:{password}@{host}:{port_text}/{database}"


@pytest.mark.parametrize(
    ("parts", "said"),
    [
        ({"port": "1"}, "cannot reach the PostgreSQL server 127.0.0.1:1 (connection refused)"),
        ({"password": "wrong-secret"}, "refused the password of user postie"),
        ({"database": "no_such_postie_db"}, "there is no database 'no_such_postie_db'"),
    ],
    ids=["port-closed", "wrong-password", "no-database"],
)
def test_a_bad_postgresql_url_is_one_line(parts: dict[str, str], said: str) -> None:
    postgres.require()
    url = bad_url(**parts)
    for command in (["transfers"], ["queue", "list"]):
        run = run_postie(*command, "--db", url, PGPASSWORD="", PGPASSFILE="/nonexistent")
        assert run.returncode == 1, run.output
        line = one_error_line(run.stderr)
        assert said in line
        assert "secret" not in line  # the password is never shown


def test_the_url_comes_from_postie_db_and_the_password_from_pgpassword(migrated: str) -> None:
    without = migrated.replace(":postie-secret@", "@")
    run = run_postie("queue", "list", POSTIE_DB=without, PGPASSWORD="postie-secret")
    assert run.returncode == 0, run.output
    assert run.stdout == "no jobs\n"


def test_the_config_file_names_the_store_by_store_url(migrated: str, tmp_path: Path) -> None:
    without = migrated.replace(":postie-secret@", "@")
    config = tmp_path / "postie.yaml"
    config.write_text(f"store:\n  url: {without}\n", "utf-8")
    run = run_postie("transfers", "-c", config, PGPASSWORD="postie-secret")
    assert run.returncode == 0, run.output
    assert run.stdout == "no transfers recorded\n"


@pytest.mark.inn
def test_a_killed_post_resumes_from_a_postgresql_store(
    inn: Inn, tmp_path: Path, migrated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """test_resume's first case with the store in PostgreSQL: SIGKILL after 5 articles,
    the same command again finishes with the same Message-IDs (INN's log: none twice),
    the NZB lists every article and reads back byte for byte, STAT verified them all."""
    s = Setup(inn, tmp_path)
    text = s.config.read_text()
    manifests = tmp_path / "state" / "manifests"
    s.config.write_text(
        text.replace(f"  path: {s.db}\n", f"  url: {migrated}\n  manifests: {manifests}\n")
    )
    s.interrupted("acked:5")
    assert s.before
    run = s.post()
    assert run.returncode == 0, run.output
    assert "resuming transfer 1" in run.stdout
    after = s.log.accepted_since_last()
    assert not set(s.before) & set(after)
    s.check_nzb_complete()
    listed = {seg.message_id for f in nzb.read(s.out).files for seg in f.segments}
    assert listed == set(s.before) | set(after)
    listing = run_postie("transfers", "-c", s.config)
    assert listing.returncode == 0, listing.output
    assert "verified" in listing.stdout
    assert not s.db.exists()  # nothing went to an SQLite file


@pytest.mark.inn
@pytest.mark.parametrize("crash", ["recorded", "frontier", "frame:2", "acked:5"])
def test_a_killed_post_resumes_on_another_machine_from_the_manifest_in_the_database(
    inn: Inn, tmp_path: Path, migrated: str, crash: str
) -> None:
    """The manifest is in PostgreSQL, not in the first machine's folder: a post killed
    (SIGKILL at ``crash``) is resumed with another manifests folder, the first one
    deleted, as another machine on the same database would: the same Message-IDs
    (INN's log: none accepted twice), the NZB complete and byte-exact."""
    s = Setup(inn, tmp_path)
    text = s.config.read_text()
    first = tmp_path / "first" / "manifests"
    s.config.write_text(
        text.replace(f"  path: {s.db}\n", f"  url: {migrated}\n  manifests: {first}\n")
    )
    s.interrupted(crash)
    assert not list(first.glob("*.manifest.zst")), "the manifest is in the database"
    shown = s.show()
    assert "  manifest:  in the database (" in shown
    shutil.rmtree(tmp_path / "first", ignore_errors=True)
    other = tmp_path / "other" / "manifests"
    s.config.write_text(
        text.replace(f"  path: {s.db}\n", f"  url: {migrated}\n  manifests: {other}\n")
    )
    run = s.post()
    assert run.returncode == 0, run.output
    assert "resuming transfer 1" in run.stdout
    after = s.log.accepted_since_last()
    assert not set(s.before) & set(after), "a Message-ID accepted twice"
    s.check_nzb_complete()
    listed = {seg.message_id for f in nzb.read(s.out).files for seg in f.segments}
    assert listed == set(s.before) | set(after)
    assert not s.db.exists()
