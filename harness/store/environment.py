"""Where a run happened: what makes its allocation figures comparable with another's, or not.

:class:`Environment` is stored in every results file and verdict. Its JSON is flat, one key
per field; the fields of a side's :class:`Provenance` (which commit, which build, whose
workloads) appear only for the sides of a compare or bisect, and ``baseline`` only when
the results were read from a stored baseline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.store.jsonfile import fields_and_extra

#: The keys every environment writes, present or not (None), in this order.
_ALWAYS = (
    "python_version",
    "implementation",
    "platform",
    "machine",
    "hostname",
    "harness_version",
    "backend",
    "memray_version",
    "git_commit",
    "git_dirty",
    "project_root",
)

#: What ``c_allocations`` reads where a backend sees them, and where it measures no heap at all.
SEEN = "seen"
NOT_MEASURED = "not measured"
#: What ``sites`` reads where a backend charges allocations to Python call sites.
PYTHON_SITES = "python"
NO_SITES = "none"

#: The fields that change allocation figures: a comparison across them is refused.
COMPARABLE_ON = ("python_version", "implementation", "backend")


@dataclass(frozen=True)
class Provenance:
    """What a side of a compare or bisect ran: its commit and build, and whose workloads."""

    git_commit: str | None = None
    git_dirty: bool | None = None
    #: The commit, or a digest of the copied working tree: what a resumed run must match.
    content_id: str | None = None
    #: How the code under test was made importable ("wheel built at 1a2b3c4", ...).
    code: str | None = None
    #: Whose workloads ran ("own, else candidate 3f2a9c1e20", "working tree", "each commit's own").
    workloads_from: str | None = None
    #: Call sites in the workloads are named relative to this, as the code's are to project_root.
    workloads_root: str | None = None
    #: The workload files (paths relative to the project) that differ between the sides of a
    #: compare: a figure of an experiment they declare may have moved by the workload's change.
    workloads_differ: tuple[str, ...] | None = None
    #: The SHA-256 of every file of the workloads the side ran, by its path relative to the
    #: project: what tells two commits' workloads apart after their checkouts are gone.
    workloads_sha256: Mapping[str, str] | None = None
    #: Where the built code is imported from (a build's site directory): its call sites are
    #: named relative to it, so that two commits' builds name one file alike.
    code_root: str | None = None
    build_s: float | None = None


@dataclass(frozen=True)
class BaselineInfo:
    """When and from what a stored baseline was made (``harness baseline save``)."""

    name: str
    created: str
    source: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "created": self.created, "source": self.source}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BaselineInfo:
        """The block as :meth:`to_json` wrote it; ``KeyError`` or ``TypeError`` when it is malformed."""
        if not isinstance(data, Mapping):
            raise TypeError(f"baseline {data!r} is not an object")
        return cls(str(data["name"]), str(data["created"]), str(data["source"]))


@dataclass(frozen=True)
class Environment:
    """The interpreter, machine, backend and code of one run."""

    python_version: str | None = None
    implementation: str | None = None
    platform: str | None = None
    machine: str | None = None
    hostname: str | None = None
    harness_version: str | None = None
    backend: str | None = None
    #: ``python`` where allocations are charged to Python call sites, ``none`` where the
    #: backend reads no frames on this interpreter (see :mod:`harness.measure.capture.reach`).
    sites: str | None = None
    #: ``seen``, or ``not seen: why``: allocations C code takes from the C library's malloc.
    c_allocations: str | None = None
    memray_version: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None
    project_root: str | None = None
    content_id: str | None = None
    code: str | None = None
    workloads_from: str | None = None
    workloads_root: str | None = None
    workloads_differ: tuple[str, ...] | None = None
    workloads_sha256: Mapping[str, str] | None = None
    code_root: str | None = None
    build_s: float | None = None
    #: The stored baseline these results were read from.
    baseline: BaselineInfo | None = None
    #: Keys of a file written by another version of harness, kept so that rewriting it loses nothing.
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def roots(self) -> tuple[str, ...]:
        """The directories this run's file names are shown relative to (see :data:`harness.store.sites.Roots`)."""
        return tuple(root for root in (self.project_root, self.workloads_root, self.code_root) if root)

    @property
    def commit_label(self) -> str:
        """The commit's first 12 characters and ``(dirty)``, or "" outside git."""
        if not self.git_commit:
            return ""
        return f"{self.git_commit[:12]}{' (dirty)' if self.git_dirty else ''}"

    @property
    def interpreter(self) -> str:
        """``CPython 3.11.7``."""
        return f"{self.implementation or '?'} {self.python_version or '?'}"

    @property
    def blind_spots(self) -> list[str]:
        """What the backend could not see in this run, one sentence each."""
        return blind_spots(self.sites, self.c_allocations, self.interpreter)

    def mismatches(self, other: Environment) -> list[str]:
        """Each field of :data:`COMPARABLE_ON` on which ``other`` differs, as ``"name this vs other"``;
        and whether C allocations were seen, where both files say (older ones do not)."""
        differ = [
            f"{name} {getattr(self, name)} vs {getattr(other, name)}"
            for name in COMPARABLE_ON
            if getattr(self, name) != getattr(other, name)
        ]
        if None not in (self.c_allocations, other.c_allocations) and self.c_allocations != other.c_allocations:
            differ.append(f"c_allocations {self.c_allocations} vs {other.c_allocations}")
        return differ

    def with_provenance(self, provenance: Provenance | None) -> Environment:
        """This environment with what ``provenance`` says of the side's code (it wins)."""
        if provenance is None:
            return self
        given = {k: v for k, v in dataclasses.asdict(provenance).items() if v is not None}
        return dataclasses.replace(self, **given)

    def with_baseline(self, info: BaselineInfo | None) -> Environment:
        return dataclasses.replace(self, baseline=info)

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _ALWAYS}
        for each in dataclasses.fields(self):
            value = getattr(self, each.name)
            if each.name not in _ALWAYS and each.name != "extra" and value is not None:
                data[each.name] = value.to_json() if isinstance(value, BaselineInfo) else _plain(value)
        return {**data, **self.extra}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Environment:
        """An environment as :meth:`to_json` wrote it; ``TypeError`` when it is not a mapping."""
        if not isinstance(data, Mapping):
            raise TypeError(f"environment {data!r} is not an object")
        given, extra = fields_and_extra(cls, data)
        if isinstance(given.get("workloads_differ"), list):
            given["workloads_differ"] = tuple(str(name) for name in given["workloads_differ"])
        if given.get("baseline") is not None:
            try:
                given["baseline"] = BaselineInfo.from_json(given["baseline"])
            except KeyError as exc:
                raise TypeError(f"environment baseline lacks {exc}") from None
        return cls(**given, extra=extra)


def _plain(value: Any) -> Any:
    """A field's value as JSON holds it: a tuple as a list."""
    return list(value) if isinstance(value, tuple) else value


def blind_spots(sites: str | None, c_allocations: str | None, interpreter: str) -> list[str]:
    """The sentences that say what a run with these ``sites`` and ``c_allocations`` could not
    see; the one wording of it, for stderr, the reports and ``explain`` alike."""
    missing = []
    if sites == NO_SITES and c_allocations != NOT_MEASURED:
        missing.append(
            f"call sites were not recorded: the native backend has no frame reader for {interpreter}, "
            "so every allocation is charged to one <native> site (the totals are exact)"
        )
    if c_allocations is not None and c_allocations.startswith("not seen"):
        missing.append(f"allocations made by C code through malloc are {c_allocations}")
    return missing
