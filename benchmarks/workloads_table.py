"""Write the measured figures of the bundled seed families into workloads/README.md.

Usage, from the repository root::

    python benchmarks/workloads_table.py                      # run the five families, then write
    python benchmarks/workloads_table.py --results FILE       # write from an existing results file
    python benchmarks/workloads_table.py --replicates 3 --jobs 2 --readme workloads/README.md

Without ``--results`` it runs ``harness run`` on the five seed families (default replicates
and backend of the project) and keeps the results file next to the README's report
(``reports/workloads.json``). It then replaces the text between the two markers of the
README with one table per family: variant, metric, mean ±spread (n), and the ratio to the
family's reference variant (the "after" of its seed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.declare.metrics import metric
from harness.declare.units import mean_and_spread
from harness.errors import HarnessError
from harness.store.results import Results, TrialResult, read_results

START = "<!-- workloads-table:start -->"
END = "<!-- workloads-table:end -->"
FAMILIES = ("sack_scoreboard", "activity_stats", "flow_table", "socket_storage", "resizable_map")
ROOT = Path(__file__).resolve().parent.parent


def phase_metric(phase: str, name: str) -> Callable[[TrialResult], float | None]:
    """The figure ``name`` of one phase of a trial (None if the trial lacks it)."""

    def read(trial: TrialResult) -> float | None:
        found = trial.phase(phase)
        value = found.metrics.get(name) if found else None
        return None if value is None else float(value)

    return read


def held_bytes(last_phase: str) -> Callable[[TrialResult], float | None]:
    """What a structure built inside the first phase still holds at the end of ``last_phase``:
    the sum of ``net_bytes`` over the phases up to it (each measured by tracemalloc)."""

    def read(trial: TrialResult) -> float | None:
        total = 0.0
        for phase in trial.phases:
            value = phase.metrics.get("net_bytes")
            if value is None:
                return None
            total += float(value)
            if phase.name == last_phase:
                return total
        return None

    return read


@dataclass(frozen=True)
class Row:
    """One figure shown for every variant of a workload."""

    workload: str
    label: str
    unit_metric: str  # the metric whose unit formats the figure
    read: Callable[[TrialResult], float | None]


@dataclass(frozen=True)
class FamilyTable:
    family: str
    reference: str  # the variant every ratio divides by
    rows: tuple[Row, ...]


TABLES = (
    FamilyTable(
        "sack_scoreboard",
        "unboxed",
        (
            Row("lossy_sender", "recovery allocs/query", "alloc_count", phase_metric("recovery", "alloc_count_per_op")),
            Row("lossy_sender", "recovery B/query", "alloc_bytes", phase_metric("recovery", "alloc_bytes_per_op")),
            Row("lossy_sender", "recovery time/query", "wall_s", phase_metric("recovery", "wall_s_per_op")),
        ),
    ),
    FamilyTable(
        "activity_stats",
        "flat",
        (
            Row("node_churn", "allocs per new node", "alloc_count", phase_metric("grow", "alloc_count_per_op")),
            Row("node_churn", "bytes held per node", "net_bytes", phase_metric("grow", "net_bytes_per_op")),
            Row("node_churn", "allocs per flushed node", "alloc_count", phase_metric("flush", "alloc_count_per_op")),
            Row("node_churn", "allocs per event", "alloc_count", phase_metric("events", "alloc_count_per_op")),
        ),
    ),
    FamilyTable(
        "flow_table",
        "hashmap_shrink",
        (
            Row("spike_drain", "held after spike", "net_bytes", held_bytes("spike")),
            Row("spike_drain", "held after drain", "net_bytes", held_bytes("drain")),
            Row("flood", "colliding keys: insert time/op", "wall_s", phase_metric("insert", "wall_s_per_op")),
            Row("flood", "colliding keys: lookup time/op", "wall_s", phase_metric("lookup", "wall_s_per_op")),
            Row("flood", "bytes kept by the lookups", "kept_bytes", phase_metric("lookup", "kept_bytes")),
        ),
    ),
    FamilyTable(
        "socket_storage",
        "indirect",
        (
            Row("socket_churn", "bytes per open socket", "net_bytes", phase_metric("open", "net_bytes_per_op")),
            Row("socket_churn", "allocs per open socket", "alloc_count", phase_metric("open", "alloc_count_per_op")),
            Row("socket_churn", "churn allocs/op", "alloc_count", phase_metric("churn", "alloc_count_per_op")),
        ),
    ),
    FamilyTable(
        "resizable_map",
        "resizable",
        (
            Row("load_spike", "held after normal", "net_bytes", held_bytes("normal")),
            Row("load_spike", "held after spike", "net_bytes", held_bytes("spike")),
            Row("load_spike", "held after after_spike", "net_bytes", held_bytes("after_spike")),
            Row("load_spike", "inserts refused in spike", "refused", phase_metric("spike", "refused")),
        ),
    ),
)


def _values(results: Results, family: str, workload: str, variant: str, row: Row) -> list[float]:
    values: list[float] = []
    for info in results.experiments:
        if (info.family, info.workload, info.variant) != (family, workload, variant):
            continue
        for trial in results.trials_of(info.id):
            value = row.read(trial) if trial.ok else None
            if value is not None:
                values.append(value)
    return values


def _ratio(value: float, reference: float) -> str:
    if reference == 0:
        return "-" if value == 0 else "n/a"
    return f"{value / reference:.3g}x"


def render(results: Results) -> str:
    """The markdown tables, one per family present in ``results``."""
    env = results.environment
    commit = (env.git_commit or "unknown")[:10]
    parts = [
        f"Written by `python benchmarks/workloads_table.py` from a run of {results.created} "
        f"(backend {results.settings.backend}, {results.settings.replicates} replicates, "
        f"{env.interpreter}, commit {commit}). Each figure is the mean "
        "±relative standard deviation (n trials); ratio is the figure over the same figure of the family's "
        "reference variant. Replicate i runs with seed 1 + i, so allocation figures spread only as the seeded "
        "streams differ (one seed repeats them exactly); times were taken on a shared machine and move.",
    ]
    variants_of: dict[str, list[str]] = {}
    for info in results.experiments:
        known = variants_of.setdefault(info.family, [])
        if info.variant not in known:
            known.append(info.variant)
    for table in TABLES:
        if table.family not in variants_of:
            continue
        lines = [
            f"### {table.family} (reference: `{table.reference}`)",
            "",
            "| variant | metric | value | ratio |",
            "| --- | --- | ---: | ---: |",
        ]
        for row in table.rows:
            reference_values = _values(results, table.family, row.workload, table.reference, row)
            reference_mean = mean_and_spread(reference_values)[0] if reference_values else None
            for variant in variants_of[table.family]:
                values = _values(results, table.family, row.workload, variant, row)
                if not values:
                    continue
                mean, spread = mean_and_spread(values)
                shown = f"{metric(row.unit_metric).format(mean)} ±{spread:.0f}% (n={len(values)})"
                ratio = _ratio(mean, reference_mean) if reference_mean is not None else "n/a"
                lines.append(f"| {variant} | {row.workload}: {row.label} | {shown} | {ratio} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def replace_between_markers(text: str, body: str) -> str:
    """``text`` with what lies between the start and end markers replaced by ``body``."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise HarnessError(f"the README has no {START} ... {END} markers")
    return f"{text[: start + len(START)]}\n{body}\n{text[end:]}"


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new one, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_families(out: Path, replicates: int | None, jobs: int | None, backend: str | None) -> None:
    """Run the five seed families with the real CLI into ``out``."""
    command = [sys.executable, "-m", "harness", "run", *FAMILIES, "--out", str(out)]
    for flag, value in (("--replicates", replicates), ("--jobs", jobs), ("--backend", backend)):
        if value is not None:
            command += [flag, str(value)]
    finished = subprocess.run(command, cwd=ROOT, check=False)
    if finished.returncode not in (0, 1):
        raise HarnessError(f"harness run exited with {finished.returncode}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, help="read this results file instead of running the families")
    parser.add_argument("--readme", type=Path, default=ROOT / "workloads" / "README.md")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "workloads.json", help="results file of a run")
    parser.add_argument("-n", "--replicates", type=int)
    parser.add_argument("-j", "--jobs", type=int)
    parser.add_argument("--backend")
    args = parser.parse_args(argv)
    try:
        path = args.results
        if path is None:
            run_families(args.out, args.replicates, args.jobs, args.backend)
            path = args.out
        results = read_results(path)
        failed = results.failed()
        if failed:
            print(f"warning: {len(failed)} failed trials are left out of the tables", file=sys.stderr)
        readme = args.readme.read_text(encoding="utf-8")
        write_text_atomic(args.readme, replace_between_markers(readme, render(results)))
    except (HarnessError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote the tables of {path} into {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
