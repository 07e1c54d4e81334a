"""Named SQL statements, read from ``queries.sql`` beside this module.

The file writes parameters as ``:name`` (like the SQLite store's); asyncpg takes
``$1, $2, ...``. Each statement is translated once: every ``:name`` becomes the number
of its first appearance, and ``Query.args`` orders a call's keyword values to match.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

# a connection of its own, or one of a pool's (what a transaction hands out)
Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)
# a quoted string (left alone), or a parameter: ":name" but not the "::" of a cast
_PARAM = re.compile(r"'(?:[^']|'')*'|(?<![:\w]):([A-Za-z_]\w*)")


class Query(msgspec.Struct, frozen=True):
    """One statement in asyncpg's form, and its parameters' names in ``$n`` order."""

    name: str
    sql: str
    params: tuple[str, ...]

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        """``values`` (by name) in the order of ``$1, $2, ...``."""
        try:
            return [values[p] for p in self.params]
        except KeyError as exc:
            raise TypeError(f"query {self.name} needs the parameter {exc.args[0]}") from None


def translate(name: str, text: str) -> Query:
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        param = match.group(1)
        if param is None:
            return match.group(0)
        if param not in order:
            order.append(param)
        return f"${order.index(param) + 1}"

    return Query(name, _PARAM.sub(number, text), tuple(order))


def _text() -> str:
    try:
        return Path(__file__).with_name("queries.sql").read_text("utf-8")
    except OSError:
        from importlib import resources

        return resources.files("postie.store.postgres").joinpath("queries.sql").read_text("utf-8")


@cache
def queries() -> dict[str, Query]:
    parts = _NAME.split(_text())
    found: dict[str, Query] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = [line for line in body.splitlines() if not line.lstrip().startswith("--")]
        found[name] = translate(name, "\n".join(lines).strip().rstrip(";"))
    return found


def query(name: str) -> Query:
    return queries()[name]
