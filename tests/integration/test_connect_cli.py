"""``postie post`` against a server it cannot use: within seconds, exit 3 and one line
that names the likely cause (the real process; INN on 127.0.0.1 for the TLS and plain
ports, a name under ``.invalid`` for DNS)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from tests.conftest import Inn, Run, run_postie

# The whole process, from start to exit. Retrying a hopeless error (backoff 0.5+1+2 s per
# worker, pushed up to 30 s by the others on main) or waiting for a greeting more than once
# takes longer; a plain port behind a TLS one waits one connect timeout (10 s) once.
BUDGET = 15.0


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "x.bin"
    path.write_bytes(os.urandom(3_000_000))  # five articles: several workers connect at once
    return path


def post_fails(source: Path, *args: str | int) -> tuple[Run, float]:
    started = time.monotonic()
    run = run_postie("post", source, *args, "-o", source.parent, timeout=120)
    elapsed = time.monotonic() - started
    assert not (source.parent / "x.nzb").exists()
    # the progress line does not repeat while nothing connects
    lines = run.stdout.splitlines()
    assert len(lines) == len(set(lines)), run.stdout
    return run, elapsed


def assert_one_line(run: Run, line: str, elapsed: float) -> None:
    assert run.returncode == 3, run.output
    assert run.stderr == f"postie: error: {line}\n"
    assert elapsed < BUDGET, f"{elapsed:.1f}s: {line}"


def test_unresolvable_host(source: Path) -> None:
    run, elapsed = post_fails(source, "--host", "no-such-host.invalid")
    assert_one_line(run, "cannot resolve no-such-host.invalid: Name or service not known", elapsed)


def test_refused_port(source: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run, elapsed = post_fails(source, "--host", "127.0.0.1", "--port", port)
    assert_one_line(run, f"connection refused: nothing listens on 127.0.0.1:{port}", elapsed)


def test_tls_to_a_plain_port(inn: Inn, source: Path) -> None:
    run, elapsed = post_fails(source, "--host", inn.host, "--port", inn.port, "--ssl")
    assert_one_line(
        run,
        f"TLS handshake with {inn.host}:{inn.port} failed: the server did not speak TLS:"
        f" is port {inn.port} a TLS port? try without --ssl",
        elapsed,
    )


def test_plain_to_a_tls_port(inn: Inn, source: Path) -> None:
    run, elapsed = post_fails(source, "--host", inn.host, "--port", inn.tls_port)
    assert_one_line(
        run,
        f"no greeting from {inn.host}:{inn.tls_port} within 10s: is this a TLS port? try --ssl",
        elapsed,
    )


def test_untrusted_certificate_names_the_flag(inn: Inn, source: Path) -> None:
    run, elapsed = post_fails(source, "--host", "localhost", "--port", inn.tls_port, "--ssl")
    assert_one_line(
        run,
        "TLS certificate of localhost rejected: self-signed certificate (--insecure, or"
        " verify_cert: false in the config, skips this check: only for a server you trust)",
        elapsed,
    )
