"""The ``postie`` command line."""

from __future__ import annotations

import atexit
import os
import sys
import threading
import types


def _no_plugins() -> None:
    """With its plugins disabled pydantic never asks its plugin loader for any, but
    importing the loader imports ``importlib.metadata`` (and email, zipfile, csv with it):
    ~110 M instructions, a tenth of the CLI's start-up. Stand in for the loader with one
    that has no plugins (``get_plugins``, all pydantic asks of it; any other name is
    looked up in the real loader); tests/unit/test_imports.py
    checks that pydantic still builds and validates models, and that nothing else
    imports ``importlib.metadata``."""
    name = "pydantic.plugin._loader"
    if name in sys.modules:
        return

    def get_plugins(*args: object, **kwargs: object) -> tuple[()]:
        return ()

    def real(attr: str) -> object:
        # anything else a pydantic release may ask of its loader: the real one answers
        # (not the import system's probes, such as __path__)
        if attr.startswith("__"):
            raise AttributeError(attr)
        import importlib

        if sys.modules.get(name) is loader:
            del sys.modules[name]
        return getattr(importlib.import_module(name), attr)

    loader = types.ModuleType(name, "postie: pydantic plugins disabled")
    loader.get_plugins = get_plugins  # type: ignore[attr-defined]
    loader.__getattr__ = real  # type: ignore[method-assign]
    sys.modules[name] = loader


# pydantic looks for plugins in every installed distribution at import (~15 ms);
# the CLI uses none. Set before anything imports pydantic; a user's value wins.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
if os.environ["PYDANTIC_DISABLE_PLUGINS"] in ("__all__", "1", "true"):
    _no_plugins()

import typer  # noqa: E402 (after the loader stand-in)

from postie import __version__  # noqa: E402
from postie.cli import check, daemon, post, transfers, verify  # noqa: E402

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
    """Run the command line, then end the process without tearing the interpreter down.

    A command returns only after every resource postie owns is closed by its context
    manager, and everything postie writes is durable before it is used (it is built to
    survive SIGKILL at any instant), so nothing depends on the interpreter's own
    finalization: after a 1 GiB upload, module teardown and garbage collection took
    50-80 ms of wall and CPU time. atexit handlers (logging's flush among them) still run,
    other non-daemon threads are waited for, and the standard streams are flushed."""
    if sys.getprofile() is not None or sys.gettrace() is not None:
        app()  # profiled or traced (python -m cProfile, a debugger): let it finish its way
        return
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = _exit_status(exc.code)
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more to say
            code = code or 1
    os._exit(code)


def _exit_status(code: object) -> int:
    """What the interpreter would make of ``sys.exit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1
