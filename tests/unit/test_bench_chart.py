"""bench/chart.py: the table and chart of docs/performance.md, from bench/run.py's JSON."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

from tests.conftest import REPO


def chart() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_chart", REPO / "bench" / "chart.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def results(path: Path, case: str, postie: dict[str, float], nyuu: dict[str, float]) -> Path:
    row = {
        "case": case,
        "data": "1 file of 64 MiB",
        "connections": 4,
        "tools": {"postie": postie, "nyuu": nyuu},
    }
    path.write_text(json.dumps({"meta": {}, "summary": [row], "runs": []}))
    return path


def test_ratios_are_oriented_so_that_above_one_is_better_for_postie(tmp_path: Path) -> None:
    """Faster, more MB per CPU-second, and less memory all read above 1."""
    a = results(
        tmp_path / "a.json",
        "sink-file-c4",
        {"mb_s": 300.0, "mb_per_cpu_s": 400.0, "maxrss_mib": 50.0},
        {"mb_s": 200.0, "mb_per_cpu_s": 500.0, "maxrss_mib": 100.0},
    )
    png = tmp_path / "chart.png"
    mod = chart()
    assert mod.main([str(a), "--png", str(png)]) == 0
    (row,) = mod.load([a])
    assert mod.ratio(row, "mb_s", True) == 1.5
    assert mod.ratio(row, "mb_per_cpu_s", True) == 0.8
    assert mod.ratio(row, "maxrss_mib", False) == 2.0
    assert "**1.50x**" in mod.table([row])
    assert "**0.80x**" in mod.table([row])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_later_file_replaces_the_same_case_and_a_case_without_nyuu_is_left_out(
    tmp_path: Path,
) -> None:
    old = results(
        tmp_path / "old.json",
        "sink-file-c4",
        {"mb_s": 1.0, "mb_per_cpu_s": 1.0, "maxrss_mib": 1.0},
        {"mb_s": 1.0, "mb_per_cpu_s": 1.0, "maxrss_mib": 1.0},
    )
    new = results(
        tmp_path / "new.json",
        "sink-file-c4",
        {"mb_s": 3.0, "mb_per_cpu_s": 1.0, "maxrss_mib": 1.0},
        {"mb_s": 1.0, "mb_per_cpu_s": 1.0, "maxrss_mib": 1.0},
    )
    alone = tmp_path / "alone.json"
    alone.write_text(
        json.dumps(
            {"summary": [{"case": "x", "data": "d", "connections": 1, "tools": {"postie": {}}}]}
        )
    )
    mod = chart()
    rows = mod.load([old, new, alone])
    assert [mod.ratio(r, "mb_s", True) for r in rows] == [3.0]
    assert mod.main([str(alone)]) == 1
