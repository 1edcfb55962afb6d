"""What C code takes from the C library's malloc is measured by the native backend, once, at
the Python call site that was running: a fixture extension of our own, numpy's buffers and a
compiled data-structure library from PyPI, each against memray on the same workload."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from harness.measure.capture import memray_available, native_available
from harness.measure.capture.reach import reach
from tests.end_to_end.test_engine import harness_cli, make_project

pytestmark = [
    pytest.mark.skipif(not native_available(), reason="the native extension is not built here"),
    pytest.mark.skipif(not reach("native", {}).preload, reason="the C-library hook needs Linux with glibc"),
]

FIGURES = ("alloc_count", "alloc_bytes", "kept_count", "kept_bytes", "net_count", "net_bytes")
NODES = 3000
#: The fixture store's node: what one push takes from malloc, and its name, from strdup.
NODE_BYTES = 40
NAME_BYTES = len("node-000000") + 1

#: A linked stack of nodes taken from the C library: malloc for each node, strdup (glibc's own
#: malloc inside) for its name, posix_memalign for a page of counters, realloc to grow an
#: index, calloc for a table, free on pop. Nothing here goes through Python's allocators.
CSTORE_SOURCE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct node { struct node *next; char *name; long value; char pad[16]; } node_t;

typedef struct {
    PyObject_HEAD
    node_t *top;
    node_t **index;
    size_t length, capacity;
    void *aligned;
    long *table;
} Store;

static int store_init(Store *self, PyObject *args, PyObject *kwds) {
    self->top = NULL; self->index = NULL; self->length = self->capacity = 0;
    if (posix_memalign(&self->aligned, 64, 4096) != 0) { PyErr_NoMemory(); return -1; }
    self->table = calloc(128, sizeof(long));
    if (self->table == NULL) { PyErr_NoMemory(); return -1; }
    return 0;
}

static PyObject *store_push(Store *self, PyObject *arg) {
    long value = PyLong_AsLong(arg);
    if (value == -1 && PyErr_Occurred()) return NULL;
    node_t *node = malloc(sizeof(node_t));
    char name[32];
    snprintf(name, sizeof name, "node-%06ld", value % 1000000);
    if (node == NULL || (node->name = strdup(name)) == NULL) { free(node); return PyErr_NoMemory(); }
    node->value = value; node->next = self->top; self->top = node;
    if (self->length == self->capacity) {
        size_t capacity = self->capacity ? 2 * self->capacity : 16;
        node_t **bigger = realloc(self->index, capacity * sizeof(node_t *));
        if (bigger == NULL) return PyErr_NoMemory();
        self->index = bigger; self->capacity = capacity;
    }
    self->index[self->length++] = node;
    Py_RETURN_NONE;
}

static PyObject *store_pop(Store *self, PyObject *unused) {
    node_t *node = self->top;
    if (node == NULL) { PyErr_SetString(PyExc_IndexError, "pop from an empty store"); return NULL; }
    self->top = node->next; self->length--;
    long value = node->value;
    free(node->name); free(node);
    return PyLong_FromLong(value);
}

static void store_dealloc(Store *self) {
    while (self->top != NULL) {
        node_t *next = self->top->next;
        free(self->top->name); free(self->top);
        self->top = next;
    }
    free(self->index); free(self->aligned); free(self->table);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef store_methods[] = {
    {"push", (PyCFunction)store_push, METH_O, "push(value): a node on top"},
    {"pop", (PyCFunction)store_pop, METH_NOARGS, "pop() -> value of the top node, freed"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject StoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cstore.Store",
    .tp_basicsize = sizeof(Store),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)store_init,
    .tp_dealloc = (destructor)store_dealloc,
    .tp_methods = store_methods,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "cstore", NULL, -1, NULL};

PyMODINIT_FUNC PyInit_cstore(void) {
    if (PyType_Ready(&StoreType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&StoreType);
    if (PyModule_AddObject(m, "Store", (PyObject *)&StoreType) < 0) {
        Py_DECREF(&StoreType); Py_DECREF(m); return NULL;
    }
    return m;
}
"""

CSTORE_SETUP = """
from setuptools import Extension, setup
setup(name="cstore", version="1.0", ext_modules=[Extension("cstore", ["cstore.c"])])
"""

WORKLOADS = f"""
import subprocess, sys
import harness
# Imported in setup: loading a library inside a phase would measure the loader too.
import numpy
try:
    import pyroaring
except ImportError:
    pyroaring = None

structures = harness.family("structures")

@structures.variant("cstore")
def cstore_variant():
    import cstore
    return cstore.Store()

@structures.workload(params={{"n": [{NODES}]}})
def stack(trial, new, n):
    store = trial.keep(new())
    with trial.phase("push"):
        for i in range(n):
            store.push(i)
        trial.ops(n)
    with trial.phase("pop"):
        for _ in range(n // 2):
            store.pop()
        trial.ops(n // 2)

arrays = harness.family("arrays")

@arrays.variant("numpy")
def numpy_zeros():
    return numpy.zeros(100_000, dtype=numpy.int64)

@arrays.workload()
def keep_ten(trial, new):
    kept = trial.keep([])
    with trial.phase("keep"):
        for _ in range(10):
            kept.append(new())
        trial.ops(10)

sets = harness.family("sets")

@sets.variant("roaring")
def roaring(values):
    return pyroaring.BitMap(values)

@sets.variant("set")
def python_set(values):
    return set(values)

@sets.workload(params={{"n": [200_000]}})
def spread(trial, new, n):
    values = list(range(0, 7 * n, 7))
    kept = trial.keep([])
    with trial.phase("build"):
        kept.append(new(values))
        trial.ops(n)

bookkeeping = harness.family("bookkeeping")

@bookkeeping.variant("none")
def nothing():
    return None

@bookkeeping.workload()
def counters(trial, new):
    with trial.phase("count"):
        trial.count("things", 12345)
        trial.count("things", 67890)
        trial.count("others", 1_000_000)
        trial.ops(100_000)
        trial.ops(200_000)

@bookkeeping.workload()
def child_environment(trial, new):
    seen = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ.get('LD_PRELOAD', ''))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    with trial.phase("child"):
        trial.count("preload_inherited", len(seen))
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_project(tmp_path_factory.mktemp("c-allocations"), {"structures": WORKLOADS})
    # A real build of the fixture extension, importable from the project's root.
    (root / "cstore.c").write_text(CSTORE_SOURCE)
    (root / "setup.py").write_text(textwrap.dedent(CSTORE_SETUP))
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=root, check=True, capture_output=True
    )
    return root


def run(project: Path, pattern: str, backend: str = "native") -> dict[tuple[str, str], dict[str, Any]]:
    out = project / f"{pattern.replace('*', '_')}-{backend}.json"
    result = harness_cli(project, "run", pattern, "-n", "1", "--backend", backend, "--out", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["environment"]["c_allocations"] == "seen"
    return {(t["experiment"], p["name"]): p for t in data["trials"] for p in t["phases"]}


def site_at(phase: dict[str, Any], source_line: str) -> dict[str, Any]:
    """The site of the workload line that reads ``source_line``."""
    [number] = [i + 1 for i, text in enumerate(WORKLOADS.splitlines()) if text.strip() == source_line]
    [site] = [s for s in phase["sites"] if s["file"].endswith("structures.py") and s["line"] == number]
    return site


def test_a_c_extension_s_mallocs_are_counted_once_at_their_python_line(project: Path) -> None:
    phases = run(project, "structures.stack*")
    push = phases[(f"structures.stack[cstore,n={NODES}]", "push")]
    # Each push: a node and its name; the index grows by doubling from 16 (each realloc an
    # allocation of the new size, the old one freed).
    capacity = growths = 0
    for length in range(NODES):
        if length == capacity:
            capacity, growths = 2 * capacity or 16, growths + 1
    pushing = site_at(push, "store.push(i)")
    assert pushing["alloc_count"] == 2 * NODES + growths
    assert pushing["kept_count"] == 2 * NODES + 1
    assert pushing["kept_bytes"] == NODES * (NODE_BYTES + NAME_BYTES) + capacity * 8
    # The rest of the phase is Python's: the loop's ints, one of them still named at the end.
    assert push["metrics"]["kept_bytes"] - pushing["kept_bytes"] == sys.getsizeof(NODES) + 4
    pop = phases[(f"structures.stack[cstore,n={NODES}]", "pop")]
    popping = site_at(pop, "store.pop()")
    assert popping["net_count"] == -2 * (NODES // 2)
    assert popping["net_bytes"] == -(NODES // 2) * (NODE_BYTES + NAME_BYTES)
    for phase in phases.values():
        for name in FIGURES:
            assert sum(site[name] for site in phase["sites"]) == phase["metrics"][name], name


def test_numpy_buffers_read_their_bytes(project: Path) -> None:
    import numpy

    [keep] = run(project, "arrays.keep_ten*").values()
    buffers = 10 * 100_000 * numpy.dtype(numpy.int64).itemsize
    # Ten buffers and ten array objects (numpy's objects are small, its buffers are not).
    assert buffers <= keep["metrics"]["kept_bytes"] <= 1.02 * buffers
    assert keep["metrics"]["kept_count"] >= 20


@pytest.mark.skipif(not memray_available(), reason="memray is not installed here")
@pytest.mark.parametrize(
    "pattern",
    [
        "arrays.keep_ten*",
        "sets.spread[roaring*",
        pytest.param(
            "structures.stack*",
            marks=pytest.mark.xfail(
                sys.version_info >= (3, 15),
                # The exact figures of this store are asserted above, and native reads them.
                reason="memray 1.20 on CPython 3.15 sometimes reads 33,040 B more kept (about the index "
                "blocks realloc gave back, 32,640 B), sometimes not",
                strict=False,
            ),
        ),
    ],
)
def test_native_reads_what_memray_reads_of_c_structures(project: Path, pattern: str) -> None:
    pytest.importorskip("pyroaring")
    native = run(project, pattern, "native")
    memray = run(project, pattern, "memray")
    assert native.keys() == memray.keys()
    for key, phase in native.items():
        ours, theirs = phase["metrics"]["kept_bytes"], memray[key]["metrics"]["kept_bytes"]
        # memray's own bookkeeping adds up to a few hundred bytes to a phase (README): that
        # decides phases that keep almost nothing, such as a drain.
        assert abs(ours - theirs) <= max(0.10 * abs(theirs), 1024), (key, ours, theirs)
    assert max(phase["metrics"]["kept_bytes"] for phase in native.values()) > 100_000


def test_a_roaring_bitmap_is_no_longer_free_beside_a_set(project: Path) -> None:
    pytest.importorskip("pyroaring")
    phases = run(project, "sets.spread*")
    roaring = phases[("sets.spread[roaring,n=200000]", "build")]["metrics"]["kept_bytes"]
    python_set = phases[("sets.spread[set,n=200000]", "build")]["metrics"]["kept_bytes"]
    # 200,000 integers 7 apart: a few hundred KiB of bitmap containers, against a set's table
    # of 8 MiB; neither near zero.
    assert 100_000 < roaring < python_set / 4
    assert python_set > 4_000_000


def test_the_harness_s_own_counters_and_clock_charge_nothing(project: Path) -> None:
    [count] = run(project, "bookkeeping.counters*").values()
    metrics = count["metrics"]
    assert {name: metrics[name] for name in (*FIGURES, "peak_bytes")} == dict.fromkeys((*FIGURES, "peak_bytes"), 0)
    assert count["sites"] == []
    assert (metrics["things"], metrics["others"], metrics["ops"]) == (12345 + 67890, 1_000_000, 300_000)


def test_the_workload_s_own_children_do_not_inherit_the_preload(project: Path) -> None:
    [child] = run(project, "bookkeeping.child_environment*").values()
    assert child["metrics"]["preload_inherited"] == 0
