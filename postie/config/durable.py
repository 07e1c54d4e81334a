"""A transfer once it is posted: where it is recorded, how it is verified, and what
happens after (the hook, the originals).

No ``from __future__ import annotations`` (see :mod:`postie.config`).
"""

from pathlib import Path
from typing import Annotated, ClassVar

from msgspec import Meta

from postie.config.section import KeyRules, Section


def _store_url(value: str | None) -> None:
    schemes = ("postgresql://", "postgres://", "sqlite://")
    if value is not None and not value.lower().startswith(schemes):
        raise ValueError(
            "a URL: postgresql://user@host:port/database (PostgreSQL) or sqlite:///path"
        )


class StoreConfig(Section, frozen=True):
    """Where transfers are recorded so an interrupted one can be finished."""

    path: Annotated[
        Path | None, Meta(description="SQLite file; default in the user's data folder")
    ] = None
    url: Annotated[
        str | None,
        Meta(description="postgresql://user@host:port/db (shared store) or sqlite:///path"),
    ] = None
    manifests: Annotated[
        Path | None,
        Meta(description="manifest folder; default beside the db (PostgreSQL: unused, in the db)"),
    ] = None
    busy_timeout: Annotated[float, Meta(gt=0, le=3600)] = 10.0
    checkpoint_interval: Annotated[float, Meta(gt=0, le=600)] = 1.0
    reconnect_timeout: Annotated[
        float,
        Meta(
            ge=0,
            le=7 * 86400,
            description="seconds a lost PostgreSQL server is waited for before giving up",
        ),
    ] = 300.0

    key_rules: ClassVar[KeyRules] = {"url": _store_url}

    def check(self) -> None:
        if self.url is not None and self.path is not None:
            raise ValueError("store.url and store.path both name a store: keep one")


class VerifyConfig(Section, frozen=True):
    """Proving that every article arrived: STAT, re-post what is missing, recheck."""

    enabled: bool = True
    delay: Annotated[
        float, Meta(ge=0, le=86400, description="propagation delay before the check")
    ] = 10.0
    connections: Annotated[
        int, Meta(ge=1, le=100, description="STAT connections when no server has role verify")
    ] = 1
    batch_size: Annotated[int, Meta(ge=1, le=100_000, description="missing articles per claim")] = (
        500
    )
    lease: Annotated[float, Meta(gt=0, le=86400, description="seconds a worker holds a claim")] = (
        120.0
    )
    poll_interval: Annotated[float, Meta(gt=0, le=3600)] = 5.0
    max_reposts: Annotated[int, Meta(ge=0, le=100)] = 1
    max_checks: Annotated[
        int, Meta(ge=1, le=1000, description="STATs of an article before giving up")
    ] = 5
    backoff: Annotated[float, Meta(ge=0, le=86400, description="first recheck delay, doubling")] = (
        30.0
    )
    backoff_max: Annotated[float, Meta(ge=0, le=7 * 86400)] = 3600.0
    retention: Annotated[
        float, Meta(ge=0, description="seconds finished transfers are kept before the sweep")
    ] = 7 * 86400.0
    sweep_interval: Annotated[float, Meta(gt=0, le=7 * 86400)] = 3600.0


def _command(value: tuple[str, ...]) -> None:
    if value and not value[0]:
        raise ValueError("the program (first item) cannot be empty")
    for arg in value:
        try:
            arg.format_map(_HOOK_FIELDS)
        except (KeyError, IndexError, ValueError, AttributeError) as exc:
            raise ValueError(
                f"bad placeholder in {arg!r} ({exc}); fields: "
                + " ".join("{" + k + "}" for k in _HOOK_FIELDS)
            ) from None


_HOOK_FIELDS = {"nzb": "", "name": "", "source": "", "id": ""}


class HookConfig(Section, frozen=True):
    """A command run once a transfer is verified: an argument list, never a shell.

    Placeholders: {nzb} {name} {source} {id} (whole arguments or inside them)."""

    command: tuple[str, ...] = ()
    timeout: Annotated[float, Meta(gt=0, le=86400)] = 300.0
    retries: Annotated[int, Meta(ge=0, le=100)] = 2
    retry_delay: Annotated[float, Meta(ge=0, le=3600)] = 10.0

    key_rules: ClassVar[KeyRules] = {"command": _command}


class FinalizeConfig(Section, frozen=True):
    """What happens after a transfer is verified (never before)."""

    hook: HookConfig = HookConfig()
    delete_originals: bool = False
    move_originals: Annotated[
        Path | None,
        Meta(description="move the posted files here (under the transfer's name) instead"),
    ] = None

    def check(self) -> None:
        if self.delete_originals and self.move_originals is not None:
            raise ValueError("delete_originals and move_originals: choose one")
