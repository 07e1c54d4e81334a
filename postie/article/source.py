"""Is a source file still the one that was planned? (A resume and a re-post ask.)"""

from __future__ import annotations

import os
from pathlib import Path

from postie import errors


def source_problem(path: Path, size: int, mtime_ns: int) -> errors.FileFailed | None:
    """Why the file planned at ``path`` with ``size`` and ``mtime_ns`` cannot be read for
    more articles (gone, unreadable, changed), or None."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return errors.SourceMissing(
            f"{os.fsdecode(path)}: the source file is gone ({size} bytes when planned);"
            " its remaining articles cannot be posted"
        )
    except OSError as exc:
        return errors.SourceMissing(f"{os.fsdecode(path)}: {exc.strerror or exc}")
    if st.st_size != size or st.st_mtime_ns != mtime_ns:
        return errors.SourceChanged(
            f"{os.fsdecode(path)}: the file changed since it was planned (size {size} ->"
            f" {st.st_size}, mtime changed: {st.st_mtime_ns != mtime_ns});"
            " nothing more of it is posted"
        )
    return None
