"""A generated pytest suite of many small tests, every one measured: attribute lookups on
classes made in the test, pickling of dataclasses, and regular expressions compiled and
matched, each parametrized so that every test works on its own names, sizes and patterns.

Shared by the tests of the plugin at suite scale and by ``benchmarks/pytest_plugin.py``.
"""

from __future__ import annotations

from pathlib import Path

#: The kinds of test file, each a template of one parametrized test (``{per}`` cases).
KINDS = {
    "attrs": """
@pytest.mark.parametrize("n", range({per}))
def test_attrs(n):
    class Thing:
        pass

    thing = Thing()
    for k in range(5 + n % 7):
        name = f"field_{{n}}_{{k}}"
        setattr(thing, name, k)
        assert getattr(thing, name) == k
        assert not hasattr(Thing, name + "_missing")
    made = [getattr(thing, f"field_{{n}}_{{k}}") for k in range(3)]
""",
    "pickles": """
import pickle
from dataclasses import dataclass


@dataclass
class Point:
    x: int
    y: str


@pytest.mark.parametrize("n", range({per}))
def test_pickles(n):
    points = [Point(i, str(i) * (n % 5)) for i in range(n % 13 + 1)]
    data = pickle.dumps({{"points": points, "n": n}}, protocol=n % 5 + 1)
    assert pickle.loads(data)["points"] == points
""",
    "regexes": """
import re


@pytest.mark.parametrize("n", range({per}))
def test_regexes(n):
    pattern = re.compile(rf"(?P<key>[a-z]{{{{1,{{n % 9 + 1}}}}}})=(?P<value>\\d{{{{{{n % 4 + 1}}}}}})")
    text = " ".join(f"k{{i}}x={{i * n}}" for i in range(n % 11 + 2))
    found = [match.groupdict() for match in pattern.finditer(text)]
    assert re.sub(r"\\d", "#", text).count("#") >= len(found)
""",
}


def write_suite(root: Path, files: int, per_file: int, marker: str = "pytestmark = pytest.mark.harness") -> list[Path]:
    """``files`` test files under ``root/tests`` (the kinds in turn), ``per_file`` tests each,
    every one measured by ``marker`` (a module-level line); the files, in order."""
    tests = root / "tests"
    tests.mkdir(parents=True, exist_ok=True)
    tests.joinpath("__init__.py").write_text("")
    kinds = list(KINDS)
    written = []
    for index in range(files):
        kind = kinds[index % len(kinds)]
        path = tests / f"test_{kind}_{index:02d}.py"
        path.write_text(f"import pytest\n\n{marker}\n{KINDS[kind].format(per=per_file)}")
        written.append(path)
    return written
