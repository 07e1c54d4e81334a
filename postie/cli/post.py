"""``postie post PATH...``: post files and folders, write an NZB."""

# No `from __future__ import annotations` in the command modules: at every start typer
# reads the annotations of every command (typing.get_type_hints), and strings are
# compiled and evaluated each time (~3 ms over all commands).

import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from postie import errors, transfer
from postie.article.plan import collect
from postie.cli import common
from postie.cli.progress import (
    choose_mode,
    make_console,
    show_phase,
    show_progress,
    show_verifying,
)
from postie.config import Config, Obfuscation
from postie.par2.make import Par2Step, par2_workdir
from postie.runtime.runtime import Runtime
from postie.store.api import FailureState, FinalizeState, Store, Transfer, VerifyState
from postie.store.lease import new_owner
from postie.transfer_run import Outcome, TransferRun

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
    db: Path | None = common.DB_OPTION,
    par2: bool | None = typer.Option(
        None,
        "--par2/--no-par2",
        envvar="POSTIE_PAR2",
        show_envvar=True,
        help="Create PAR2 recovery files and post them with the data (default on).",
    ),
    redundancy: str | None = typer.Option(
        None,
        "--redundancy",
        help="PAR2 recovery data: a percentage ('10%', the default) or a block count.",
    ),
    verify: bool | None = common.VERIFY_OPTION,
    wait: bool = common.WAIT_OPTION,
    verify_delay: float | None = common.VERIFY_DELAY_OPTION,
) -> None:
    """Post files and folders as yEnc articles and write an NZB.

    Then wait until every article is proven on the server (STAT), re-posting what is
    missing with the same Message-ID, and finalize (hook, cleanup).

    Interrupted? Run the same command again (or `postie resume`) to finish it.
    """
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
    overrides.update(common.verify_overrides(verify, verify_delay))
    if par2 is not None:
        overrides["par2.enabled"] = par2
    if redundancy is not None:
        overrides["par2.redundancy"] = redundancy
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
        code = asyncio.run(_post(cfg, paths, output, overwrite, mode, console, db, wait))
    except KeyboardInterrupt:
        common.error("interrupted")
        raise typer.Exit(common.EXIT_INTERRUPTED) from None
    except errors.PostieError as exc:
        common.error(str(exc))
        raise typer.Exit(common.exit_code_for(exc)) from None
    raise typer.Exit(code)


def _absolute(paths: list[Path]) -> list[Path]:
    """Absolute from the start: the transfer records absolute paths, and fixing 10,000
    relative ones afterwards costs more than walking from absolute roots."""
    return [Path(os.path.abspath(p)) for p in paths]


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
    console: "Console | None",
    db: Path | None,
    wait: bool,
) -> int:
    collected = collect(_absolute(paths))
    for problem in collected.warnings:
        common.warn(str(problem))
    for problem in collected.skipped:
        common.warn(str(problem))
    for problem in collected.failed:
        common.error(str(problem))
    if not collected.files:
        raise errors.InputError("nothing to post: " + ", ".join(os.fsdecode(p) for p in paths))
    owner = new_owner()
    async with common.open_store(cfg, db, owner=owner, name="post") as (store, manifests):
        uploaded = await transfer.uploaded_for_paths(store, paths, collected)
        if uploaded is not None and cfg.verify.enabled:
            return await verify_uploaded(cfg, store, uploaded, owner, mode, console, wait)
        if uploaded is not None:
            if mode != "quiet":
                print(
                    f"postie: transfer {uploaded.id} ({uploaded.name}) uploaded these files"
                    f" already; not posting them again (postie verify {uploaded.id} checks"
                    " them)",
                    flush=True,
                )
            return common.EXIT_OK
        async with Runtime(cfg) as runtime:
            par2 = Par2Step(
                runtime.par2,
                cfg.par2,
                par2_workdir(cfg.par2, store.path),
                display=lambda describe: show_phase(mode, describe, console),
            )
            prepared = await transfer.for_paths(
                store,
                cfg,
                paths,
                name=_job_name(paths),
                output=output,
                overwrite=overwrite,
                owner=owner,
                manifests=manifests,
                collected=collected,
                par2=par2,
            )
            return await run_prepared(
                cfg, store, prepared, owner, mode, console, wait=wait, runtime=runtime
            )


async def run_prepared(
    cfg: Config,
    store: Store,
    prepared: transfer.Prepared,
    owner: str,
    mode: str,
    console: "Console | None",
    *,
    wait: bool = True,
    runtime: Runtime | None = None,
) -> int:
    """Post a created or resumed transfer with progress, then (unless told not to) wait
    for its verification; report; return the exit code."""
    say = mode != "quiet"
    if prepared.resumed and say:
        print(f"postie: resuming transfer {prepared.transfer_id} ({prepared.name})", flush=True)
    cfg = cfg.model_copy(update={"posting": prepared.posting})
    async with contextlib.AsyncExitStack() as stack:
        if runtime is None:
            runtime = await stack.enter_async_context(Runtime(cfg))
        run = TransferRun(
            runtime,
            store,
            prepared,
            owner=owner,
            checkpoint_interval=cfg.store.checkpoint_interval,
            check_delay=cfg.verify.delay if cfg.verify.enabled else None,
        )
        job = await run.check_server()
        if run.stat_checked and say:
            print(
                f"postie: checked {run.stat_checked} articles that may have arrived before the"
                f" interruption: {run.stat_checked - run.stat_missing} on the server,"
                f" {run.stat_missing} to post again",
                flush=True,
            )
        async with show_progress(mode, job.statistics, console):
            outcome = await run.post()
        code = _report(prepared, outcome, mode, len(prepared.not_collected))
        if code != common.EXIT_OK or not cfg.verify.enabled:
            return code
        if not wait:
            if mode != "quiet":
                print(
                    f"postie: not waiting for verification; it is due in {cfg.verify.delay:g} s"
                    f" (postie verify {outcome.transfer_id}, or the daemon, does it)",
                    flush=True,
                )
            return code
        return await await_verification(runtime, store, outcome.transfer_id, owner, mode, console)


async def verify_uploaded(
    cfg: Config,
    store: Store,
    found: Transfer,
    owner: str,
    mode: str,
    console: "Console | None",
    wait: bool,
) -> int:
    """The same files were uploaded by an earlier run that did not see its verification
    through (interrupted, --no-wait, or some articles stayed missing): verify, post nothing."""
    again = found.verify_state == VerifyState.VERIFICATION_FAILED
    if mode != "quiet":
        print(
            f"postie: transfer {found.id} ({found.name}) was uploaded already;"
            + (" verifying it again" if again else " verifying it"),
            flush=True,
        )
    due = [f.next_check_at for f in await store.files(found.id) if f.next_check_at is not None]
    if again or not due:
        await store.schedule_checks(found.id, at=store.now() + cfg.verify.delay, again=again)
    if not wait:
        return common.EXIT_OK
    async with Runtime(cfg) as runtime:
        return await await_verification(runtime, store, found.id, owner, mode, console)


async def await_verification(
    runtime: Runtime,
    store: Store,
    transfer_id: int,
    owner: str,
    mode: str,
    console: "Console | None",
) -> int:
    """Run the verification of one transfer until it is decided (and finalized)."""
    service = runtime.start_verification(store, owner=owner, only=transfer_id)
    async with show_verifying(mode, service.statistics, console):
        found = await service.wait(transfer_id)
    stats = service.statistics()
    if found.verify_state == VerifyState.VERIFICATION_FAILED:
        failures = [
            f for f in await store.failures(transfer_id) if f.state == FailureState.EXHAUSTED
        ]
        for miss in failures[:SHOW_MISSING]:
            common.error(
                f"lost: file {miss.file_id} part {miss.part} <{miss.message_id.strip('<>')}>:"
                f" {miss.last_error or 'not found'}"
            )
        common.error(
            f"verification failed: {len(failures)} articles are still missing after"
            f" {cfg_reposts(runtime)} re-posts and their rechecks; the manifest and the"
            f" originals are kept (postie transfers show {transfer_id})"
        )
        return common.EXIT_PARTIAL
    if found.finalize_state == FinalizeState.FAILED:
        common.error(f"verified, but finalizing failed: {found.last_error}")
        return common.EXIT_FAILURE
    if mode != "quiet":
        extra = f", {stats.reposted} re-posted" if stats.reposted else ""
        print(
            f"postie: verified: {stats.checked} articles STATed on {runtime.verify_label}"
            f" in {stats.check_seconds:.1f}s, {stats.missing} were missing{extra}"
            f" [transfer {transfer_id}]",
            flush=True,
        )
    return common.EXIT_OK


SHOW_MISSING = 20


def cfg_reposts(runtime: Runtime) -> int:
    return runtime.config.verify.max_reposts


def _report(prepared: transfer.Prepared, outcome: Outcome, mode: str, not_collected: int) -> int:
    for err in outcome.failures:
        common.error(str(err))
    for path in outcome.written:
        if mode != "quiet":
            print(f"postie: wrote {path}", file=sys.stdout)
    plan = prepared.plan
    failed = len(outcome.failures) + not_collected
    if failed:
        total = len(plan.files) + not_collected
        common.error(
            f"{failed} of {total} files could not be posted;"
            + (" no complete NZB was written" if not outcome.written else "")
            + f" (transfer {outcome.transfer_id}: postie transfers show {outcome.transfer_id})"
        )
        return common.EXIT_PARTIAL
    if mode != "quiet":
        stats = outcome.result
        posted = sum(s.posted_bytes for s in stats.files)
        mb = posted / 1e6
        speed = mb / stats.elapsed if stats.elapsed > 0 else 0.0
        before = plan.total_bytes - posted
        extra = f"; {before / 1e6:.1f} MB were posted before" if prepared.resumed else ""
        print(
            f"postie: posted {len(plan.files)} files, {plan.article_count} articles,"
            f" {mb:.1f} MB in {stats.elapsed:.1f}s ({speed:.1f} MB/s){extra}"
            f" [transfer {outcome.transfer_id}]",
            file=sys.stdout,
        )
    return common.EXIT_OK
