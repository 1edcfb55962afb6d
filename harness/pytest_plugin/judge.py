"""The verdict on a measured test: its figures held to its limits and, with
``--harness-baseline``, compared with the baseline under the gate's rule."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.declare.spec import Goal
from harness.measure.capture import measured_metrics, resolve_backend
from harness.pytest_plugin.limits import limits_of, over_limits
from harness.pytest_plugin.summary import Delta, MeasuredTest
from harness.store.pytest_baseline import compact
from harness.store.results import ExperimentInfo, Results, RunSettings

if TYPE_CHECKING:
    from harness.pytest_plugin import _Session
    from harness.pytest_plugin.launch import Measurement


def judge(item: pytest.Item, measurement: Measurement, session: _Session) -> tuple[MeasuredTest, str | None]:
    """What the measured test contributes to the session, and why it fails (a figure over its
    limit, a regression), or None."""
    settings = session.settings
    backend = resolve_backend(session.option("harness_backend"))
    marker = item.get_closest_marker("harness")
    default_goal = "alloc_bytes" if "alloc_bytes" in measured_metrics(backend) else "net_bytes"
    goal = marker.kwargs.get("goal", default_goal) if marker else default_goal
    goals = tuple(Goal.parse(g) for g in ([goal] if isinstance(goal, str) else goal))
    bounds = limits_of(item, settings.pytest_limits)
    callspec = getattr(item, "callspec", None)
    params = {"id": callspec.id} if callspec is not None else {}
    name = getattr(item, "originalname", item.name)
    info = ExperimentInfo(item.nodeid, "pytest", name, "test", params, goals, bounds)
    # Kept as a baseline keeps them (the sites that moved most, and a remainder), as every use
    # of them after this test needs: all the sites of every test of a suite, kept to its end,
    # held over 600 MB of pytest's memory on 1,661 tests.
    results = compact(
        Results(
            environment=session.environment(backend),
            settings=RunSettings(replicates=session.replicates(), base_seed=settings.base_seed, backend=backend),
            experiments=(info,),
            trials=measurement.trials,
        ),
        Path(item.config.rootpath),
    )
    baseline = session.option("harness_baseline")
    rows = []
    if baseline:
        # The gate (and scipy) is imported only by a session that compares.
        from harness.pytest_plugin.baseline import compare_test

        rows = compare_test(session.baseline(), results, settings, Path(item.config.rootpath))
    measured = MeasuredTest(results, tuple(Delta.of(r) for r in rows), compared=bool(rows))
    root = str(item.config.rootpath).rstrip("/") + "/"
    over = over_limits(bounds, measurement.trials, root)
    if over:
        return measured, f"harness limit exceeded in {item.nodeid}\n" + "\n".join(over)
    if baseline:
        from harness.pytest_plugin.baseline import regression_message, regressions

        regressed = regressions(rows)
        if regressed:
            return measured, regression_message(item.nodeid, baseline, regressed, results)
    return measured, None
