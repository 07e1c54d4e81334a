"""``postie check-server``: connect, authenticate, report posting permission."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from postie import errors
from postie.cli import common
from postie.config import Config, ServerConfig
from postie.nntp.connection import NNTPConnection


def check_server_command(
    config: Path | None = typer.Option(None, "-c", "--config", help="YAML config file."),
    host: str | None = typer.Option(None, "--host", help="NNTP server host."),
    port: int | None = typer.Option(None, "--port", help="Server port."),
    ssl: bool | None = typer.Option(None, "--ssl/--no-ssl", help="Implicit TLS."),
    starttls: bool | None = typer.Option(None, "--starttls", help="STARTTLS."),
    insecure: bool = typer.Option(False, "--insecure", help="Do not verify the TLS certificate."),
    user: str | None = typer.Option(None, "--user", help="AUTHINFO username."),
    password: str | None = typer.Option(
        None, "--password", envvar="POSTIE_PASSWORD", help="AUTHINFO password.", show_envvar=True
    ),
) -> None:
    """Connect to each server, authenticate, and report posting permission and capabilities."""
    common.setup_logging(0)
    try:
        cfg = common.build_config(
            config, common.ServerFlags(host, port, ssl, starttls, insecure, user, password)
        )
        if not cfg.servers:
            raise errors.ConfigError("no server configured: give --host or a config file")
        ok = asyncio.run(_check_all(cfg))
    except errors.PostieError as exc:
        common.error(str(exc))
        raise typer.Exit(common.exit_code_for(exc)) from None
    raise typer.Exit(common.EXIT_OK if ok else common.EXIT_REFUSED)


async def _check_all(cfg: Config) -> bool:
    results = [await _check(server) for server in cfg.servers]
    return all(results)


async def _check(server: ServerConfig) -> bool:
    label = (
        f"{server.label} ({'TLS' if server.ssl else 'STARTTLS' if server.starttls else 'plain'})"
    )
    try:
        async with NNTPConnection(server) as conn:
            assert conn.greeting is not None
            caps = await conn.fetch_capabilities()
            posting = conn.greeting.posting_allowed or "POST" in caps
            typer.echo(f"{label}: connected: {conn.greeting.reply.line}")
            if server.username:
                typer.echo(f"{label}: authenticated as {server.username}")
            typer.echo(f"{label}: posting {'allowed' if posting else 'NOT allowed'}")
            typer.echo(f"{label}: capabilities: {', '.join(caps) if caps else '(none listed)'}")
            await conn.quit()
            return posting
    except errors.PostieError as exc:
        common.error(f"{label}: {exc}")
        return False
