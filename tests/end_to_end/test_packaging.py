"""The project builds a wheel and an sdist under its distribution name, and each installs into
a fresh virtual environment and runs ``harness run`` there, native backend included."""

from __future__ import annotations

import json
import os
import platform
import re
import runpy
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]


def _source_copy(dest: Path) -> Path:
    """The files git knows of, so that the build sees the tree as a fresh clone would."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    source = _source_copy(tmp_path_factory.mktemp("source"))
    out = tmp_path_factory.mktemp("dist")
    # Without isolation: the build uses this environment's setuptools, and needs no network.
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    [wheel] = out.glob("*.whl")
    [sdist] = out.glob("*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


def test_both_carry_the_distribution_name(artifacts: dict[str, Path]) -> None:
    assert DISTRIBUTION == "alloc-harness"
    assert artifacts["wheel"].name.startswith("alloc_harness-")
    assert artifacts["sdist"].name.startswith("alloc_harness-")


#: The environment of the fresh venv's processes: nothing on the import path from outside it.
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "CC", "LDSHARED")}
#: What checks an installed package: the release runs it on each wheel it builds, too.
WHEEL_CHECK = ROOT / ".ci" / "wheel-check.py"
BIN = Path(sys.executable).parent


def fresh_venv(root: Path) -> tuple[Path, Path]:
    """A venv at ``root`` without the project, and its site-packages.

    The dependencies (pandas, scipy, memray, setuptools for the sdist's build) come from this
    environment's site-packages, appended after the fresh one: offline, and the project itself
    is found in the fresh venv only (this environment holds it as an editable finder, which a
    path entry does not start)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    fresh_site = Path(
        subprocess.run(
            [str(root / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
            env=CLEAN_ENV,
        ).stdout.strip()
    )
    (fresh_site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    return root / "bin" / "python", fresh_site


def pip_install(python: Path, target: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            str(target),
        ],
        capture_output=True,
        text=True,
        env=env or CLEAN_ENV,
    )


def without_a_compiler(venv_bin: Path) -> dict[str, str]:
    """The environment of a machine with no C compiler: PATH is the venv's scripts alone."""
    env = {**CLEAN_ENV, "PATH": str(venv_bin)}
    for compiler in ("cc", "gcc", "clang", "c99"):
        assert shutil.which(compiler, path=env["PATH"]) is None, compiler
    return env


def test_the_sdist_installs_in_a_fresh_venv_and_runs(artifacts: dict[str, Path], tmp_path: Path) -> None:
    python, fresh_site = fresh_venv(tmp_path / "venv")
    installed = pip_install(python, artifacts["sdist"])
    assert installed.returncode == 0, installed.stderr
    # The C hooks were compiled from the sdist (whose headers the build must find).
    imported = subprocess.run(
        [str(python), "-c", "import harness, harness._native; print(harness.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=CLEAN_ENV,
    )
    assert imported.returncode == 0, imported.stderr
    assert Path(imported.stdout.strip()).is_relative_to(fresh_site), imported.stdout

    project = tmp_path / "project"
    shutil.copytree(ROOT / "workloads", project / "workloads", ignore=shutil.ignore_patterns("__pycache__"))
    (project / "pyproject.toml").write_text('[tool.harness]\nworkloads = "workloads"\n', encoding="utf-8")
    done = subprocess.run(
        [str(python.parent / "harness"), "run", "-n", "1", "lru_cache", "-o", "out.json"],
        cwd=project,
        capture_output=True,
        text=True,
        env=CLEAN_ENV,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads((project / "out.json").read_text(encoding="utf-8"))
    assert results["settings"]["backend"] == "native"
    assert results["trials"] and all(t["status"] == "ok" for t in results["trials"])
    assert all(p["metrics"]["alloc_count"] > 0 for t in results["trials"] for p in t["phases"])


@pytest.fixture(scope="module")
def repaired_wheel(artifacts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel as the release ships it: repaired by auditwheel (which runs patchelf)."""
    out = tmp_path_factory.mktemp("wheelhouse")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [str(BIN / "auditwheel"), "repair", "-w", str(out), str(artifacts["wheel"])],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [wheel] = out.glob("*.whl")
    return wheel


def test_auditwheel_gives_the_wheel_a_manylinux_tag(repaired_wheel: Path) -> None:
    machine = platform.machine()
    assert re.search(rf"-manylinux_2_\d+_{machine}\.", repaired_wheel.name), repaired_wheel.name
    shown = subprocess.run(
        [str(BIN / "auditwheel"), "show", str(repaired_wheel)], capture_output=True, text=True, check=True
    )
    # auditwheel wraps its text: the tag it names is what the wheel's symbols allow.
    text = " ".join(shown.stdout.split())
    assert re.search(rf'consistent with the following platform tag: "manylinux_2_\d+_{machine}"', text), text


def test_the_repaired_wheel_runs_the_native_backend_with_no_compiler_on_path(
    repaired_wheel: Path, tmp_path: Path
) -> None:
    python, fresh_site = fresh_venv(tmp_path / "venv")
    installed = pip_install(python, repaired_wheel)
    assert installed.returncode == 0, installed.stderr
    checked = subprocess.run(
        [str(python), str(WHEEL_CHECK)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=without_a_compiler(python.parent),
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # 5000 byte strings kept, and the list's item array: counted by the hooks, not estimated.
    found = re.fullmatch(
        r"native trial: (\d+) blocks kept for 5000 byte strings \(backend native, harness in (.+)\)\n", checked.stdout
    )
    assert found, checked.stdout
    assert 5000 <= int(found[1]) <= 5016
    assert Path(found[2]).is_relative_to(fresh_site)


def test_without_a_compiler_the_sdist_installs_and_run_says_how_to_get_native(
    artifacts: dict[str, Path], tmp_path: Path
) -> None:
    python, _ = fresh_venv(tmp_path / "venv")
    env = without_a_compiler(python.parent)
    # The release's build (HARNESS_REQUIRE_NATIVE=1) refuses to make a package without the hooks,
    # where a user's install goes on without them. The interpreter's compiler (sysconfig's CC:
    # gcc, cc, x86_64-linux-gnu-gcc, clang) is not there.
    required = pip_install(python, artifacts["sdist"], env={**env, "HARNESS_REQUIRE_NATIVE": "1"})
    assert required.returncode != 0
    assert "building 'harness._native' extension" in required.stderr
    assert re.search(r"No such file or directory: '[\w.-]*(gcc|cc|clang)'", required.stderr), required.stderr
    installed = pip_install(python, artifacts["sdist"], env=env)
    assert installed.returncode == 0, installed.stderr
    missing = subprocess.run(
        [str(python), "-c", "import harness._native"], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert "No module named 'harness._native'" in missing.stderr

    project = tmp_path / "project"
    (project / "workloads").mkdir(parents=True)
    (project / "workloads" / "known.py").write_text(runpy.run_path(str(WHEEL_CHECK))["WORKLOAD"], encoding="utf-8")
    (project / "pyproject.toml").write_text('[tool.harness]\nworkloads = "workloads"\n', encoding="utf-8")
    done = subprocess.run(
        [str(python.parent / "harness"), "run", "-n", "1", "-o", "out.json"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads((project / "out.json").read_text(encoding="utf-8"))
    assert results["environment"]["backend"] == "memray"
    [notice] = [line for line in done.stderr.splitlines() if "native backend unavailable" in line]
    assert notice == (
        "harness: native backend unavailable (harness._native was not built at install time, most often for want"
        " of a C compiler); using memray, whose counts differ from native's. To get native: install an"
        " alloc-harness wheel from PyPI, or a C compiler and reinstall alloc-harness. To keep memray quietly:"
        " --backend memray (under pytest: --harness-backend memray)."
    )
    # The README quotes it as it is.
    assert notice in (ROOT / "README.md").read_text(encoding="utf-8")
    # Chosen, memray is used without a word.
    quiet = subprocess.run(
        [str(python.parent / "harness"), "run", "-n", "1", "--backend", "memray", "-o", "quiet.json"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
    )
    assert quiet.returncode == 0, quiet.stderr
    assert "native backend unavailable" not in quiet.stderr
