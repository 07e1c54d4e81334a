"""Start-up: what ``postie`` imports before it does anything (each module costs time on
every run). A fresh interpreter is started for each check."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import postie.cli

# Not imported by ``import postie.cli``: a command's module, and all it imports, is
# imported when that command runs (``postie --help`` lists them without); below, what
# each command leaves to the moment it needs it: the daemon and its HTTP endpoint, NZB
# reading, the PAR2 planner and runner (imported when PAR2 is made), the verification
# service, rich (only for progress bars), YAML (only with a config file), the store's
# implementation (when a command opens a store).
NOT_AT_START = (
    "postie.cli.check",
    "postie.cli.common",
    "postie.cli.daemon",
    "postie.cli.post",
    "postie.cli.transfers",
    "postie.cli.verify",
    "postie.config",
    "postie.transfers",
    "postie.runtime",
    "postie.nntp",
    "postie.store",
    "asyncio",
    "msgspec",
    "xml",
    "http",
    "urllib.request",
    "prometheus_client",
    "aiohttp",
    "rich",
    "yaml",
    "postie.daemon",
    "postie.par2.plan",
    "postie.par2.runner",
    "postie.verify",
    "importlib.metadata",
    "email",
    "zipfile",
    "postie.store.sqlite",
    "aiosqlite",
    "sqlite3",
    "postie.store.postgres",
    "asyncpg",
)

# Not imported by ``postie post`` before it runs (its module and what that imports).
NOT_FOR_POST = NOT_AT_START[NOT_AT_START.index("xml") :]


def _imported(statement: str, env: dict[str, str] | None = None) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout
    return set(out.split())


def _found(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_import_cli_leaves_out_what_commands_import_when_they_need_it() -> None:
    assert _found(_imported("import postie.cli"), NOT_AT_START) == []


def test_post_leaves_out_what_it_imports_when_it_needs_it() -> None:
    statement = "import postie.cli\npostie.cli.build_command('post')"
    modules = _imported(statement)
    assert "postie.cli.post" in modules
    assert _found(modules, NOT_FOR_POST) == []


def test_writing_an_nzb_needs_no_xml_package() -> None:
    assert _found(_imported("import postie.nzb"), ("xml", "urllib.request")) == []


@pytest.mark.parametrize(
    "module", ["check", "daemon", "post", "transfers", "verify"], ids=lambda m: m
)
def test_command_modules_keep_annotations_as_objects(module: str) -> None:
    # typer reads every command's annotations at each start; strings would be compiled
    # and evaluated each time (see the comment at the top of the module).
    tree = ast.parse(Path(postie.cli.__file__).with_name(f"{module}.py").read_text("utf-8"))
    future = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "__future__"]
    assert future == []


# The NNTP layer is at the bottom: it knows servers through ``postie.nntp.settings``,
# never the user's config nor the layers that use it (imports point down only).
NNTP_MUST_NOT_IMPORT = (
    "postie.config",
    "postie.runtime",
    "postie.verify",
    "postie.daemon",
    "postie.cli",
    "postie.transfers",
)


def _forbidden_for_nntp(name: str) -> bool:
    return any(name == n or name.startswith(n + ".") for n in NNTP_MUST_NOT_IMPORT)


def _imports_of(path: Path, package: str) -> set[str]:
    """Every module ``path`` imports, at any depth (also under TYPE_CHECKING or in a
    function), with ``from postie import config`` counted as ``postie.config``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_the_nntp_layer_imports_nothing_above_it() -> None:
    folder = Path(postie.cli.__file__).parent.parent / "nntp"
    modules = sorted(folder.glob("*.py"))
    assert len(modules) >= 6
    found = {
        f"{path.name}: {name}"
        for path in modules
        for name in _imports_of(path, "postie.nntp")
        if _forbidden_for_nntp(name)
    }
    assert found == set()
    statement = "import postie.nntp, " + ", ".join(
        f"postie.nntp.{path.stem}" for path in modules if path.stem != "__init__"
    )
    assert sorted(m for m in _imported(statement) if _forbidden_for_nntp(m)) == []
