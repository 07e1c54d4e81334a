"""Kill tests: SIGKILL a real ``postie post`` at every stage, run it again, finish.

One ~200 MB folder of five files is posted to the local INN2 by one transfer
that is killed again and again: while planning (manifest written, transfer not
yet recorded), right after it was recorded, right after its first frontier became
durable (nothing posted yet, every part in doubt from then on), at an arbitrary
moment from outside, mid-file (acknowledged parts whose CRC lines are not durable
yet), between files, right after a checkpoint, right after a frame of CRC lines
became durable (the store's watermark not yet moved past them), and while writing
the NZB. Then one last run finishes it. Evidence comes from outside postie: INN's own
log of accepted articles, and every article read back with an independent client
(pynntp).
"""

from __future__ import annotations

import math
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from postie import nzb
from tests.conftest import REPO, Inn
from tests.integration.innlog import NEWS_LOG, InnLog
from tests.integration.readback import rebuild_from_nzb

pytestmark = pytest.mark.inn

ARTICLE = 716_800
CONNECTIONS = 2
SIZES_MB = (60, 50, 40, 30, 20)
# In flight at a kill: per connection the article on the wire and a pipelined one.
IN_FLIGHT = 2 * CONNECTIONS
OUTSIDE_AFTER = 8  # articles INN logged before the kill from outside


@dataclass
class Step:
    kill: str
    returncode: int
    accepted: int
    accepted_bytes: int
    duplicates: int
    stat_checked: int
    stat_reposted: int


def start(args: list[str], crash_at: str | None) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("POSTIE_CRASH_AT", None)
    if crash_at:
        env["POSTIE_CRASH_AT"] = crash_at
    return subprocess.Popen(
        [sys.executable, "-m", "postie", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def kill_after_accepted(proc: subprocess.Popen[str], log: InnLog, count: int) -> dict[str, int]:
    """SIGKILL ``proc`` from outside as soon as INN's log shows ``count`` articles of this
    run accepted; return what the log showed until then."""
    seen: dict[str, int] = {}
    deadline = time.monotonic() + 120
    while len(seen) < count:
        assert proc.poll() is None, (
            f"the run ended after {len(seen)} accepted articles, before the kill"
        )
        assert time.monotonic() < deadline, "INN logged too few articles of the run to kill it"
        seen.update(log.accepted_since_last(pause=0.02))
    proc.send_signal(signal.SIGKILL)
    return seen


def test_killed_at_every_stage_then_finished(
    inn: Inn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not NEWS_LOG.exists() or not os.access(NEWS_LOG, os.R_OK):
        pytest.skip("needs INN's log of accepted articles")
    domain = f"kill{secrets.token_hex(4)}.postie.test"
    source = tmp_path / "release"
    (source / "sub").mkdir(parents=True)
    files = []
    for i, mb in enumerate(SIZES_MB, start=1):
        path = source / ("sub" if i == 3 else "") / f"part{i}.bin"
        path.write_bytes(os.urandom(mb * 1_000_000))
        files.append(path)
    total_articles = sum(math.ceil(p.stat().st_size / ARTICLE) for p in files)
    config = tmp_path / "postie.yaml"
    config.write_text(
        "servers:\n"
        f"  - host: {inn.host}\n"
        f"    port: {inn.open_port}\n"
        f"    max_connections: {CONNECTIONS}\n"
        "posting:\n"
        f"  article_size: {ARTICLE}\n"
        f"  message_id_domain: {domain}\n"
        "store:\n"
        "  checkpoint_interval: 0.2\n"
    )
    out = tmp_path / "release.nzb"
    args = ["post", str(source), "-c", str(config), "-o", str(out), "--plain", "-v"]
    log = InnLog(domain)
    seen: dict[str, int] = {}
    steps: list[Step] = []
    # "outside:N": SIGKILL from the test once INN logged N articles of that run. It comes
    # right after "frontier:1" (nothing posted yet), while the whole folder is left to post,
    # so the run cannot end before the kill however fast the host is.
    # The first frontier (1,024 articles ahead) covers the whole folder: "frontier:1" has
    # to come before any run made one durable. A resumed run writes no frontier frame, so
    # "frame:1" is its first frame of CRC lines: a checkpoint's, or the last one's when
    # the run posts what is left in less than a checkpoint interval; early in the list, so
    # that much is left.
    kills = [
        "manifest-created",
        "recorded",
        "frontier:1",
        f"outside:{OUTSIDE_AFTER}",
        "acked:40",
        "frame:1",
        "file-done:1",
        "checkpoint:2",
        "nzb",
        "",
    ]
    for kill in kills:
        outside = kill.startswith("outside:")
        proc = start(args, None if outside or not kill else kill)
        accepted = kill_after_accepted(proc, log, int(kill.split(":")[1])) if outside else {}
        stdout, stderr = proc.communicate(timeout=300)
        if kill:
            assert proc.returncode == -signal.SIGKILL, f"{kill}: {stdout}{stderr}"
            assert not out.exists(), f"an NZB appeared before the transfer finished ({kill})"
        else:
            assert proc.returncode == 0, stdout + stderr
        accepted.update(log.accepted_since_last())
        twice = set(accepted) & set(seen)
        assert not twice, f"INN accepted {len(twice)} Message-IDs a second time"
        seen.update(accepted)
        checked = re.search(r"checked (\d+) articles .*?, (\d+) to post again", stdout)
        steps.append(
            Step(
                kill=kill or "(none: finished)",
                returncode=proc.returncode,
                accepted=len(accepted),
                accepted_bytes=sum(accepted.values()),
                duplicates=stderr.count("the server already has it"),
                stat_checked=int(checked.group(1)) if checked else 0,
                stat_reposted=int(checked.group(2)) if checked else 0,
            )
        )
        if kill in ("manifest-created", "recorded", "frontier:1"):
            assert not accepted, f"articles were posted before {kill}"

    # The NZB lists every segment of every file, including those posted by killed runs,
    # and exactly the articles INN accepted: none orphaned, none missing.
    document = nzb.read(out)
    listed = {s.message_id for f in document.files for s in f.segments}
    assert len(document.files) == len(files)
    assert len(listed) == total_articles
    assert listed == set(seen), (
        f"{len(set(seen) - listed)} accepted articles are not in the NZB,"
        f" {len(listed - set(seen))} NZB segments were never accepted"
    )
    rebuilt = rebuild_from_nzb(out, inn.host, inn.open_port)
    for path in files:
        name = path.relative_to(source).as_posix()
        assert rebuilt[name].data == path.read_bytes(), f"{name} differs from the source"

    # Each restart sent at most what was left plus what was in flight at the kill:
    # a re-sent article shows up as a refused duplicate.
    for step in steps:
        assert step.duplicates <= IN_FLIGHT, f"{step.kill}: {step.duplicates} duplicates"
    report = [
        f"kill tests: {len(files)} files, {sum(SIZES_MB)} MB, {total_articles} articles,"
        f" {CONNECTIONS} connections to INN",
        f"{'killed at':<18}{'rc':>5}{'accepted':>10}{'MB':>8}{'dup 435':>9}"
        f"{'STAT':>7}{'re-post':>9}",
    ]
    left = total_articles
    for step in steps:
        report.append(
            f"{step.kill:<18}{step.returncode:>5}{step.accepted:>10}"
            f"{step.accepted_bytes / 1e6:>8.1f}{step.duplicates:>9}{step.stat_checked:>7}"
            f"{step.stat_reposted:>9}"
        )
        assert step.accepted <= left
        left -= step.accepted
    assert left == 0
    with capsys.disabled():  # figures for the test output (and docs/performance-history.md)
        print("\n" + "\n".join(report))
