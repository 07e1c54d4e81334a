"""Keep glibc from returning article buffers to the kernel after every article.

Each article allocates a raw buffer (~700 KiB) and an encoded one (~730 KiB).
glibc serves allocations that large with ``mmap`` and gives them back with
``munmap`` (or trims the heap) on free, so every article paid ~350 page faults
and the zeroing of fresh pages: measured here, about 100,000 page faults and
0.3-0.5 s of system time per GiB posted. Raising the mmap and trim thresholds
makes freed buffers reusable from the heap instead. Peak memory does not grow:
the ByteBudget bounds how many buffers are alive at once, and the heap keeps at
most that peak.

The other side of it: what planning a transfer used and freed (the walk, the files'
key, frame 0 of the manifest: tens of MB for 100,000 files, much of it in the heap of the
thread that did the work) would stay in the process for the whole run, the trim threshold
being that high. :func:`give_back` returns it once, as posting starts.

Not glibc (musl, macOS): nothing to do, and nothing happens.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's maximum for the dynamic threshold
TRIM_THRESHOLD = 256 * 1024 * 1024

_done = False
_libc: ctypes.CDLL | None = None


def _glibc() -> ctypes.CDLL | None:
    global _libc
    if _libc is None and sys.platform.startswith("linux"):
        # dlopen(NULL): the process's own symbols, libc's among them. Not
        # ctypes.util.find_library, which runs `ldconfig -p` in a subprocess.
        with contextlib.suppress(OSError):
            _libc = ctypes.CDLL(None)
    return _libc


def tune_allocator() -> bool:
    """Raise glibc's mmap/trim thresholds once per process; True when applied."""
    global _done
    if _done:
        return True
    libc = _glibc()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1)
    ok = bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1) and ok
    _done = ok
    return ok


def give_back() -> bool:
    """Return the heap's free pages to the kernel (``malloc_trim``), every thread's
    heap; True when done. Once per transfer, after planning and before posting: not
    per article (see above)."""
    trim = getattr(_glibc(), "malloc_trim", None)
    if trim is None:
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    trim(0)
    return True
