"""pytest plugin ``harness``: allocation limits and baselines for tests, measured like any trial.

A test is *measured* when it takes the ``harness_trial`` fixture or carries a
``harness_limits`` or ``harness`` marker; every other test runs as pytest runs it, and the
plugin costs it nothing. A measured test is not called in the pytest process: the plugin
runs it as the workload of a real trial (:mod:`harness.trial`) in a fresh child interpreter
with ``PYTHONHASHSEED`` pinned, its module imported by path, so its figures are those of
``harness run``::

    @pytest.mark.harness_limits(alloc_count_per_op=3, net_bytes="1 MiB")
    def test_put(harness_trial):
        cache = LRU(1000)
        keys = list(range(1000))          # setup: not measured
        with harness_trial.phase("put"):
            for key in keys:
                cache.put(key, key)
            harness_trial.ops(len(keys))

A test that does not take ``harness_trial`` is measured whole, as one phase named ``test``
(``ops`` from ``@pytest.mark.harness(ops=N)``, default 1). Limits are absolute: a figure over
its limit, in any phase (or the phase named as in ``{"put.alloc_count_per_op": 3}``) of any
replicate, fails the test with the figure, the limit and the phase's top call sites.

``--harness-save NAME`` stores the measured tests as ``baselines/pytest/NAME.json`` (a
``harness.results/1`` file, merged with the tests already in it); ``--harness-baseline NAME``
compares each measured test with it under the gate's rule (:func:`harness.gate.compare`)
and fails the test on a regression of its goal (``@pytest.mark.harness(goal=...)``, default
``alloc_bytes``, or ``net_bytes`` with the tracemalloc backend). See docs/pytest.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.config import Settings
    from harness.results import PhaseResult, Results, TrialResult
    from harness.spec import Bound
    from harness.verdict import ExperimentVerdict

FIXTURE = "harness_trial"
MARKERS = ("harness_limits", "harness")
#: Replicates per measured test: one seed checks limits; a baseline comparison needs a spread.
REPLICATES_LIMITS, REPLICATES_BASELINE = 1, 3
SHOWN_SITES = 5


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "allocation limits and baselines measured by harness")
    group.addoption(
        "--harness-baseline", metavar="NAME", help="fail measured tests that regressed against this baseline"
    )
    group.addoption("--harness-save", metavar="NAME", help="store the measured tests as the baseline NAME")
    group.addoption("--harness-backend", default="auto", help="memray, tracemalloc or auto (default)")
    group.addoption(
        "--harness-replicates",
        type=int,
        metavar="N",
        help=f"trials per measured test (default {REPLICATES_LIMITS}, {REPLICATES_BASELINE} with a baseline)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "harness_limits(limits=None, **limits): measure the test in a fresh interpreter and fail it when a figure "
        'exceeds its limit, e.g. harness_limits(alloc_count_per_op=3, net_bytes="1 MiB")',
    )
    config.addinivalue_line(
        "markers",
        "harness(goal='alloc_bytes', ops=1): measure the test in a fresh interpreter; goal is what "
        "--harness-baseline judges, ops the operations of a test measured whole",
    )


@dataclass
class _Session:
    """What the plugin keeps over a pytest session: settings, the baseline, what was measured."""

    config: pytest.Config
    measured: list[Results] = field(default_factory=list)
    _settings: Settings | None = None
    _baseline: Results | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from harness.config import load_settings

            self._settings = load_settings(Path(self.config.rootpath))
        return self._settings

    def option(self, name: str) -> Any:
        return self.config.getoption(name)

    def replicates(self) -> int:
        given = self.option("harness_replicates")
        if given is not None:
            if given < 1:
                raise pytest.UsageError("--harness-replicates must be >= 1")
            return int(given)
        wants_spread = self.option("harness_baseline") or self.option("harness_save")
        return REPLICATES_BASELINE if wants_spread else REPLICATES_LIMITS

    def baseline_path(self, name: str) -> Path:
        return self.settings.baselines / "pytest" / f"{name}.json"

    def baseline(self) -> Results:
        if self._baseline is None:
            from harness.results import read_results

            name = self.option("harness_baseline")
            path = self.baseline_path(name)
            if not path.is_file():
                raise _Failure(f"no pytest baseline {name!r} ({path}); make one with --harness-save {name}")
            self._baseline = read_results(path)
        return self._baseline


_SESSION = pytest.StashKey[_Session]()


class _Failure(Exception):
    """A measured test failed: its message is the whole report."""


def _session(config: pytest.Config) -> _Session:
    if _SESSION not in config.stash:
        config.stash[_SESSION] = _Session(config)
    return config.stash[_SESSION]


class _MeasuredInChild:
    """The in-process value of ``harness_trial``: a measured test never runs in this process."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("harness_trial is only usable in a test measured by the harness plugin")


@pytest.fixture
def harness_trial() -> Any:
    """The trial the test runs in: ``with harness_trial.phase("name"):`` measures a block,
    ``harness_trial.ops(n)`` declares its operations, ``harness_trial.rng`` is seeded."""
    return _MeasuredInChild()


def _is_measured(item: pytest.Item) -> bool:
    return FIXTURE in getattr(item, "fixturenames", ()) or any(item.get_closest_marker(m) for m in MARKERS)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a measured test as a trial (and check it) instead of calling it here."""
    if not _is_measured(pyfuncitem):
        return None
    from harness.errors import HarnessError

    session = _session(pyfuncitem.config)
    message = None
    try:
        if session.option("harness_baseline"):
            session.baseline()  # a missing baseline fails before any trial runs
        results = _measure(pyfuncitem, session)
        session.measured.append(results)
        _check(pyfuncitem, session, results)
    except _Failure as failure:
        message = str(failure)
    except HarnessError as exc:
        message = f"harness: {exc}"
    if message is not None:
        # Outside the handler, so that the report is the message alone.
        pytest.fail(message, pytrace=False)
    return True


def _limits(item: pytest.Item) -> list[Bound]:
    from harness.metrics import METRICS
    from harness.spec import Bound

    marker = item.get_closest_marker("harness_limits")
    if marker is None:
        return []
    table: dict[str, Any] = {}
    for positional in marker.args:
        if not isinstance(positional, Mapping):
            raise _Failure('harness_limits takes limits as keywords or one dict, e.g. {"put.net_bytes": "1 MiB"}')
        table.update(positional)
    table.update(marker.kwargs)
    bounds = [Bound.parse(key, limit) for key, limit in table.items()]
    for bound in bounds:
        if bound.metric not in METRICS:
            raise _Failure(f"harness_limits: unknown metric {bound.metric!r}; known: {', '.join(sorted(METRICS))}")
    return bounds


def _call_arguments(item: pytest.Function) -> dict[str, Any]:
    """The test's arguments other than ``harness_trial``: parametrize values, sent as JSON."""
    names = [n for n in item._fixtureinfo.argnames if n != FIXTURE]
    callspec = getattr(item, "callspec", None)
    params = dict(callspec.params) if callspec is not None else {}
    others = [n for n in names if n not in params]
    if others:
        raise _Failure(
            f"harness: a measured test runs in a fresh interpreter, where fixtures do not exist; "
            f"it can take only harness_trial and parametrize values, not {', '.join(others)}"
        )
    args = {n: params[n] for n in names}
    try:
        json.dumps(args)
    except (TypeError, ValueError):
        raise _Failure("harness: the parametrize values of a measured test must be plain data (JSON)") from None
    return args


def _measure(item: pytest.Function, session: _Session) -> Results:
    """The test run as ``replicates`` trials in fresh interpreters, as one experiment named by its node id."""
    from harness.capture import measured_metrics, resolve_backend
    from harness.pytest_support import WORKLOAD_MODULE, WORKLOADS_DIR
    from harness.results import ExperimentInfo
    from harness.run import Side, execute
    from harness.spec import Experiment, Goal

    settings = session.settings.override(replicates=session.replicates())
    backend = resolve_backend(session.option("harness_backend"))
    marker = item.get_closest_marker("harness")
    options = dict(marker.kwargs) if marker else {}
    default_goal = "alloc_bytes" if "alloc_bytes" in measured_metrics(backend) else "net_bytes"
    goal = options.get("goal", default_goal)
    goals = tuple(Goal.parse(g) for g in ([goal] if isinstance(goal, str) else goal))
    bounds = tuple(_limits(item))
    args = _call_arguments(item)
    rootdir = Path(item.config.rootpath)
    experiment = Experiment(
        family="pytest_tests",
        workload="call",
        variant="test",
        params={
            "path": str(item.path),
            "rootdir": str(rootdir),
            "function": item.function.__qualname__,
            "args": json.dumps(args),
            "ops": int(options.get("ops", 1)),
            "whole": FIXTURE not in item._fixtureinfo.argnames,
        },
        goals=goals,
        bounds=bounds,
        module=WORKLOAD_MODULE,
    )
    side = Side("", rootdir, WORKLOADS_DIR, (experiment,))
    results = execute([side], settings, backend)[""]
    if results.interrupted:
        raise KeyboardInterrupt
    info = ExperimentInfo(item.nodeid, "pytest", item.originalname, "test", args, goals, bounds)
    return replace(
        results,
        experiments=(info,),
        trials=tuple(replace(t, experiment=item.nodeid) for t in results.trials),
    )


def _check(item: pytest.Function, session: _Session, results: Results) -> None:
    """Fail on a failed trial, a figure over its limit, or a regression against the baseline."""
    failed = results.failed()
    if failed:
        raise _Failure(f"{item.nodeid} failed in its trial (seed {failed[0].seed}): {failed[0].error}")
    info = results.experiments[0]
    root = str(item.config.rootpath).rstrip("/") + "/"
    problems = [_over_limit(bound, trial, root) for bound in info.bounds for trial in results.trials]
    over = [p for p in problems if p]
    if over:
        raise _Failure(f"harness limit exceeded in {item.nodeid}\n" + "\n".join(over))
    if session.option("harness_baseline"):
        _compare(item, session, results)


def _over_limit(bound: Bound, trial: TrialResult, root: str) -> str:
    """The report of the first phase of ``trial`` where ``bound`` is exceeded ("" when none is)."""
    from harness.metrics import metric

    phases = [trial.phase(bound.phase)] if bound.phase else list(trial.phases)
    if bound.phase and phases[0] is None:
        return f"  {bound.name}: the test measured no phase {bound.phase!r}"
    shown = metric(bound.metric)
    for phase in phases:
        assert phase is not None
        value = phase.metrics.get(bound.metric)
        if value is None:
            if bound.metric.endswith("_per_op"):
                return f"  {phase.name}.{bound.metric}: no figure, the phase declared no operations (trial.ops(n))"
            continue
        if value > bound.upper:
            lines = [
                f"  {phase.name}.{bound.metric} = {shown.format(value)} > limit {shown.format(bound.upper)}"
                f" (replicate {trial.replicate}, seed {trial.seed})"
            ]
            lines += _site_lines(phase, bound.metric, root)
            return "\n".join(lines)
    return ""


def _site_lines(phase: PhaseResult, metric_name: str, root: str) -> list[str]:
    """The phase's top call sites by the figure closest to ``metric_name``."""
    from harness.metrics import metric

    base = metric_name.removesuffix("_per_op")
    kind = "count" if base.endswith("_count") else "bytes"
    order = [base] + [f"{prefix}_{kind}" for prefix in ("alloc", "kept", "net")]
    key = next((k for k in order if any(k in s for s in phase.sites)), None)
    if key is None:
        return []
    sites = sorted((s for s in phase.sites if key in s), key=lambda s: -abs(float(s[key])))[:SHOWN_SITES]
    lines = [f"  top call sites of phase {phase.name} by {key}:"]
    for site in sites:
        file = str(site.get("file", "?")).removeprefix(root)
        lines.append(
            f"    {metric(key).format(float(site[key])):>10}  {site.get('function', '?')} ({file}:{site.get('line')})"
        )
    return lines


def _compare(item: pytest.Function, session: _Session, results: Results) -> None:
    """Judge the test against its baseline under the gate's rule; fail on a regression."""
    from harness.gate import GateOptions, compare

    baseline = session.baseline()
    known = [e for e in baseline.experiments if e.id == item.nodeid]
    if not known:
        return  # a new test: nothing to compare with yet
    own = replace(baseline, experiments=tuple(known), trials=tuple(baseline.trials_of(item.nodeid)))
    options = GateOptions.from_settings(session.settings, gates=("regressions",), bounds={})
    verdict = compare(own, results, options)
    regressions = [r for r in verdict.experiments if r.decision == "regression" and not r.erratic]
    if regressions:
        name = session.option("harness_baseline")
        raise _Failure(
            f"harness regression in {item.nodeid} against baseline {name!r}\n"
            + "\n".join(_regression_lines(r) for r in regressions)
        )


def _regression_lines(row: ExperimentVerdict) -> str:
    from harness.metrics import metric

    shown = metric(row.goal)
    before, after = shown.format(row.baseline_mean or 0.0), shown.format(row.candidate_mean or 0.0)
    lines = [
        f"  {row.phase}.{row.goal}: {before} -> {after}"
        f" ({row.delta_pct or 0.0:+.1f}%, {row.ci_low_pct or 0.0:+.1f}% .. {row.ci_high_pct or 0.0:+.1f}%"
        f" at {row.replicates[1]} replicates), regression"
    ]
    if row.top_sites:
        lines.append("  call sites that moved most (bytes per replicate):")
        lines += [f"    {metric('alloc_bytes').format(m.delta, signed=True):>11}  {m.site}" for m in row.top_sites]
    return "\n".join(lines)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Store the measured tests as the baseline ``--harness-save`` names."""
    name = session.config.getoption("harness_save", None)
    state = session.config.stash.get(_SESSION, None)
    if not name or state is None or not state.measured:
        return
    path = _save(state, name)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"harness: baseline {name!r} saved to {path} ({len(state.measured)} measured tests)")


def _save(state: _Session, name: str) -> Path:
    """Write the measured tests into the baseline, keeping the tests of it that did not run now."""
    from harness.results import read_results, save_results

    path = state.baseline_path(name)
    measured: Sequence[Results] = state.measured
    ids = {r.experiments[0].id for r in measured}
    experiments = [r.experiments[0] for r in measured]
    trials = [t for r in measured for t in r.trials]
    if path.is_file():
        previous = read_results(path)
        experiments = [e for e in previous.experiments if e.id not in ids] + experiments
        trials = [t for t in previous.trials if t.experiment not in ids] + trials
    save_results(replace(measured[-1], experiments=tuple(experiments), trials=tuple(trials)), path)
    return path
