"""The store on a PostgreSQL server (see ``store.PostgresStore``); asyncpg is imported
here and nowhere else."""

from postie.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
