"""``postie daemon``: the folders it watches, its status endpoint, its queue and logs.

No ``from __future__ import annotations`` (see :mod:`postie.config`).
"""

import os
import re
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from msgspec import Meta

from postie.config.posting import Walked
from postie.config.section import KeyRules, SecretStr, Section


def _schedule(value: str | None) -> None:
    if value is not None:
        from postie.schedule import parse_window

        parse_window(value)  # ValueError names the text


class WatchRoot(Walked, frozen=True, kw_only=True):
    """A folder the daemon watches; what lands in it is posted."""

    path: Path
    output: Annotated[Path | None, Meta(description="NZB folder; default daemon.output")] = None
    mode: Annotated[
        Literal["folder", "file"],
        Meta(description="folder: each top-level entry is one job; file: each file is one"),
    ] = "folder"
    min_file_age: Annotated[
        float, Meta(ge=0, description="seconds unchanged before it is taken")
    ] = 60.0
    min_size: Annotated[int, Meta(ge=0, description="smaller files are left alone")] = 1
    ignore: tuple[str, ...] = ("*.tmp", "*.part", "*.!ut", "*.crdownload", ".*")
    follow_symlinks: Annotated[bool, Meta(description="follow links that stay inside the root")] = (
        False
    )
    schedule: Annotated[
        str | None,
        Meta(description="'HH:MM-HH:MM' (local time, may wrap past midnight): take jobs only then"),
    ] = None
    priority: Annotated[int, Meta(ge=-100, le=100, description="higher runs first")] = 0

    key_rules: ClassVar[KeyRules] = {"schedule": _schedule}


class HttpConfig(Section, frozen=True):
    """The status endpoint (JSON at /status, Prometheus text at /metrics)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, le=65535)] = 8765
    api_key: Annotated[
        SecretStr | None, Meta(description="required by calls that change state")
    ] = None
    api_key_env: str | None = None

    def key(self) -> str | None:
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.api_key_env:
            return os.environ.get(self.api_key_env)
        return None


_INSTANCE = re.compile(r"[A-Za-z0-9._@:-]{1,64}")


def _instance(value: str | None) -> None:
    if value is not None and not _INSTANCE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an instance name: 1 to 64 letters, digits and . _ - @ :"
        )


def _roots(value: tuple[WatchRoot, ...]) -> None:
    paths = [Path(os.path.abspath(r.path)) for r in value]
    for i, a in enumerate(paths):
        for b in paths[i + 1 :]:
            if a == b or a in b.parents or b in a.parents:
                raise ValueError(f"watch roots overlap: {a} and {b}")


class DaemonConfig(Section, frozen=True):
    """``postie daemon``: watch folders, keep a durable queue, post what lands."""

    watch: tuple[WatchRoot, ...] = ()
    allowed_paths: Annotated[
        tuple[Path, ...],
        Meta(description="besides the watch roots, folders whose contents `queue add` may queue"),
    ] = ()
    output: Annotated[Path | None, Meta(description="NZB folder for roots without their own")] = (
        None
    )
    max_concurrent_jobs: Annotated[int, Meta(ge=1, le=64)] = 2
    scan_interval: Annotated[float, Meta(gt=0, le=3600)] = 5.0
    max_attempts: Annotated[int, Meta(ge=1, le=1000)] = 5
    retry_delay: Annotated[float, Meta(ge=0, le=86400, description="first retry, doubling")] = 60.0
    retry_delay_max: Annotated[float, Meta(ge=0)] = 3600.0
    shutdown_timeout: Annotated[
        float, Meta(gt=0, le=3600, description="first signal: finish within")
    ] = 30.0
    log_file: Path | None = None
    log_max_bytes: Annotated[int, Meta(ge=1024)] = 10 * 1024 * 1024
    log_backups: Annotated[int, Meta(ge=0, le=100)] = 5
    http: HttpConfig = HttpConfig()
    instance: Annotated[
        str | None,
        Meta(description="this daemon's name, shown with every lease it holds; default host-pid"),
    ] = None
    defer_for: Annotated[
        float,
        Meta(
            ge=1,
            le=86400,
            description="seconds a job whose path this instance cannot read is left to others",
        ),
    ] = 600.0

    key_rules: ClassVar[KeyRules] = {"watch": _roots, "instance": _instance}
