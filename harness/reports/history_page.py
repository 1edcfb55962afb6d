"""The history page of a history store (``index.html`` beside ``index.json``) and the delta
flame graph of each allocation step, commit against parent (``flames/``).

The page is self-contained like the report; each flame graph is a page of its own, linked
from the step, so that the history page stays small however many steps it lists. A flame
page depends only on two results files that never change, so it is written once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from harness.commits.history import Entry, HistoryStore
from harness.commits.sides import results_differ
from harness.commits.timeline import Step, Timeline
from harness.compare.calltree import explains, figure_of_goal, trees_of
from harness.reports.html import render, write_flame_page
from harness.reports.html.history import history_context
from harness.store.jsonfile import write_text_atomic
from harness.store.results import Results

PAGE = "index.html"
FLAMES = "flames"


def flame_file(sha: str, experiment: str) -> str:
    """The flame page of one experiment at one commit, relative to the store."""
    digest = hashlib.sha1(experiment.encode()).hexdigest()[:10]
    return f"{FLAMES}/{sha[:12]}-{digest}.html"


def write_step_flames(store: HistoryStore, steps: Sequence[Step]) -> dict[tuple[str, str], str]:
    """The flame page of every (commit, experiment) with an allocation step; {(sha, experiment): path}."""
    wanted: dict[tuple[str, str], list[Step]] = {}
    for step in steps:
        if step.kind == "exact" and explains(step.measure.rsplit(".", 1)[1]):
            wanted.setdefault((step.commit.sha, step.experiment), []).append(step)
    written = {}
    for (sha, experiment), own in wanted.items():
        relative = flame_file(sha, experiment)
        target = store.directory / relative
        if not target.is_file():
            commit, parent = own[0].commit, own[0].parent
            baseline, candidate = store.results(parent), store.results(commit)
            trees = []
            for phase, figure in dict.fromkeys(
                (s.measure.rsplit(".", 1)[0], figure_of_goal(s.measure.rsplit(".", 1)[1])) for s in own
            ):
                trees += trees_of(experiment, baseline, candidate, figure=figure, phases=[phase])
            caption = f"{commit.short} {commit.subject}, against the commit measured before it: {parent.short}"
            write_flame_page(trees, target, against=experiment, caption=caption, back=f"../{PAGE}")
        written[(sha, experiment)] = relative
    return written


def step_workloads_differ(store: HistoryStore, steps: Sequence[Step]) -> dict[tuple[str, str], tuple[str, ...]]:
    """The workload files each step's commit ran in another version than its parent,
    {(parent sha, commit sha): paths relative to the project}, for the steps across which any differ."""
    files: dict[str, Results] = {}

    def results(entry: Entry) -> Results:
        if entry.sha not in files:
            files[entry.sha] = store.results(entry)
        return files[entry.sha]

    pairs = {(step.parent.sha, step.commit.sha): (step.parent, step.commit) for step in steps}
    differ = {key: results_differ(results(parent), results(commit)) for key, (parent, commit) in pairs.items()}
    return {key: names for key, names in differ.items() if names}


def write_history_page(
    store: HistoryStore, timeline: Timeline, *, revisions: str, title: str, web: str | None = None
) -> Path:
    """Write the page (and the flame pages it links to) into the store; the page's path.
    ``web`` is the repository's web page, which each commit links to (none without it)."""
    flames = write_step_flames(store, timeline.steps)
    context = history_context(
        timeline,
        title=title,
        revisions=revisions,
        flames=flames,
        store=store.directory,
        web=web,
        workloads_differ=step_workloads_differ(store, timeline.steps),
    )
    target = store.directory / PAGE
    write_text_atomic(target, render(context))
    return target
