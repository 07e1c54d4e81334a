"""INN's own log of accepted articles: evidence of what was posted, independent of postie."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

NEWS_LOG = Path("/var/log/news/news")
_ACCEPTED = re.compile(r" \+ \S+ <([^>]+)> (\d+)")


class InnLog:
    """Articles INN accepted, read from its log (independent of postie)."""

    def __init__(self, domain: str) -> None:
        self.domain = domain
        self.offset = NEWS_LOG.stat().st_size

    def accepted_since_last(self, pause: float = 0.3) -> dict[str, int]:
        subprocess.run(["ctlinnd", "-s", "flush", ""], check=False)
        time.sleep(pause)
        with NEWS_LOG.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        # only whole lines; a partly flushed last line is read next time
        end = data.rfind(b"\n") + 1
        self.offset += end
        found: dict[str, int] = {}
        for line in data[:end].decode("utf-8", "replace").splitlines():
            match = _ACCEPTED.search(line)
            if match and match.group(1).endswith("@" + self.domain):
                found[match.group(1)] = int(match.group(2))
        return found

    def settle(self, quiet: float = 0.5) -> dict[str, int]:
        """Read until INN logged nothing new for ``quiet`` seconds: an article that
        was in flight when its poster was killed may be stored (and logged) later."""
        found = self.accepted_since_last()
        while True:
            time.sleep(quiet)
            more = self.accepted_since_last()
            if not more:
                return found
            found.update(more)
