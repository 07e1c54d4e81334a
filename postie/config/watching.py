"""``postie daemon``: the folders it watches, its status endpoint, its queue and logs.

No ``from __future__ import annotations`` (see :mod:`postie.config`).
"""

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from postie.config.posting import Walked
from postie.config.section import Section


class WatchRoot(Walked):
    """A folder the daemon watches; what lands in it is posted."""

    path: Path
    output: Path | None = Field(None, description="NZB folder; default daemon.output")
    mode: Literal["folder", "file"] = Field(
        "folder", description="folder: each top-level entry is one job; file: each file is one"
    )
    min_file_age: float = Field(60.0, ge=0, description="seconds unchanged before it is taken")
    min_size: int = Field(1, ge=0, description="smaller files are left alone")
    ignore: tuple[str, ...] = ("*.tmp", "*.part", "*.!ut", "*.crdownload", ".*")
    follow_symlinks: bool = Field(False, description="follow links that stay inside the root")
    schedule: str | None = Field(
        None, description="'HH:MM-HH:MM' (local time, may wrap past midnight): take jobs only then"
    )
    priority: int = Field(0, ge=-100, le=100, description="higher runs first")

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from postie.schedule import parse_window

        parse_window(value)  # ValueError names the text
        return value


class HttpConfig(Section):
    """The status endpoint (JSON at /status, Prometheus text at /metrics)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    api_key: SecretStr | None = Field(None, description="required by calls that change state")
    api_key_env: str | None = None

    def key(self) -> str | None:
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.api_key_env:
            return os.environ.get(self.api_key_env)
        return None


class DaemonConfig(Section):
    """``postie daemon``: watch folders, keep a durable queue, post what lands."""

    watch: tuple[WatchRoot, ...] = ()
    allowed_paths: tuple[Path, ...] = Field(
        (), description="besides the watch roots, folders whose contents `queue add` may queue"
    )
    output: Path | None = Field(None, description="NZB folder for roots without their own")
    max_concurrent_jobs: int = Field(2, ge=1, le=64)
    scan_interval: float = Field(5.0, gt=0, le=3600)
    max_attempts: int = Field(5, ge=1, le=1000)
    retry_delay: float = Field(60.0, ge=0, le=86400, description="first retry, doubling")
    retry_delay_max: float = Field(3600.0, ge=0)
    shutdown_timeout: float = Field(30.0, gt=0, le=3600, description="first signal: finish within")
    log_file: Path | None = None
    log_max_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    log_backups: int = Field(5, ge=0, le=100)
    http: HttpConfig = HttpConfig()

    @field_validator("watch")
    @classmethod
    def _roots(cls, value: tuple[WatchRoot, ...]) -> tuple[WatchRoot, ...]:
        paths = [Path(os.path.abspath(r.path)) for r in value]
        for i, a in enumerate(paths):
            for b in paths[i + 1 :]:
                if a == b or a in b.parents or b in a.parents:
                    raise ValueError(f"watch roots overlap: {a} and {b}")
        return value
