"""Settings: defaults, overridden by ``[tool.harness]`` in pyproject.toml, overridden by flags."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, HarnessError


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
    #: What fails a gate besides failed trials: "regressions" and/or "bounds".
    gate: tuple[str, ...] = ("regressions", "bounds")
    setup: str | None = None
    #: ``[tool.harness.pytest] limits``: the limits of every test the pytest plugin measures.
    pytest_limits: dict[str, str | int | float] = field(default_factory=dict)

    def override(self, **changes: Any) -> Settings:
        """A copy with the flags that were given (``None`` means not given)."""
        given = {k: v for k, v in changes.items() if v is not None}
        return validate(replace(self, **given))


_KEYS = {f.name for f in fields(Settings)} - {"project_root", "pytest_limits"}
#: The keys of the ``[tool.harness.pytest]`` sub-table.
_PYTEST_KEYS = ("limits",)
_ALIASES = {"timeout": "timeout_s", "tolerance": "tolerance_pct"}


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
        table = dict(data.get("tool", {}).get("harness", {}))
    values: dict[str, Any] = {}
    if "pytest" in table:
        values["pytest_limits"] = _pytest_limits(table.pop("pytest"), pyproject)
    for key, value in table.items():
        name = _ALIASES.get(key, key)
        if name not in _KEYS:
            raise ConfigError(f"{pyproject}: unknown setting [tool.harness].{key}; known: {', '.join(sorted(_KEYS))}")
        values[name] = value
    values["workloads"] = root / values.get("workloads", "workloads")
    values["baselines"] = root / values.get("baselines", "baselines")
    for listed in ("erratic", "gate"):
        if listed in values:
            values[listed] = tuple(values[listed])
    try:
        settings = Settings(project_root=root, **values)
    except TypeError as exc:
        raise ConfigError(f"{pyproject}: {exc}") from None
    return validate(settings)


def _pytest_limits(table: Any, pyproject: Path) -> dict[str, str | int | float]:
    """The ``limits`` of ``[tool.harness.pytest]``, each a known metric with a number or a size."""
    from harness.metrics import METRICS
    from harness.spec import Bound

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


def validate(settings: Settings) -> Settings:
    """The settings, or a :class:`ConfigError` naming the first bad one."""
    checks = [
        (isinstance(settings.replicates, int) and settings.replicates >= 1, "replicates must be a whole number >= 1"),
        (isinstance(settings.jobs, int) and settings.jobs >= 1, "jobs must be a whole number >= 1"),
        (isinstance(settings.base_seed, int) and settings.base_seed >= 0, "base_seed must be a whole number >= 0"),
        (settings.timeout_s > 0, "timeout must be > 0 seconds"),
        (0.5 <= settings.confidence < 1, "confidence must be in [0.5, 1), e.g. 0.9"),
        (settings.tolerance_pct >= 0, "tolerance must be >= 0 (percent)"),
        (settings.top_sites >= 0, "top_sites must be >= 0"),
        (settings.erratic_cv > 0, "erratic_cv must be > 0"),
        (set(settings.gate) <= {"regressions", "bounds"}, "gate must list some of: regressions, bounds"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    return settings
