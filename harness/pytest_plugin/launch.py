"""Measuring a test from the pytest session that collected it: one child pytest session per replicate.

Each replicate is a fresh interpreter with ``PYTHONHASHSEED`` pinned to its seed, as every
trial of ``harness run`` is. Running several replicates in one child is cheaper but not
exact: a warm interpreter allocates less than a fresh one (lazy initialisation, caches), so a
later replicate's figures would depend on what ran before it (measured by
``benchmarks/pytest_plugin.py``).

The child is ``python -m pytest`` on the test's node id with the parent's rootdir, ini file
(its ``addopts`` included), working directory and traceback options, made lean: no cache
provider, no random reordering, no distribution (``-n 0``), no coverage, no XML report, a
base temporary directory of its own. Its stdout is dropped; its reports come back as data.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.declare.config import Settings, memory_limit_bytes
from harness.measure.capture.reach import child_environment
from harness.measure.executors.process import run_child as run_measuring_child
from harness.pytest_plugin.child import ChildSpec
from harness.store.results import PhaseResult, TrialResult

#: Plugins the child never needs (``harness`` would measure the test again, recursively).
_BLOCKED = ("harness", "harness.pytest_plugin", "cacheprovider", "randomly")


@dataclass(frozen=True)
class Measurement:
    """What the children made of one test.

    ``reports`` are the child's pytest reports (setup, call, teardown) of the replicate that
    decides the outcome: the first that did not pass, else the last. ``error`` says why no
    child could measure the test at all (it crashed, timed out, or did not find the test).
    """

    trials: tuple[TrialResult, ...] = ()
    reports: Mapping[str, pytest.TestReport] = field(default_factory=dict)
    error: str | None = None

    def report(self, when: str) -> pytest.TestReport | None:
        return self.reports.get(when)


def child_command(item: pytest.Item, spec_path: Path, basetemp: Path) -> list[str]:
    """``python -m pytest NODEID ...``: the same project and ini as ``item``'s session, lean."""
    config = item.config
    target = f"{item.path}::{item.nodeid.split('::', 1)[1]}"
    command = [sys.executable, "-m", "pytest", target, "--rootdir", str(config.rootpath)]
    if config.inipath is not None:
        command += ["-c", str(config.inipath)]
    for name in _BLOCKED:
        command += ["-p", f"no:{name}"]
    # One token: pytest looks for the ini file before it knows this option, and would take a
    # separate value for a path to test, and look for the ini file above it.
    command += ["-p", "harness.pytest_plugin.child", f"--harness-child={spec_path}"]
    command += ["--basetemp", str(basetemp), "-q", "--no-header", f"--tb={config.option.tbstyle}"]
    command += ["-v"] * max(config.option.verbose, 0)
    if config.option.showlocals:
        command.append("-l")
    plugins = config.pluginmanager
    if plugins.hasplugin("xdist"):
        command += ["-p", "xdist", "-n", "0"]  # the ini's addopts may ask for workers
    if plugins.hasplugin("pytest_cov"):
        command.append("--no-cov")
    if getattr(config.option, "xmlpath", None):
        command.append("--junitxml=")  # the parent writes the XML report
    return command


def _child_environment(seed: int, backend: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COV_CORE_")}
    env.pop("PYTHONTRACEMALLOC", None)
    env["PYTHONHASHSEED"] = str(seed)
    child_environment(backend, env)
    return env


def run_child(item: pytest.Item, spec: ChildSpec, workdir: Path, timeout_s: float) -> dict[str, Any] | str:
    """Run one child; its outcome as data, or why it has none."""
    spec_path = workdir / "spec.json"
    spec_path.write_text(spec.to_json(), encoding="utf-8")
    seed = spec.replicates[0][1]
    ended = run_measuring_child(
        child_command(item, spec_path, workdir / "basetemp"),
        env=_child_environment(seed, spec.backend),
        cwd=item.config.invocation_params.dir,
        timeout_s=timeout_s,
    )
    out = Path(spec.out)
    if ended.timed_out or ended.returncode < 0 or not out.is_file():
        limit = None if out.is_file() else spec.memory_limit
        death = ended.death(limit)
        if death is not None:
            return f"{death} (seed {seed})"
        return f"pytest exited with code {ended.returncode} (seed {seed}):\n{ended.last_lines(5) or 'no output'}"
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return data


def _report(config: pytest.Config, data: dict[str, Any]) -> pytest.TestReport:
    report: pytest.TestReport = config.hook.pytest_report_from_serializable(config=config, data=data)
    if isinstance(report.longrepr, list):
        report.longrepr = tuple(report.longrepr)  # a skip's (path, line, reason), a list once in JSON
    return report


def measure(item: pytest.Item, settings: Settings, backend: str, seeds: list[tuple[int, int]]) -> Measurement:
    """Measure ``item`` once per (replicate, seed), each in a fresh child; stop at the first that does not pass."""
    config = item.config
    trials: list[TrialResult] = []
    reports: dict[str, pytest.TestReport] = {}
    for replicate, seed in seeds:
        with tempfile.TemporaryDirectory(prefix="harness-pytest-") as tmp:
            workdir = Path(tmp)
            spec = ChildSpec(
                item.nodeid,
                ((replicate, seed),),
                backend,
                settings.top_sites,
                str(workdir / "out.json"),
                memory_limit_bytes(settings),
            )
            outcome = run_child(item, spec, workdir, settings.timeout_s)
        if isinstance(outcome, str):
            return Measurement(tuple(trials), error=f"the measuring interpreter {outcome}")
        if not outcome["found"]:
            errors = "\n".join(outcome["collect_errors"]) or "no such test there"
            return Measurement(
                tuple(trials), error=f"the measuring interpreter did not collect {item.nodeid}:\n{errors}"
            )
        reports = {data["when"]: _report(config, data) for data in outcome["reports"]}
        for measured in outcome["replicates"]:
            phases = measured["phases"]
            if phases is not None:
                trials.append(
                    TrialResult(
                        experiment=item.nodeid,
                        replicate=measured["replicate"],
                        seed=measured["seed"],
                        status="ok",
                        phases=tuple(PhaseResult.from_json(p) for p in measured["phases"]),
                        wall_s=float(measured["wall_s"]),
                        rss_peak_bytes=outcome["rss_peak_bytes"],
                    )
                )
        if not all(r.passed for r in reports.values()):
            break
    return Measurement(tuple(trials), reports)
