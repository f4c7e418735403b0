"""The package's import graph, read from the source with `ast`: no circle, no arrow up.

Every import counts, also one inside a function (it still makes the two modules depend on each
other) and one under `if TYPE_CHECKING`. A package's `__init__` is a module of its own: `from
safealign.evaluate import X` is an arrow to `safealign.evaluate`, while importing a submodule
is an arrow to that submodule only (Python runs the parents' `__init__` first, which is not a
dependency of the importing module's code).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
LOWER = ("data", "taxonomy", "models", "guard")
HIGHER = ("evaluate", "train", "steer", "serve", "pipeline", "cli", "cli_options")
BASE = ("errors", "io", "config", "interrupts")
"""Modules every package may use; they import no safealign package themselves."""


def module_names() -> dict[str, Path]:
    modules = {}
    for path in sorted((SRC / "safealign").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    """Module -> the safealign modules it imports anywhere in its source."""
    modules = module_names()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
                targets = [t for t in targets[:-1] if t in modules] or [base]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target.startswith("safealign") and target != name:
                    graph[name].add(target)
    return graph


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_graph_is_read_from_real_imports(graph):
    # Arrows the package is known to have, including one inside a function body.
    assert "safealign.evaluate.judges.base" in graph["safealign.evaluate.judges.builtin"]
    assert "safealign.evaluate.rundir" in graph["safealign.evaluate.report"]
    assert "safealign.evaluate" in graph["safealign.pipeline.evaluation"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle(graph):
    assert cycles(graph) == []


def test_lower_packages_never_import_higher_ones(graph):
    upward = sorted(
        (source, target)
        for source, targets in graph.items()
        if _layer(source) in LOWER
        for target in targets
        if _layer(target) in HIGHER
    )
    assert upward == []


def test_base_modules_import_no_package(graph):
    reaching = sorted(
        (source, target)
        for source, targets in graph.items()
        if _layer(source) in BASE
        for target in targets
        if _layer(target) not in BASE
    )
    assert reaching == []
