"""The layers of docs/design.md hold in the code (issue 13): no import cycles, and no import that runs up
the layers (imports inside functions count; imports only for type checking do not)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Low to high. A module may import its own layer and the ones below it, never one above.
LAYERS: list[tuple[str, ...]] = [
    ("harness.errors",),
    ("harness.history",),
    ("harness.clients.outcome", "harness.clients.items", "harness.clients.http1", "harness.clients.sigv4"),
    ("harness.checker",),
    ("workloads", "harness.nemesis.spec", "harness.nemesis.cover"),
    ("harness.evaluate", "harness.backends.endpoint", "harness.backends.process", "harness.backends.local_install",
     "harness.backends.dynalite_install"),
    ("harness.report",),  # reads run directories only: the engine draws with it, never the other way
    ("harness.backends",),
    ("harness.clients",),
    ("harness.nemesis",),
    ("harness.engine",),
    ("harness.conform",),
    ("harness.cli", "harness.testing", "harness.calls", "harness.pytest_plugin", "harness.__main__"),
]
# The one upward import, on purpose: the report's "reproduce with" line is made from `stress run`'s own
# click parameters, so it can never name a flag or a default the CLI does not have.
ALLOWED_UP = {("harness.report.runconfig", "harness.cli.app")}


def _modules() -> dict[str, Path]:
    found = {}
    for top in ("harness", "workloads"):
        for path in (ROOT / top).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text())
    skip = _type_checking_lines(tree)
    out: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                     for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        out.update(n for n in names if n in modules)
    return out


def _layer(module: str) -> int:
    best, rank = -1, None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    assert rank is not None, f"{module} is in no layer: add it to LAYERS (and to docs/design.md)"
    return rank


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def test_no_import_runs_up_the_layers() -> None:
    graph = _graph()
    upward = sorted((a, b) for a, deps in graph.items() for b in deps
                    if _layer(b) > _layer(a) and (a, b) not in ALLOWED_UP)
    assert not upward, "imports that run up the layers: " + ", ".join(f"{a} -> {b}" for a, b in upward)


def test_no_import_cycles() -> None:
    graph = {a: {b for b in deps if (a, b) not in ALLOWED_UP} for a, deps in _graph().items()}
    cycles = [scc for scc in _strongly_connected(graph) if len(scc) > 1]
    assert not cycles, f"import cycles: {cycles}"


def test_the_layer_check_catches_an_upward_import() -> None:
    """Negative control: a checker importing the engine is reported."""
    assert _layer("harness.engine.run") > _layer("harness.checker.summary")
    graph = _graph()
    graph["harness.checker.summary"] = {*graph["harness.checker.summary"], "harness.engine.run"}
    assert [(a, b) for a, deps in graph.items() for b in deps if _layer(b) > _layer(a)
            and (a, b) not in ALLOWED_UP] == [("harness.checker.summary", "harness.engine.run")]
    graph["harness.history.events"] = {"harness.checker.summary"}
    assert any(len(scc) > 1 for scc in _strongly_connected(graph))


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative enough for this graph's depth)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            scc = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                scc.append(top)
                if top == node:
                    break
            out.append(sorted(scc))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out
