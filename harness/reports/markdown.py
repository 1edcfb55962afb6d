"""The verdict as a pull-request comment, in the layout of Datadog's SMP regression detector.

The comment opens with :data:`MARKER`, an HTML comment invisible once rendered, so that a CI
job can find its own earlier comment and update it instead of adding another.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from harness.compare.verdict import ExperimentVerdict, Verdict
from harness.declare.config import BOUNDS, MISSING
from harness.reports import figures

MARKER = "<!-- harness-verdict -->"
#: The HTML report as uploaded beside the comment (``harness compare --html report.html``).
REPORT_FILE = "report.html"
#: Where the uploaded report can be opened, when it is served somewhere: its flame graphs become links.
REPORT_URL_ENV = "HARNESS_REPORT_URL"
TOP_PATHS = 3
EXPERIMENT_HEADER = ("perf", "experiment", "goal", "Δ mean %", "Δ mean % CI", "trials")


def cell(text: str) -> str:
    """Text safe inside a table cell (a ``|`` would split it)."""
    return text.replace("|", "\\|")


def code(text: str) -> str:
    return f"`{text}`"


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines


def experiment_rows(rows: Sequence[ExperimentVerdict]) -> list[tuple[str, ...]]:
    return [
        (
            figures.mark(r),
            code(r.id) + (" (erratic)" if r.erratic else ""),
            figures.goal(r),
            figures.delta(r),
            figures.interval(r),
            figures.trials(r),
        )
        for r in rows
    ]


def render(verdict: Verdict) -> str:
    """The comment: goals table, details, top movers, bounds checks, explanation, decision."""
    lines = [
        *heading(verdict),
        *goals(verdict),
        *fine_details(verdict),
        *top_movers(verdict),
        *changed_paths(verdict),
        *bounds_checks(verdict),
        "",
        *explanation(verdict),
        "",
        *decision(verdict),
    ]
    return "\n".join(lines) + "\n"


def heading(verdict: Verdict) -> list[str]:
    """The marker a CI job finds its comment by, the title and the two sides compared."""
    return [
        MARKER,
        "## Regression Detector",
        "",
        f"**Baseline:** {figures.side(verdict.baseline)}  ",
        f"**Candidate:** {figures.side(verdict.candidate)}",
        *workloads_differ(verdict),
        "",
    ]


def workloads_differ(verdict: Verdict) -> list[str]:
    """The line naming the workload files that differ between the sides, when any did."""
    line = figures.workloads_differ_line(verdict, code)
    return ["", line[0].upper() + line[1:]] if line else []


def goals(verdict: Verdict) -> list[str]:
    """The headline of the goals, and the table of the experiments that changed, if any."""
    significant = [r for r in verdict.experiments if r.decision not in ("no_change", "missing")]
    if any(figures.mark(r) == figures.WORSE for r in verdict.experiments):
        headline = f"{figures.WORSE} Significant changes detected"
    elif significant:
        headline = f"{figures.BETTER} No significant regressions detected"
    else:
        headline = f"{figures.BETTER} No significant changes detected"
    lines = [f"### Optimization goals: {headline}"]
    if significant:
        lines += ["", *md_table(EXPERIMENT_HEADER, experiment_rows(significant))]
    return lines


def details(summary: str, body: Sequence[str], *, open_: bool = False) -> list[str]:
    """A folded block: only its summary shows until the reader opens it."""
    return [
        "<details open>" if open_ else "<details>",
        f"<summary>{summary}</summary>",
        "",
        *body,
        "",
        "</details>",
    ]


def fine_details(verdict: Verdict) -> list[str]:
    """Every experiment with both sides' spread and its decision, folded."""
    rows = [
        (
            *base,
            figures.spread(r.goal, r.baseline_values),
            figures.spread(r.goal, r.candidate_values),
            figures.decision(r),
        )
        for base, r in zip(experiment_rows(verdict.experiments), verdict.experiments, strict=True)
    ]
    table = md_table((*EXPERIMENT_HEADER, "baseline", "candidate", "decision"), rows)
    return ["", *details("Fine details of change detection per experiment", table)]


def top_movers(verdict: Verdict) -> list[str]:
    """One folded table of the most changed call sites per experiment that has any."""
    lines: list[str] = []
    for row in (r for r in verdict.experiments if r.top_sites):
        sites = [
            (
                code(s.site),
                figures.bytes_delta(s.baseline),
                figures.bytes_delta(s.candidate),
                figures.bytes_delta(s.delta, signed=True),
            )
            for s in row.top_sites
        ]
        table = md_table(("site", "baseline", "candidate", "Δ bytes"), sites)
        lines += ["", *details(f"Top movers: {code(row.id)} {figures.goal(row)} ({row.decision})", table)]
    return lines


def changed_paths(verdict: Verdict) -> list[str]:
    """The changed call paths of every experiment that has any."""
    lines: list[str] = []
    for row in (r for r in verdict.experiments if r.top_paths):
        lines += ["", *call_paths(row)]
    return lines


def bounds_checks(verdict: Verdict) -> list[str]:
    """The bounds checks and whether they all passed; nothing when no bound was set."""
    checks = list(verdict.bound_checks())
    if not checks:
        return []
    passed = all(c.passed for _, c in checks)
    rows = [
        (
            figures.BETTER if c.passed else figures.WORSE,
            code(r.id),
            c.name,
            figures.limit(c).split(" ", 1)[1],
            figures.worst(c),
            f"{c.replicates_passed}/{c.replicates}",
        )
        for r, c in checks
    ]
    return [
        "",
        f"### Bounds Checks: {figures.BETTER + ' Passed' if passed else figures.WORSE + ' Failed'}",
        "",
        *md_table(("perf", "experiment", "bounds_check_name", "limit", "worst", "replicates_passed"), rows),
    ]


def flame_link(row: ExperimentVerdict) -> str:
    """The row's delta flame graph in the HTML report: a link when ``$HARNESS_REPORT_URL`` says
    where the report is served, else its file and anchor in the uploaded artifact."""
    from harness.compare.calltree import figure_of_goal
    from harness.reports.flame import flame_anchor

    anchor = flame_anchor(row.id, row.phase, figure_of_goal(row.goal))
    url = os.environ.get(REPORT_URL_ENV, "").strip()
    if url:
        return f"[delta flame graph]({url.split('#', 1)[0]}#{anchor})"
    return f"delta flame graph: {code(REPORT_FILE + '#' + anchor)} in the uploaded report"


def call_paths(row: ExperimentVerdict) -> list[str]:
    """The row's most changed call paths (outermost frame first) and where its flame graph is."""
    paths = [
        (
            figures.bytes_delta(p.delta_bytes, signed=True),
            f"{p.delta_count:+,.0f}",
            " \N{RIGHTWARDS ARROW} ".join(code(frame) for frame in p.stack),
        )
        for p in row.top_paths[:TOP_PATHS]
    ]
    return details(
        f"Call paths that changed: {code(row.id)} {figures.goal(row)} ({row.decision})",
        [flame_link(row), "", *md_table(("Δ bytes", "Δ count", "call path, innermost last"), paths)],
        open_=row.regressed,
    )


def explanation(verdict: Verdict) -> list[str]:
    """The rule, with the settings this verdict used."""
    conf = f"{verdict.confidence:.2%}"
    tol = f"{verdict.tolerance_pct:.2f}%"
    return [
        "### Explanation",
        "",
        f"Confidence level: {conf}  ",
        f"Effect size tolerance: |Δ mean %| ≥ {tol}",
        "",
        "Performance changes are noted in the perf column of each table:",
        "",
        f"- {figures.BETTER} = significantly better comparison variant performance",
        f"- {figures.WORSE} = significantly worse comparison variant performance (or a failed trial)",
        f"- {figures.SAME} = no significant change in performance",
        "",
        "A regression test is an A/B test of allocation figures in fresh, seeded interpreters: each "
        'goal metric is measured as "candidate minus baseline", replicate *i* of both sides running '
        f"with the same seed. We report the uncertainty of Δ mean % as a {conf} confidence interval, "
        'denoted "Δ mean % CI".',
        "",
        'For each experiment, we decide that a change is a "regression" -- a change worth investigating '
        "further -- if all of the following criteria are true:",
        "",
        f"1. Its estimated |Δ mean %| ≥ {tol}, in the direction that is worse for its goal.",
        f'2. Its {conf} confidence interval "Δ mean % CI" does not contain zero.',
        '3. It is not marked "erratic": its coefficient of variation is at most '
        f"{verdict.erratic_cv:.0%} and `[tool.harness] erratic` does not name it.",
        "",
        "Bounds checks are absolute limits that every replicate of the candidate must meet.",
        "",
        "Nothing unmeasured passes: trials that failed on either side fail the gate, as does a candidate with "
        "no finished trial"
        + (", and an experiment of the baseline that the candidate lacks." if MISSING in verdict.gates else "."),
    ]


def decision(verdict: Verdict) -> list[str]:
    """The final pass/fail line, and one bullet per gate that decided it."""
    lines = ["### CI Pass/Fail Decision", ""]
    mark_ = figures.BETTER if verdict.passed else figures.WORSE
    lines.append(f"{mark_} {figures.verdict_line(verdict)}")
    bullets = [f"{reason}." for reason in verdict.reasons]
    if BOUNDS in verdict.gates:
        bullets += [
            f"{r.id}, bounds check {c.name}: {c.replicates_passed}/{c.replicates} replicas passed. Gate passed."
            for r, c in verdict.bound_checks()
            if c.passed
        ]
    if bullets:
        lines.append("")
        lines += [f"- {cell(b)}" for b in bullets]
    return lines
