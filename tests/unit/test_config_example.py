"""config.example.yaml is valid and shows every key the config model has."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import yaml

from postie.config import Config, load_config
from postie.config.section import Section

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yaml"


def _paths(model: type[Section], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for field in msgspec.structs.fields(model):
        path = f"{prefix}{field.name}"
        found.add(path)
        annotation: Any = field.type
        args = getattr(annotation, "__args__", ())
        for candidate in (annotation, *args):
            if isinstance(candidate, type) and issubclass(candidate, Section):
                found |= _paths(candidate, f"{path}.")
    return found


def _documented(data: Any, prefix: str = "") -> set[str]:
    found: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}{key}"
            found.add(path)
            found |= _documented(value, f"{path}.")
    elif isinstance(data, list) and data:
        found |= _documented(data[0], prefix)
    return found


def test_example_config_is_valid() -> None:
    config = load_config(EXAMPLE)
    assert config.servers[0].host == "news.example.com"


def test_every_key_is_in_the_example() -> None:
    text = EXAMPLE.read_text()
    shown = _documented(yaml.safe_load(text))
    # keys given as comments (alternatives) count as documented
    shown |= {"servers.password"} if "# password:" in text else set()
    missing = _paths(Config) - shown
    assert not missing, f"keys missing from config.example.yaml: {sorted(missing)}"
