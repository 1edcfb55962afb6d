"""Running trials behind a rich progress bar (on stderr, so stdout stays clean for output)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from harness.declare.config import Settings
from harness.measure.executors import Executor, TrialJob
from harness.measure.scheduling import Side, execute
from harness.store.results import Results, TrialResult


def run_with_progress(
    sides: Sequence[Side], settings: Settings, backend: str, executor: Executor | None = None
) -> dict[str, Results]:
    """:func:`harness.measure.scheduling.execute` with a progress bar counting trials and failures."""
    total = settings.replicates * sum(len(s.experiments) for s in sides)
    console = Console(stderr=True)
    failures = done = 0
    # Without a terminal (a CI log) the bar is off: a plain line at every tenth of the run instead.
    step = 0 if console.is_terminal else max(total // 10, 1)
    with Progress(
        TextColumn("[bold]trials"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[last]}", style="dim"),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("trials", total=total, failed="", last="")

        def advance(job: TrialJob, result: TrialResult) -> None:
            nonlocal failures, done
            failures += not result.ok
            done += 1
            if step and (done % step == 0 or done == total):
                console.print(
                    f"trials {done}/{total}" + (f", {failures} failed" if failures else ""),
                    highlight=False,
                    soft_wrap=True,
                )
            progress.update(
                task,
                advance=1,
                failed=f"[red]{failures} failed[/red]" if failures else "",
                last=job.experiment,
            )

        return execute(sides, settings, backend, executor=executor, progress=advance)
