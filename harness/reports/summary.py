"""The table ``harness run`` prints: per experiment and phase, mean ± spread and n, with units."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class _Row:
    """One experiment and phase of the table, its figures already written out."""

    experiment: str
    phase: str
    n: str
    cells: dict[str, str]
    failed: int


def _rows(results: Results) -> list[_Row]:
    rows = []
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
                    if value is not None:
                        values.setdefault(name, []).append(float(value))
            cells = {name: format_cell(name, v) for name, v in values.items()}
            rows.append(_Row(info.id, phase_name, str(len(ok)), cells, failed))
    return rows


def _width(columns: Sequence[int]) -> int:
    """The width rich gives a boxed table of columns this wide: one space of padding either
    side of each, and a rule between and around them."""
    return sum(w + 2 for w in columns) + len(columns) + 1


def summary_table(results: Results, width: int | None = None) -> Table:
    """One row per experiment and phase; failed trials are counted in their own column.

    Figures are never cut: where the table is wider than ``width`` (the terminal's), the
    experiment gets a row of its own above its phases, folded if it must be, and the least
    telling figure columns (the end of :data:`COLUMNS`) are left out, named in the caption.
    """
    rows = _rows(results)
    shown = [(name, title) for name, title in COLUMNS if any(name in r.cells for r in rows)]
    failed = any(r.failed for r in rows)

    def widths(columns: Sequence[tuple[str, str]]) -> list[int]:
        return [max(len(title), *(len(r.cells.get(name, "")) for r in rows)) for name, title in columns]

    longest = [max((len(getattr(r, f)) for r in rows), default=1) for f in ("experiment", "phase", "n")]
    fixed = [len("failed")] if failed else []
    if width is None or _width([*longest, *widths(shown), *fixed]) <= width:
        return _wide(rows, shown, failed)
    # The narrow layout: "experiment / phase" in one column, at least as wide as a phase or 24.
    label = max(24, longest[1] + 2)
    kept = list(shown)
    while len(kept) > 1 and _width([label, longest[2], *widths(kept), *fixed]) > width:
        kept.pop()
    return _narrow(rows, kept, [title for name, title in shown if (name, title) not in kept], failed)


def _figure_columns(table: Table, shown: Sequence[tuple[str, str]]) -> None:
    for _, title in shown:
        # A figure is read whole or not at all: never wrapped, never ellipsised.
        table.add_column(title, justify="right", no_wrap=True, min_width=len(title))


def _failed_cell(failed: int) -> str:
    return f"[red]{failed}[/red]" if failed else ""


def _wide(rows: Sequence[_Row], shown: Sequence[tuple[str, str]], failed: bool) -> Table:
    table = Table(title="harness run", title_justify="left", header_style="bold")
    table.add_column("experiment", overflow="fold")
    table.add_column("phase", overflow="fold")
    table.add_column("n", justify="right", no_wrap=True)
    _figure_columns(table, shown)
    if failed:
        table.add_column("failed", justify="right", no_wrap=True)
    previous = None
    for row in rows:
        label = row.experiment if row.experiment != previous else ""
        previous = row.experiment
        cells = [row.cells.get(name, "") for name, _ in shown]
        table.add_row(escape(label), escape(row.phase), row.n, *cells, *([_failed_cell(row.failed)] if failed else []))
    return table


def _narrow(rows: Sequence[_Row], shown: Sequence[tuple[str, str]], left_out: Sequence[str], failed: bool) -> Table:
    caption = f"not shown for want of width: {', '.join(left_out)}" if left_out else None
    table = Table(
        title="harness run", title_justify="left", header_style="bold", caption=caption, caption_justify="left"
    )
    table.add_column("experiment / phase", overflow="fold")
    table.add_column("n", justify="right", no_wrap=True)
    _figure_columns(table, shown)
    if failed:
        table.add_column("failed", justify="right", no_wrap=True)
    empty = [""] * (len(shown) + 1 + (1 if failed else 0))
    previous = None
    for row in rows:
        if row.experiment != previous:
            table.add_row(f"[bold]{escape(row.experiment)}[/bold]", *empty)
            previous = row.experiment
        cells = [row.cells.get(name, "") for name, _ in shown]
        table.add_row(escape(f"  {row.phase}"), row.n, *cells, *([_failed_cell(row.failed)] if failed else []))
    return table


def failure_lines(results: Results) -> list[str]:
    """One line per failed trial: which, and why."""
    return [f"{t.experiment} replicate {t.replicate} (seed {t.seed}): {t.error}" for t in results.failed()]
