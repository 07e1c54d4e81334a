"""A post-upload hook for the tests: appends its arguments to a JSON Lines file.

``hook_probe.py LOG ARGS...``; with HOOK_PROBE_FAILURES=N the first N runs (counted
in LOG) fail with exit status 3 after printing "probe says no".
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main() -> int:
    log = Path(sys.argv[1])
    runs = len(log.read_text().splitlines()) if log.exists() else 0
    with log.open("a") as out:
        out.write(json.dumps({"argv": sys.argv[2:]}) + "\n")
    if runs < int(os.environ.get("HOOK_PROBE_FAILURES", "0")):
        print("probe says no")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
