"""scripts/inn2 when apt cannot install INN2: it says why, in apt's own words.

apt-get and dpkg-query are stand-ins on PATH, and INN's folders point into the
test's own (POSTIE_INN_ETC, POSTIE_INN_BIN): nothing on the machine is touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

FAKE_APT = """#!/bin/sh
case "$1" in
    update) echo "W: Failed to fetch http://deb.debian.org/debian/dists/x/InRelease"; exit 100 ;;
    install) echo "E: Unable to locate package inn2"; exit 100 ;;
esac
"""


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_failed_install_shows_what_apt_said(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "apt-get").write_text(FAKE_APT)
    (fake / "dpkg-query").write_text("#!/bin/sh\nexit 1\n")  # inn2: not installed
    for tool in fake.iterdir():
        tool.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}",
        "POSTIE_INN_ETC": str(tmp_path / "etc-news"),
        "POSTIE_INN_BIN": str(tmp_path / "news-bin"),
    }
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "inn2"), "start"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "inn2: inn2 did not install; apt-get said:" in proc.stderr
    assert "E: Unable to locate package inn2" in proc.stderr
    assert "W: Failed to fetch" in proc.stderr
    assert not (tmp_path / "etc-news").exists()
