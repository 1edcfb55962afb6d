"""Naming call sites: tracemalloc knows file and line only, so find the enclosing function."""

from __future__ import annotations

import ast
import functools


@functools.lru_cache(maxsize=256)
def _function_spans(path: str) -> tuple[tuple[int, int, str], ...]:
    try:
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return ()
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            name = node.name if not isinstance(node, ast.Lambda) else "<lambda>"
            spans.append((node.lineno, node.end_lineno or node.lineno, name))
    return tuple(spans)


def function_at(path: str, line: int) -> str:
    """The innermost function whose body holds ``line`` of ``path``, or ``<module>``."""
    best: tuple[int, str] | None = None
    for start, end, name in _function_spans(path):
        if start <= line <= end and (best is None or start >= best[0]):
            best = (start, name)
    return best[1] if best else "<module>"
