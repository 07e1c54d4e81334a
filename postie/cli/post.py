"""``postie post PATH...``: post files and folders, write an NZB."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from postie import errors
from postie.article.plan import JobPlan, collect, plan_job
from postie.cli import common
from postie.cli.progress import choose_mode, make_console, show_progress
from postie.config import Config, Obfuscation
from postie.jobs import nzb_targets, write_nzbs
from postie.runtime.engine import PostingJob
from postie.runtime.runtime import Runtime

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
    pipelining: bool | None = typer.Option(
        None,
        "--pipelining/--no-pipelining",
        help="Send the next POST behind each article (default on; one round trip per article).",
    ),
    group: list[str] = typer.Option([], "--group", "-g", help="Newsgroup (repeatable)."),
    article_size: int | None = typer.Option(
        None, "--article-size", help="Bytes of file data per article (default 716800)."
    ),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="NZB path, or an existing folder to write it in."
    ),
    nzb_per_file: bool = typer.Option(
        False, "--nzb-per-file", help="One NZB per file instead of one per run."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing NZB."),
    obfuscate: Obfuscation | None = typer.Option(
        None, "--obfuscate", help="none, or full: random subject, yEnc name and From per article."
    ),
    poster: str | None = typer.Option(
        None, "--from", help="From header, e.g. 'name <user@example.com>'."
    ),
    subject: str | None = typer.Option(
        None,
        "--subject",
        help="Subject template; fields: {index} {count} {name} {part} {parts} {size}.",
    ),
    title: str | None = typer.Option(None, "--title", help="NZB meta title."),
    nzb_password: str | None = typer.Option(None, "--nzb-password", help="NZB meta password."),
    tag: str | None = typer.Option(None, "--tag", help="NZB meta tag."),
    category: str | None = typer.Option(None, "--category", help="NZB meta category."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress output; errors only."),
    plain: bool = typer.Option(False, "--plain", help="Plain log lines instead of progress bars."),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="More log output."),
) -> None:
    """Post files and folders as yEnc articles and write an NZB."""
    overrides: dict[str, Any] = {}
    if group:
        overrides["posting.groups"] = list(group)
    for key, value in (
        ("posting.article_size", article_size),
        ("posting.obfuscation", obfuscate.value if obfuscate else None),
        ("posting.poster", poster),
        ("posting.subject", subject),
        ("nzb.meta.title", title),
        ("nzb.meta.password", nzb_password),
        ("nzb.meta.tag", tag),
        ("nzb.meta.category", category),
    ):
        if value is not None:
            overrides[key] = value
    if nzb_per_file:
        overrides["nzb.per_file"] = True
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
        code = asyncio.run(_post(cfg, paths, output, overwrite, mode, console))
    except KeyboardInterrupt:
        common.error("interrupted")
        raise typer.Exit(common.EXIT_INTERRUPTED) from None
    except errors.PostieError as exc:
        common.error(str(exc))
        raise typer.Exit(common.exit_code_for(exc)) from None
    raise typer.Exit(code)


def _job_name(paths: list[Path]) -> str:
    first = paths[0].resolve() if paths[0].exists() else paths[0]
    name = os.fsdecode(first.name) or "postie"
    if first.is_file():
        name = first.stem or name
    return name


async def _post(
    cfg: Config,
    paths: list[Path],
    output: Path | None,
    overwrite: bool,
    mode: str,
    console: Console | None,
) -> int:
    collected = collect(paths)
    for problem in collected.warnings:
        common.warn(str(problem))
    for problem in collected.skipped:
        common.warn(str(problem))
    for problem in collected.failed:
        common.error(str(problem))
    if not collected.files:
        raise errors.InputError("nothing to post: " + ", ".join(os.fsdecode(p) for p in paths))
    plan = plan_job(collected, cfg.posting, name=_job_name(paths))
    targets = nzb_targets(plan, cfg.nzb, output)
    if not overwrite:
        for target in targets.values():
            if target.exists():
                raise errors.UsageError(f"NZB already exists: {target} (use --overwrite)")
    async with Runtime(cfg) as runtime:
        job = PostingJob(runtime, plan, cfg.posting)
        async with show_progress(mode, job.statistics, console):
            result = await job.run()
    written = write_nzbs(result, cfg.nzb, targets, cfg.posting)
    return _report(plan, result.elapsed, [f.error for f in result.failed], written, mode)


def _report(
    plan: JobPlan,
    elapsed: float,
    file_errors: list[errors.PostieError | None],
    written: list[Path],
    mode: str,
) -> int:
    for err in file_errors:
        if err is not None:
            common.error(str(err))
    failed = len(file_errors) + len(plan.failed)
    for path in written:
        if mode != "quiet":
            print(f"postie: wrote {path}", file=sys.stdout)
    if failed:
        total = len(plan.files) + len(plan.failed)
        common.error(
            f"{failed} of {total} files could not be posted;"
            + (" no complete NZB was written" if not plan.files or not written else "")
        )
        return common.EXIT_PARTIAL
    if mode != "quiet":
        mb = plan.total_bytes / 1e6
        speed = mb / elapsed if elapsed > 0 else 0.0
        print(
            f"postie: posted {len(plan.files)} files, {plan.article_count} articles,"
            f" {mb:.1f} MB in {elapsed:.1f}s ({speed:.1f} MB/s)",
            file=sys.stdout,
        )
    return common.EXIT_OK
