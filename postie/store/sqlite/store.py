"""``SQLiteStore``: the store (``postie.store.api.Store``) in one SQLite file.

SQLite through aiosqlite: WAL, so readers never wait for the writer; a busy
timeout, so a writer waits for another process's write rather than failing at
once; one ``BEGIN IMMEDIATE`` transaction per state change. The SQL is in
``queries.sql`` (named statements), the schema in the numbered migrations;
rows are mapped to the records of ``postie.store.records`` (``rows``).
"""

from __future__ import annotations

from postie.manifest.storage import FileManifests, ManifestStorage
from postie.store.sqlite.queue import QueueQueries
from postie.store.sqlite.transfers import TransferQueries
from postie.store.sqlite.verification import VerificationQueries


class SQLiteStore(TransferQueries, VerificationQueries, QueueQueries):
    """``async with SQLiteStore(path) as store``: opens, migrates, closes."""

    @property
    def manifests(self) -> ManifestStorage:
        """Where this store's manifests are: files (``store.manifests``, a folder of
        this machine)."""
        return _FILES


_FILES = FileManifests()
