"""The table ``harness run`` prints: per experiment and phase, mean ± spread and n, with units."""

from __future__ import annotations

from collections.abc import Sequence

from rich.markup import escape
from rich.table import Table

from harness.declare.metrics import metric
from harness.declare.units import format_spread
from harness.store.results import Results

#: The columns, most telling first; a column is left out when no phase has it.
COLUMNS = (
    ("alloc_bytes_per_op", "B/op"),
    ("alloc_count_per_op", "allocs/op"),
    ("kept_bytes", "kept"),
    ("net_bytes", "net"),
    ("peak_bytes", "peak"),
    ("wall_s", "wall"),
)


def format_cell(name: str, values: Sequence[float]) -> str:
    """``1.50 KiB ±0%``: the mean with its unit and its spread, benchstat style."""
    if not values:
        return ""
    return format_spread(values, metric(name).format)


def summary_table(results: Results) -> Table:
    """One row per experiment and phase; failed trials are counted in their own column."""
    rows: list[tuple[str, str, str, dict[str, list[float]], int]] = []
    for info in results.experiments:
        trials = results.trials_of(info.id)
        ok = [t for t in trials if t.ok]
        failed = len(trials) - len(ok)
        phase_names = list(dict.fromkeys(p.name for t in ok for p in t.phases)) or ["-"]
        for phase_name in phase_names:
            values: dict[str, list[float]] = {}
            for trial in ok:
                phase = trial.phase(phase_name)
                if phase is None:
                    continue
                for name, _ in COLUMNS:
                    value = phase.metrics.get(name)
                    if value is None and name.endswith("_per_op"):
                        continue
                    if value is not None:
                        values.setdefault(name, []).append(float(value))
            rows.append((info.id, phase_name, str(len(ok)), values, failed))
    shown = [(name, title) for name, title in COLUMNS if any(name in r[3] for r in rows)]
    table = Table(title="harness run", title_justify="left", header_style="bold")
    table.add_column("experiment", no_wrap=True)
    table.add_column("phase")
    table.add_column("n", justify="right")
    for _, title in shown:
        table.add_column(title, justify="right")
    table.add_column("failed", justify="right")
    previous = None
    for experiment_id, phase_name, n, values, failed in rows:
        label = experiment_id if experiment_id != previous else ""
        previous = experiment_id
        cells = [format_cell(name, values.get(name, [])) for name, _ in shown]
        failed_cell = f"[red]{failed}[/red]" if failed else ""
        table.add_row(escape(label), escape(phase_name), n, *cells, failed_cell)
    return table


def failure_lines(results: Results) -> list[str]:
    """One line per failed trial: which, and why."""
    return [f"{t.experiment} replicate {t.replicate} (seed {t.seed}): {t.error}" for t in results.failed()]
