"""``postie resume`` and ``postie transfers``: finish and inspect recorded transfers."""

# No `from __future__ import annotations` in the command modules: at every start typer
# reads the annotations of every command (typing.get_type_hints), and strings are
# compiled and evaluated each time (~3 ms over all commands).

import asyncio
import contextlib
import datetime
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import typer

from postie import errors
from postie.article.ids import bracketed
from postie.cli import common
from postie.cli.progress import choose_mode, make_console
from postie.config import Config
from postie.store.api import (
    Failure,
    FailureState,
    FileRole,
    FinalizeState,
    Lease,
    LeaseKind,
    Transfer,
    TransferFile,
    TransferState,
    TransferSummary,
    VerifyState,
)
from postie.store.lease import new_owner
from postie.transfers.service import TransferService

transfers_app = typer.Typer(
    help="List recorded transfers, or show one in detail.",
    no_args_is_help=False,
    invoke_without_command=True,
)


def resume_command(
    transfer_id: int | None = typer.Argument(
        None, help="Transfer to finish (default: the newest unfinished one).", show_default=False
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
    output: Path | None = typer.Option(
        None,
        "-o",
        "--output",
        help="Write the NZB here from now on (a path, or an existing folder): e.g. when the"
        " first one could not be written.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing NZB."),
    salvage: bool = typer.Option(
        False,
        "--salvage",
        help="The manifest is damaged: keep what it still holds (STATed as usual) and post"
        " the parts whose lines are lost again, under new Message-IDs.",
    ),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress output; errors only."),
    plain: bool = typer.Option(False, "--plain", help="Plain log lines instead of progress bars."),
    verbose: int = common.VERBOSE_OPTION,
    db: str | None = common.DB_OPTION,
    verify: bool | None = common.VERIFY_OPTION,
    wait: bool = common.WAIT_OPTION,
    verify_delay: float | None = common.VERIFY_DELAY_OPTION,
) -> None:
    """Finish an interrupted transfer: same Message-IDs, nothing posted twice.

    Acknowledged articles are skipped, the ones that may have arrived are STATed.

    Only missing articles are posted, re-read and checked against their CRC32.

    Posting settings are the transfer's own; server options come from this command.
    """
    from postie.cli.report import CliReporter, render

    mode = choose_mode(quiet, plain)
    console = make_console() if mode == "bar" else None
    common.setup_logging(verbose, rich_console=console)

    async def main() -> int:
        owner = new_owner()
        async with (
            common.open_store(cfg, db, owner=owner, name="resume") as (store, manifests),
            TransferService(cfg, store, owner=owner, manifests=manifests) as service,
        ):
            done = await service.resume(
                transfer_id,
                CliReporter(mode, console),
                wait=wait,
                output=output,
                overwrite=overwrite,
                salvage=salvage,
            )
        return render(done, mode, verify_delay=cfg.verify.delay if cfg.verify.enabled else None)

    try:
        cfg = common.build_config(
            config,
            common.ServerFlags(host, port, ssl, starttls, insecure, user, password, connections),
            common.verify_overrides(verify, verify_delay),
        )
        cfg.check_postable()
        code = asyncio.run(main())
    except KeyboardInterrupt:
        common.error("interrupted")
        raise typer.Exit(common.EXIT_INTERRUPTED) from None
    except errors.PostieError as exc:
        common.error(str(exc))
        raise typer.Exit(common.exit_code_for(exc)) from None
    raise typer.Exit(code)


SHOW_FAILURES = 50


def _verify_line(t: Transfer, files: Sequence[TransferFile], failures: Sequence[Failure]) -> str:
    if t.verify_state != VerifyState.PENDING:
        text = t.verify_state + (f" at {_when(t.verified_at)}" if t.verified_at else "")
        if t.verify_state == VerifyState.VERIFIED:
            text += f"; finalize {t.finalize_state}"
        return text
    if t.state != TransferState.UPLOADED:
        return "after the upload"
    due = [f.next_check_at for f in files if f.next_check_at is not None]
    pending = sum(1 for f in failures if f.state == FailureState.PENDING)
    if pending:
        return f"in progress: {pending} missing articles being re-posted or rechecked"
    if due:
        return f"check due at {_when(min(due))}"
    if t.options.get("verify") is False:
        return "not asked for (postie verify " + str(t.id) + " checks it)"
    return "pending"


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return datetime.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} B"


@contextlib.asynccontextmanager
async def _service(cfg: Config, db: str | None) -> AsyncIterator[TransferService]:
    """The transfer service over the store, to read what it recorded (a store that does
    not exist is not created)."""
    async with (
        common.open_store(cfg, db, create=False) as (store, manifests),
        TransferService(cfg, store, owner=new_owner(), manifests=manifests) as service,
    ):
        yield service


@transfers_app.callback()
def transfers_command(
    ctx: typer.Context,
    limit: int = typer.Option(50, "--limit", help="Show at most this many, newest first."),
    config: Path | None = common.CONFIG_OPTION,
    db: str | None = common.DB_OPTION,
) -> None:
    """List recorded transfers, newest first, with their states and who holds them (the
    instance posting or verifying each, for every process on the store)."""
    ctx.obj = (config, db)
    if ctx.invoked_subcommand is not None:
        return

    async def main() -> tuple[tuple[TransferSummary, ...], dict[int, list[Lease]]]:
        async with _service(cfg, db) as service:
            summaries = await service.summaries(limit)
            held: dict[int, list[Lease]] = {}
            for lease in await service.store.leases():
                if lease.kind != LeaseKind.JOB:
                    held.setdefault(lease.ref, []).append(lease)
            return summaries, held

    try:
        cfg = common.build_config(config, common.ServerFlags())
        rows, held = asyncio.run(main())
    except errors.PostieError as exc:
        common.error(str(exc))
        raise typer.Exit(common.exit_code_for(exc)) from None
    if not rows:
        typer.echo("no transfers recorded")
        return
    typer.echo(f"{'ID':>5}  {'STATE':<19} {'FILES':>9} {'SIZE':>10}  {'CREATED':<19}  NAME")
    for row in rows:
        t = row.transfer
        files = f"{row.uploaded_files}/{row.files}"
        typer.echo(
            f"{t.id:>5}  {t.display_state:<19} {files:>9} {_size(row.bytes):>10}  "
            f"{_when(t.created_at):<19}  {t.name}"
        )
        if t.id in held:
            typer.echo(f"{'':>7}held by: {common.held_by(held[t.id])}")


@transfers_app.command("show")
def show_command(
    ctx: typer.Context,
    transfer_id: int = typer.Argument(..., help="Transfer ID (see `postie transfers`)."),
    config: Path | None = common.CONFIG_OPTION,
    db: str | None = common.DB_OPTION,
) -> None:
    """Show one transfer: its files, their progress and states, and any errors."""
    group_config, group_db = ctx.obj
    config = config or group_config
    db = db or group_db

    async def main() -> list[str]:
        async with _service(cfg, db) as service:
            shown = await service.details(transfer_id)
            leases = [x for x in await service.store.leases() if x.kind != LeaseKind.JOB]
            held = [x for x in leases if x.ref == transfer_id]
            manifests = service.store.manifests
        found, files, failures = shown.transfer, shown.files, shown.failures
        lines = [
            f"transfer {found.id}: {found.name}",
            f"  state:     {found.display_state}",
            f"  upload:    {found.state}",
            f"  verify:    {_verify_line(found, files, failures)}",
            f"  created:   {_when(found.created_at)}",
            f"  updated:   {_when(found.updated_at)}",
            f"  finished:  {_when(found.finished_at)}",
            f"  paths:     {', '.join(found.roots)}",
            f"  nzb:       {found.nzb_path or '-'}",
            f"  manifest:  {manifests.shown(found.manifest_path, found.manifest_bytes)}"
            if found.finalize_state != FinalizeState.DONE
            else "  manifest:  dropped when the transfer was finalized",
        ]
        if held:
            lines.append(f"  held by:   {common.held_by(held)}")
        elif found.lease_owner:  # a lease that ran out
            lines.append(f"  held by:   {found.lease_owner} until {_when(found.lease_expires)}")
        if found.last_error:
            lines.append(f"  error:     {found.last_error}")
        lines.append(f"  files ({len(files)}):")
        for f in files:
            lines.append(
                f"    {f.file_id:>4}  {f.upload_state:<14} {f.verify_state:<19}"
                f" {f.acked:>6}/{f.article_count:<6} {_size(f.size):>10}  {f.name}"
                + ("  (PAR2 made by postie)" if f.role == FileRole.PAR2 else "")
            )
            if f.name != os.fsdecode(f.source_path.name) and f.role != FileRole.PAR2:
                lines.append(f"          source: {os.fsdecode(f.source_path)}")
            if f.last_error:
                lines.append(f"          error: {f.last_error}")
        if failures:
            names = {f.file_id: f.name for f in files}
            lines.append(f"  missing articles ({len(failures)}):")
            for miss in failures[:SHOW_FAILURES]:
                lines.append(
                    f"    {names.get(miss.file_id, miss.file_id)} part {miss.part}"
                    f" {bracketed(miss.message_id)}: {miss.state}, {miss.check_count} checks,"
                    f" {miss.repost_count} re-posts; {miss.last_error or '-'}"
                )
            if len(failures) > SHOW_FAILURES:
                lines.append(f"    ... and {len(failures) - SHOW_FAILURES} more")
        return lines

    try:
        cfg = common.build_config(config, common.ServerFlags())
        for line in asyncio.run(main()):
            typer.echo(line)
    except errors.PostieError as exc:
        common.error(str(exc))
        raise typer.Exit(common.exit_code_for(exc)) from None


@transfers_app.command("abandon")
def abandon_command(
    ctx: typer.Context,
    transfer_id: int = typer.Argument(..., help="Transfer ID (see `postie transfers`)."),
    config: Path | None = common.CONFIG_OPTION,
    db: str | None = common.DB_OPTION,
) -> None:
    """Give an unfinished transfer up: keep its record and manifest, never resume it.

    The next post of its files starts a new transfer (new Message-IDs). The way out of a
    transfer that cannot be finished, e.g. when its manifest is gone.
    """
    group_config, group_db = ctx.obj
    config = config or group_config
    db = db or group_db

    async def main() -> Transfer:
        owner = new_owner()
        async with (
            common.open_store(cfg, db, owner=owner, name="abandon") as (store, manifests),
            TransferService(cfg, store, owner=owner, manifests=manifests) as service,
        ):
            return await service.abandon(transfer_id)

    try:
        cfg = common.build_config(config, common.ServerFlags())
        found = asyncio.run(main())
    except errors.PostieError as exc:
        common.error(str(exc))
        raise typer.Exit(common.exit_code_for(exc)) from None
    typer.echo(
        f"postie: transfer {found.id} ({found.name}) abandoned: its record and manifest are"
        " kept; the next post of its files starts a new transfer"
    )
