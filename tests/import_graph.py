"""The import graph of the `bench` package, read from its source with `ast` (nothing is
imported), and the circles in it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "bench"
PLUGINS_ROOT = PACKAGE_ROOT.parent / "plugins"  # installed as bench_plugins

RUNTIME = "runtime"  # executed when the module is imported
DEFERRED = "deferred"  # inside a function: executed when it is called
TYPING = "typing"  # under `if TYPE_CHECKING:`: never executed


def module_files(root: Path = PACKAGE_ROOT, package: str | None = None) -> dict[str, Path]:
    """{"bench.cli.options": path, "bench.cli": path of its __init__.py, ...}; ``package``
    is the name the folder ``root`` installs as (the folder's own name by default)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join([package or root.name, *parts])] = path
    return modules


def import_edges(modules: dict[str, Path]) -> dict[str, dict[str, set[str]]]:
    """{kind: {module: modules of the package it imports}} for each kind of import."""
    edges: dict[str, dict[str, set[str]]] = {
        kind: {m: set() for m in modules} for kind in (RUNTIME, DEFERRED, TYPING)
    }
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node, kind in _imports(ast.parse(path.read_text(), str(path))):
            for target in _targets(node, package, modules):
                if target != name:
                    edges[kind][name].add(target)
    return edges


def _imports(tree: ast.Module):
    """Every import statement with its kind, found by walking down from the module."""

    def walk(node, kind):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child, kind
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from walk(child, DEFERRED if kind == RUNTIME else kind)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for statement in child.body:
                    yield from walk(ast.Module(body=[statement], type_ignores=[]), TYPING)
                for statement in child.orelse:
                    yield from walk(ast.Module(body=[statement], type_ignores=[]), kind)
            else:
                yield from walk(child, kind)

    yield from walk(tree, RUNTIME)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.Import | ast.ImportFrom, package: str, modules: dict[str, Path]):
    """The package's modules an import statement loads (the deepest one each name names)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield from _known(alias.name, modules)
        return
    base = node.module or ""
    if node.level:
        anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join([*anchor, base] if base else anchor)
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        yield from (_known(submodule, modules) if submodule in modules else _known(base, modules))


def _known(dotted: str, modules: dict[str, Path]):
    """The module itself if it is one of the package's, else its nearest enclosing one."""
    parts = dotted.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            yield candidate
            return
        parts.pop()


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of two or more modules (Tarjan), as a sorted list:
    every module in a group reaches every other one through imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def merged(*graphs: dict[str, set[str]]) -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    for graph in graphs:
        for node, targets in graph.items():
            result.setdefault(node, set()).update(targets)
    return result
