"""The NNTP servers: where to connect, how to log in, what each one is used for.

No ``from __future__ import annotations`` (see :mod:`postie.config`).
"""

import os
from enum import StrEnum
from typing import Annotated

from msgspec import Meta

from postie.config.section import SecretStr, Section
from postie.errors import ConfigError
from postie.nntp.settings import ModeReader, ServerSettings


class Role(StrEnum):
    UPLOAD = "upload"
    VERIFY = "verify"
    BOTH = "both"


class Timeouts(Section, frozen=True):
    """Seconds to wait for each step of an NNTP exchange."""

    connect: Annotated[float, Meta(gt=0)] = 10.0
    reply: Annotated[float, Meta(gt=0)] = 60.0
    post: Annotated[float, Meta(gt=0)] = 120.0


class ServerConfig(Section, frozen=True, kw_only=True):
    """One NNTP server."""

    name: str = ""
    host: Annotated[str, Meta(min_length=1)]
    port: Annotated[int, Meta(ge=0, le=65535, description="0 means 119, or 563 with ssl")] = 0
    ssl: bool = False
    starttls: bool = False
    verify_cert: bool = True
    username: str | None = None
    password: SecretStr | None = None
    password_env: str | None = None
    max_connections: Annotated[int, Meta(ge=1, le=500)] = 8
    role: Role = Role.BOTH
    timeouts: Timeouts = Timeouts()
    idle_timeout: Annotated[float, Meta(gt=0)] = 60.0
    connect_retries: Annotated[int, Meta(ge=0, le=100)] = 3
    mode_reader: ModeReader = ModeReader.AUTO
    pipelining: bool = True

    def check(self) -> None:
        if self.ssl and self.starttls:
            raise ValueError("ssl (implicit TLS) and starttls cannot both be on")
        if self.password is not None and self.password_env is not None:
            raise ValueError("give password or password_env, not both")
        if (self.password is not None or self.password_env) and not self.username:
            raise ValueError("a password needs a username")

    @property
    def effective_port(self) -> int:
        if self.port:
            return self.port
        return 563 if self.ssl else 119

    @property
    def label(self) -> str:
        return self.name or f"{self.host}:{self.effective_port}"

    def secret(self) -> str | None:
        """The password, read from the environment when ``password_env`` names it."""
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_env:
            value = os.environ.get(self.password_env)
            if value is None:
                raise ConfigError(
                    f"server {self.label}: environment variable {self.password_env} is not set"
                )
            return value
        return None

    def settings(self) -> ServerSettings:
        """What the NNTP layer needs of this server (the password read when used)."""
        has_password = self.password is not None or bool(self.password_env)
        return ServerSettings(
            host=self.host,
            port=self.effective_port,
            ssl=self.ssl,
            starttls=self.starttls,
            verify_cert=self.verify_cert,
            username=self.username,
            password=self.secret if has_password else None,
            connect_timeout=self.timeouts.connect,
            reply_timeout=self.timeouts.reply,
            post_timeout=self.timeouts.post,
            idle_timeout=self.idle_timeout,
            connect_retries=self.connect_retries,
            mode_reader=self.mode_reader,
            pipelining=self.pipelining,
            max_connections=self.max_connections,
            label=self.label,
        )

    @property
    def uploads(self) -> bool:
        return self.role in (Role.UPLOAD, Role.BOTH)

    @property
    def verifies(self) -> bool:
        return self.role in (Role.VERIFY, Role.BOTH)
