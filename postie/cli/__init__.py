"""The ``postie`` command line."""

from __future__ import annotations

import atexit
import importlib
import os
import sys
import threading
from collections.abc import Sequence
from typing import Any, Protocol, cast

import typer
import typer.core
import typer.main

from postie import __version__

# The commands, in the order `postie --help` lists them: the module under postie.cli that
# defines each (imported only when the command runs), the name of its function or typer
# group there, and the one line `postie --help` shows for it (the first paragraph of its
# help; tests/unit/test_cli_commands.py checks that the two agree).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "post": ("post", "post_command", "Post files and folders as yEnc articles and write an NZB."),
    "resume": (
        "transfers",
        "resume_command",
        "Finish an interrupted transfer: same Message-IDs, nothing posted twice.",
    ),
    "verify": (
        "verify",
        "verify_command",
        "Verify a transfer now, or report the segments of an NZB a server does not have.",
    ),
    "check-server": (
        "check",
        "check_server_command",
        "Connect to each server, authenticate, and report posting permission and capabilities.",
    ),
    "daemon": (
        "daemon",
        "daemon_command",
        "Watch the config's folders and post what lands in them, until SIGTERM or SIGINT.",
    ),
    "watch": (
        "daemon",
        "watch_command",
        "The short form of `postie daemon`: watch one folder, NZBs to --output.",
    ),
    "transfers": ("transfers", "transfers_app", "List recorded transfers, or show one in detail."),
    "queue": (
        "daemon",
        "queue_app",
        "The daemon's queue: list, add, remove, retry, pause, resume.",
    ),
}


class _Summary(typer.core.TyperCommand):
    """A command as `postie --help` lists it (its name and one line), and as click's
    "did you mean" looks for it, before its module is imported."""

    def __init__(self, name: str, summary: str) -> None:
        super().__init__(name, help=summary)


class _Commands(typer.core.TyperGroup):
    """postie's commands, each built when it is run: a command's module (and all it
    imports: asyncio, the config, the transfer service...) is imported only for that
    command, ``--help`` included. Until then the group holds a ``_Summary`` of each."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, (_, _, summary) in COMMANDS.items():
            self.commands[name] = _Summary(name, summary)

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name is not None and isinstance(command, _Summary):
            command = self.commands[name] = build_command(name)
            _flags_take_no_value(command, ctx, name)
        return name, command, rest


def build_command(name: str) -> Any:
    """The click command (or group) of the command ``name``, its module imported now."""
    module, attribute, _ = COMMANDS[name]
    target = getattr(importlib.import_module(f"postie.cli.{module}"), attribute)
    carrier = typer.Typer(add_completion=False)
    if isinstance(target, typer.Typer):
        carrier.add_typer(target, name=name)
        return typer.main.get_group(carrier).commands[name]
    carrier.command(name)(target)
    return typer.main.get_command(carrier)


app = typer.Typer(
    name="postie",
    cls=_Commands,
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


def main() -> None:
    """Run the command line, then end the process without tearing the interpreter down.

    A command returns only after every resource postie owns is closed by its context
    manager, and everything postie writes is durable before it is used (it is built to
    survive SIGKILL at any instant), so nothing depends on the interpreter's own
    finalization: after a 1 GiB upload, module teardown and garbage collection took
    50-80 ms of wall and CPU time. atexit handlers (logging's flush among them) still run,
    other non-daemon threads are waited for, and the standard streams are flushed."""
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(run())  # profiled or traced (python -m cProfile, a debugger): its way out
    try:
        code = run()
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


def run(args: Sequence[str] | None = None) -> int:
    """Run the command line on ``args`` (default: the process's); return the exit status.

    A usage error (a missing argument, an unknown option, a bad value) is one line in
    postie's own form, ``postie: error: ...``, with the command's ``--help`` to read,
    and exit status 2, like every other error a command reports: click's standalone mode
    would print a usage block and a boxed panel instead. Flags and counters show no
    value type in ``--help`` (see ``_flags_take_no_value``)."""
    command = typer.main.get_command(app)
    _flags_take_no_value(command)
    try:
        result = command.main(args, prog_name="postie", standalone_mode=False)
    except _parser_errors() as caught:
        exc = cast(_ParserError, caught)
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help, already shown or in it
            text = exc.format_message()
            if text:
                print(text, file=sys.stderr)
        else:
            _error(_usage_line(exc))
        return int(exc.exit_code)
    except typer.Abort:
        from postie.cli.common import EXIT_FAILURE

        _error("aborted")
        return EXIT_FAILURE
    return result if isinstance(result, int) else 0


def _error(message: str) -> None:
    """``common.error``: imported now (a command's module has imported it by then, unless
    the error is in the command's name)."""
    from postie.cli.common import error

    error(message)


class _ParserError(Protocol):
    """What click's exceptions (ClickException and below) carry."""

    exit_code: int

    def format_message(self) -> str: ...


def _parser_errors() -> tuple[type[Exception], ...]:
    """The roots of the errors the command line's parser raises: ``typer.TyperException``,
    the root of typer's own copy of click's since typer vendors click (``typer._click``),
    and click's ClickException when typer runs the click package (imported by then)."""
    roots: list[type[Exception]] = []
    root = getattr(typer, "TyperException", None)
    if isinstance(root, type) and issubclass(root, Exception):
        roots.append(root)
    click = sys.modules.get("click")
    if click is not None:
        roots.append(click.ClickException)
    return tuple(roots)


def _usage_line(exc: _ParserError) -> str:
    """click's message in postie's form: lower case, no full stop, the help to read."""
    possibilities = getattr(exc, "possibilities", None)  # an unknown option: its neighbours
    if possibilities is not None:
        message = str(getattr(exc, "message", exc))
        if possibilities:
            message += f"; did you mean {' or '.join(sorted(possibilities))}?"
    else:
        message = exc.format_message().strip()
    if message[:1].isupper() and message[1:2].islower():
        message = message[0].lower() + message[1:]
    message = message.removesuffix(".").replace(". Did you mean", "; did you mean")
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        message += f" (see {ctx.command_path} --help)"
    return message


def _flags_take_no_value(command: Any, parent: Any = None, name: str = "postie") -> None:
    """typer's help shows a value type beside every option, also beside flags that take
    none (``--quiet <bool>``, ``--help <bool>``) and counters (``-v <int>``, so that
    ``-v 3`` looks right when it counts one -v and reads 3 as a path): an empty metavar
    shows none. The plain (non-rich) help already shows none for them.

    ``--help`` is made on demand, under the names the context gives (``-h``): a context
    like the one the command runs in makes it now, and the command keeps it."""
    ctx = command.context_class(command, parent=parent, info_name=name, **command.context_settings)
    params = [*command.params, command.get_help_option(ctx)]
    for param in params:
        if param is None or param.metavar is not None:
            continue
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = ""
    for sub_name, sub in getattr(command, "commands", {}).items():
        if not isinstance(sub, _Summary):  # done when it is built (_Commands)
            _flags_take_no_value(sub, ctx, sub_name)


def _exit_status(code: object) -> int:
    """What the interpreter would make of ``sys.exit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1
