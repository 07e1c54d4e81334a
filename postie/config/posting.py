"""What ``postie post`` makes and how: articles, the NZB, which files it takes, the
in-flight limits and the PAR2 recovery files.

No ``from __future__ import annotations`` (see :mod:`postie.config`).
"""

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from postie.article.walk import WalkRules
from postie.config.section import Section

DEFAULT_ARTICLE_SIZE = 716_800
DEFAULT_SUBJECT = '[{index}/{count}] - "{name}" yEnc ({part}/{parts})'
DEFAULT_REDUNDANCY = "10%"


class Obfuscation(StrEnum):
    NONE = "none"
    FULL = "full"


class NzbMeta(Section):
    title: str | None = None
    password: str | None = None
    tag: str | None = None
    category: str | None = None


class PostingConfig(Section):
    """How articles are built."""

    groups: tuple[str, ...] = ("alt.binaries.test",)
    article_size: int = Field(DEFAULT_ARTICLE_SIZE, ge=1024, le=16 * 1024 * 1024)
    line_length: Literal[128] = 128
    poster: str = "postie <postie@postie.invalid>"
    subject: str = DEFAULT_SUBJECT
    message_id_domain: str = "postie.local"
    obfuscation: Obfuscation = Obfuscation.NONE
    max_retries: int = Field(5, ge=0, le=100)
    retry_delay: float = Field(1.0, ge=0)

    @field_validator("groups")
    @classmethod
    def _groups(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one newsgroup is needed")
        for group in value:
            if not group or any(c in group for c in " ,\t\r\n"):
                raise ValueError(f"not a newsgroup name: {group!r}")
        return value

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        try:
            value.format(index=1, count=1, name="n", part=1, parts=1, size=1)
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
            raise ValueError(
                f"bad subject template ({exc}); fields: index count name part parts size"
            ) from None
        if "\r" in value or "\n" in value:
            raise ValueError("subject cannot contain line breaks")
        return value

    @field_validator("message_id_domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not value or any(c in value for c in "<>@ \t\r\n"):
            raise ValueError(f"not a domain for Message-IDs: {value!r}")
        return value

    @field_validator("poster")
    @classmethod
    def _poster(cls, value: str) -> str:
        if "\r" in value or "\n" in value or "@" not in value:
            raise ValueError("poster must be an address like 'name <user@example.com>'")
        return value


class NzbConfig(Section):
    output: Path | None = None
    per_file: bool = False
    meta: NzbMeta = NzbMeta()


class Walked(Section):
    """The three keys of the walk rules (``files`` for ``postie post``, each watch root
    for the daemon): see ``postie.article.walk``."""

    ignore: tuple[str, ...] = Field((), description="name globs left out at every depth")
    min_size: int = Field(1, ge=0, description="smaller files are left out")
    follow_symlinks: bool = Field(
        False, description="follow links that stay inside the folders given (never out of them)"
    )

    def rules(
        self, *, exclude: tuple[Path, ...] = (), nzb_folders: tuple[Path, ...] = ()
    ) -> WalkRules:
        """What a walk under these keys takes."""
        return WalkRules(
            ignore=self.ignore,
            min_size=max(self.min_size, 1),
            follow_symlinks=self.follow_symlinks,
            exclude=exclude,
            nzb_folders=nzb_folders,
        )


class FilesConfig(Walked):
    """Which files ``postie post`` takes from the folders it is given (each watch root of
    the daemon has the same three keys of its own)."""


class LimitsConfig(Section):
    """Process-wide limits."""

    buffer_bytes: int | None = Field(
        None, ge=1024 * 1024, description="in-flight buffer budget; default from connections"
    )
    encode_threads: int = Field(2, ge=1, le=64)


class Par2Config(Section):
    """PAR2 recovery files, created before posting and posted with the data."""

    enabled: bool = True
    redundancy: str = Field(
        DEFAULT_REDUNDANCY, description="'10%' of the source blocks, or a block count"
    )
    per: Literal["folder", "file"] = "folder"
    slice_size: int | None = Field(None, ge=4, description="block size; default from the article")
    recovery_files: int | None = Field(None, ge=1, le=31)
    min_size: int | None = Field(
        None, ge=0, description="per-file sets: smaller files get none; default one article"
    )
    binary: Path | None = Field(None, description="a par2cmdline-compatible tool")
    memory_mb: int | None = Field(None, ge=16, description="par2 -m; default the tool's")
    threads: int | None = Field(None, ge=1, le=256)
    max_concurrent_jobs: int = Field(1, ge=1, le=64)
    keep_par2: bool = False
    workdir: Path | None = Field(
        None, description="where PAR2 files are made; default beside the db"
    )

    @field_validator("redundancy")
    @classmethod
    def _redundancy(cls, value: str) -> str:
        if value == DEFAULT_REDUNDANCY:
            # valid (a test says so): every config has this default, and the planner's
            # import (~3 ms) is left to runs that make PAR2
            return value
        from postie.par2.plan import parse_redundancy

        parse_redundancy(value)  # ValueError names the text
        return value

    @field_validator("slice_size")
    @classmethod
    def _slice(cls, value: int | None) -> int | None:
        if value is not None and value % 4:
            raise ValueError(f"the PAR2 block size must be a multiple of 4, not {value}")
        return value
