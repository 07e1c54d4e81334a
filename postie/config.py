"""Configuration: YAML in, a validated frozen model out.

Every key is documented in ``config.example.yaml``. Unknown keys and bad values
are rejected with the key path and the reason. Passwords are ``SecretStr``: they
never show in ``repr``, logs or errors; ``password_env`` reads one from the
environment instead of the file.

No ``from __future__ import annotations`` here: pydantic would have to evaluate every
field's annotation from its text at import (~1 ms of start-up); written as objects,
they are ready for it.
"""

import os
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from postie.article.walk import WalkRules
from postie.errors import ConfigError
from postie.nntp.settings import ModeReader as ModeReader  # its home is the NNTP layer
from postie.nntp.settings import ServerSettings

DEFAULT_ARTICLE_SIZE = 716_800
DEFAULT_SUBJECT = '[{index}/{count}] - "{name}" yEnc ({part}/{parts})'
DEFAULT_REDUNDANCY = "10%"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class Role(StrEnum):
    UPLOAD = "upload"
    VERIFY = "verify"
    BOTH = "both"


class Timeouts(_Model):
    """Seconds to wait for each step of an NNTP exchange."""

    connect: float = Field(30.0, gt=0)
    reply: float = Field(60.0, gt=0)
    post: float = Field(120.0, gt=0)


class ServerConfig(_Model):
    """One NNTP server."""

    name: str = ""
    host: str = Field(min_length=1)
    port: int = Field(0, ge=0, le=65535, description="0 means 119, or 563 with ssl")
    ssl: bool = False
    starttls: bool = False
    verify_cert: bool = True
    username: str | None = None
    password: SecretStr | None = None
    password_env: str | None = None
    max_connections: int = Field(8, ge=1, le=500)
    role: Role = Role.BOTH
    timeouts: Timeouts = Timeouts()
    idle_timeout: float = Field(60.0, gt=0)
    connect_retries: int = Field(3, ge=0, le=100)
    mode_reader: ModeReader = ModeReader.AUTO
    pipelining: bool = True

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.ssl and self.starttls:
            raise ValueError("ssl (implicit TLS) and starttls cannot both be on")
        if self.password is not None and self.password_env is not None:
            raise ValueError("give password or password_env, not both")
        if (self.password is not None or self.password_env) and not self.username:
            raise ValueError("a password needs a username")
        return self

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


class Obfuscation(StrEnum):
    NONE = "none"
    FULL = "full"


class NzbMeta(_Model):
    title: str | None = None
    password: str | None = None
    tag: str | None = None
    category: str | None = None


class PostingConfig(_Model):
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


class NzbConfig(_Model):
    output: Path | None = None
    per_file: bool = False
    meta: NzbMeta = NzbMeta()


class FilesConfig(_Model):
    """Which files ``postie post`` takes from the folders it is given (each watch root of
    the daemon has the same three keys of its own)."""

    ignore: tuple[str, ...] = Field((), description="name globs left out at every depth")
    min_size: int = Field(1, ge=0, description="smaller files are left out")
    follow_symlinks: bool = Field(
        False, description="follow links that stay inside the folders given (never out of them)"
    )

    def rules(
        self, *, exclude: tuple[Path, ...] = (), nzb_folders: tuple[Path, ...] = ()
    ) -> WalkRules:
        """What ``postie post`` (or a job of an allowed path) takes."""
        return WalkRules(
            ignore=self.ignore,
            min_size=max(self.min_size, 1),
            follow_symlinks=self.follow_symlinks,
            exclude=exclude,
            nzb_folders=nzb_folders,
        )


class LimitsConfig(_Model):
    """Process-wide limits."""

    buffer_bytes: int | None = Field(
        None, ge=1024 * 1024, description="in-flight buffer budget; default from connections"
    )
    encode_threads: int = Field(2, ge=1, le=64)


class StoreConfig(_Model):
    """Where transfers are recorded so an interrupted one can be finished."""

    path: Path | None = Field(None, description="SQLite file; default in the user's data folder")
    manifests: Path | None = Field(None, description="manifest folder; default beside the db")
    busy_timeout: float = Field(10.0, gt=0, le=3600)
    checkpoint_interval: float = Field(1.0, gt=0, le=600)


class VerifyConfig(_Model):
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


class HookConfig(_Model):
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


class FinalizeConfig(_Model):
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


class Par2Config(_Model):
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


class WatchRoot(_Model):
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

    def rules(
        self, *, exclude: tuple[Path, ...] = (), nzb_folders: tuple[Path, ...] = ()
    ) -> WalkRules:
        """What the root's candidates, and the jobs made of them, take."""
        return WalkRules(
            ignore=self.ignore,
            min_size=max(self.min_size, 1),
            follow_symlinks=self.follow_symlinks,
            exclude=exclude,
            nzb_folders=nzb_folders,
        )

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from postie.schedule import parse_window

        parse_window(value)  # ValueError names the text
        return value


class HttpConfig(_Model):
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


class DaemonConfig(_Model):
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


class Config(_Model):
    servers: tuple[ServerConfig, ...] = ()
    posting: PostingConfig = PostingConfig()
    nzb: NzbConfig = NzbConfig()
    files: FilesConfig = FilesConfig()
    limits: LimitsConfig = LimitsConfig()
    store: StoreConfig = StoreConfig()
    verify: VerifyConfig = VerifyConfig()
    finalize: FinalizeConfig = FinalizeConfig()
    par2: Par2Config = Par2Config()
    daemon: DaemonConfig = DaemonConfig()

    @property
    def verify_servers(self) -> tuple[ServerConfig, ...]:
        return tuple(s for s in self.servers if s.role is Role.VERIFY)

    @property
    def upload_servers(self) -> tuple[ServerConfig, ...]:
        return tuple(s for s in self.servers if s.uploads)

    def check_postable(self) -> None:
        """Raise ConfigError unless the config can post."""
        if not self.servers:
            raise ConfigError("no server configured: give --host or a config file with servers")
        if not self.upload_servers:
            raise ConfigError("no server with role upload or both")


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
