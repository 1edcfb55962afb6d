"""``harness gate``: compare a run with a stored baseline and pass or fail, like a CI quality gate.

Runs the selected experiments (unless ``--results`` gives a results file), compares them with
the baseline experiment by experiment, and prints the verdict. A goal regresses when it moved
in its bad direction by at least the tolerance and its confidence interval excludes zero;
erratic experiments are shown but do not gate; bounds checks must pass on every replicate.

Nothing unmeasured passes: the gate also fails when the trials of a compared experiment
failed on either side (the verdict names the side and the first failure's reason), when an
experiment of the baseline is missing in the candidate (unless --allow-missing, or
``gate`` in [tool.harness] leaves out "missing"), when the candidate has no finished trial
at all (a results file with 0 trials included), and when its run was interrupted.

With ``--results FILE`` no trial runs, so the options that only shape trials (-n, --backend,
-j, --timeout, --seed, --workloads, --executor, --scheduler, --memory-limit, --resume) are
refused there rather than ignored; patterns still choose what is compared.

Exit codes: 0 the gate passed, 1 it failed, 2 bad input (a missing or corrupt baseline,
an unknown experiment, a bound that does not parse, a goal the backend does not measure,
an output that cannot be written, an option that --results makes meaningless).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

COMMAND = "gate"


def add_parser(sub: Any, name: str) -> None:
    from harness.cli._common import add_resume_option, add_run_options
    from harness.cli._verdict_output import add_output_options

    parser = sub.add_parser(
        name,
        help="compare a run with a baseline and pass or fail",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--baseline", required=True, metavar="NAME|FILE", help="baselines/NAME.json, or a file")
    parser.add_argument("--results", type=Path, metavar="FILE", help="compare this results file instead of running")
    add_run_options(parser)
    add_resume_option(parser)
    add_output_options(parser)
    parser.add_argument(
        "--allow-env-mismatch",
        action="store_true",
        help="compare even when Python version, implementation or backend differ from the baseline's",
    )
    parser.set_defaults(func=run)


#: The options of a gate that runs its trials, by their argparse dest: a gate of ``--results``
#: runs none, so each of them would be silently ignored there.
TRIAL_OPTIONS = {
    "replicates": "-n/--replicates",
    "backend": "--backend",
    "jobs": "-j/--jobs",
    "timeout_s": "--timeout",
    "base_seed": "--seed",
    "workloads": "--workloads",
    "executor": "--executor",
    "scheduler": "--scheduler",
    "memory_limit": "--memory-limit",
    "resume": "--resume",
}


def check_trial_options(args: argparse.Namespace) -> None:
    """A :class:`~harness.errors.ConfigError` for an option that only a gate running trials reads,
    given with ``--results`` (which runs none)."""
    from harness.errors import ConfigError

    if args.results is None:
        return
    given = [flag for dest, flag in TRIAL_OPTIONS.items() if getattr(args, dest, None) not in (None, False)]
    if given:
        raise ConfigError(
            f"{', '.join(given)} only apply when gate runs the trials, and --results {args.results} runs none: "
            "drop them, or drop --results"
        )


def run(args: argparse.Namespace) -> int:
    from harness.cli._verdict_output import check_outputs, emit_verdict
    from harness.store.baselines import read_baseline
    from harness.store.results import read_results

    check_trial_options(args)
    settings = _settings(args)
    check_outputs(args)
    baseline = read_baseline(args.baseline, settings.baselines)
    if args.results is not None:
        candidate = read_results(args.results)
    else:
        candidate = _run_candidate(args, settings, baseline.results.environment.backend)
    # The statistics (scipy) load only once the input is known to be good: bad input fails fast.
    from harness.compare.gate import GateOptions, compare
    from harness.store.environment import BaselineInfo

    options = GateOptions.from_settings(
        settings,
        patterns=tuple(args.patterns),
        allow_env_mismatch=args.allow_env_mismatch,
        allow_missing=args.allow_missing,
    )
    info = baseline.info or BaselineInfo(args.baseline, "", "")
    verdict = compare(baseline.results, candidate, options, baseline_info=info)
    return emit_verdict(verdict, args, baseline=baseline.results, candidate=candidate)


def _settings(args: argparse.Namespace) -> Any:
    from harness.cli._common import settings_from

    return settings_from(args).override(confidence=args.confidence, tolerance_pct=args.tolerance_pct)


def _run_candidate(args: argparse.Namespace, settings: Any, baseline_backend: Any) -> Any:
    """Run the selected experiments; the baseline's backend unless ``--backend`` says otherwise."""
    from harness.cli._common import DEFAULT_OUT, experiments_to_run, measure_options
    from harness.measure.pipeline import measure
    from harness.measure.scheduling import Side
    from harness.store.jsonfile import check_writable

    wanted = args.backend or (baseline_backend if isinstance(baseline_backend, str) else settings.backend)
    experiments = experiments_to_run(settings, args.patterns)
    side = Side("", settings.project_root, settings.workloads, tuple(experiments))
    out = settings.project_root / DEFAULT_OUT
    check_writable(out)
    results = measure([side], settings, measure_options(args, settings, record=out, backend=wanted))[side.name]
    sys.stderr.write(f"results: {out} ({len(results.trials)} trials, backend {results.settings.backend})\n")
    return results
