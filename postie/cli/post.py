"""``postie post PATH...``: post files and folders, write an NZB."""

# No `from __future__ import annotations` in the command modules: at every start typer
# reads the annotations of every command (typing.get_type_hints), and strings are
# compiled and evaluated each time (~3 ms over all commands).

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from postie import errors
from postie.cli import common
from postie.cli.progress import choose_mode, make_console
from postie.cli.report import CliReporter, render
from postie.config import Config, Obfuscation
from postie.store.lease import new_owner
from postie.transfers.prepared import job_name
from postie.transfers.service import PostRequest, TransferService

if TYPE_CHECKING:
    from rich.console import Console


def post_command(
    paths: list[Path] = typer.Argument(..., help="Files and folders to post.", show_default=False),
    config: Path | None = typer.Option(None, "-c", "--config", help="YAML config file."),
    host: str | None = typer.Option(
        None, "--host", help="NNTP server host (replaces the config's servers)."
    ),
    port: int | None = typer.Option(
        None, "--port", help="Server port (default 119, or 563 with --ssl)."
    ),
    ssl: bool | None = typer.Option(None, "--ssl/--no-ssl", help="Implicit TLS."),
    starttls: bool | None = typer.Option(None, "--starttls", help="Upgrade to TLS with STARTTLS."),
    insecure: bool = typer.Option(
        False, "--insecure", help="Do not verify the server's TLS certificate."
    ),
    user: str | None = typer.Option(None, "--user", help="AUTHINFO username."),
    password: str | None = typer.Option(
        None,
        "--password",
        envvar="POSTIE_PASSWORD",
        help="AUTHINFO password (or POSTIE_PASSWORD).",
        show_envvar=True,
    ),
    connections: int | None = typer.Option(
        None, "--connections", "-n", help="Connections per server.", min=1
    ),
    pipelining: bool | None = common.PIPELINING_OPTION,
    group: list[str] = common.GROUP_OPTION,
    article_size: int | None = common.ARTICLE_SIZE_OPTION,
    output: Path | None = typer.Option(
        None, "-o", "--output", help="NZB path, or an existing folder to write it in."
    ),
    nzb_per_file: bool = typer.Option(
        False, "--nzb-per-file", help="One NZB per file instead of one per run."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing NZB."),
    again: bool = typer.Option(
        False,
        "--again",
        help="Post the files as a new transfer (new Message-IDs) even if an earlier run"
        " posted and verified them.",
    ),
    obfuscate: Obfuscation | None = common.OBFUSCATE_OPTION,
    poster: str | None = common.FROM_OPTION,
    subject: str | None = common.SUBJECT_OPTION,
    title: str | None = typer.Option(None, "--title", help="NZB meta title."),
    nzb_password: str | None = typer.Option(None, "--nzb-password", help="NZB meta password."),
    tag: str | None = typer.Option(None, "--tag", help="NZB meta tag."),
    category: str | None = typer.Option(None, "--category", help="NZB meta category."),
    follow_symlinks: bool | None = typer.Option(
        None,
        "--follow-symlinks/--no-follow-symlinks",
        help="Follow symlinks inside the folders given, only to files and folders inside"
        " them (default: links are skipped, each named).",
    ),
    ignore: list[str] = typer.Option(
        [],
        "--ignore",
        help="Leave out names matching this glob, at any depth (repeatable; e.g. '.*').",
    ),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress output; errors only."),
    plain: bool = typer.Option(False, "--plain", help="Plain log lines instead of progress bars."),
    verbose: int = common.VERBOSE_OPTION,
    db: str | None = common.DB_OPTION,
    par2: bool | None = common.PAR2_OPTION,
    redundancy: str | None = common.REDUNDANCY_OPTION,
    verify: bool | None = common.VERIFY_OPTION,
    wait: bool = common.WAIT_OPTION,
    verify_delay: float | None = common.VERIFY_DELAY_OPTION,
) -> None:
    """Post files and folders as yEnc articles and write an NZB.

    Then wait until every article is proven on the server (STAT), re-posting what is
    missing with the same Message-ID, and finalize (hook, cleanup).

    Interrupted? Run the same command again (or `postie resume`) to finish it.
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
    for key, value in (
        ("nzb.meta.title", title),
        ("nzb.meta.password", nzb_password),
        ("nzb.meta.tag", tag),
        ("nzb.meta.category", category),
    ):
        if value is not None:
            overrides[key] = value
    if nzb_per_file:
        overrides["nzb.per_file"] = True
    if follow_symlinks is not None:
        overrides["files.follow_symlinks"] = follow_symlinks
    if ignore:
        overrides["files.ignore"] = list(ignore)
    overrides.update(common.verify_overrides(verify, verify_delay))
    mode = choose_mode(quiet, plain)
    console = make_console() if mode == "bar" else None
    common.setup_logging(verbose, rich_console=console)
    try:
        cfg = common.build_config(
            config,
            common.ServerFlags(
                host, port, ssl, starttls, insecure, user, password, connections, pipelining
            ),
            overrides,
        )
        cfg.check_postable()
        code = asyncio.run(_post(cfg, paths, output, overwrite, mode, console, db, wait, again))
    except KeyboardInterrupt:
        common.error("interrupted")
        raise typer.Exit(common.EXIT_INTERRUPTED) from None
    except errors.PostieError as exc:
        common.error(str(exc))
        raise typer.Exit(common.exit_code_for(exc)) from None
    raise typer.Exit(code)


async def _post(
    cfg: Config,
    paths: list[Path],
    output: Path | None,
    overwrite: bool,
    mode: str,
    console: "Console | None",
    db: str | None,
    wait: bool,
    again: bool = False,
) -> int:
    """Post ``paths`` through the transfer service; render what it came to."""
    common.dump_on_signal()
    request = PostRequest(
        tuple(paths),
        job_name(paths),
        output=output,
        overwrite=overwrite,
        rules=cfg.files.rules(),
        wait=wait,
        again=again,
    )
    owner = new_owner()
    async with (
        common.open_store(cfg, db, owner=owner, name="post") as (store, manifests),
        TransferService(cfg, store, owner=owner, manifests=manifests) as service,
    ):
        done = await service.post(request, CliReporter(mode, console))
    return render(done, mode, verify_delay=cfg.verify.delay if cfg.verify.enabled else None)
