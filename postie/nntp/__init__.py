"""NNTP client: sans-IO protocol, asyncio connection, per-server pool."""
