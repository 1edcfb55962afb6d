"""Projects laid out as real ones are, in real git repositories, for compare and bisect.

- ``lrukit``: the modern src layout (``src/lrukit/``), built by setuptools from
  ``[build-system]``, with its workloads under ``benchmarks/allocations``. Its LRU cache keeps
  each value as it is; the regression wraps each value in a one-element list, 64 bytes more
  per insert (``sys.getsizeof([b""])``: a list object with its one slot).
- ``ckit``: a src-layout package with a C extension ``ckit._fill`` whose ``fill(store, n)``
  appends ``bytes(PAYLOAD)`` n times; commits differ in the ``PAYLOAD`` the C code defines.
  Its workload records the extension's ``__file__`` in ``$CKIT_WITNESS``, so a test can see
  which build each side imported.
- ``flatkit``: a flat layout with no build backend (the package at the repository's root).

The workloads pin ``backend = "native"``, whose figures repeat exactly, so a
few replicates suffice and a known change of bytes per insert shows exactly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gitproject import Project

#: The bytes one insert keeps more after the regression: a one-element list around the value.
LIST_WRAPPER_BYTES = sys.getsizeof([b""])

SRC_PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "{version}"
requires-python = ">=3.9"

[tool.setuptools.packages.find]
where = ["src"]

[tool.harness]
workloads = "benchmarks/allocations"
replicates = 3
backend = "native"
"""

LRU_CACHE = """\
from collections import OrderedDict


class LRUCache:
    \"\"\"A least-recently-used cache of at most ``capacity`` entries.\"\"\"

    def __init__(self, capacity):
        self.capacity = capacity
        self._data = OrderedDict()

    def put(self, key, value):
        self._data[key] = {value}
        self._data.move_to_end(key)
        if len(self._data) > self.capacity:
            self._data.popitem(last=False)

    def get(self, key):
        return self._data.get(key)
"""

LRU_WORKLOAD = """\
import harness
from lrukit.cache import LRUCache

lru = harness.family("lru", "least-recently-used caches")


@lru.variant("ordered")
def ordered():
    return LRUCache(capacity=100_000)


@lru.workload(params={"n": [3000]}, goal="fill.net_bytes_per_op")
def fill(trial, new, n):
    cache = trial.keep(new())
    values = [bytes(8) for _ in range(n)]
    with trial.phase("fill"):
        for i in range(n):
            cache.put(i, values[i])
        trial.ops(n)
"""

LRU_ID = "lru.fill[ordered,n=3000]"

C_SOURCE = """\
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define PAYLOAD {payload}

static PyObject *fill(PyObject *self, PyObject *args) {{
    PyObject *store;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "On", &store, &n)) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {{
        PyObject *item = PyBytes_FromStringAndSize(NULL, PAYLOAD);
        if (item == NULL) return NULL;
        memset(PyBytes_AS_STRING(item), 0, PAYLOAD);
        int failed = PyList_Append(store, item);
        Py_DECREF(item);
        if (failed) return NULL;
    }}
    Py_RETURN_NONE;
}}

static PyMethodDef methods[] = {{
    {{"fill", fill, METH_VARARGS, "Append n zeroed byte strings of PAYLOAD bytes to a list."}},
    {{NULL, NULL, 0, NULL}},
}};

static struct PyModuleDef module = {{PyModuleDef_HEAD_INIT, "_fill", NULL, -1, methods}};

PyMODINIT_FUNC PyInit__fill(void) {{ return PyModule_Create(&module); }}
"""

C_SETUP = """\
from setuptools import Extension, setup

setup(ext_modules=[Extension("ckit._fill", ["src/ckit/_fill.c"])])
"""

C_WORKLOAD = """\
import os

import harness
from ckit import _fill

ckit = harness.family("ckit", "byte strings made by a C extension")


@ckit.variant("c")
def c():
    return []


@ckit.workload(params={"n": [2000]}, goal="fill.net_bytes_per_op")
def fill(trial, new, n):
    witness = os.environ.get("CKIT_WITNESS")
    if witness:
        with open(witness, "a") as handle:
            handle.write(_fill.__file__ + "\\n")
    store = trial.keep(new())
    with trial.phase("fill"):
        _fill.fill(store, n)
        trial.ops(n)
"""

C_ID = "ckit.fill[c,n=2000]"

FLAT_PYPROJECT = """\
[tool.harness]
workloads = "workloads"
replicates = 3
backend = "native"
"""

FLAT_STORE = """\
class Store:
    def __init__(self):
        self.items = []

    def add(self, i):
        self.items.append({value})
"""

FLAT_WORKLOAD = """\
import harness
from flatkit.store import Store

flat = harness.family("flat", "a store in a flat layout")


@flat.variant("store")
def store():
    return Store()


@flat.workload(params={"n": [3000]}, goal="fill.net_bytes_per_op")
def fill(trial, new, n):
    s = trial.keep(new())
    with trial.phase("fill"):
        for i in range(n):
            s.add(i)
        trial.ops(n)
"""

FLAT_ID = "flat.fill[store,n=3000]"


def lrukit(root: Path, *, name: str = "lrukit-fixture", with_workloads: bool = True) -> Project:
    """The src-layout LRU project, committed once (``first``)."""
    project = Project(root)
    project.write("pyproject.toml", SRC_PYPROJECT.format(name=name, version="1.0"))
    project.write(".gitignore", "build/\n*.egg-info/\n__pycache__/\n")
    project.write("README.md", "# lrukit\n\nInstall for development with `pip install -e .`.\n")
    project.write("src/lrukit/__init__.py", '"""Caches."""\n')
    project.write("src/lrukit/cache.py", LRU_CACHE.format(value="value"))
    if with_workloads:
        project.write("benchmarks/allocations/lru.py", LRU_WORKLOAD)
    project.commit("first")
    return project


def regress_lru(project: Project) -> None:
    """Wrap each value in a one-element list (uncommitted)."""
    project.write("src/lrukit/cache.py", LRU_CACHE.format(value="[value]"))


COMMITS = 31
REGRESSION, BROKEN, REPAIR = 15, 21, 22  # positions, oldest first
DICT_ID = "lru.fill[dict,n=3000]"
GOALS = ("fill.net_bytes_per_op", "fill.alloc_count_per_op", "fill.wall_s_per_op")

#: Today's workloads: the package's LRU cache and a plain dict beside it, on three goals.
HISTORY_WORKLOADS = f"""\
import harness
from lrukit.cache import LRUCache

lru = harness.family("lru", "least-recently-used caches")


class DictCache:
    def __init__(self):
        self._data = {{}}

    def put(self, key, value):
        self._data[key] = value


@lru.variant("ordered")
def ordered():
    return LRUCache(capacity=100_000)


@lru.variant("dict")
def dict_cache():
    return DictCache()


@lru.workload(params={{"n": [3000]}}, goal={list(GOALS)!r})
def fill(trial, new, n):
    cache = trial.keep(new())
    values = [bytes(8) for _ in range(n)]
    with trial.phase("fill"):
        for i in range(n):
            cache.put(i, values[i])
        trial.ops(n)
"""


def library_history(root: Path) -> tuple[Project, list[str]]:
    """A small library's history of :data:`COMMITS` commits, oldest first: README, docs and
    tests change most, the package's code changes without effect at times, the commit at
    :data:`REGRESSION` wraps each value in a list, the one at :data:`BROKEN` breaks the
    build and the next repairs it. The first commit is older than the workloads, which
    today's fill in, as they do for a project's early history."""
    project = lrukit(root, with_workloads=False)
    commits = [project.git("rev-parse", "HEAD")]
    project.write("benchmarks/allocations/lru.py", HISTORY_WORKLOADS)
    commits.append(project.commit("workloads for two caches"))
    pyproject = (project.root / "pyproject.toml").read_text()
    for position in range(2, COMMITS):
        if position == REGRESSION:
            regress_lru(project)
            subject = "keep each value in a list"
        elif position == BROKEN:
            project.write("pyproject.toml", pyproject.replace('version = "1.0"', 'version = "not a version"'))
            subject = "bump the version"
        elif position == REPAIR:
            project.write("pyproject.toml", pyproject.replace('version = "1.0"', 'version = "1.1"'))
            subject = "fix the version"
        elif position % 7 == 3:
            # Code that changes nothing the workloads measure.
            init = project.root / "src" / "lrukit" / "__init__.py"
            project.write("src/lrukit/__init__.py", init.read_text() + f"\nRELEASE_NOTE_{position} = {position}\n")
            subject = f"note release {position} in the package"
        elif position % 3 == 0:
            project.write(f"tests/test_{position}.py", f"def test_{position}():\n    assert {position}\n")
            subject = f"test {position}"
        else:
            readme = project.root / "README.md"
            project.write("README.md", readme.read_text() + f"\nA note on use, number {position}.\n")
            subject = f"docs: note {position}"
        commits.append(project.commit(subject))
    return project, commits


def ckit(root: Path, payload: int) -> Project:
    """The src-layout package with a C extension, committed once (``first``)."""
    project = Project(root)
    project.write("pyproject.toml", SRC_PYPROJECT.format(name="ckit-fixture", version="1.0"))
    project.write(".gitignore", "build/\n*.egg-info/\n*.so\n")
    project.write("setup.py", C_SETUP)
    project.write("src/ckit/__init__.py", '"""Byte strings from C."""\n')
    project.write("src/ckit/_fill.c", C_SOURCE.format(payload=payload))
    project.write("benchmarks/allocations/c_fill.py", C_WORKLOAD)
    project.commit("first")
    return project


def set_c_payload(project: Project, payload: int) -> None:
    project.write("src/ckit/_fill.c", C_SOURCE.format(payload=payload))


def flatkit(root: Path) -> Project:
    """The flat layout without a build backend, committed once (``first``)."""
    project = Project(root)
    project.write("pyproject.toml", FLAT_PYPROJECT)
    project.write("flatkit/__init__.py", "")
    project.write("flatkit/store.py", FLAT_STORE.format(value="bytes(100)"))
    project.write("workloads/flat.py", FLAT_WORKLOAD)
    project.commit("first")
    return project


def installed_distributions() -> list[tuple[str, str, str]]:
    """(name, version, location) of every distribution a fresh interpreter of this environment sees."""
    script = (
        "import importlib.metadata as m, json\n"
        "print(json.dumps(sorted((d.metadata['Name'] or '', d.version, str(d.locate_file(''))) "
        "for d in m.distributions())))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return [tuple(row) for row in json.loads(done.stdout)]


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", "--disable-pip-version-check", *args], check=True)
