"""The base of every config section: unknown keys are errors and values are frozen.

A section is a ``msgspec.Struct``: types and bounds (``Meta``) are checked when data
is read into one (``postie.config.validate``). What a section checks beyond them runs
on every construction (``__post_init__``): first ``key_rules``, each key's own (``Invalid``
names every key that breaks its rule), then ``check``, the rules across keys. Built in
code (``PostingConfig(article_size=...)``), a section is trusted to have the right types.
"""

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import msgspec

# Each key's own rule: a function of its value that raises ValueError saying why.
KeyRules = Mapping[str, Callable[[Any], object]]


class Invalid(ValueError):
    """Values a section refuses beyond their types and bounds: ``problems`` maps each key
    to the reason."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{key}: {reason}" for key, reason in problems.items()))
        self.problems = problems


class Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A config section. Its subclasses inherit these options (and say ``frozen=True``
    again for type checkers); one with a required key adds ``kw_only=True``, so that
    the key may follow keys with defaults."""

    key_rules: ClassVar[KeyRules] = {}

    def __post_init__(self) -> None:
        problems: dict[str, str] = {}
        for key, rule in self.key_rules.items():
            try:
                rule(getattr(self, key))
            except ValueError as exc:
                problems[key] = str(exc)
        if problems:
            raise Invalid(problems)
        self.check()

    def check(self) -> None:
        """The section's rules across keys (ValueError says why); each key is valid."""


class SecretStr:
    """A password or key: ``repr`` and ``str`` never show it; ``get_secret_value()``
    does. A dump of a config keeps it wrapped (JSON cannot encode it by mistake)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretStr('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)
