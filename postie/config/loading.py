"""Reading a config: YAML in, a validated Config out; every problem named by its key
path and the reason; command-line overrides merged in and validated again.

``validate``, ``dump`` and ``replace`` are how the rest of postie reads plain data into
a section, writes one out as plain data, and changes one.
"""

import enum
import os
import re
import typing
from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from postie.config.section import Invalid, SecretStr, Section
from postie.config.top import Config
from postie.errors import ConfigError

S = TypeVar("S", bound=Section)

Where = tuple[str | int, ...]  # a key path: keys, and list positions


def validate(kind: type[S], data: Any, source: str = "configuration") -> S:
    """``data`` (plain values: parsed YAML, recorded JSON, a ``dump``) read as a ``kind``
    section and checked. ConfigError: ``invalid configuration in SOURCE:``, then one line
    per problem, its key path and the reason (``  servers.0.port: ...``)."""
    try:
        section: S = _convert(data, kind)
        return section
    except msgspec.ValidationError as exc:
        problems = _problems(kind, data, ()) or _located(exc, ())
    lines = [f"invalid configuration in {source}:"]
    lines += [f"  {'.'.join(map(str, where)) or '(top level)'}: {why}" for where, why in problems]
    raise ConfigError("\n".join(lines))


def dump(
    section: Section, *, include: Collection[str] | None = None, exclude: Collection[str] = ()
) -> dict[str, Any]:
    """The section as plain data, what ``validate`` reads: sections as dicts, tuples as
    lists, enums as their values, paths as text (JSON's types), but secrets stay
    ``SecretStr`` (never shown, and JSON cannot encode one by mistake). ``include`` and
    ``exclude`` pick keys of the section itself."""
    return {
        key: _plain(getattr(section, key))
        for key in section.__struct_fields__
        if (include is None or key in include) and key not in exclude
    }


def replace(section: S, **changes: Any) -> S:
    """A copy of ``section`` with ``changes``: values of the keys' own types (nothing is
    converted); the section's own rules are checked (ValueError)."""
    return msgspec.structs.replace(section, **changes)


def parse_config(data: Any, source: str = "configuration") -> Config:
    """Validate a mapping (parsed YAML) into a Config."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys")
    return validate(Config, data, source)


def load_config(path: Path) -> Config:
    """Read and validate a YAML config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    import yaml  # only when a config file is given: ~15 ms of start-up otherwise

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # Name the place and the problem only: the offending line may hold a password.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(f"{path} is not valid YAML{where}: {problem}") from None
    return parse_config(data, str(path))


def merge(config: Config, overrides: dict[str, Any]) -> Config:
    """Return a copy with dotted-path overrides applied and re-validated."""
    data = dump(config)
    for dotted, value in overrides.items():
        target = data
        *parents, last = dotted.split(".")
        for key in parents:
            target = target.setdefault(key, {})
        target[last] = value
    return parse_config(data, "command line")


def _convert(data: Any, kind: Any) -> Any:
    # strict=False: text that reads as a number or a boolean is one ("563", "true"), as
    # a config file may quote it
    return msgspec.convert(data, kind, strict=False, dec_hook=_decode)


def _decode(kind: type, value: Any) -> Any:
    """The types msgspec leaves to postie: paths and secrets, from text."""
    if isinstance(value, kind):
        return value
    if kind in (Path, SecretStr) and isinstance(value, str):
        return kind(value)
    # the type of the value, never the value (it may be a password)
    raise TypeError(f"Expected `str`, got `{type(value).__name__}`")


def _plain(value: Any) -> Any:
    if isinstance(value, Section):
        return dump(value)
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return os.fspath(value)
    return value


def _problems(kind: Any, value: Any, where: Where) -> list[tuple[Where, str]]:
    """Every problem of ``value`` read as a ``kind``, each with its key path (msgspec
    stops at the first): in a section, each unknown key, each key in turn (into sections
    and lists of them) and its own rule, each missing key; then, once every key is
    right, the section's rules across keys."""
    section = _section_in(kind)
    if section is not None and isinstance(value, dict):
        fields = {field.encode_name: field for field in msgspec.structs.fields(section)}
        found: list[tuple[Where, str]] = []
        for key, item in value.items():
            if key not in fields:
                found.append(((*where, key), "unknown key"))
            elif problems := _problems(fields[key].type, item, (*where, key)):
                found += problems
            elif key in section.key_rules:
                try:
                    section.key_rules[key](_convert(item, fields[key].type))
                except ValueError as exc:
                    found.append(((*where, key), str(exc)))
        found += [
            ((*where, key), "required key missing")
            for key, field in fields.items()
            if field.required and key not in value
        ]
        if found:
            return found
    item_kind = _items_of(kind)
    if item_kind is not None and isinstance(value, list | tuple):
        found = [p for i, item in enumerate(value) for p in _problems(item_kind, item, (*where, i))]
        if found:
            return found
    try:
        _convert(value, kind)
    except msgspec.ValidationError as exc:
        return _located(exc, where)
    return []


def _section_in(kind: Any) -> type[Section] | None:
    """The section ``kind`` is (or holds, as ``X | None``)."""
    kind = _bare(kind)
    if isinstance(kind, type) and issubclass(kind, Section):
        return kind
    for member in typing.get_args(kind) if typing.get_origin(kind) is not tuple else ():
        if isinstance(member, type) and issubclass(member, Section):
            return member
    return None


def _items_of(kind: Any) -> Any:
    """The item type of a ``tuple[X, ...]`` of sections, else None."""
    kind = _bare(kind)
    args = typing.get_args(kind)
    if typing.get_origin(kind) is tuple and len(args) == 2 and _section_in(args[0]) is not None:
        return args[0]
    return None


def _bare(kind: Any) -> Any:
    """``kind`` without ``Annotated[...]``."""
    while typing.get_origin(kind) is typing.Annotated:
        kind = typing.get_args(kind)[0]
    return kind


_AT = re.compile(r" - at `\$([^`]*)`\Z")  # how msgspec ends a message that has a path
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def _located(exc: msgspec.ValidationError, where: Where) -> list[tuple[Where, str]]:
    """msgspec's error as (key path, reason) lines: ``Expected `int` <= 65535 - at
    `$.port``` under ``where``; a section's ``Invalid`` gives one line per key it names.
    Only the end of the message is the path: a value quoted in the reason may hold the
    same words (``Invalid enum value 'x - at `$.y'``)."""
    text = str(exc)
    at = _AT.search(text)
    reason, path = (text[: at.start()], at[1]) if at else (text, "")
    steps: Where = (*where, *(k if i == "" else int(i) for k, i in _STEP.findall(path)))
    cause = exc.__cause__
    if isinstance(cause, Invalid):
        return [((*steps, key), why) for key, why in cause.problems.items()]
    return [(steps, reason)]
