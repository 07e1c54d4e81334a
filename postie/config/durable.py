"""A transfer once it is posted: where it is recorded, how it is verified, and what
happens after (the hook, the originals).

No ``from __future__ import annotations`` (see :mod:`postie.config`).
"""

from pathlib import Path
from typing import Self

from pydantic import Field, field_validator, model_validator

from postie.config.section import Section


class StoreConfig(Section):
    """Where transfers are recorded so an interrupted one can be finished."""

    path: Path | None = Field(None, description="SQLite file; default in the user's data folder")
    manifests: Path | None = Field(None, description="manifest folder; default beside the db")
    busy_timeout: float = Field(10.0, gt=0, le=3600)
    checkpoint_interval: float = Field(1.0, gt=0, le=600)


class VerifyConfig(Section):
    """Proving that every article arrived: STAT, re-post what is missing, recheck."""

    enabled: bool = True
    delay: float = Field(10.0, ge=0, le=86400, description="propagation delay before the check")
    connections: int = Field(
        1, ge=1, le=100, description="STAT connections when no server has role verify"
    )
    batch_size: int = Field(500, ge=1, le=100_000, description="missing articles per claim")
    lease: float = Field(120.0, gt=0, le=86400, description="seconds a worker holds a claim")
    poll_interval: float = Field(5.0, gt=0, le=3600)
    max_reposts: int = Field(1, ge=0, le=100)
    max_checks: int = Field(5, ge=1, le=1000, description="STATs of an article before giving up")
    backoff: float = Field(30.0, ge=0, le=86400, description="first recheck delay, doubling")
    backoff_max: float = Field(3600.0, ge=0, le=7 * 86400)
    retention: float = Field(
        7 * 86400.0, ge=0, description="seconds finished transfers are kept before the sweep"
    )
    sweep_interval: float = Field(3600.0, gt=0, le=7 * 86400)


class HookConfig(Section):
    """A command run once a transfer is verified: an argument list, never a shell.

    Placeholders: {nzb} {name} {source} {id} (whole arguments or inside them)."""

    command: tuple[str, ...] = ()
    timeout: float = Field(300.0, gt=0, le=86400)
    retries: int = Field(2, ge=0, le=100)
    retry_delay: float = Field(10.0, ge=0, le=3600)

    @field_validator("command")
    @classmethod
    def _command(cls, value: tuple[str, ...]) -> tuple[str, ...]:
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
        return value


_HOOK_FIELDS = {"nzb": "", "name": "", "source": "", "id": ""}


class FinalizeConfig(Section):
    """What happens after a transfer is verified (never before)."""

    hook: HookConfig = HookConfig()
    delete_originals: bool = False
    move_originals: Path | None = Field(
        None, description="move the posted files here (under the transfer's name) instead"
    )

    @model_validator(mode="after")
    def _one_policy(self) -> Self:
        if self.delete_originals and self.move_originals is not None:
            raise ValueError("delete_originals and move_originals: choose one")
        return self
