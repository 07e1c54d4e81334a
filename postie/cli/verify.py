"""``postie verify TRANSFER_ID | NZB``: verify a recorded transfer now, or STAT every
segment of any NZB and report what is missing."""

# No `from __future__ import annotations` in the command modules: at every start typer
# reads the annotations of every command (typing.get_type_hints), and strings are
# compiled and evaluated each time (~3 ms over all commands).

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from postie import errors, nzb
from postie.cli import common
from postie.cli.progress import choose_mode, make_console
from postie.config import Config
from postie.nntp.pool import ConnectionPool

if TYPE_CHECKING:
    from rich.console import Console

    from postie.verify.segments import SegmentCheck

SHOW = 20  # missing segments listed one by one; the rest are counted


def verify_command(
    target: Path = typer.Argument(
        ...,
        help="A transfer ID (see `postie transfers`), or an NZB file (also one postie did not"
        " write).",
        show_default=False,
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
    plain: bool = typer.Option(False, "--plain", help="Plain log lines instead of a spinner."),
    verbose: int = common.VERBOSE_OPTION,
    db: str | None = common.DB_OPTION,
) -> None:
    """Verify a transfer now, or report the segments of an NZB a server does not have.

    A transfer ID: STAT all its articles now, re-post the missing ones with the same
    Message-ID, recheck, and finalize it once verified. Exit 0: verified; 4: articles lost.

    An NZB: STAT every segment on the first server whose role is verify or both and list
    the missing ones. Exit 0: all there; 4: some missing.
    """
    mode = choose_mode(quiet, plain)
    console = make_console() if mode == "bar" else None
    common.setup_logging(verbose, rich_console=console)
    try:
        cfg = common.build_config(
            config,
            common.ServerFlags(host, port, ssl, starttls, insecure, user, password, connections),
        )
        if not target.exists() and target.name.isdigit():
            code = asyncio.run(_verify_transfer(cfg, db, int(target.name), mode, console))
            raise typer.Exit(code)
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


async def _verify_transfer(
    cfg: Config, db: str | None, transfer_id: int, mode: str, console: "Console | None"
) -> int:
    from postie.cli.report import CliReporter, render
    from postie.store.lease import new_owner
    from postie.transfers.service import TransferService

    cfg.check_postable()  # missing articles are posted again
    owner = new_owner()
    async with (
        common.open_store(cfg, db, owner=owner, name="verify", create=False) as (
            store,
            manifests,
        ),
        TransferService(cfg, store, owner=owner, manifests=manifests) as service,
    ):
        done = await service.verify(transfer_id, CliReporter(mode, console))
    return render(done, mode, verify_delay=None)


async def _check(cfg: Config, document: nzb.Nzb) -> "SegmentCheck":
    from postie.verify.segments import check_segments  # only here: not on `postie post`'s way

    servers = [s for s in cfg.servers if s.verifies]
    if not servers:
        raise errors.ConfigError(
            "no server to verify with: give --host or a server with role verify or both"
        )
    async with ConnectionPool(servers[0].settings()) as pool:
        return await check_segments(pool, document)


def _report(target: Path, result: "SegmentCheck", quiet: bool) -> None:
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
