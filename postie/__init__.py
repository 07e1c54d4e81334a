"""postie: a durable Usenet posting engine."""

# The one place the version is written (pyproject.toml reads it from here); no
# importlib.metadata at start-up, which costs ~25 ms on every command.
__version__ = "0.1.0"

__all__ = ["__version__"]
