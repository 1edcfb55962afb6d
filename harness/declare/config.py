"""Settings: defaults, overridden by ``[tool.harness]`` in pyproject.toml, overridden by flags."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from harness.declare.spec import Bound
from harness.declare.units import parse_quantity
from harness.errors import ConfigError, HarnessError

#: What can fail a gate besides failed trials, a candidate with no finished trial and an
#: interrupted run (which always do): a goal that regressed, a bounds check that failed, an
#: experiment (or a phase) of the baseline that the candidate lacks.
REGRESSIONS, BOUNDS, MISSING = "regressions", "bounds", "missing"
GATES = (REGRESSIONS, BOUNDS, MISSING)


@dataclass(frozen=True)
class Settings:
    """Everything a run or a gate needs to know that is not an experiment."""

    project_root: Path
    workloads: Path
    baselines: Path
    replicates: int = 5
    base_seed: int = 1
    backend: str = "auto"
    jobs: int = 1
    timeout_s: float = 300.0
    top_sites: int = 10
    confidence: float = 0.9
    tolerance_pct: float = 5.0
    erratic_cv: float = 0.1
    bounds: dict[str, dict[str, str | int | float]] = field(default_factory=dict)
    erratic: tuple[str, ...] = ()
    #: What fails a gate besides failed trials: some of :data:`GATES`.
    gate: tuple[str, ...] = GATES
    setup: str | None = None
    #: ``[tool.harness] build_env``: environment variables that change a build of the project,
    #: besides those harness counts by itself (see harness.commits.buildkey).
    build_env: tuple[str, ...] = ()
    #: How much the cache of built commits may hold, e.g. ``"2 GiB"`` (see harness.commits.buildcache).
    build_cache: str | int = "2 GiB"
    #: Memory a trial may use ("2 GiB", or "none"); default: a share of the machine's memory per job.
    memory_limit: str | int | None = None
    #: ``[tool.harness.pytest] limits``: the limits of every test the pytest plugin measures.
    pytest_limits: dict[str, str | int | float] = field(default_factory=dict)
    #: ``[tool.harness.pytest] measure``: which tests the pytest plugin measures, ``"marked"`` or ``"all"``.
    pytest_measure: str = "marked"

    @property
    def build_cache_bytes(self) -> int:
        return int(parse_quantity(self.build_cache))

    def override(self, **changes: Any) -> Settings:
        """A copy with the flags that were given (``None`` means not given)."""
        given = {k: v for k, v in changes.items() if v is not None}
        return validate(replace(self, **given))


#: The share of the machine's memory that the trials running at once may use together, by default.
MEMORY_SHARE = 0.5
#: The least a default limit gives one trial, however many run at once: a trial with numpy
#: loaded maps about 100 MiB of data before its workload runs (OpenBLAS's buffers, per core).
MEMORY_FLOOR = 512 * 1024**2
#: Below this a fresh interpreter cannot even start: a smaller limit is a typo ("2" for "2 GiB").
MIN_MEMORY_LIMIT = 64 * 1024**2
_NO_LIMIT = ("none", "off", "unlimited")

_KEYS = {f.name for f in fields(Settings)} - {"project_root", "pytest_limits", "pytest_measure"}
#: The keys of the ``[tool.harness.pytest]`` sub-table.
_PYTEST_KEYS = ("limits", "measure")
#: The values of ``[tool.harness.pytest] measure``: the marked tests (the default), or every test.
PYTEST_MEASURE = ("marked", "all")
_ALIASES = {"timeout": "timeout_s", "tolerance": "tolerance_pct", "build-env": "build_env"}


def find_project_root(start: Path) -> Path:
    """The nearest directory at or above ``start`` holding a pyproject.toml, else ``start``."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if (directory / "pyproject.toml").is_file():
            return directory
    return start


def load_settings(start: Path | None = None) -> Settings:
    """The settings of the project that contains ``start`` (default: the current directory)."""
    root = find_project_root(start or Path.cwd())
    table: dict[str, Any] = {}
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{pyproject}: not valid TOML: {exc}") from None
        tool = data.get("tool", {})
        harness_table = tool.get("harness", {}) if isinstance(tool, dict) else None
        if not isinstance(harness_table, dict):
            raise ConfigError(f"{pyproject}: [tool.harness] must be a table")
        table = dict(harness_table)
    values: dict[str, Any] = {}
    if "pytest" in table:
        pytest_table = table.pop("pytest")
        values["pytest_limits"] = _pytest_limits(pytest_table, pyproject)
        values["pytest_measure"] = _pytest_measure(pytest_table, pyproject)
    for key, value in table.items():
        name = _ALIASES.get(key, key)
        if name not in _KEYS:
            raise ConfigError(f"{pyproject}: unknown setting [tool.harness].{key}; known: {', '.join(sorted(_KEYS))}")
        values[name] = value
    for directory in ("workloads", "baselines"):
        if not isinstance(values.get(directory, ""), str):
            raise ConfigError(f"{pyproject}: [tool.harness].{directory} must be a path (a string)")
    values["workloads"] = root / values.get("workloads", "workloads")
    values["baselines"] = root / values.get("baselines", "baselines")
    for listed in ("erratic", "gate", "build_env"):
        if listed in values:
            if not isinstance(values[listed], list) or not all(isinstance(v, str) for v in values[listed]):
                shown = listed.replace("_", "-")
                raise ConfigError(f"{pyproject}: [tool.harness].{shown} must be a list of strings")
            values[listed] = tuple(values[listed])
    try:
        settings = Settings(project_root=root, **values)
    except TypeError as exc:
        raise ConfigError(f"{pyproject}: {exc}") from None
    return validate(settings)


_NUMBERS = ("replicates", "base_seed", "jobs", "timeout_s", "top_sites", "confidence", "tolerance_pct", "erratic_cv")


@dataclass(frozen=True)
class ConfiguredBound:
    """A bound of ``[tool.harness] bounds``, on the experiments its pattern selects."""

    pattern: str
    bound: Bound


def parse_bounds(bounds: Any) -> tuple[ConfiguredBound, ...]:
    """``[tool.harness] bounds``, ``{experiment pattern: {phase.metric: limit}}``, parsed; a
    :class:`ConfigError` naming the first entry that is not of that shape or whose limit does
    not parse. The one reading of configured bounds: settings check them when loaded, and the
    gate parses those it is given once per comparison."""
    if not isinstance(bounds, Mapping):
        raise ConfigError("bounds must be a table of {experiment pattern: {phase.metric: limit}}")
    parsed = []
    for pattern, table in bounds.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f'[tool.harness] bounds.{pattern} must be a table like {{"spike.peak_bytes" = "64 MiB"}}')
        for key, limit in table.items():
            try:
                parsed.append(ConfiguredBound(pattern, Bound.parse(key, limit)))
            except HarnessError as exc:
                raise ConfigError(f"[tool.harness] bounds.{pattern}.{key}: {exc}") from None
    return tuple(parsed)


def _check_types(settings: Settings) -> None:
    """A :class:`ConfigError` for a setting of the wrong kind (``timeout = "soon"``), before
    any comparison with it could fail less clearly."""
    for name in _NUMBERS:
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise ConfigError(f"{name} must be a number, not {value!r}")
    parse_bounds(settings.bounds)
    if settings.setup is not None and not isinstance(settings.setup, str):
        raise ConfigError(f"setup must be a command (a string), not {settings.setup!r}")


def _pytest_limits(table: Any, pyproject: Path) -> dict[str, str | int | float]:
    """The ``limits`` of ``[tool.harness.pytest]``, each a known metric with a number or a size."""
    from harness.declare.metrics import METRICS

    if not isinstance(table, dict):
        raise ConfigError(f"{pyproject}: [tool.harness].pytest must be a table, e.g. [tool.harness.pytest]")
    unknown = sorted(set(table) - set(_PYTEST_KEYS))
    if unknown:
        raise ConfigError(
            f"{pyproject}: unknown setting [tool.harness.pytest].{unknown[0]}; known: {', '.join(_PYTEST_KEYS)}"
        )
    limits = table.get("limits", {})
    if not isinstance(limits, dict):
        raise ConfigError(f'{pyproject}: [tool.harness.pytest] limits must be a table, e.g. {{alloc_bytes = "1 MiB"}}')
    for key, limit in limits.items():
        try:
            metric = Bound.parse(key, limit).metric
        except (HarnessError, ValueError, TypeError) as exc:
            raise ConfigError(f"{pyproject}: [tool.harness.pytest] limits.{key}: {exc}") from None
        if metric not in METRICS:
            raise ConfigError(
                f"{pyproject}: [tool.harness.pytest] limits.{key}: unknown metric {metric!r}; "
                f"known: {', '.join(sorted(METRICS))}"
            )
    return dict(limits)


def _pytest_measure(table: dict[str, Any], pyproject: Path) -> str:
    """``[tool.harness.pytest] measure``: ``"marked"`` (the default) or ``"all"``."""
    measure = table.get("measure", "marked")
    if measure not in PYTEST_MEASURE:
        raise ConfigError(
            f"{pyproject}: [tool.harness.pytest] measure must be one of {', '.join(map(repr, PYTEST_MEASURE))}, "
            f"not {measure!r}"
        )
    return str(measure)


def validate(settings: Settings) -> Settings:
    """The settings, or a :class:`ConfigError` naming the first bad one."""
    _check_types(settings)
    checks = [
        (isinstance(settings.replicates, int) and settings.replicates >= 1, "replicates must be a whole number >= 1"),
        (isinstance(settings.jobs, int) and settings.jobs >= 1, "jobs must be a whole number >= 1"),
        (isinstance(settings.base_seed, int) and settings.base_seed >= 0, "base_seed must be a whole number >= 0"),
        (settings.timeout_s > 0, "timeout must be > 0 seconds"),
        (0.5 <= settings.confidence < 1, "confidence must be in [0.5, 1), e.g. 0.9"),
        (settings.tolerance_pct >= 0, "tolerance must be >= 0 (percent)"),
        (settings.top_sites >= 0, "top_sites must be >= 0"),
        (settings.erratic_cv > 0, "erratic_cv must be > 0"),
        (set(settings.gate) <= set(GATES), f"gate must list some of: {', '.join(GATES)}"),
    ]
    try:
        cache_ok = parse_quantity(settings.build_cache) > 0
    except (HarnessError, ValueError, TypeError):
        cache_ok = False
    checks.append((cache_ok, f"build_cache must be a size such as '2 GiB', not {settings.build_cache!r}"))
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    memory_limit_bytes(settings)
    return settings


def machine_memory() -> int | None:
    """This machine's physical memory in bytes, where the system says."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def available_cores() -> int:
    """The cores this process may run on (its affinity, where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def usable_jobs(jobs: int) -> int:
    """How many trials run at once on this machine for ``-j jobs``: never more than its cores,
    since a trial keeps one busy and more at once would only share them."""
    return max(1, min(jobs, available_cores()))


def _default_limit(jobs: int) -> tuple[int, str] | None:
    """The default limit and where it came from: :data:`MEMORY_SHARE` of the machine's memory
    divided by the trials that run at once, never below :data:`MEMORY_FLOOR`."""
    from harness.declare.units import format_bytes

    total = machine_memory()
    if not total:
        return None
    share = total * MEMORY_SHARE
    running = usable_jobs(jobs)
    origin = f"{MEMORY_SHARE:.0%} of {format_bytes(total)} / {running} jobs"
    floor = min(MEMORY_FLOOR, share)
    if share / running < floor:
        return int(floor), f"the floor, above {origin}"
    return int(share / running), origin


def memory_limit_origin(settings: Settings) -> str:
    """Where the limit of :func:`memory_limit_bytes` came from when the user set none
    ("50% of 23.4 GiB / 2 jobs"); "" when they set it."""
    default = _default_limit(settings.jobs) if settings.memory_limit is None else None
    return default[1] if default else ""


def memory_limit_bytes(settings: Settings) -> int | None:
    """The bytes one trial may use: ``memory_limit`` when set ("none" for no limit), else
    :data:`MEMORY_SHARE` of the machine's memory divided by the trials that run at once
    (:func:`usable_jobs`), so that they cannot exhaust it together, and never below
    :data:`MEMORY_FLOOR`. :class:`ConfigError` for a limit that does not parse."""
    from harness.declare.units import format_bytes, parse_quantity
    from harness.errors import HarnessError

    limit = settings.memory_limit
    if limit is None:
        default = _default_limit(settings.jobs)
        return default[0] if default else None
    if isinstance(limit, str) and limit.strip().lower() in _NO_LIMIT:
        return None
    if not isinstance(limit, str | int) or isinstance(limit, bool):
        raise ConfigError(f"memory_limit must be a size like '2 GiB' or 'none', not {limit!r}")
    try:
        value = parse_quantity(limit)
    except HarnessError as exc:
        raise ConfigError(f"memory_limit: {exc}") from None
    if not value >= MIN_MEMORY_LIMIT or value == float("inf"):
        raise ConfigError(
            f"memory_limit {limit!r} is not a usable size (at least {format_bytes(MIN_MEMORY_LIMIT)}, e.g. '2 GiB')"
        )
    return int(value)
