"""Files to post: a directory tree of given sizes and deterministic content."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from pathlib import Path, PurePosixPath


def make_tree(root: Path, spec: Mapping[str, int | bytes], *, seed: int = 0) -> dict[Path, bytes]:
    """Create files under ``root`` as described by ``spec``; return ``{absolute path: content}``.

    Keys are relative POSIX paths (intermediate directories are created).  A ``bytes`` value is
    written as is; an ``int`` value means that many pseudo-random bytes, derived from ``seed``
    and the path alone, so the same spec and seed always give the same content.
    """
    base = root.absolute()
    created: dict[Path, bytes] = {}
    for rel, value in spec.items():
        parts = PurePosixPath(rel).parts
        if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
            raise ValueError(f"not a relative path inside the tree: {rel!r}")
        if isinstance(value, bytes):
            content = value
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            digest = hashlib.sha256(f"{seed}\0{rel}".encode()).digest()
            content = random.Random(int.from_bytes(digest[:8], "big")).randbytes(value)
        else:
            raise ValueError(f"size must be a non-negative int or bytes, got {value!r}: {rel!r}")
        path = base.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        created[path] = content
    return created
