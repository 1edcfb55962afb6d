"""How a zygote, or a mother, is started: its command line and its environment, the same in
every session (see :mod:`harness.pytest_plugin.launch`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from harness.measure.capture.reach import child_environment
from harness.measure.server import Server, fixed_layout
from harness.pytest_plugin.forward import forwarded_options
from harness.pytest_plugin.zygote import SPEC_FILE, ZygoteSpec

#: Plugins a zygote never loads (``harness`` would measure the test again, recursively).
_BLOCKED = ("harness", "harness.pytest_plugin", "cacheprovider", "randomly", "memray")


def zygote_command(config: pytest.Config, test_path: Path, *, mother: bool = False) -> list[str]:
    """``python -m pytest PATH ...``: the same project and ini as ``config``'s session, lean. A
    zygote is given its test file; a ``mother``, the directory of the files it forks zygotes for."""
    # The user's options first: where the zygote's own repeat one, they come later and win.
    command = [sys.executable, "-m", "pytest", str(test_path), *forwarded_options(config)]
    command += ["--rootdir", str(config.rootpath)]
    if config.inipath is not None:
        command += ["-c", str(config.inipath)]
    for name in _BLOCKED:
        command += ["-p", f"no:{name}"]
    # One token each: pytest looks for the ini file before it knows these options, and would
    # take a separate value for a path to test, and look for the ini file above it.
    command += ["-p", "harness.pytest_plugin.zygote", "--harness-zygote={directory}"]
    if mother:
        command.append("--harness-mother")
    command.append("--harness-pipes={requests},{replies}")  # filled in by the server
    # The ini's log file is the parent's: a zygote would open it anew, truncating it.
    command += ["-o", "log_file=", "--basetemp", "{directory}/basetemp"]
    command += ["-q", "--no-header", f"--tb={config.option.tbstyle}"]
    command += ["-v"] * max(config.option.verbose, 0)
    if config.option.showlocals:
        command.append("-l")
    plugins = config.pluginmanager
    if plugins.hasplugin("xdist"):
        command += ["-p", "xdist", "-n", "0"]  # the ini's addopts may ask for workers
    if plugins.hasplugin("pytest_cov"):
        command.append("--no-cov")
    if plugins.hasplugin("junitxml"):
        command.append("--junitxml=")  # the parent writes the XML report, if any
    return command


#: Variables of the parent session that differ with the test that happens to start a zygote
#: (pytest's ``PYTEST_CURRENT_TEST``), with the terminal (xdist sets its workers' size) or with
#: xdist's worker: the zygote needs none of them (its copies set their own
#: ``PYTEST_CURRENT_TEST``, its output is dropped, it is no worker: a test reads in it what it
#: reads without xdist), and a string of another length at its start moves every address after it.
_PER_TEST_VARIABLES = (
    "PYTEST_CURRENT_TEST",
    "COLUMNS",
    "LINES",
    "PYTEST_XDIST_WORKER",
    "PYTEST_XDIST_WORKER_COUNT",
    "PYTEST_XDIST_TESTRUNUID",
    "MEMRAY_RESULT_PATH",  # pytest-memray's, drawn at random; a zygote never loads it
)


def _drop_per_test_variables(env: dict[str, str]) -> None:
    for name in _PER_TEST_VARIABLES:
        env.pop(name, None)


def zygote_environment(seed: int, backend: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COV_CORE_")}
    env.pop("PYTHONTRACEMALLOC", None)
    _drop_per_test_variables(env)
    env["PYTHONHASHSEED"] = str(seed)
    child_environment(backend, env)
    return env


def start_zygote(
    config: pytest.Config, test_path: Path, spec: ZygoteSpec, seed: int, workdir: Path, *, mother: bool = False
) -> Server:
    """Start a zygote of ``test_path`` (a mother, of a directory) working in ``workdir``, where
    it reads its ``spec``, with its address space laid out the same in every session."""
    workdir.mkdir()
    workdir.joinpath(SPEC_FILE).write_text(spec.to_json(), encoding="utf-8")
    with fixed_layout():
        return Server(
            zygote_command(config, test_path, mother=mother),
            env=zygote_environment(seed, spec.backend),
            cwd=config.invocation_params.dir,
            directory=workdir,
            socket_requests=mother,  # a mother's requests carry the descriptors of its zygotes
        )
