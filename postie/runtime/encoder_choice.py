"""Which encode pool runs: ``POSTIE_ENCODER`` = ``native``, ``sabctools`` or ``auto``.

``auto`` (the default) takes the native pool (:mod:`postie.runtime.native`) when its
extension imports, and sabctools' (:class:`~postie.runtime.encoder.ThreadEncodePool`)
otherwise, saying why at ``-v`` (the encoder chosen is logged at ``-vv``;
``postie check-server`` and the Runtime's statistics name it too). The variable is for
tests and benchmarks more than for users: both pools give the same bytes.
"""

from __future__ import annotations

import logging
import os

from postie import errors
from postie.runtime.encoder import EncodePool, ThreadEncodePool

log = logging.getLogger(__name__)

CHOICE_VARIABLE = "POSTIE_ENCODER"
CHOICES = ("auto", "native", "sabctools")


def encode_pool(threads: int, choice: str | None = None) -> EncodePool:
    """The encode pool ``choice`` names (default: ``$POSTIE_ENCODER``, else ``auto``).

    ``auto`` takes the native pool when its extension imports and says why not (at -v)
    when it does not; ``native`` without the extension is a ``ConfigError``."""
    if choice is None:
        choice = os.environ.get(CHOICE_VARIABLE, "").strip().lower() or "auto"
    if choice not in CHOICES:
        raise errors.ConfigError(
            f"{CHOICE_VARIABLE}={choice!r}: expected one of {', '.join(CHOICES)}"
        )
    if choice != "sabctools":
        try:
            from postie.runtime.native import NativeEncodePool
        except ImportError as exc:
            if choice == "native":
                raise errors.ConfigError(
                    f"{CHOICE_VARIABLE}=native: the native encoder is not built ({exc});"
                    " reinstall postie with a C/C++ compiler and Python's headers"
                    " (scripts/setup installs them)"
                ) from exc
            pool: EncodePool = ThreadEncodePool(threads)
            log.info("encoder: sabctools (%s); the native one is not built: %s", pool.detail, exc)
            return pool
        pool = NativeEncodePool(threads)
    else:
        pool = ThreadEncodePool(threads)
    log.debug("encoder: %s (%s), %d threads", pool.kind, pool.detail, threads)
    return pool
