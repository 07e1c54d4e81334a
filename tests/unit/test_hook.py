"""The finalize hook's argument list: placeholders checked when the config is read."""

from __future__ import annotations

import pytest

from postie import errors
from postie.config import parse_config
from postie.verify.finalize import hook_argv


def test_hook_placeholders_are_checked_and_expanded() -> None:
    cfg = parse_config({"finalize": {"hook": {"command": ["notify", "{nzb}", "x={name}"]}}})
    argv = hook_argv(
        cfg.finalize.hook, {"nzb": "a b;c.nzb", "name": "$(x)", "source": "", "id": "1"}
    )
    assert argv == ["notify", "a b;c.nzb", "x=$(x)"]
    with pytest.raises(errors.ConfigError, match=r"finalize\.hook\.command.*bad placeholder"):
        parse_config({"finalize": {"hook": {"command": ["notify", "{files}"]}}})
