"""The command line loads a command's module only when that command runs: what
``postie --help`` lists before then must be what the commands themselves say."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from postie import cli

COMMAND_MODULES = {f"postie.cli.{module}" for module, _, _ in cli.COMMANDS.values()}


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_the_listed_line_is_the_first_paragraph_of_the_commands_help(name: str) -> None:
    command = cli.build_command(name)
    first = inspect.cleandoc(command.help).split("\n\n")[0].replace("\n", " ")
    assert cli.COMMANDS[name][2] == first


def _loaded_by(*args: str) -> set[str]:
    """The command modules imported by ``postie ARGS`` (run in a fresh interpreter)."""
    code = (
        "import sys, postie.cli\n"
        f"code = postie.cli.run({list(args)!r})\n"
        "print('\\n'.join(m for m in sys.modules if m.startswith('postie.cli.')), file=sys.stderr)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {line for line in run.stderr.splitlines() if line in COMMAND_MODULES}


def test_the_command_list_imports_no_command() -> None:
    assert _loaded_by("--help") == set()
    assert _loaded_by("pots") == set()  # no such command: its "did you mean" needs none


@pytest.mark.parametrize(
    ("args", "module"),
    [
        (["post", "--help"], "post"),
        (["check-server", "--help"], "check"),
        (["queue", "list", "--help"], "daemon"),
        (["transfers", "show", "--help"], "transfers"),
    ],
)
def test_a_command_imports_its_own_module_only(args: list[str], module: str) -> None:
    assert _loaded_by(*args) == {f"postie.cli.{module}"}
