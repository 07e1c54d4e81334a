"""Named points where the kill tests stop this process with SIGKILL.

``POSTIE_CRASH_AT=point[:n]`` kills the process the n-th time (default first)
it reaches ``point``: a real SIGKILL at a moment a test can name, where a timer
from outside could only hope to land. Unset (always, outside tests), each
point costs one comparison.

Points: ``manifest-created`` (manifest written, transfer not yet recorded),
``recorded`` (transfer recorded, nothing posted), ``frame`` (a frame appended to
the manifest durable: version 2, CRC lines, a frontier or both, the store's
watermark not yet moved past them; version 1, article lines whose articles are not
yet posted), ``frontier`` (a frontier line durable, the articles it lets through
not yet handed to a connection), ``acked`` (an article acknowledged),
``file-done`` (a file's last article acknowledged), ``checkpoint`` (a
checkpoint committed), ``nzb`` (NZB written to its temp file, not yet renamed),
``uploaded`` (the run's outcome recorded, verification not started),
``scanned`` (a verification scan's STATs done, its outcome not yet recorded),
``reposted`` (missing articles posted again, their outcome not yet recorded).
"""

from __future__ import annotations

import os
import signal

_SPEC = os.environ.get("POSTIE_CRASH_AT", "")
ARMED = bool(_SPEC)
_POINT, _, _COUNT = _SPEC.partition(":")
_left = int(_COUNT or "1") if ARMED else 0


def reached(point: str) -> None:
    """Count a visit to ``point``; SIGKILL this process on the chosen visit."""
    global _left
    if not ARMED or point != _POINT:
        return
    _left -= 1
    if _left == 0:
        os.kill(os.getpid(), signal.SIGKILL)
