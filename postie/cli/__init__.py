"""The ``postie`` command line."""

from __future__ import annotations

import os

# pydantic looks for plugins in every installed distribution at import (~15 ms);
# the CLI uses none. Set before anything imports pydantic; a user's value wins.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import typer

from postie import __version__
from postie.cli import check, daemon, post, transfers, verify

app = typer.Typer(
    name="postie",
    help="A durable Usenet posting engine: yEnc articles over many NNTP connections, NZB out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"postie {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Show the version and exit.", callback=_version, is_eager=True
    ),
) -> None:
    """A durable Usenet posting engine."""


app.command("post")(post.post_command)
app.command("resume")(transfers.resume_command)
app.add_typer(transfers.transfers_app, name="transfers")
app.command("verify")(verify.verify_command)
app.command("check-server")(check.check_server_command)
app.command("daemon")(daemon.daemon_command)
app.command("watch")(daemon.watch_command)
app.add_typer(daemon.queue_app, name="queue")


def main() -> None:
    app()
