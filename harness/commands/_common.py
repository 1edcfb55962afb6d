"""What several subcommands share: settings from flags, discovery, running with progress."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from harness.config import Settings, load_settings
from harness.discovery import Suite, discover

if TYPE_CHECKING:
    from harness.executors import Executor


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
    )


def executor_from(args: argparse.Namespace, settings: Settings) -> Executor:
    """The executor ``--executor``/``--scheduler`` ask for (the local pool of ``--jobs`` by default)."""
    from harness.executors import make_executor

    name, scheduler = getattr(args, "executor", None), getattr(args, "scheduler", None)
    return make_executor(name, jobs=settings.jobs, scheduler=scheduler)


def discover_suite(settings: Settings) -> Suite:
    return discover(settings.workloads, settings.project_root)
