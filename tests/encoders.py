"""Which encode pools the tests can run: sabctools always, native when it is built (in CI
a missing build fails ``test_not_built_in_ci_is_a_failure``)."""

from __future__ import annotations

import pytest

try:
    from postie.runtime import native as _native
except ImportError as exc:  # the extension is not built here
    NATIVE_MISSING: str | None = f"the native encoder is not built: {exc}"
else:
    del _native
    NATIVE_MISSING = None

ENCODERS = [
    pytest.param(
        "native",
        marks=pytest.mark.skipif(NATIVE_MISSING is not None, reason=str(NATIVE_MISSING)),
    ),
    "sabctools",
]
