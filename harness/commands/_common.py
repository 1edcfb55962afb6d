"""What several subcommands share: settings from flags, discovery, running with progress."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.config import Settings, load_settings
from harness.discovery import Suite, discover

if TYPE_CHECKING:
    from harness.executors import Executor
    from harness.results import Results
    from harness.run import Side


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The flags of every command that runs trials."""
    parser.add_argument(
        "patterns", nargs="*", metavar="PATTERN", help="experiment id, glob or substring (default: all)"
    )
    parser.add_argument("-n", "--replicates", type=int, help="trials per experiment (default 5, or [tool.harness])")
    parser.add_argument(
        "--backend",
        help="memray (alloc, kept, net, peak, sites) or tracemalloc (net, peak; stdlib); default: memray if installed",
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
        help="memory one trial may use, e.g. '2 GiB', or 'none' (default: half the machine's memory / --jobs)",
    )


def add_resume_option(parser: argparse.ArgumentParser) -> None:
    """``--resume``, for the commands that write a results file and its journal."""
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run: reuse the finished trials of its journal, run only the rest",
    )


def add_workloads_from_option(parser: argparse.ArgumentParser, choices: tuple[str, ...]) -> None:
    """``--workloads-from``: whether every commit runs one set of workloads (the default) or its own."""
    parser.add_argument(
        "--workloads-from",
        choices=choices,
        default=choices[0],
        help=f"whose workloads the commits run: {', '.join(choices)} (default {choices[0]}: one set for all, so "
        "commits older than the workloads can be measured; each: every commit its own)",
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
    from harness.executors import make_executor

    name, scheduler = getattr(args, "executor", None), getattr(args, "scheduler", None)
    return make_executor(name, jobs=settings.jobs, scheduler=scheduler)


def discover_suite(settings: Settings) -> Suite:
    return discover(settings.workloads, settings.project_root)


def note(line: str) -> None:
    """One line of news on stderr (stdout stays clean for output)."""
    sys.stderr.write(f"harness: {line}\n")


def run_journaled(args: argparse.Namespace, settings: Settings, side: Side, backend: str, out: Path) -> Results:
    """Run ``side``'s trials with a journal beside ``out`` (resumed with ``--resume``), write
    the results to ``out`` and remove the journal once the run is complete; the results.

    When the executor is lost mid-run, the finished trials are saved before the error is raised.
    """
    from harness.errors import HarnessError, ResultsError
    from harness.journal import JournaledExecutor, header_for, journal_path, open_journal
    from harness.progress import run_with_progress
    from harness.results import save_results
    from harness.run import RunStopped

    if out.is_dir():
        # Found now, not after the last trial, when the results could not be written.
        raise ResultsError(f"{out} is a directory; the results need a file name (--out FILE)")
    header = header_for([side], settings, backend)
    with open_journal(journal_path(out), header, resume=getattr(args, "resume", False), note=note) as journal:
        executor = JournaledExecutor(executor_from(args, settings), journal)
        try:
            results = run_with_progress([side], settings, backend, executor)[side.name]
        except RunStopped as stopped:
            partial = stopped.results[side.name]
            save_results(partial, out)
            raise HarnessError(
                f"{stopped}; {len(partial.trials)} finished trials saved in {out} (`--resume` runs the rest)"
            ) from None
        save_results(results, out)
        if not results.interrupted:
            journal.remove()
    if executor.reused:
        note(f"{executor.reused} trials reused from the journal, {executor.ran} run")
    return results
