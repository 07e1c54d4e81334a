"""What every command shares: exit codes, config from file and flags, logging."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import typer

from postie import errors
from postie.config import Config, Obfuscation, dump, load_config, merge, parse_config

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_PARTIAL = 4
EXIT_INTERRUPTED = 130

if TYPE_CHECKING:
    from rich.console import Console

    from postie.store.api import Lease, Store

# Options several commands take, declared once (the same flags mean the same everywhere).
CONFIG_OPTION: Any = typer.Option(None, "-c", "--config", help="YAML config file.")
HOST_OPTION: Any = typer.Option(None, "--host", help="NNTP server host.")
PORT_OPTION: Any = typer.Option(
    None, "--port", help="Server port (default 119, or 563 with --ssl)."
)
SSL_OPTION: Any = typer.Option(None, "--ssl/--no-ssl", help="Implicit TLS.")
STARTTLS_OPTION: Any = typer.Option(None, "--starttls", help="Upgrade to TLS with STARTTLS.")
INSECURE_OPTION: Any = typer.Option(
    False, "--insecure", help="Do not verify the server's TLS certificate."
)
USER_OPTION: Any = typer.Option(None, "--user", help="AUTHINFO username.")
PASSWORD_OPTION: Any = typer.Option(
    None,
    "--password",
    envvar="POSTIE_PASSWORD",
    help="AUTHINFO password (or POSTIE_PASSWORD).",
    show_envvar=True,
)
CONNECTIONS_OPTION: Any = typer.Option(
    None, "--connections", "-n", help="Connections per server.", min=1
)

# How articles are posted: `post` and `watch` (`resume` keeps the transfer's own).
PIPELINING_OPTION: Any = typer.Option(
    None,
    "--pipelining/--no-pipelining",
    help="Send the next POST behind each article (default on; one round trip per article).",
)
GROUP_OPTION: Any = typer.Option([], "--group", "-g", help="Newsgroup (repeatable).")
ARTICLE_SIZE_OPTION: Any = typer.Option(
    None, "--article-size", help="Bytes of file data per article (default 716800)."
)
OBFUSCATE_OPTION: Any = typer.Option(
    None, "--obfuscate", help="none, or full: random subject, yEnc name and From per article."
)
FROM_OPTION: Any = typer.Option(None, "--from", help="From header, e.g. 'name <user@example.com>'.")
SUBJECT_OPTION: Any = typer.Option(
    None,
    "--subject",
    help="Subject template; fields: {index} {count} {name} {part} {parts} {size}.",
)
PAR2_OPTION: Any = typer.Option(
    None,
    "--par2/--no-par2",
    envvar="POSTIE_PAR2",
    show_envvar=True,
    help="Create PAR2 recovery files and post them with the data (default on).",
)
REDUNDANCY_OPTION: Any = typer.Option(
    None,
    "--redundancy",
    help="PAR2 recovery data: a percentage ('10%', the default) or a block count.",
)

# -v is a flag that counts (-vv, or -v -v): never followed by a number, which would be
# read as the next argument. The daemon logs at info level unless told otherwise: one -v
# is its default, -vv adds debug.
VERBOSE_OPTION: Any = typer.Option(
    0,
    "-v",
    "--verbose",
    count=True,
    show_default=False,
    help="More log output: -v info, -vv debug (a flag; repeat it, not a number).",
)
DAEMON_VERBOSE_OPTION: Any = typer.Option(
    1,
    "-v",
    "--verbose",
    count=True,
    show_default=False,
    help="Log output: info by default, -vv adds debug (a flag; repeat it, not a number).",
)

DB_OPTION: Any = typer.Option(
    None,
    "--db",
    envvar="POSTIE_DB",
    show_envvar=True,
    help="Transfer store: an SQLite file (or sqlite:///PATH), or a PostgreSQL database"
    " (postgresql://USER@HOST:PORT/DB; password from PGPASSWORD or ~/.pgpass); default"
    " ~/.local/share/postie/postie.db. Only the commands that post create it.",
)


VERIFY_OPTION: Any = typer.Option(
    None,
    "--verify/--no-verify",
    help="After the upload, STAT every article and re-post the missing ones (default on).",
)
WAIT_OPTION: Any = typer.Option(
    True,
    "--wait/--no-wait",
    help="Wait for the verification (default), or leave it to `postie verify` or the daemon.",
)
VERIFY_DELAY_OPTION: Any = typer.Option(
    None,
    "--verify-delay",
    envvar="POSTIE_VERIFY_DELAY",
    show_envvar=True,
    min=0.0,
    help="Seconds between the upload and the check (propagation delay; default 10).",
)


def posting_overrides(
    *,
    groups: list[str],
    article_size: int | None,
    obfuscate: Obfuscation | None,
    poster: str | None,
    subject: str | None,
    par2: bool | None,
    redundancy: str | None,
) -> dict[str, Any]:
    """The config keys the posting options above set (those given)."""
    overrides: dict[str, Any] = {}
    if groups:
        overrides["posting.groups"] = list(groups)
    for key, value in (
        ("posting.article_size", article_size),
        ("posting.obfuscation", obfuscate.value if obfuscate else None),
        ("posting.poster", poster),
        ("posting.subject", subject),
        ("par2.enabled", par2),
        ("par2.redundancy", redundancy),
    ):
        if value is not None:
            overrides[key] = value
    return overrides


def verify_overrides(verify: bool | None, delay: float | None) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if verify is not None:
        overrides["verify.enabled"] = verify
    if delay is not None:
        overrides["verify.delay"] = delay
    return overrides


def store_location(cfg: Config, db: str | None) -> str | Path:
    """The store to open: ``--db`` (or ``POSTIE_DB``), else ``store.url``, else
    ``store.path``, else the default file. A URL stays text, a path is a ``Path``."""
    from postie.store import default_path, is_server, sqlite_path

    location = db or cfg.store.url
    if location:
        return location if is_server(location) else sqlite_path(location)
    return cfg.store.path or default_path()


@asynccontextmanager
async def open_store(
    cfg: Config,
    db: str | None,
    *,
    owner: str | None = None,
    name: str = "postie",
    instance: str | None = None,
    create: bool = True,
) -> AsyncIterator[tuple[Store, Path]]:
    """The transfer store and the manifest folder for this config and ``--db``.

    ``owner``: this process takes leases as ``owner``; it runs as a worker of the store
    (named ``name``, of ``instance``: by default ``<short host name>-<pid>``) until the
    store is closed: see ``Store.worker``.

    ``create``: make the store if there is none (the commands that post). The commands
    that only read one (or act on what it recorded) pass False: a store named by
    ``--db``, ``POSTIE_DB``, ``store.url`` or ``store.path`` that does not exist is an
    error (``StoreMissing``, naming it), and nothing is created; the default store, when
    nothing was recorded yet, reads as an empty one (in memory, nothing is created)."""
    from postie import store as stores
    from postie.transfers.prepared import manifest_dir

    location = store_location(cfg, db)
    named = db is not None or cfg.store.url is not None or cfg.store.path is not None
    path = location if isinstance(location, Path) else None
    empty = not create and not named and path is not None and not path.exists()
    async with stores.open_store(
        location,
        busy_timeout=cfg.store.busy_timeout,
        create=create,
        in_memory=empty,
        reconnect_timeout=cfg.store.reconnect_timeout,
    ) as store:
        if owner is None:
            yield store, manifest_dir(cfg, path)
            return
        async with store.worker(owner, name=name, instance=instance):
            yield store, manifest_dir(cfg, path)


class ServerFlags(msgspec.Struct, frozen=True):
    """The server options of the command line; None: not given."""

    host: str | None = None
    port: int | None = None
    ssl: bool | None = None
    starttls: bool | None = None
    insecure: bool = False
    user: str | None = None
    password: str | None = None
    connections: int | None = None
    pipelining: bool | None = None


def build_config(
    config_path: Path | None, flags: ServerFlags, overrides: dict[str, Any] | None = None
) -> Config:
    """Config file (if any), then flags on top; ConfigError names the key on failure."""
    config = load_config(config_path) if config_path is not None else parse_config({})
    data: dict[str, Any] = {}
    server_fields: dict[str, Any] = {}
    if flags.port is not None:
        server_fields["port"] = flags.port
    if flags.ssl is not None:
        server_fields["ssl"] = flags.ssl
    if flags.starttls is not None:
        server_fields["starttls"] = flags.starttls
    if flags.insecure:
        server_fields["verify_cert"] = False
    if flags.user is not None:
        server_fields["username"] = flags.user
    if flags.password is not None:
        server_fields["password"] = flags.password
        server_fields["password_env"] = None
    if flags.connections is not None:
        server_fields["max_connections"] = flags.connections
    if flags.pipelining is not None:
        server_fields["pipelining"] = flags.pipelining
    if flags.host is not None:
        data["servers"] = [{"host": flags.host, **server_fields}]
    elif server_fields and config.servers:
        servers = []
        for server in config.servers:
            fields = dump(server)
            fields.update(server_fields)
            servers.append(fields)
        data["servers"] = servers
    elif server_fields:
        raise errors.ConfigError("server options need --host or a config file with servers")
    data.update(overrides or {})
    return merge(config, data) if data else config


def dump_on_signal() -> None:
    """``kill -USR1 PID`` prints every thread's stack, ``kill -USR2 PID`` every asyncio
    task's, to stderr: what a postie that does not end is waiting for. Call with the
    event loop running; the thread dump works even when the loop is stuck or gone."""
    import asyncio
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1, all_threads=True)

    def tasks() -> None:
        for task in asyncio.all_tasks():
            print(f"--- {task!r}", file=sys.stderr)
            task.print_stack(file=sys.stderr)
        sys.stderr.flush()

    with contextlib.suppress(NotImplementedError, RuntimeError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, tasks)


def setup_logging(verbose: int, *, rich_console: Console | None = None) -> None:
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    handler: logging.Handler
    if rich_console is not None:
        from rich.logging import RichHandler

        handler = RichHandler(console=rich_console, show_path=False, show_time=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter("postie: %(levelname)s: %(message)s"))
        handler = stream
    root.addHandler(handler)
    root.setLevel(level)
    # aiosqlite logs every statement at DEBUG: too much even for -vv
    logging.getLogger("aiosqlite").setLevel(max(level, logging.INFO))


def held_by(leases: Iterable[Lease]) -> str:
    """Who holds ``leases`` (of one job or transfer), for a listing: each holder's instance
    (or owner, when it has no worker row) with what it is, and for scans and missing
    articles how many it holds: ``nas-b (daemon); nas-c (verify: 2 files checked)``."""
    parts: list[str] = []
    for lease in leases:
        what = lease.worker or "no worker row"
        if lease.kind == "check":  # LeaseKind (not imported at start: startup time)
            what += f": {lease.count} file(s) being checked"
        elif lease.kind == "failure":
            what += f": {lease.count} missing article(s)"
        parts.append(f"{lease.holder} ({what})")
    return "; ".join(parts)


def error(message: str) -> None:
    print(f"postie: error: {message}", file=sys.stderr, flush=True)


def warn(message: str) -> None:
    print(f"postie: warning: {message}", file=sys.stderr, flush=True)


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, errors.ConfigError | errors.UsageError | errors.InputError):
        return EXIT_USAGE
    if isinstance(exc, errors.JobFailed | errors.GiveUp | errors.ConnectFailed):
        return EXIT_REFUSED
    return EXIT_FAILURE
