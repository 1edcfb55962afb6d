"""Each side of a comparison measures its own code, and only its own.

- A build that depends on an environment variable is cached under a key of its own: a compare
  made with the variable leaves nothing that a compare made without it reuses.
- The user's editable install of the project (made here in a fresh venv, never in this
  environment) does not serve an older commit the module its build lacks.
- Workloads that put another checkout's code on the import path are refused in one line.
- harness compares two commits of its own repository, and so does the workflow's script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from gitproject import GIT_ENV, Project
from realprojects import installed_distributions

ROOT = Path(__file__).resolve().parents[2]

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "envkit-fixture"
version = "1.0"

{packages}

[tool.harness]
workloads = "benchmarks/allocations"
replicates = 2
backend = "native"
"""

#: Builds the C extension unless FIXTURE_NO_EXT=1 (as many libraries offer a pure-Python build).
SETUP = """\
import os

from setuptools import Extension, setup

extensions = [] if os.environ.get("FIXTURE_NO_EXT") == "1" else [Extension("envkit._fill", ["{src}envkit/_fill.c"])]
setup(ext_modules=extensions)
"""

#: The pure-Python fallback keeps byte strings of another size than the C code: the figures say which ran.
PURE = """\
def fill(store, n):
    for _ in range(n):
        store.append(bytes(40))
"""

C_SOURCE = """\
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *fill(PyObject *self, PyObject *args) {
    PyObject *store;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "On", &store, &n)) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyBytes_FromStringAndSize(NULL, 200);
        if (item == NULL) return NULL;
        memset(PyBytes_AS_STRING(item), 0, 200);
        int failed = PyList_Append(store, item);
        Py_DECREF(item);
        if (failed) return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"fill", fill, METH_VARARGS, "Append n byte strings of 200 bytes."},
    {NULL, NULL, 0, NULL},
};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fill", NULL, -1, methods};
PyMODINIT_FUNC PyInit__fill(void) { return PyModule_Create(&module); }
"""

#: Takes the C extension where the package has one, else the pure fallback; says which in $WITNESS.
WORKLOAD = """\
import os

import harness

try:
    from envkit import _fill as implementation
except ImportError:
    from envkit import pure as implementation

envkit = harness.family("envkit", "byte strings from C or from Python")


@envkit.variant("any")
def any_():
    return []


@envkit.workload(params={"n": [2000]}, goal="fill.net_bytes_per_op")
def fill(trial, new, n):
    witness = os.environ.get("WITNESS")
    if witness:
        with open(witness, "a") as handle:
            handle.write(implementation.__name__ + " " + implementation.__file__ + "\\n")
    store = trial.keep(new())
    with trial.phase("fill"):
        implementation.fill(store, n)
        trial.ops(n)
"""

ENV_ID = "envkit.fill[any,n=2000]"


#: Where the package lies: src layout (setuptools' editable install is a path entry), or flat
#: (its editable install is a finder that serves the package's modules from the source tree).
LAYOUTS = {
    "src": ("src/", '[tool.setuptools.packages.find]\nwhere = ["src"]'),
    "flat": ("", '[tool.setuptools]\npackages = ["envkit"]'),
}


def envkit(root: Path, *, with_extension: bool, layout: str = "src") -> Project:
    """The package: a pure-Python fill, and (``with_extension``) a C one preferred to it."""
    src, packages = LAYOUTS[layout]
    project = Project(root)
    project.write("pyproject.toml", PYPROJECT.format(packages=packages))
    project.write(".gitignore", "build/\n*.egg-info/\n*.so\n")
    project.write(f"{src}envkit/__init__.py", '"""Byte strings."""\n')
    project.write(f"{src}envkit/pure.py", PURE)
    project.write("benchmarks/allocations/envkit_fill.py", WORKLOAD)
    if with_extension:
        add_extension(project, layout)
    project.commit("first")
    return project


def add_extension(project: Project, layout: str = "src") -> None:
    src = LAYOUTS[layout][0]
    project.write("setup.py", SETUP.replace("{src}", src))
    project.write(f"{src}envkit/_fill.c", C_SOURCE)


def means(done: subprocess.CompletedProcess[str]) -> tuple[float, float]:
    assert done.stdout, done.stderr
    row = {r["id"]: r for r in json.loads(done.stdout)["experiments"]}[ENV_ID]
    return float(row["baseline_mean"]), float(row["candidate_mean"])


def test_a_build_made_with_an_environment_variable_is_not_reused_without_it(tmp_path: Path) -> None:
    project = envkit(tmp_path / "envkit", with_extension=True)
    base = project.git("rev-parse", "HEAD")
    project.write("src/envkit/_fill.c", C_SOURCE.replace("200", "260"))
    head = project.commit("bigger byte strings")
    shared = {"HARNESS_CACHE_DIR": str(tmp_path / "cache")}
    compare = ("compare", base, head, ENV_ID, "--format", "json", "-n", "1")

    pure = project.harness(*compare, env={**shared, "FIXTURE_NO_EXT": "1"})
    after = project.harness(*compare, env=shared)
    clean = project.harness(*compare, env={"HARNESS_CACHE_DIR": str(tmp_path / "clean-cache")})

    assert means(after) == means(clean)
    # The pure builds measured the pure code (40-byte strings on both sides): no change.
    assert means(pure)[0] == means(pure)[1] < means(clean)[0] < means(clean)[1]
    assert "(cached)" not in after.stderr, after.stderr
    metas = [json.loads(p.read_text()) for p in (tmp_path / "cache" / "builds").glob("*/meta.json")]
    assert len(metas) == 4
    with_variable = [m for m in metas if m["built_for"].get("env:FIXTURE_NO_EXT") == "1"]
    assert sorted(m["label"] for m in with_variable) == sorted([base[:10], head[:10]])
    assert all("compiler" in m["built_for"] and "interpreter" in m["built_for"] for m in metas)


def clean_env() -> dict[str, str]:
    """The environment of a fresh venv's processes: nothing on the import path from outside it
    (read when called: the test's own build cache is set by then)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def fresh_venv(root: Path) -> Path:
    """A venv of its own whose path reaches harness (this checkout) and this environment's
    packages by a path entry, so that nothing is ever installed into this environment."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
    ).stdout.strip()
    Path(purelib, "dependencies.pth").write_text(f"{ROOT}\n{sysconfig.get_path('purelib')}\n", encoding="utf-8")
    return python


def test_an_editable_install_never_serves_an_older_commit_the_module_it_lacks(tmp_path: Path) -> None:
    project = envkit(tmp_path / "envkit", with_extension=False, layout="flat")
    base = project.git("rev-parse", "HEAD")
    add_extension(project, "flat")
    head = project.commit("fill in C")
    python = fresh_venv(tmp_path / "venv")
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check", "--python", str(python)]
    subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", "-e", str(project.root)], check=True)
    # The trap: the editable install's finder serves envkit._fill, compiled in place from HEAD's source.
    assert list((project.root / "envkit").glob("_fill*.so"))
    assert list((tmp_path / "venv").glob("lib/python*/site-packages/__editable___envkit_fixture_*finder.py"))
    witness = tmp_path / "imported.txt"
    before = installed_distributions()

    done = subprocess.run(
        [str(python), "-m", "harness", "compare", base, head, ENV_ID, "--format", "json", "-n", "1"],
        cwd=project.root,
        env={**clean_env(), **GIT_ENV, "WITNESS": str(witness)},
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 1, done.stderr  # C strings of 200 bytes where Python kept 40
    baseline, candidate = means(done)
    assert candidate > baseline
    imported = [line.split() for line in witness.read_text().splitlines()]
    # The older commit ran its own pure-Python code from its build; HEAD its C extension from its build.
    builds = (Path(os.environ["HARNESS_CACHE_DIR"]) / "builds").resolve()
    by_commit = {Path(file).resolve().relative_to(builds).parts[0][:12]: module for module, file in imported}
    assert by_commit == {base[:12]: "envkit.pure", head[:12]: "envkit._fill"}
    # The same baseline measured alone (no editable install in this environment) reads the same.
    alone = project.harness("compare", base, base, ENV_ID, "--format", "json", "-n", "1")
    assert means(alone)[0] == baseline
    assert installed_distributions() == before


def test_workloads_that_import_another_checkouts_code_are_refused_in_one_line(tmp_path: Path) -> None:
    project = envkit(tmp_path / "envkit", with_extension=False)
    base = project.git("rev-parse", "HEAD")
    # A common benchmark idiom: the suite puts the source tree it lies in first on the path,
    # so the candidate's own workload file (each side runs its own) imports the checkout's
    # source, not the candidate's build.
    text = WORKLOAD.replace(
        "import harness\n",
        "import sys\nfrom pathlib import Path\n\nimport harness\n\n"
        "sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'src'))\n",
        1,
    )
    project.write("benchmarks/allocations/envkit_fill.py", text)
    head = project.commit("the suite imports its own tree")

    done = project.harness("compare", base, head, ENV_ID, "-n", "1")

    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr
    assert lines[-1].startswith(f"harness: error: at {head[:10]}: module envkit was imported from "), lines[-1]
    assert "/src/envkit/__init__.py, not from its build (" in lines[-1]


def test_harness_compares_two_commits_of_its_own_repository(tmp_path: Path) -> None:
    """Both commits' builds hold their own ``harness._native``: each side preloads its own."""
    clone = tmp_path / "harness"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    project = Project(clone, init=False)
    for note in ("one", "two"):
        project.write("docs/note.md", f"A note: {note}.\n")
        project.commit(f"docs: note {note}")
    pattern, args = "lru_cache.churn[ordered,*", ("-n", "1", "--backend", "native")
    started = time.perf_counter()

    # -P: the harness under test, not the clone's own package that lies in the working directory.
    done = subprocess.run(
        [sys.executable, "-P", "-m", "harness", "compare", "HEAD~1", "HEAD", pattern, *args, "--format", "json"],
        cwd=clone,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert done.returncode == 0, done.stderr + done.stdout[-3000:]
    rows = json.loads(done.stdout)["experiments"]
    assert rows and all(
        r["error"] is None and len(r["baseline_values"]) == len(r["candidate_values"]) == 1 for r in rows
    )
    assert "not preloaded" not in done.stderr

    # The workflow's compare step, as allocations.yml runs it through the action.
    out, outputs = tmp_path / "verdict", tmp_path / "outputs.txt"
    script = subprocess.run(
        ["bash", str(ROOT / ".github" / "harness-compare.sh")],
        cwd=clone,
        env={
            **os.environ,
            **GIT_ENV,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "BASE": "HEAD~1",
            "PATTERNS": pattern,
            "ARGS": " ".join(args),
            "OUT_DIR": str(out),
            "GITHUB_OUTPUT": str(outputs),
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert script.returncode == 0, script.stderr
    assert "exit-code=0" in outputs.read_text().splitlines(), script.stderr
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["passed"] and all(r["error"] is None for r in verdict["experiments"])
    print(f"two builds of harness and two compares: {time.perf_counter() - started:.1f} s")
