"""Declaring what to measure: families, their variants, the workloads that exercise them.

A workload module creates a :class:`Family`, registers variants on it and declares
workloads; :func:`harness.declare.discovery.discover` finds the families in ``workloads/*.py`` and
expands each workload's parameter grid into :class:`Experiment` cells.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from harness.declare.metrics import METRICS
from harness.declare.units import parse_quantity
from harness.errors import DeclarationError

F = TypeVar("F", bound=Callable[..., Any])
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ParamValue = int | float | str | bool | None


def _check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise DeclarationError(f"{kind} name {name!r} must be an identifier (letters, digits, _)")
    return name


@dataclass(frozen=True)
class Goal:
    """A metric the gate judges, on one phase or (``phase=None``) on every phase."""

    metric: str
    phase: str | None = None

    @classmethod
    def parse(cls, text: str) -> Goal:
        """``"net_bytes"`` or ``"drain.net_bytes"``."""
        phase, _, name = text.rpartition(".")
        return cls(metric=name, phase=phase or None)

    def __str__(self) -> str:
        return f"{self.phase}.{self.metric}" if self.phase else self.metric


@dataclass(frozen=True)
class Bound:
    """An absolute limit every replicate must meet, e.g. ``spike.peak_bytes <= 64 MiB``."""

    name: str
    metric: str
    upper: float
    phase: str | None = None

    def allows(self, value: float) -> bool:
        """Whether ``value`` meets this bound (the limit itself does)."""
        return value <= self.upper

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "metric": self.metric, "phase": self.phase, "upper": self.upper}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Bound:
        return cls(data["name"], data["metric"], float(data["upper"]), data.get("phase"))

    @classmethod
    def parse(cls, key: str, limit: str | int | float) -> Bound:
        """``Bound.parse("spike.peak_bytes", "64 MiB")``."""
        goal = Goal.parse(key)
        return cls(name=key, metric=goal.metric, upper=parse_quantity(limit), phase=goal.phase)


@dataclass(frozen=True)
class Variant:
    """One implementation in a family: ``factory()`` builds a fresh instance."""

    family: str
    name: str
    factory: Callable[..., Any]
    description: str = ""


@dataclass(frozen=True)
class Workload:
    """A seeded churn scenario, run against every variant of its family (or those listed)."""

    family: str
    name: str
    function: Callable[..., Any]
    params: Mapping[str, tuple[ParamValue, ...]]
    goals: tuple[Goal, ...]
    bounds: tuple[Bound, ...]
    counters: tuple[str, ...]
    variants: tuple[str, ...] | None
    description: str = ""


@dataclass(frozen=True)
class Experiment:
    """One (workload, variant, params) cell; ``id`` is stable across runs and machines."""

    family: str
    workload: str
    variant: str
    params: Mapping[str, ParamValue]
    goals: tuple[Goal, ...]
    bounds: tuple[Bound, ...]
    module: str = ""

    @property
    def id(self) -> str:
        cells = [self.variant] + [f"{k}={v}" for k, v in self.params.items()]
        return f"{self.family}.{self.workload}[{','.join(cells)}]"

    def to_json(self) -> dict[str, Any]:
        """Plain data: how a child interpreter that discovered the experiment hands it back."""
        return {
            "family": self.family,
            "workload": self.workload,
            "variant": self.variant,
            "params": dict(self.params),
            "goals": [str(g) for g in self.goals],
            "bounds": [b.to_json() for b in self.bounds],
            "module": self.module,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Experiment:
        return cls(
            family=data["family"],
            workload=data["workload"],
            variant=data["variant"],
            params=dict(data["params"]),
            goals=tuple(Goal.parse(g) for g in data["goals"]),
            bounds=tuple(Bound.from_json(b) for b in data["bounds"]),
            module=data.get("module", ""),
        )


@dataclass
class Family:
    """A set of interchangeable implementations behind one interface.

    >>> cache = Family("cache", "LRU caches")
    >>> @cache.variant("dict")
    ... def dict_cache(): return {}
    >>> @cache.workload(params={"size": [1000]}, goal="alloc_bytes_per_op")
    ... def fill(trial, new_cache, size): ...
    """

    name: str
    description: str = ""
    variants: dict[str, Variant] = field(default_factory=dict)
    workloads: dict[str, Workload] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name("family", self.name)

    def variant(self, name: str, description: str = "") -> Callable[[F], F]:
        """Register a factory (a class or a function) as the variant ``name``."""
        _check_name("variant", name)
        if name in self.variants:
            raise DeclarationError(f"variant {self.name}/{name} is declared twice")

        def register(factory: F) -> F:
            doc = description or (factory.__doc__ or "").strip().split("\n")[0]
            self.variants[name] = Variant(self.name, name, factory, doc)
            return factory

        return register

    def workload(
        self,
        name: str | None = None,
        *,
        params: Mapping[str, Iterable[ParamValue]] | None = None,
        goal: str | Sequence[str] = "alloc_bytes_per_op",
        bounds: Mapping[str, str | int | float] | None = None,
        counters: Sequence[str] = (),
        variants: Sequence[str] | None = None,
    ) -> Callable[[F], F]:
        """Declare ``function(trial, new_instance, **params)`` as a workload of this family.

        ``params`` is a grid: every combination becomes one experiment per variant.
        ``goal`` names the metric(s) the gate judges: ``"net_bytes"`` on every phase or
        ``"drain.net_bytes"`` on one. ``bounds`` are absolute limits every replicate must
        meet, e.g. ``{"spike.peak_bytes": "64 MiB"}``. ``counters`` lists the names the
        workload records with ``trial.count()``. ``variants`` restricts the workload to some.
        """
        grid = {_check_name("parameter", k): tuple(v) for k, v in (params or {}).items()}
        for key, values in grid.items():
            if not values:
                raise DeclarationError(f"parameter {key!r} has no values")
        counter_names = tuple(_check_name("counter", c) for c in counters)
        goal_texts = [goal] if isinstance(goal, str) else list(goal)
        goals = tuple(Goal.parse(g) for g in goal_texts)
        bound_list = tuple(Bound.parse(k, v) for k, v in (bounds or {}).items())
        for what, metric_name in [("goal", g.metric) for g in goals] + [("bound", b.metric) for b in bound_list]:
            if metric_name not in METRICS and metric_name not in counter_names:
                raise DeclarationError(
                    f"{self.name}: unknown {what} metric {metric_name!r}; "
                    f"known: {', '.join(sorted(METRICS))} or a declared counter"
                )

        def register(function: F) -> F:
            workload_name = _check_name("workload", name or function.__name__)
            if workload_name in self.workloads:
                raise DeclarationError(f"workload {self.name}.{workload_name} is declared twice")
            self.workloads[workload_name] = Workload(
                family=self.name,
                name=workload_name,
                function=function,
                params=grid,
                goals=goals,
                bounds=bound_list,
                counters=counter_names,
                variants=tuple(variants) if variants is not None else None,
                description=(function.__doc__ or "").strip().split("\n")[0],
            )
            return function

        return register

    def experiments(self, module: str = "") -> list[Experiment]:
        """Every (workload, variant, params) cell of this family, in declaration order."""
        cells: list[Experiment] = []
        for workload in self.workloads.values():
            names = workload.variants if workload.variants is not None else tuple(self.variants)
            unknown = [n for n in names if n not in self.variants]
            if unknown:
                raise DeclarationError(f"workload {self.name}.{workload.name} names unknown variants {unknown}")
            keys = list(workload.params)
            for variant in names:
                for combo in itertools.product(*(workload.params[k] for k in keys)):
                    cells.append(
                        Experiment(
                            family=self.name,
                            workload=workload.name,
                            variant=variant,
                            params=dict(zip(keys, combo, strict=True)),
                            goals=workload.goals,
                            bounds=workload.bounds,
                            module=module,
                        )
                    )
        return cells
