"""Reading a config: YAML in, a validated Config out; validation errors as the key path
and the reason; command-line overrides merged in and validated again."""

from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from postie.config.top import Config
from postie.errors import ConfigError


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for err in exc.errors(include_url=False, include_input=False):
        reason = err["msg"]
        if err["type"] == "extra_forbidden":
            reason = "unknown key"
        lines.append(f"  {_location(err['loc'])}: {reason}")
    return "\n".join(lines)


def parse_config(data: Any, source: str = "configuration") -> Config:
    """Validate a mapping (parsed YAML) into a Config."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


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
    data = config.model_dump(mode="python")
    for dotted, value in overrides.items():
        target = data
        *parents, last = dotted.split(".")
        for key in parents:
            target = target.setdefault(key, {})
        target[last] = value
    _unwrap_secrets(data)
    return parse_config(data, "command line")


def _unwrap_secrets(data: Any) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, SecretStr):
                data[key] = value.get_secret_value()
            else:
                _unwrap_secrets(value)
    elif isinstance(data, list | tuple):
        for item in data:
            _unwrap_secrets(item)
