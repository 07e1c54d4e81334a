"""What the NNTP layer knows about a server: a frozen record, not the user's config.

The connection and the pool read only this. ``postie.config.ServerConfig.settings()``
builds it from the validated config; tests and other callers can build one directly.
The password may be a zero-argument callable, called each time a connection
authenticates (so a password taken from the environment is read when it is needed,
not when the settings are made); it never shows in ``repr``.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

import msgspec


class ModeReader(StrEnum):
    """When to send MODE READER: auto = when the greeting says transit mode, or when
    the server answers POST with 500 (then POST is sent again)."""

    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


Password = str | Callable[[], str | None] | None


class ServerSettings(msgspec.Struct, frozen=True):
    """One NNTP server as the connection and the pool use it.

    ``port`` is the port to connect to (no "0 means default" here); ``label`` names the
    server in errors and statistics (``host:port`` when not given)."""

    host: str
    port: int = 119
    ssl: bool = False
    starttls: bool = False
    verify_cert: bool = True
    username: str | None = None
    password: Password = None  # never in repr (see __repr__)
    connect_timeout: float = 10.0
    reply_timeout: float = 60.0
    post_timeout: float = 120.0
    idle_timeout: float = 60.0
    connect_retries: int = 3
    mode_reader: ModeReader = ModeReader.AUTO
    pipelining: bool = True
    max_connections: int = 8
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            msgspec.structs.force_setattr(self, "label", f"{self.host}:{self.port}")

    def __repr__(self) -> str:
        # every field but the password (a Struct has no per-field repr=False)
        shown = (
            f"{name}={getattr(self, name)!r}"
            for name in self.__struct_fields__
            if name != "password"
        )
        return f"{type(self).__name__}({', '.join(shown)})"

    def secret(self) -> str | None:
        """The password, asking the callable for it when one was given."""
        password = self.password
        return password() if callable(password) else password
