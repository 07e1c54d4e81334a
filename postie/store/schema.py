"""The numbered migrations of both dialects: one sequence, a file per dialect where
they differ.

In ``migrations/`` (``postie/store/migrations`` in the package), ``NNNN_name.sql`` is
version NNNN for every dialect that has no file of its own for that version;
``NNNN_name.pg.sql`` is PostgreSQL's (and ``NNNN_name.sqlite.sql`` would be SQLite's).
Every version exists for every dialect, so a schema version means the same tables
whichever database holds them. Each store's ``migrate`` applies its dialect's files.
"""

from __future__ import annotations

import re
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Literal

import msgspec

from postie.errors import StoreError

Dialect = Literal["sqlite", "pg"]

_FILE = re.compile(r"^(\d{4})_[\w-]+(?:\.(sqlite|pg))?\.sql$")


class Migration(msgspec.Struct, frozen=True):
    """One schema migration: a numbered SQL script."""

    version: int
    name: str
    sql: str


def folder() -> Traversable:
    """``postie/store/migrations``: in a source checkout a link to ``migrations/`` at the
    repository root, in an installed package a copy of it. (Not "the folder three levels
    up": installed, that is site-packages, where another package's migrations/ may be.)"""
    here = Path(__file__).resolve().parent / "migrations"
    if here.is_dir():
        return here
    return resources.files("postie.store").joinpath("migrations")


def migrations(dialect: Dialect, where: Traversable | None = None) -> tuple[Migration, ...]:
    """``dialect``'s migration files, in version order; gaps and duplicates are errors."""
    shared: list[tuple[int, Traversable]] = []
    own: list[tuple[int, Traversable]] = []
    for entry in (where or folder()).iterdir():
        match = _FILE.match(entry.name)
        if match is None:
            continue
        if match.group(2) is None:
            shared.append((int(match.group(1)), entry))
        elif match.group(2) == dialect:
            own.append((int(match.group(1)), entry))
    mine = {version for version, _ in own}
    chosen = own + [(v, entry) for v, entry in shared if v not in mine]
    found = [Migration(v, entry.name, entry.read_text("utf-8")) for v, entry in chosen]
    found.sort(key=lambda m: (m.version, m.name))
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise StoreError(
                f"migrations out of sequence at {migration.name} (expected {expected})"
            )
    return tuple(found)
