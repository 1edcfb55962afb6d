"""The build key: which environment variables, compilers and settings give a build a key of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.commits.buildkey import build_key, compiler_identity
from harness.declare.config import load_settings
from harness.errors import ConfigError

COMMIT = "3f2a9c1e20" * 4


def key(project: Path, environ: dict[str, str], extra: tuple[str, ...] = ()) -> str:
    return build_key(COMMIT, project, Path("."), None, extra, environ).key


def test_a_variable_named_in_setup_py_counts_and_an_unnamed_one_does_not(tmp_path: Path) -> None:
    (tmp_path / "setup.py").write_text('import os\nif os.environ.get("MYLIB_NO_EXTENSIONS") == "1":\n    pass\n')
    plain = key(tmp_path, {})

    assert key(tmp_path, {"MYLIB_NO_EXTENSIONS": "1"}) != plain
    assert key(tmp_path, {"MYLIB_NO_EXTENSIONS": "1"}) != key(tmp_path, {"MYLIB_NO_EXTENSIONS": "0"})
    assert key(tmp_path, {"UNRELATED_SETTING": "1"}) == plain
    # ``[tool.harness] build-env`` names what a build reads elsewhere.
    assert key(tmp_path, {"UNRELATED_SETTING": "1"}, ("UNRELATED_SETTING",)) != plain


@pytest.mark.parametrize("name", ["CFLAGS", "LDFLAGS", "MACOSX_DEPLOYMENT_TARGET", "PIP_CONSTRAINT", "CMAKE_ARGS"])
def test_standard_build_variables_count_in_any_project(name: str, tmp_path: Path) -> None:
    assert key(tmp_path, {name: "-O0"}) != key(tmp_path, {})


def test_the_entry_records_the_variables_with_url_credentials_masked(tmp_path: Path) -> None:
    made = build_key(COMMIT, tmp_path, Path("."), None, (), {"PIP_INDEX_URL": "https://me:s3cret@pypi.example/simple"})

    assert made.variables == ("PIP_INDEX_URL",)
    assert made.inputs["env:PIP_INDEX_URL"] == "https://***@pypi.example/simple"
    assert made.key.startswith(COMMIT[:12] + "-")
    assert {"interpreter", "compiler"} <= set(made.inputs)


def test_the_compiler_is_named_by_its_path_and_version(tmp_path: Path) -> None:
    # A compiler wrapper that says another version is another compiler.
    for version in ("1.0", "2.0"):
        script = tmp_path / version / "cc"
        script.parent.mkdir()
        script.write_text(f"#!/bin/sh\necho 'fixture cc {version}'\n")
        script.chmod(0o755)
    one, two = (compiler_identity(str(tmp_path / v / "cc")) for v in ("1.0", "2.0"))

    assert one.endswith(": fixture cc 1.0") and two.endswith(": fixture cc 2.0")
    assert key(tmp_path, {"CC": str(tmp_path / "1.0" / "cc")}) != key(tmp_path, {"CC": str(tmp_path / "2.0" / "cc")})
    assert compiler_identity(str(tmp_path / "missing-cc")).endswith("not found")


def test_build_env_must_be_a_list_of_names(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.harness]\nbuild-env = ["MYLIB_FAST"]\n')
    assert load_settings(tmp_path).build_env == ("MYLIB_FAST",)

    (tmp_path / "pyproject.toml").write_text('[tool.harness]\nbuild-env = "MYLIB_FAST"\n')
    with pytest.raises(ConfigError, match=r"\[tool.harness\].build-env must be a list of strings"):
        load_settings(tmp_path)


def test_the_key_is_the_same_in_another_process() -> None:
    """Nothing of one process (hash seed, order of a set) enters the key: a later run finds the build."""
    script = (
        "from pathlib import Path; from harness.commits.buildkey import build_key; "
        f"print(build_key({COMMIT!r}, Path('/nonexistent'), Path('.'), None, (), {{}}).key)"
    )
    here = build_key(COMMIT, Path("/nonexistent"), Path("."), None, (), {}).key
    again = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    assert again == here


KEYS_IN_THREADS = """
import sys, threading
from pathlib import Path
from harness.commits.buildkey import build_key

start = threading.Barrier(4)
keys = []

def key():
    start.wait()
    keys.append(build_key("3f2a9c1e20" * 4, Path(sys.argv[1]), Path("."), None, (), {}).key)

threads = [threading.Thread(target=key) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(len(set(keys)))
"""


@pytest.mark.parametrize("attempt", range(5))
def test_the_sides_keyed_side_by_side_in_threads_get_one_key(tmp_path: Path, attempt: int) -> None:
    # A fresh interpreter each time: sysconfig's variables are filled on first use, without a
    # lock, so threads racing there read the compiler as unset unless the key takes a lock.
    done = subprocess.run(
        [sys.executable, "-c", KEYS_IN_THREADS, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "1", done.stderr
