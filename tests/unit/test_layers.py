"""postie's imports point one way: no cycles, and no layer imports one above it.

Read from the source (every ``import`` and ``from ... import``, at module level or
inside a function), so an import a test run never reaches still counts.
"""

from __future__ import annotations

import ast
import itertools
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "postie"

# Lowest first. A module may import its own layer and those below it. Anything not
# listed sits in the layer of its nearest listed parent.
LAYERS: tuple[tuple[str, ...], ...] = (
    # leaves: no postie imports beyond each other
    (
        "postie",
        "postie.errors",
        "postie.crashpoints",
        "postie.schedule",
        "postie.fsutil",
        "postie.testing",
    ),
    # the bottom: formats, protocol, files, config, the store
    (
        "postie.article",
        "postie.nntp",
        "postie.config",
        "postie.manifest",
        "postie.nzb",
        "postie.store",
        "postie.par2.plan",
    ),
    # the Runtime and the engine: slots, budget, pools, PAR2, posting (no transfers, no
    # verification)
    ("postie.runtime", "postie.par2"),
    # services: transfers and their verification
    ("postie.transfers", "postie.verify"),
    # the edges: thin
    ("postie.cli", "postie.daemon", "postie.__main__"),
)


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int
    typing_only: bool  # under ``if TYPE_CHECKING:``: never runs


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _typing_block(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Name | ast.Attribute)
        and ast.unparse(node.test).endswith("TYPE_CHECKING")
    )


def imports(known: dict[str, Path]) -> Iterator[Import]:
    """Every import of a postie module by a postie module. ``from pkg import mod`` is an
    import of ``pkg.mod`` when that is a module (its package's ``__init__`` is how Python
    gets there, not a dependency of its own)."""
    for name, path in known.items():
        tree = ast.parse(path.read_text("utf-8"))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for imp in _visit(tree, name, package, known, typing_only=False):
            if imp.target != name:
                yield imp


def _visit(
    node: ast.AST, name: str, package: str, known: dict[str, Path], *, typing_only: bool
) -> Iterator[Import]:
    for child in ast.iter_child_nodes(node):
        inner = typing_only or _typing_block(child)
        if isinstance(child, ast.Import):
            for alias in child.names:
                if alias.name.startswith("postie"):
                    yield Import(name, alias.name, child.lineno, inner)
        elif isinstance(child, ast.ImportFrom):
            base = child.module or ""
            if child.level:
                parent = package
                for _ in range(child.level - 1):
                    parent = parent.rpartition(".")[0]
                base = f"{parent}.{base}" if base else parent
            if base.startswith("postie"):
                named = [f"{base}.{a.name}" for a in child.names if f"{base}.{a.name}" in known]
                for target in named or [base]:
                    yield Import(name, target, child.lineno, inner)
        yield from _visit(child, name, package, known, typing_only=inner)


def _owner(target: str, known: dict[str, Path]) -> str:
    while target not in known and "." in target:
        target = target.rpartition(".")[0]
    return target


def layer_of(module: str) -> int:
    best, rank = "", -1
    for index, layer in enumerate(LAYERS):
        for prefix in layer:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
                best, rank = prefix, index
    assert rank >= 0, f"{module} is in no layer: add it to LAYERS"
    return rank


def test_no_import_cycles() -> None:
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    lines: dict[tuple[str, str], int] = {}
    for imp in imports(known):
        if imp.typing_only:
            continue
        target = _owner(imp.target, known)
        if target != imp.source:
            graph[imp.source].add(target)
            lines.setdefault((imp.source, target), imp.line)
    cycles = []
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                cycles.append(
                    " -> ".join(f"{a} (line {lines[(a, b)]})" for a, b in itertools.pairwise(cycle))
                    + f" -> {nxt}"
                )
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert cycles == []


def test_imports_point_down() -> None:
    known = modules()
    upward = [
        f"{imp.source}:{imp.line} imports {imp.target}"
        for imp in imports(known)
        if layer_of(imp.source) < layer_of(_owner(imp.target, known))
    ]
    assert upward == []


def test_the_checks_see_a_cycle_and_an_upward_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two tests above fail on what they are there to catch."""
    root = tmp_path / "postie"
    (root / "runtime").mkdir(parents=True)
    (root / "verify").mkdir()
    for init in (root, root / "runtime", root / "verify"):
        (init / "__init__.py").write_text("")
    (root / "runtime" / "engine.py").write_text("def f():\n    from postie.verify import a\n")
    (root / "verify" / "a.py").write_text("from postie.runtime import engine\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", root)
    known = modules()
    found = {(i.source, _owner(i.target, known)) for i in imports(known)}
    assert ("postie.runtime.engine", "postie.verify.a") in found
    assert ("postie.verify.a", "postie.runtime.engine") in found
    with pytest.raises(AssertionError, match=re.escape("postie.runtime.engine")):
        test_no_import_cycles()
    with pytest.raises(
        AssertionError, match=re.escape("postie.runtime.engine:2 imports postie.verify.a")
    ):
        test_imports_point_down()


# Each store's driver is imported by that store's package alone.
DRIVERS = {"aiosqlite": "postie.store.sqlite", "asyncpg": "postie.store.postgres"}


def test_a_database_driver_is_imported_only_by_its_store() -> None:
    wrong = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                targets = [node.module or ""]
            else:
                continue
            for target in targets:
                owner = DRIVERS.get(target.partition(".")[0])
                if owner is not None and not (name == owner or name.startswith(owner + ".")):
                    wrong.append(f"{name}:{node.lineno} imports {target}")
    assert wrong == []
