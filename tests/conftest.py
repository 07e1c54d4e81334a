"""Shared fixtures: the local INN2 server and a runner for the real ``postie`` process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
INN_PORT = int(os.environ.get("POSTIE_INN_PORT", "119"))
INN_OPEN_PORT = int(os.environ.get("POSTIE_INN_OPEN_PORT", "1120"))
INN_AUTH_PORT = int(os.environ.get("POSTIE_INN_AUTH_PORT", "1119"))
INN_TLS_PORT = int(os.environ.get("POSTIE_INN_TLS_PORT", "1563"))
INN_USER = "postie"
INN_PASSWORD = "postie-secret"
INN_CERT = Path("/var/lib/postie-inn/cert.pem")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Inn:
    host: str = "127.0.0.1"
    port: int = INN_PORT
    open_port: int = INN_OPEN_PORT
    auth_port: int = INN_AUTH_PORT
    tls_port: int = INN_TLS_PORT
    user: str = INN_USER
    password: str = INN_PASSWORD
    cert: Path = INN_CERT


@pytest.fixture(autouse=True)
def _own_store(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test records transfers in a store of its own (also for child processes), and
    ``postie post`` checks its articles without the propagation delay and makes no PAR2
    (tests count articles; a test that wants either sets POSTIE_VERIFY_DELAY or
    POSTIE_PAR2 itself)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data")))
    monkeypatch.delenv("POSTIE_DB", raising=False)
    monkeypatch.setenv("POSTIE_VERIFY_DELAY", "0")
    monkeypatch.setenv("POSTIE_PAR2", "0")


@pytest.fixture(scope="session")
def inn() -> Inn:
    """The local INN2 (started by scripts/inn2 when we may; required in CI)."""
    ports = (INN_PORT, INN_OPEN_PORT, INN_AUTH_PORT, INN_TLS_PORT)
    if not all(_listening(p) for p in ports) and os.geteuid() == 0:
        subprocess.run(["bash", str(REPO / "scripts" / "inn2"), "start"], check=False)
    if not all(_listening(p) for p in ports):
        if os.environ.get("CI"):
            pytest.fail("INN2 is not running on 127.0.0.1 (scripts/inn2 start)")
        pytest.skip("INN2 is not running on 127.0.0.1 (run scripts/inn2 start as root)")
    return Inn()


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate (and its key) for 127.0.0.1, for test TLS servers."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=x"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(key), "-out", str(cert), "-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_postie(*args: str | int | os.PathLike[str], timeout: float = 300, **env: str) -> Run:
    """Run the real ``postie`` command in a child process.

    One that has not ended after ``timeout`` seconds fails the test with its output and,
    for ``postie post``, its asyncio tasks' and threads' stacks (SIGUSR2, SIGUSR1): where
    it waits is in the test's report, also from CI."""
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
    environment.pop("POSTIE_PASSWORD", None)
    environment.update(env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "postie", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=REPO,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for signum in (signal.SIGUSR2, signal.SIGUSR1):  # the tasks, then the threads
            proc.send_signal(signum)
            time.sleep(1.0)
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"postie {args[0]} did not end in {timeout:.0f} s; its output:\n{out}\n{err}")
    return Run(proc.returncode, out, err)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drop the migrated template database of the PostgreSQL tests, if one was made."""
    import sys

    postgres = sys.modules.get("tests.postgres")
    if postgres is not None:
        postgres.drop_template()
