"""The store in an SQLite file (see ``store.SQLiteStore``)."""

from postie.store.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
