"""``postie check-server``: connect, authenticate, report posting permission."""

# No `from __future__ import annotations` in the command modules: at every start typer
# reads the annotations of every command (typing.get_type_hints), and strings are
# compiled and evaluated each time (~3 ms over all commands).

import asyncio
from pathlib import Path

import typer

from postie import errors
from postie.cli import common
from postie.config import Config, ServerConfig
from postie.nntp.connection import NNTPConnection


def check_server_command(
    config: Path | None = common.CONFIG_OPTION,
    host: str | None = common.HOST_OPTION,
    port: int | None = common.PORT_OPTION,
    ssl: bool | None = common.SSL_OPTION,
    starttls: bool | None = common.STARTTLS_OPTION,
    insecure: bool = common.INSECURE_OPTION,
    user: str | None = common.USER_OPTION,
    password: str | None = common.PASSWORD_OPTION,
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
        typer.echo(f"encoder: {_encoder()}")
    except errors.PostieError as exc:
        common.error(str(exc))
        raise typer.Exit(common.exit_code_for(exc)) from None
    raise typer.Exit(common.EXIT_OK if ok else common.EXIT_REFUSED)


def _encoder() -> str:
    """Which encoder ``postie post`` would use here, and why not the native one."""
    from postie.runtime.encoder_choice import encode_pool

    pool = encode_pool(1)
    pool.shutdown()
    return f"{pool.kind} ({pool.detail})"


async def _check_all(cfg: Config) -> bool:
    results = [await _check(server) for server in cfg.servers]
    return all(results)


async def _check(server: ServerConfig) -> bool:
    label = (
        f"{server.label} ({'TLS' if server.ssl else 'STARTTLS' if server.starttls else 'plain'})"
    )
    try:
        async with NNTPConnection(server.settings()) as conn:
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
