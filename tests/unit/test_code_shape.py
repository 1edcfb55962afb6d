"""The package keeps its functions short enough to read whole: none over about 60 lines (and no module over about 400),
but those docs/design.md says are better whole."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "harness"
MAX_LINES = 60
MAX_MODULE_LINES = 400
#: Long on purpose; docs/design.md says why.
LONG_ON_PURPOSE = {("compare/stats.py", "estimate_delta")}


def function_lengths() -> dict[tuple[str, str], int]:
    """Lines of every function and method of the package, docstring included, by (file, name);
    of several of one name in a file (methods, nested functions), the longest."""
    lengths: dict[tuple[str, str], int] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
                key = (path.relative_to(PACKAGE).as_posix(), node.name)
                lengths[key] = max(lengths.get(key, 0), node.end_lineno - node.lineno + 1)
    return lengths


def test_no_function_is_longer_than_the_limit() -> None:
    lengths = function_lengths()
    # The walk must have found the package, or the check below would pass on nothing.
    assert len(lengths) > 500
    too_long = {key: n for key, n in lengths.items() if n > MAX_LINES and key not in LONG_ON_PURPOSE}
    assert too_long == {}


def test_no_module_is_longer_than_the_limit() -> None:
    lengths = {
        path.relative_to(PACKAGE).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert len(lengths) > 60
    assert {name: n for name, n in lengths.items() if n > MAX_MODULE_LINES} == {}


#: Exception classes defined outside errors.py, each with why it is not an error of harness's.
EXCEPTIONS_ELSEWHERE: dict[tuple[str, str], str] = {}


def exception_classes() -> dict[tuple[str, str], list[str]]:
    """Every class of the package that names a base ending in Error or Exception (or a class
    of errors.py), by (file, class): its bases as written."""
    from harness import errors

    error_names = {name for name, value in vars(errors).items() if isinstance(value, type)}
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = [ast.unparse(base).rsplit(".", 1)[-1] for base in node.bases]
            if any(b.endswith(("Error", "Exception", "Exit", "Interrupt")) or b in error_names for b in bases):
                found[(path.relative_to(PACKAGE).as_posix(), node.name)] = bases
    return found


def test_every_exception_class_lives_in_errors_py() -> None:
    found = exception_classes()
    # errors.py's own classes are found, or the check below would pass on nothing.
    assert ("errors.py", "HarnessError") in found
    elsewhere = {key: bases for key, bases in found.items() if key[0] != "errors.py"}
    assert set(elsewhere) == set(EXCEPTIONS_ELSEWHERE)


def test_no_two_test_modules_share_a_name() -> None:
    """pytest imports test modules by their base name (the tests are no packages): two of one
    name stop the whole run at collection, and with it the README's test command."""
    tests = PACKAGE.parent / "tests"
    names = [path.name for path in tests.rglob("test_*.py")]
    assert len(names) > 30
    assert sorted({n for n in names if names.count(n) > 1}) == []
