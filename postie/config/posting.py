"""What ``postie post`` makes and how: articles, the NZB, which files it takes, the
in-flight limits and the PAR2 recovery files.

No ``from __future__ import annotations`` (see :mod:`postie.config`).
"""

from enum import StrEnum
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from msgspec import Meta

from postie.article.walk import WalkRules
from postie.config.section import KeyRules, Section

DEFAULT_ARTICLE_SIZE = 716_800
DEFAULT_SUBJECT = '[{index}/{count}] - "{name}" yEnc ({part}/{parts})'
DEFAULT_REDUNDANCY = "10%"


class Obfuscation(StrEnum):
    NONE = "none"
    FULL = "full"


class NzbMeta(Section, frozen=True):
    title: str | None = None
    password: str | None = None
    tag: str | None = None
    category: str | None = None


def _groups(value: tuple[str, ...]) -> None:
    if not value:
        raise ValueError("at least one newsgroup is needed")
    for group in value:
        if not group or any(c in group for c in " ,\t\r\n"):
            raise ValueError(f"not a newsgroup name: {group!r}")


def _subject(value: str) -> None:
    try:
        value.format(index=1, count=1, name="n", part=1, parts=1, size=1)
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
        raise ValueError(
            f"bad subject template ({exc}); fields: index count name part parts size"
        ) from None
    if "\r" in value or "\n" in value:
        raise ValueError("subject cannot contain line breaks")


def _domain(value: str) -> None:
    if not value or any(c in value for c in "<>@ \t\r\n"):
        raise ValueError(f"not a domain for Message-IDs: {value!r}")


def _poster(value: str) -> None:
    if "\r" in value or "\n" in value or "@" not in value:
        raise ValueError("poster must be an address like 'name <user@example.com>'")


class PostingConfig(Section, frozen=True):
    """How articles are built."""

    groups: tuple[str, ...] = ("alt.binaries.test",)
    article_size: Annotated[int, Meta(ge=1024, le=16 * 1024 * 1024)] = DEFAULT_ARTICLE_SIZE
    line_length: Literal[128] = 128
    poster: str = "postie <postie@postie.invalid>"
    subject: str = DEFAULT_SUBJECT
    message_id_domain: str = "postie.local"
    obfuscation: Obfuscation = Obfuscation.NONE
    max_retries: Annotated[int, Meta(ge=0, le=100)] = 5
    retry_delay: Annotated[float, Meta(ge=0)] = 1.0

    key_rules: ClassVar[KeyRules] = {
        "groups": _groups,
        "poster": _poster,
        "subject": _subject,
        "message_id_domain": _domain,
    }


class NzbConfig(Section, frozen=True):
    output: Path | None = None
    per_file: bool = False
    meta: NzbMeta = NzbMeta()


class Walked(Section, frozen=True):
    """The three keys of the walk rules (``files`` for ``postie post``, each watch root
    for the daemon): see ``postie.article.walk``."""

    ignore: Annotated[tuple[str, ...], Meta(description="name globs left out at every depth")] = ()
    min_size: Annotated[int, Meta(ge=0, description="smaller files are left out")] = 1
    follow_symlinks: Annotated[
        bool,
        Meta(description="follow links that stay inside the folders given (never out of them)"),
    ] = False

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


class FilesConfig(Walked, frozen=True):
    """Which files ``postie post`` takes from the folders it is given (each watch root of
    the daemon has the same three keys of its own)."""


class LimitsConfig(Section, frozen=True):
    """Process-wide limits."""

    buffer_bytes: (
        Annotated[
            int,
            Meta(ge=1024 * 1024, description="in-flight buffer budget; default from connections"),
        ]
        | None
    ) = None
    encode_threads: Annotated[int, Meta(ge=1, le=64)] = 2


def _redundancy(value: str) -> None:
    if value == DEFAULT_REDUNDANCY:
        # valid (a test says so): every config has this default, and the planner's
        # import (~3 ms) is left to runs that make PAR2
        return
    from postie.par2.plan import parse_redundancy

    parse_redundancy(value)  # ValueError names the text


def _slice(value: int | None) -> None:
    if value is not None and value % 4:
        raise ValueError(f"the PAR2 block size must be a multiple of 4, not {value}")


class Par2Config(Section, frozen=True):
    """PAR2 recovery files, created before posting and posted with the data."""

    enabled: bool = True
    redundancy: Annotated[str, Meta(description="'10%' of the source blocks, or a block count")] = (
        DEFAULT_REDUNDANCY
    )
    per: Literal["folder", "file"] = "folder"
    slice_size: (
        Annotated[int, Meta(ge=4, description="block size; default from the article")] | None
    ) = None
    recovery_files: Annotated[int, Meta(ge=1, le=31)] | None = None
    min_size: (
        Annotated[
            int,
            Meta(ge=0, description="per-file sets: smaller files get none; default one article"),
        ]
        | None
    ) = None
    binary: Annotated[Path | None, Meta(description="a par2cmdline-compatible tool")] = None
    memory_mb: Annotated[int, Meta(ge=16, description="par2 -m; default the tool's")] | None = None
    threads: Annotated[int, Meta(ge=1, le=256)] | None = None
    max_concurrent_jobs: Annotated[int, Meta(ge=1, le=64)] = 1
    keep_par2: bool = False
    workdir: Annotated[
        Path | None, Meta(description="where PAR2 files are made; default beside the db")
    ] = None

    key_rules: ClassVar[KeyRules] = {"redundancy": _redundancy, "slice_size": _slice}
