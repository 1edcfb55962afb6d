"""The files a pytest session writes: its ``--harness-save`` baseline, and for CI ``--harness-json``
and ``--harness-html``."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from harness.declare.config import Settings
from harness.store.results import Results


def make_baseline_directory(settings: Settings, save: str | None) -> None:
    """Make the directory ``--harness-save`` writes to before the first zygote starts.

    A zygote's heap, and so a peak by a string, depends on what the directories on its import
    path hold (the import system lists them): a first save would otherwise measure in another
    tree than every session after it, which finds the directory there.
    """
    if save:
        from harness.pytest_plugin.baseline import baseline_path

        with contextlib.suppress(OSError):  # saving says why, in one line, at the end
            baseline_path(settings, save).parent.mkdir(parents=True, exist_ok=True)


def save_and_write(
    tests: Sequence[Results],
    root: Path,
    settings: Settings,
    baseline: Results | None,
    *,
    save: str | None,
    json: str | None,
    html: str | None,
) -> list[str]:
    """Save the baseline ``save`` and write the ``json`` and ``html`` files; a line for each written."""
    written = []
    if save and tests:
        from harness.pytest_plugin.baseline import baseline_path, save_baseline

        path = baseline_path(settings, save)
        save_baseline(path, tests, root)
        written.append(f"harness: baseline {save!r} saved to {path} ({len(tests)} measured tests)")
    return written + write_session_files(
        tests, root, json_path=json, html_path=html, baseline=baseline, settings=settings
    )


def write_session_files(
    tests: Sequence[Results],
    root: Path,
    *,
    json_path: str | None,
    html_path: str | None,
    baseline: Results | None,
    settings: Settings,
) -> list[str]:
    """Write the measured ``tests`` as a results file at ``json_path`` and the report page of
    ``harness report`` at ``html_path`` (the verdict against ``baseline``, else the results);
    a line for each file written."""
    if not tests or (not json_path and not html_path):
        return []
    from harness.store.results import save_results

    results = session_results(tests, root)
    written = []
    if json_path:
        save_results(results, Path(json_path))
        written.append(f"harness: results written to {json_path}")
    if html_path:
        from harness.reports.html import write_html

        if baseline is not None:
            from harness.compare.gate import GateOptions, compare
            from harness.declare.config import REGRESSIONS

            ids = {e.id for e in results.experiments}
            known = replace(
                baseline,
                experiments=tuple(e for e in baseline.experiments if e.id in ids),
                trials=tuple(t for t in baseline.trials if t.experiment in ids),
            )
            options = GateOptions.from_settings(settings, gates=(REGRESSIONS,), bounds={})
            write_html(compare(known, results, options), html_path, baseline=known, candidate=results)
        else:
            write_html(results, html_path)
        written.append(f"harness: report written to {html_path}")
    return written


def session_results(tests: Sequence[Results], root: Path) -> Results:
    """Every measured test of the session as one results file, its sites kept as a baseline
    keeps them (paths relative to ``root``)."""
    from harness.store.pytest_baseline import compact

    merged = replace(
        tests[-1],
        experiments=tuple(r.experiments[0] for r in tests),
        trials=tuple(t for r in tests for t in r.trials),
    )
    return compact(merged, root)
