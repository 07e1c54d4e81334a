"""The user-facing figures of docs/performance.md: one table and one chart, drawn from
the JSON files that ``bench/run.py --out`` writes.

    python3 bench/chart.py /tmp/H-*.json --png docs/performance.png > /tmp/table.md

Every case of every file is one row (a case measured in two files, the same case id
and data, keeps the later file's figures). Ratios are postie/Nyuu, oriented so that
above 1 is better for postie: wall MB/s, MB per CPU-second, and Nyuu's peak RSS over
postie's. The chart draws the three ratios per case beside the parity line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

MEASURES = (
    # (label, key in a tool's medians, higher is better)
    ("wall MB/s", "mb_s", True),
    ("MB per CPU-s", "mb_per_cpu_s", True),
    ("memory (peak RSS)", "maxrss_mib", False),
)


def load(paths: list[Path]) -> list[dict[str, Any]]:
    """The rows with both tools (later files win for the same case and data)."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for path in paths:
        doc = json.loads(path.read_text())
        for row in doc["summary"]:
            tools = row["tools"]
            if "postie" in tools and "nyuu" in tools and "error" not in tools["postie"]:
                rows[(row["case"], row["data"])] = row
    return list(rows.values())


def ratio(row: dict[str, Any], key: str, higher_better: bool) -> float | None:
    p, n = row["tools"]["postie"].get(key), row["tools"]["nyuu"].get(key)
    if not p or not n:
        return None
    return float(p / n if higher_better else n / p)


def label(row: dict[str, Any]) -> str:
    return f"{row['case']} ({row['data']})"


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| case | data | conns | MB/s postie | MB/s Nyuu | wall | MB/CPU-s postie"
        " | MB/CPU-s Nyuu | CPU | RSS MiB postie | RSS MiB Nyuu |\n"
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n"
    )
    lines = []
    for row in rows:
        p, n = row["tools"]["postie"], row["tools"]["nyuu"]
        wall = ratio(row, "mb_s", True)
        cpu = ratio(row, "mb_per_cpu_s", True)
        lines.append(
            f"| {row['case']} | {row['data']} | {row['connections']}"
            f" | {p['mb_s']:.0f} | {n['mb_s']:.0f} | **{wall:.2f}x**"
            f" | {p['mb_per_cpu_s']:.0f} | {n['mb_per_cpu_s']:.0f} | **{cpu:.2f}x**"
            f" | {p['maxrss_mib']:.0f} | {n['maxrss_mib']:.0f} |"
        )
    return head + "\n".join(lines) + "\n"


def draw(rows: list[dict[str, Any]], png: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [label(r) for r in rows]
    height = 0.8 / len(MEASURES)
    fig, ax = plt.subplots(figsize=(9, 1.4 + 0.62 * len(rows)), dpi=110)
    for i, (name, key, higher) in enumerate(MEASURES):
        values = [ratio(r, key, higher) or 0.0 for r in rows]
        ys = [y + (i - (len(MEASURES) - 1) / 2) * height for y in range(len(rows))]
        bars = ax.barh(ys, values, height=height, label=name)
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], padding=2, fontsize=7)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_yticks(range(len(rows)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("postie / Nyuu 0.4.0 (above 1: postie is ahead)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right", framealpha=0.95)
    ax.set_xlim(0, max(2.0, ax.get_xlim()[1] * 1.08))
    fig.tight_layout()
    fig.savefig(png, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("results", nargs="+", type=Path, help="JSON files from bench/run.py --out")
    ap.add_argument("--png", type=Path, help="draw the chart here")
    ap.add_argument("--title", default="postie against Nyuu, same data, same server, one run")
    args = ap.parse_args(argv)
    rows = load(args.results)
    if not rows:
        print("chart: no case has both postie and nyuu figures", file=sys.stderr)
        return 1
    if args.png:
        draw(rows, args.png, args.title)
    sys.stdout.write(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
