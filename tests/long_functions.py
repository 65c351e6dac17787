"""Functions longer than a reader can hold at once, in bench/ and plugins/ (issue 22):
``python tests/long_functions.py`` lists them, longest first."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 80


def function_lengths(folders: tuple[str, ...] = ("bench", "plugins")) -> dict[str, int]:
    """{"path:line name": lines} of every function and method, its decorators excluded."""
    lengths = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    where = f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
                    lengths[where] = node.end_lineno - node.lineno + 1
    return lengths


def too_long(limit: int = MAX_LINES) -> dict[str, int]:
    return {where: n for where, n in function_lengths().items() if n > limit}


if __name__ == "__main__":
    for where, n in sorted(too_long().items(), key=lambda item: -item[1]):
        print(f"{n:4d}  {where}")
