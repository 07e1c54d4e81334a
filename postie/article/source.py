"""Is a source file still the one that was planned? (A resume and a re-post ask.)"""

from __future__ import annotations

import os
from pathlib import Path

from postie import errors


def source_problem(path: Path, size: int, mtime_ns: int) -> errors.FileFailed | None:
    """Why the file planned at ``path`` with ``size`` and ``mtime_ns`` cannot be read for
    more articles (gone, unreadable, changed), or None."""
    return examine(path, size, mtime_ns)[0]


def examine(
    path: Path,
    size: int,
    mtime_ns: int,
    ino: int | None = None,
    ctime_ns: int | None = None,
) -> tuple[errors.FileFailed | None, errors.SourceChanged | None]:
    """(why the file cannot be read for more articles at all: gone, unreadable, another
    size or mtime; why it may not be the file planned although its size and mtime are:
    another inode or ctime, when they are known). One ``stat``.

    The second matters only where a part is read with no CRC32 recorded to check it
    against (manifest version 2): the caller decides."""
    shown = os.fsdecode(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        return (
            errors.SourceMissing(
                f"{shown}: the source file is gone ({size} bytes when planned);"
                " its remaining articles cannot be posted"
            ),
            None,
        )
    except OSError as exc:
        return errors.SourceMissing(f"{shown}: {exc.strerror or exc}"), None
    if st.st_size != size or st.st_mtime_ns != mtime_ns:
        return (
            errors.SourceChanged(
                f"{shown}: the file changed since it was planned (size {size} ->"
                f" {st.st_size}, mtime changed: {st.st_mtime_ns != mtime_ns});"
                " nothing more of it is posted"
            ),
            None,
        )
    what = []
    if ino is not None and st.st_ino != ino:
        what.append(f"another inode ({ino} -> {st.st_ino}): it was replaced")
    if ctime_ns is not None and st.st_ctime_ns != ctime_ns:
        what.append(
            "another ctime: it was written to, renamed, or its permissions or links changed"
        )
    if not what:
        return None, None
    return None, errors.SourceChanged(
        f"{shown}: the file changed since it was planned (same size and mtime, but "
        + "; ".join(what)
        + "); parts whose CRC32 was not recorded cannot be checked, nothing more of it is"
        " posted"
    )
