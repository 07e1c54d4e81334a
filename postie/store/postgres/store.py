"""``PostgresStore``: the store (``postie.store.api.Store``) in a PostgreSQL database,
shared by postie instances on several machines.

asyncpg, a small pool per store object (``base``); the SQL is in ``queries.sql``
(named statements), the schema in the numbered migrations (``migrate``: PostgreSQL's
files, under an advisory lock); rows are mapped to the records of
``postie.store.records`` by ``postie.store.rows``, as for SQLite. Claims skip locked
rows (``FOR UPDATE SKIP LOCKED``); the store's clock is the server's;
manifests are kept in the database too (``manifests``).
"""

from __future__ import annotations

from postie.store.postgres.manifests import ManifestQueries
from postie.store.postgres.queue import QueueQueries
from postie.store.postgres.transfers import TransferQueries
from postie.store.postgres.verification import VerificationQueries


class PostgresStore(TransferQueries, VerificationQueries, QueueQueries, ManifestQueries):
    """``async with PostgresStore(url) as store``: connects, migrates, closes."""
