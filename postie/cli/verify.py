"""``postie verify NZB``: STAT every segment of an NZB and report what is missing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from postie import errors, nzb
from postie.cli import common
from postie.config import Config
from postie.nntp.pool import ConnectionPool
from postie.verify.segments import SegmentCheck, check_segments

SHOW = 20  # missing segments listed one by one; the rest are counted


def verify_command(
    target: Path = typer.Argument(
        ..., help="An NZB file (also one postie did not write).", show_default=False
    ),
    config: Path | None = common.CONFIG_OPTION,
    host: str | None = common.HOST_OPTION,
    port: int | None = common.PORT_OPTION,
    ssl: bool | None = common.SSL_OPTION,
    starttls: bool | None = common.STARTTLS_OPTION,
    insecure: bool = common.INSECURE_OPTION,
    user: str | None = common.USER_OPTION,
    password: str | None = common.PASSWORD_OPTION,
    connections: int | None = common.CONNECTIONS_OPTION,
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Only the missing segments."),
) -> None:
    """STAT every segment of an NZB and report the articles the server does not have.

    Uses the first server whose role is verify or both. Exit 0: all there; 4: some missing.
    """
    common.setup_logging(0)
    try:
        cfg = common.build_config(
            config,
            common.ServerFlags(host, port, ssl, starttls, insecure, user, password, connections),
        )
        if not target.exists() and target.name.isdigit():
            raise errors.UsageError(
                f"{target} is not an NZB file; verifying a recorded transfer by its ID is not"
                " available yet: give the transfer's NZB"
            )
        document = nzb.read(target)
        result = asyncio.run(_check(cfg, document))
    except KeyboardInterrupt:
        common.error("interrupted")
        raise typer.Exit(common.EXIT_INTERRUPTED) from None
    except errors.PostieError as exc:
        common.error(str(exc))
        raise typer.Exit(common.exit_code_for(exc)) from None
    _report(target, result, quiet)
    raise typer.Exit(common.EXIT_OK if result.complete else common.EXIT_PARTIAL)


async def _check(cfg: Config, document: nzb.Nzb) -> SegmentCheck:
    servers = [s for s in cfg.servers if s.verifies]
    if not servers:
        raise errors.ConfigError(
            "no server to verify with: give --host or a server with role verify or both"
        )
    async with ConnectionPool(servers[0]) as pool:
        return await check_segments(pool, document)


def _report(target: Path, result: SegmentCheck, quiet: bool) -> None:
    for missing in result.missing[:SHOW]:
        typer.echo(
            f"missing: file {missing.file} part {missing.number} <{missing.message_id}>"
            f"  {missing.subject}"
        )
    if len(result.missing) > SHOW:
        typer.echo(f"missing: ... and {len(result.missing) - SHOW} more")
    if quiet and result.complete:
        return
    files = len({m.file for m in result.missing})
    summary = (
        "all there"
        if result.complete
        else f"{len(result.missing)} missing, in {files} of {result.files} files"
    )
    typer.echo(
        f"postie: {target}: {result.checked} segments of {result.files} files STATed on"
        f" {result.server} in {result.elapsed:.1f}s: {summary}"
    )
