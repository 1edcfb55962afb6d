"""What several subcommands share: settings from flags, discovery, running with progress."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.declare.config import Settings, load_settings
from harness.declare.discovery import Suite, discover

if TYPE_CHECKING:
    from harness.declare.spec import Experiment
    from harness.measure.executors import Executor
    from harness.measure.pipeline import MeasureOptions

#: Where ``harness run`` writes its results, and where ``gate`` and ``baseline save`` look.
DEFAULT_OUT = Path("reports/results.json")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The flags of every command that runs trials."""
    parser.add_argument(
        "patterns", nargs="*", metavar="PATTERN", help="experiment id, glob or substring (default: all)"
    )
    parser.add_argument("-n", "--replicates", type=int, help="trials per experiment (default 5, or [tool.harness])")
    parser.add_argument(
        "--backend",
        help="native (alloc, kept, net, peak, every site; C hooks), memray (alloc, kept, net, peak, top sites), "
        "tracemalloc (net, peak; stdlib) or none (time only); default: native if built, else memray, else tracemalloc",
    )
    parser.add_argument("-j", "--jobs", type=int, help="trials run in parallel (allocation figures do not change)")
    parser.add_argument(
        "--timeout", type=float, dest="timeout_s", help="seconds before a trial is killed (default 300)"
    )
    parser.add_argument(
        "--seed", type=int, dest="base_seed", help="base seed: replicate i runs with seed+i (default 1)"
    )
    parser.add_argument("--workloads", type=Path, help="workloads directory (default: workloads/ of the project)")
    parser.add_argument(
        "--executor", choices=("local", "dask"), help="where trials run: local process pool (default) or a Dask cluster"
    )
    parser.add_argument(
        "--scheduler", metavar="ADDR", help="Dask scheduler, e.g. tcp://host:8786 (default: a local cluster of --jobs)"
    )
    parser.add_argument(
        "--memory-limit",
        metavar="SIZE",
        help="memory one trial may use, e.g. '2 GiB', or 'none' "
        "(default: half the machine's memory / --jobs, at least 512 MiB)",
    )


def add_resume_option(parser: argparse.ArgumentParser) -> None:
    """``--resume``, for the commands that write a results file and its journal."""
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run: reuse the finished trials of its journal, run only the rest",
    )


def add_workloads_from_option(parser: argparse.ArgumentParser, choices: tuple[str, ...], today: str) -> None:
    """``--workloads-from``: each commit's own workload files with today's filling in (the
    default), one set for all, or each commit's own only; ``today`` says whose are today's."""
    one_set = ", ".join(c for c in choices if c not in ("own", "each"))
    parser.add_argument(
        "--workloads-from",
        choices=choices,
        default=choices[0],
        help=f"whose workloads the commits run. own (default): every file under the workloads directory that a "
        f"commit has is its own, and {today} fill in only the files it lacks (so a variant defined in the "
        f"workloads is measured as it is at each commit, and commits older than the workloads are measured "
        f"too); {one_set}: that one set for every commit; each: a commit's own files only",
    )


def settings_from(args: argparse.Namespace, start: Path | None = None) -> Settings:
    """Project settings (of the project containing ``start``, default the current directory)
    overridden by the flags given on the command line."""
    settings = load_settings(start)
    return settings.override(
        replicates=getattr(args, "replicates", None),
        backend=getattr(args, "backend", None),
        jobs=getattr(args, "jobs", None),
        timeout_s=getattr(args, "timeout_s", None),
        base_seed=getattr(args, "base_seed", None),
        workloads=getattr(args, "workloads", None),
        memory_limit=getattr(args, "memory_limit", None),
    )


def executor_from(args: argparse.Namespace, settings: Settings) -> Executor:
    """The executor ``--executor``/``--scheduler`` ask for (the local pool of ``--jobs`` by default)."""
    from harness.measure.executors import make_executor

    name, scheduler = getattr(args, "executor", None), getattr(args, "scheduler", None)
    return make_executor(name, jobs=settings.jobs, scheduler=scheduler)


def discover_suite(settings: Settings) -> Suite:
    return discover(settings.workloads, settings.project_root)


def experiments_to_run(settings: Settings, patterns: Sequence[str]) -> list[Experiment]:
    """The experiments ``patterns`` select from the project's workloads; a
    :class:`~harness.errors.DiscoveryError` when the workloads declare none, since a run of
    nothing would write results that a gate reads as measured."""
    from harness.errors import DiscoveryError

    suite = discover_suite(settings)
    if not suite.experiments:
        raise DiscoveryError(
            f"workloads directory {settings.workloads} declares no experiment "
            "(no family with a variant and a workload in its *.py files): nothing to run"
        )
    return suite.select(patterns)


def note(line: str) -> None:
    """One line of news on stderr (stdout stays clean for output)."""
    sys.stderr.write(f"harness: {line}\n")


def measure_options(
    args: argparse.Namespace,
    settings: Settings,
    *,
    record: Path | None = None,
    backend: str | None = None,
    strict_goals: bool = True,
) -> MeasureOptions:
    """What the run flags ask of :func:`harness.measure.pipeline.measure`: the executor, and --resume."""
    from harness.measure.pipeline import MeasureOptions

    return MeasureOptions(
        executor=executor_from(args, settings),
        backend=backend,
        record=record,
        resume=bool(getattr(args, "resume", False)),
        note=note,
        strict_goals=strict_goals,
    )
