"""postie: a durable Usenet posting engine."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("postie")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
