"""``postie daemon``, ``postie watch DIR`` and ``postie queue ...``."""

# No `from __future__ import annotations` in the command modules: at every start typer
# reads the annotations of every command (typing.get_type_hints), and strings are
# compiled and evaluated each time (~3 ms over all commands).

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Any

import typer

from postie import errors
from postie.cli import common
from postie.config import Config, Obfuscation
from postie.store.api import JobState

queue_app = typer.Typer(help="The daemon's queue: list, add, remove, retry, pause, resume.")


INSTANCE_OPTION = typer.Option(
    None,
    "--instance",
    help="This daemon's name, shown with every lease it holds (queue list, transfers,"
    " /status, /metrics); default daemon.instance, else <short host name>-<pid>.",
    show_default=False,
)


def daemon_command(
    config: Path = typer.Option(..., "-c", "--config", help="YAML config with a daemon: section."),
    db: str | None = common.DB_OPTION,
    instance: str | None = INSTANCE_OPTION,
    verbose: int = common.DAEMON_VERBOSE_OPTION,
) -> None:
    """Watch the config's folders and post what lands in them, until SIGTERM or SIGINT.

    The first signal stops taking jobs, lets articles on the wire finish and exits 0;
    a second exits at once (the next start resumes). Jobs interrupted by a crash are
    resumed at start, before the watch folders are scanned.

    Several daemons may share one store (one queue). A job whose path this daemon
    cannot read (e.g. a folder not mounted on this machine) is left to the others for
    daemon.defer_for seconds; when no daemon can read it, it fails (postie queue retry
    puts it back).
    """
    cfg = _load(config, instance)
    _serve(cfg, db, verbose)


def watch_command(
    folder: Path = typer.Argument(..., help="The folder to watch.", show_default=False),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for the NZBs."),
    config: Path | None = common.CONFIG_OPTION,
    host: str | None = common.HOST_OPTION,
    port: int | None = common.PORT_OPTION,
    ssl: bool | None = common.SSL_OPTION,
    starttls: bool | None = common.STARTTLS_OPTION,
    insecure: bool = common.INSECURE_OPTION,
    user: str | None = common.USER_OPTION,
    password: str | None = common.PASSWORD_OPTION,
    connections: int | None = common.CONNECTIONS_OPTION,
    pipelining: bool | None = common.PIPELINING_OPTION,
    group: list[str] = common.GROUP_OPTION,
    article_size: int | None = common.ARTICLE_SIZE_OPTION,
    obfuscate: Obfuscation | None = common.OBFUSCATE_OPTION,
    poster: str | None = common.FROM_OPTION,
    subject: str | None = common.SUBJECT_OPTION,
    par2: bool | None = common.PAR2_OPTION,
    redundancy: str | None = common.REDUNDANCY_OPTION,
    verify: bool | None = common.VERIFY_OPTION,
    verify_delay: float | None = common.VERIFY_DELAY_OPTION,
    mode: str = typer.Option(
        "folder", "--mode", help="folder: each entry one job; file: each file."
    ),
    min_file_age: float = typer.Option(60.0, "--min-file-age", help="Seconds unchanged first."),
    db: str | None = common.DB_OPTION,
    instance: str | None = INSTANCE_OPTION,
    verbose: int = common.DAEMON_VERBOSE_OPTION,
) -> None:
    """The short form of `postie daemon`: watch one folder, NZBs to --output.

    The posting options are `postie post`'s and hold for every job; the rest comes
    from -c (the daemon: section's other keys too).
    """
    overrides = common.posting_overrides(
        groups=group,
        article_size=article_size,
        obfuscate=obfuscate,
        poster=poster,
        subject=subject,
        par2=par2,
        redundancy=redundancy,
    )
    overrides.update(common.verify_overrides(verify, verify_delay))
    overrides["daemon.watch"] = [{"path": str(folder), "mode": mode, "min_file_age": min_file_age}]
    overrides["daemon.output"] = str(output)
    if instance is not None:
        overrides["daemon.instance"] = instance
    try:
        cfg = common.build_config(
            config,
            common.ServerFlags(
                host, port, ssl, starttls, insecure, user, password, connections, pipelining
            ),
            overrides,
        )
    except errors.PostieError as exc:
        common.error(str(exc))
        raise typer.Exit(common.exit_code_for(exc)) from None
    _serve(cfg, db, verbose)


def _load(path: Path, instance: str | None) -> Config:
    overrides = {"daemon.instance": instance} if instance is not None else None
    try:
        return common.build_config(path, common.ServerFlags(), overrides)
    except errors.PostieError as exc:
        common.error(str(exc))
        raise typer.Exit(common.exit_code_for(exc)) from None


def _serve(cfg: Config, db: str | None, verbose: int) -> None:
    common.setup_logging(verbose)
    if cfg.daemon.log_file is not None:
        import logging.handlers  # only for a daemon that logs to a file

        handler = logging.handlers.RotatingFileHandler(
            cfg.daemon.log_file,
            maxBytes=cfg.daemon.log_max_bytes,
            backupCount=cfg.daemon.log_backups,
        )
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(handler)
    try:
        cfg.check_postable()
        if not cfg.daemon.watch:
            raise errors.ConfigError("daemon.watch: no folder to watch")
        if cfg.daemon.output is None and any(r.output is None for r in cfg.daemon.watch):
            raise errors.ConfigError("daemon.output: no NZB folder for a watch root without one")
        code = asyncio.run(_main(cfg, db))
    except errors.PostieError as exc:
        common.error(str(exc))
        raise typer.Exit(common.exit_code_for(exc)) from None
    raise typer.Exit(code)


async def _main(cfg: Config, db: str | None) -> int:
    from postie.daemon.daemon import Daemon
    from postie.store.lease import default_instance, new_owner

    owner = new_owner()
    instance = cfg.daemon.instance or default_instance()
    async with common.open_store(cfg, db, owner=owner, name="daemon", instance=instance) as (
        store,
        manifests,
    ):
        daemon = Daemon(cfg, store, manifests, owner=owner, instance=instance)
        loop = asyncio.get_running_loop()
        signals = 0

        def on_signal(number: int) -> None:
            nonlocal signals
            signals += 1
            if signals > 1:
                logging.getLogger("postie.daemon").warning("second signal: exiting now")
                os._exit(common.EXIT_INTERRUPTED)  # the next start resumes from the store
            daemon.stop()

        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, on_signal, number)
        await daemon.run()
        if daemon.failure is not None:
            raise daemon.failure
    return common.EXIT_OK


# --- postie queue ------------------------------------------------------------------------------


def _queue(config: Path | None, db: str | None, action: Any, *, create: bool = False) -> None:
    """Run ``action`` on the store; ``create``: make the store if there is none (only the
    commands that leave something for the daemon to do; see ``common.open_store``)."""

    async def main() -> None:
        async with common.open_store(cfg, db, create=create) as (store, _):
            await action(store, cfg)

    try:
        cfg = common.build_config(config, common.ServerFlags())
        asyncio.run(main())
    except errors.PostieError as exc:
        common.error(str(exc))
        raise typer.Exit(common.exit_code_for(exc)) from None


@queue_app.command("list")
def queue_list(
    limit: int = typer.Option(50, "--limit", help="Newest first, at most this many."),
    config: Path | None = common.CONFIG_OPTION,
    db: str | None = common.DB_OPTION,
) -> None:
    """The queue's jobs, newest first; a running job with the daemon instance that holds it."""

    async def action(store: Any, cfg: Config) -> None:
        paused = await store.paused()
        jobs = await store.jobs(limit)
        holders: dict[int, list[Any]] = {}
        for lease in await store.leases():
            if lease.kind == "job":
                holders.setdefault(lease.ref, []).append(lease)
        if paused:
            typer.echo("the queue is paused (postie queue resume)")
        if not jobs:
            typer.echo("no jobs")
            return
        typer.echo(f"{'ID':>5}  {'STATE':<8} {'TRIES':>5} {'TRANSFER':>8}  PATH")
        for j in jobs:
            transfer = str(j.transfer_id) if j.transfer_id is not None else "-"
            typer.echo(f"{j.id:>5}  {j.state:<8} {j.attempts:>5} {transfer:>8}  {j.path}")
            if j.id in holders:
                typer.echo(f"{'':>16}held by: {common.held_by(holders[j.id])}")
            if j.last_error and j.state != JobState.DONE:
                typer.echo(f"{'':>16}error: {j.last_error}")

    _queue(config, db, action)


@queue_app.command("add")
def queue_add(
    path: Path = typer.Argument(..., help="A folder or file to post.", show_default=False),
    priority: int = typer.Option(0, "--priority", help="Higher runs first."),
    output: Path | None = typer.Option(None, "-o", "--output", help="NZB folder."),
    config: Path | None = common.CONFIG_OPTION,
    db: str | None = common.DB_OPTION,
) -> None:
    """Queue a folder or file (the daemon running on this store posts it).

    Only a path inside one of the config's watch roots or daemon.allowed_paths is
    taken, under that folder's rules (ignore globs, size floor, symlinks)."""

    async def action(store: Any, cfg: Config) -> None:
        from postie.transfers.queue import add_job

        job = await add_job(store, cfg, path, priority=priority, output=output)
        typer.echo(f"job {job.id} queued: {job.path}")

    _queue(config, db, action, create=True)


@queue_app.command("remove")
def queue_remove(
    job_id: int = typer.Argument(..., help="Job ID.", show_default=False),
    config: Path | None = common.CONFIG_OPTION,
    db: str | None = common.DB_OPTION,
) -> None:
    """Take a queued or failed job off the queue."""

    async def action(store: Any, cfg: Config) -> None:
        await store.remove_job(job_id)
        typer.echo(f"job {job_id} removed")

    _queue(config, db, action)


@queue_app.command("retry")
def queue_retry(
    job_id: int = typer.Argument(..., help="Job ID.", show_default=False),
    config: Path | None = common.CONFIG_OPTION,
    db: str | None = common.DB_OPTION,
) -> None:
    """Queue a failed or removed job again; a deferred job is left to every daemon again.

    Clears the job's deferrals: the daemons that could not read its path (e.g. a folder
    not mounted there) take it again."""

    async def action(store: Any, cfg: Config) -> None:
        await store.retry_job(job_id)
        typer.echo(f"job {job_id} queued again")

    _queue(config, db, action)


@queue_app.command("pause")
def queue_pause(
    config: Path | None = common.CONFIG_OPTION, db: str | None = common.DB_OPTION
) -> None:
    """Stop starting jobs (running ones finish)."""

    async def action(store: Any, cfg: Config) -> None:
        await store.set_paused(True)
        typer.echo("queue paused")

    _queue(config, db, action, create=True)


@queue_app.command("resume")
def queue_resume(
    config: Path | None = common.CONFIG_OPTION, db: str | None = common.DB_OPTION
) -> None:
    """Start jobs again."""

    async def action(store: Any, cfg: Config) -> None:
        await store.set_paused(False)
        typer.echo("queue resumed")

    _queue(config, db, action, create=True)
