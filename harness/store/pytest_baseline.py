"""The pytest baseline file: ``harness.pytest-baseline/1``, small enough to commit.

A suite of a thousand tests measured at three replicates would keep, as a results file,
every call site of every phase of every trial with its whole stack and absolute paths:
hundreds of megabytes. A baseline keeps what a regression message and a flame graph need,
and writes it compactly (JSON, one line per test)::

    {"schema": "harness.pytest-baseline/1", "created": ISO-8601,
     "environment": {...}, "settings": {...},            # as in harness.results/1
     "metrics": ["alloc_bytes", "alloc_count", ...],     # the columns of every phase's figures
     "site_figures": ["alloc_count", "alloc_bytes", ...],
     "frames": ["src/pkg/mod.py:12:function", ...],      # every frame once, relative to the rootdir
     "stacks": [[0, 4, 9], ...],                         # every stack once, innermost frame first
     "tests": [
      {"experiment": {...},                              # as in harness.results/1
       "trials": [{"replicate": 0, "seed": 1, "status": "ok", "error": null, "wall_s": 0.02,
                   "rss_peak_bytes": 123, "phases": [{"name": "test",
                       "figures": [...],                 # by "metrics"; per-op figures are recomputed
                       "sites": [[stack, figure, ...], ...]}]}]}]}   # figures by "site_figures"

Per phase and replicate, the sites kept are the :data:`KEPT_SITES` that moved the most bytes
(allocated, then held) and one remainder, ``<other sites>``, whose figures are the rest's sum,
so that the sites still add up to the phase's totals. Paths under the rootdir are relative to
it. Reading gives back a :class:`~harness.store.results.Results`, the value every comparison
takes.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from harness.declare.metrics import SITE_FIGURES, with_per_op
from harness.errors import HarnessError, ResultsError
from harness.store.environment import Environment
from harness.store.jsonfile import read_versioned, write_text_atomic
from harness.store.results import ExperimentInfo, PhaseResult, Results, RunSettings, TrialResult
from harness.store.sites import Site

SCHEMA = "harness.pytest-baseline/1"
#: Call sites kept per test, phase and replicate, beside the remainder.
KEPT_SITES = 8
#: The site that stands for every site not kept.
OTHER_SITES = "<other sites>"


class _Tables:
    """Frames and stacks, each written once and referred to by index."""

    def __init__(self) -> None:
        self.frames: dict[str, int] = {}
        self.stacks: dict[tuple[int, ...], int] = {}

    def stack(self, site: Site) -> int:
        frames = site.stack or (f"{site.file}:{site.line}:{site.function}",)
        key = tuple(self.frames.setdefault(frame, len(self.frames)) for frame in frames)
        return self.stacks.setdefault(key, len(self.stacks))


def compact(results: Results, root: Path) -> Results:
    """``results`` as a baseline keeps them: per phase, the :data:`KEPT_SITES` sites that moved
    the most bytes and one remainder, with the paths under ``root`` made relative to it.

    A test measured now is compacted the same way before it is compared with its baseline, so
    that the two sides' sites are alike."""
    prefix = str(root).rstrip("/") + "/"
    trials = tuple(
        dataclasses.replace(
            trial,
            phases=tuple(dataclasses.replace(p, sites=tuple(_kept(p.sites, prefix))) for p in trial.phases),
        )
        for trial in results.trials
    )
    return dataclasses.replace(results, trials=trials)


def _kept(sites: Sequence[Site], prefix: str) -> list[Site]:
    # A remainder already made is summed into the new one, never kept as a site: sites kept
    # twice read as they were kept once.
    remainders = [s for s in sites if s.function == OTHER_SITES]
    ranked = sorted(
        (s for s in sites if s.function != OTHER_SITES),
        key=lambda s: (-abs(s.figures.get("alloc_bytes", 0)), -abs(s.figures.get("net_bytes", 0)), s.stack),
    )
    kept = [
        Site(s.function, s.file.removeprefix(prefix), s.line, s.figures, tuple(f.removeprefix(prefix) for f in s.stack))
        for s in ranked[:KEPT_SITES]
    ]
    rest = ranked[KEPT_SITES:] + remainders
    if rest:
        summed = {name: sum(s.figures.get(name, 0) for s in rest) for name in SITE_FIGURES}
        kept.append(Site(OTHER_SITES, "", 0, summed, (f":0:{OTHER_SITES}",)))
    return kept


def _metric_columns(results: Iterable[Results]) -> list[str]:
    names: dict[str, None] = {}
    for result in results:
        for trial in result.trials:
            for phase in trial.phases:
                names.update(dict.fromkeys(k for k in phase.metrics if not k.endswith("_per_op")))
    return list(names)


def write_baseline(path: Path, results: Results) -> None:
    """Write ``results`` (one experiment per test, :func:`compact` already) as a baseline file at ``path``."""
    tables = _Tables()
    columns = _metric_columns([results])
    lines = []
    for experiment in results.experiments:
        trials = []
        for trial in results.trials_of(experiment.id):
            phases = [
                {
                    "name": phase.name,
                    "figures": [phase.metrics.get(name) for name in columns],
                    "sites": [
                        [tables.stack(site), *(site.figures.get(name, 0) for name in SITE_FIGURES)]
                        for site in phase.sites
                    ],
                }
                for phase in trial.phases
            ]
            record = trial.to_json()
            del record["experiment"]
            trials.append({**record, "phases": phases})
        lines.append(json.dumps({"experiment": experiment.to_json(), "trials": trials}, separators=(",", ":")))
    head = {
        "schema": SCHEMA,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "environment": results.environment.to_json(),
        "settings": results.settings.to_json(),
        "metrics": columns,
        "site_figures": list(SITE_FIGURES),
        "frames": list(tables.frames),
        "stacks": [list(stack) for stack in tables.stacks],
    }
    text = json.dumps(head, separators=(",", ":"), allow_nan=False)[:-1]
    write_text_atomic(path, text + ',"tests":[\n' + ",\n".join(lines) + "\n]}\n")


def read_baseline(path: Path) -> Results:
    """A baseline file as the results it keeps; one :class:`ResultsError` line when it is not one."""
    data = read_versioned(path, SCHEMA)
    try:
        return _results(data)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ResultsError(f"{path}: malformed pytest baseline: missing or bad field {exc}") from None
    except HarnessError as exc:
        raise ResultsError(f"{path}: malformed pytest baseline: {exc}") from None


def _results(data: dict[str, Any]) -> Results:
    columns: list[str] = data["metrics"]
    site_figures: list[str] = data["site_figures"]
    frames: list[str] = data["frames"]
    stacks = [tuple(frames[i] for i in stack) for stack in data["stacks"]]
    experiments, trials = [], []
    for test in data["tests"]:
        experiment = ExperimentInfo.from_json(test["experiment"])
        experiments.append(experiment)
        for trial in test["trials"]:
            phases = tuple(
                PhaseResult(
                    phase["name"],
                    with_per_op(dict(zip(columns, phase["figures"], strict=True))),
                    tuple(
                        _site(stacks[row[0]], dict(zip(site_figures, row[1:], strict=True))) for row in phase["sites"]
                    ),
                )
                for phase in trial["phases"]
            )
            bare = TrialResult.from_json({**trial, "experiment": experiment.id, "phases": []})
            trials.append(dataclasses.replace(bare, phases=phases))
    return Results(
        environment=Environment.from_json(data["environment"]),
        settings=RunSettings.from_json(data["settings"]),
        experiments=tuple(experiments),
        trials=tuple(trials),
        created=data.get("created", ""),
    )


def _site(stack: tuple[str, ...], figures: dict[str, int]) -> Site:
    file, line, function = stack[0].rsplit(":", 2)
    return Site(function, file, int(line), figures, stack)
