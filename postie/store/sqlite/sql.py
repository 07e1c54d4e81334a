"""Named SQL statements, read from ``queries.sql`` beside this module."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def _text() -> str:
    # beside this module as a plain file (a checkout or an installed wheel): read it
    # directly; importlib.resources is only for a package imported from a zip file
    # (its file readers import zipfile and more: ~5 ms of every start)
    try:
        return Path(__file__).with_name("queries.sql").read_text("utf-8")
    except OSError:
        from importlib import resources

        return resources.files("postie.store.sqlite").joinpath("queries.sql").read_text("utf-8")


@cache
def queries() -> dict[str, str]:
    text = _text()
    parts = _NAME.split(text)
    found: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = [line for line in body.splitlines() if not line.lstrip().startswith("--")]
        found[name] = "\n".join(lines).strip().rstrip(";")
    return found


def query(name: str) -> str:
    return queries()[name]


def values(name: str, rows: int, width: int) -> str:
    """The statement ``name`` (ending in ``VALUES``) with ``rows`` groups of ``width``
    positional parameters."""
    group = "(" + ", ".join("?" * width) + ")"
    return query(name) + " " + ", ".join([group] * rows)
