"""The project builds a wheel and an sdist under its distribution name, and each installs into
a fresh virtual environment and runs ``harness run`` there, native backend included."""

from __future__ import annotations

import json
import os
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
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_it_installs_in_a_fresh_venv_and_runs(kind: str, artifacts: dict[str, Path], tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    fresh_site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
            env=CLEAN_ENV,
        ).stdout.strip()
    )
    # The dependencies (pandas, scipy, memray, setuptools for the sdist's build) come from this
    # environment's site-packages, appended after the fresh one: offline, and the project
    # itself is found in the fresh venv only (this environment holds it as an editable finder,
    # which a path entry does not start).
    (fresh_site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip, str(artifacts[kind])],
        check=True,
        capture_output=True,
    )
    # The C hooks were compiled, also from the sdist (whose headers the build must find).
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
        [str(venv / "bin" / "harness"), "run", "-n", "1", "lru_cache", "-o", "out.json"],
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
