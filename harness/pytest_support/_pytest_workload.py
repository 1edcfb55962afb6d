"""The workload that runs one pytest test inside a trial's fresh child interpreter.

Loaded by path by :mod:`harness.trial` (its name starts with ``_`` so discovery of a
workloads directory never picks it up). The test module is imported during the trial's
setup, so its import is not measured; the test runs either with the trial as its
``harness_trial`` argument (it opens its own phases) or inside one phase named ``test``.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import harness
from harness.discovery import load_module

pytest_tests = harness.family("pytest_tests", "tests measured by the harness pytest plugin")

#: The phase a test that does not take ``harness_trial`` is measured as, whole.
WHOLE_TEST_PHASE = "test"


@pytest_tests.variant("test")
def no_instance() -> None:
    """A test builds what it measures itself."""


def _test_callable(path: str, rootdir: str, qualname: str) -> Any:
    """The test function (a bound method of a fresh instance for a test in a class)."""
    target: Any = load_module(Path(path), Path(rootdir))
    for part in qualname.split("."):
        target = getattr(target, part)
        if inspect.isclass(target):
            target = target()
    return target


@pytest_tests.workload("call")
def call(
    trial: harness.Trial,
    new_instance: Any,
    *,
    path: str,
    rootdir: str,
    function: str,
    args: str,
    ops: int,
    whole: bool,
) -> None:
    """Run the test once, as the trial's workload."""
    test = _test_callable(path, rootdir, function)
    kwargs = json.loads(args)
    if not whole:
        test(harness_trial=trial, **kwargs)
        return
    with trial.phase(WHOLE_TEST_PHASE):
        test(**kwargs)
        trial.ops(ops)
