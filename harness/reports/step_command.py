"""The ``harness explain`` command that shows the call paths behind one step of a history:
the step's own experiment, phase and figure, between the results files of its two commits.

One rule for the terminal's list of steps and the history page, so both print the command
that answers for the step (a step of kept bytes in one phase is explained by kept bytes in
that phase; the default figure and every phase would answer another question).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from harness.commits.timeline import Step
from harness.compare.calltree import figure_of_goal


def explain_command(step: Step, store: Path) -> str:
    """The shell command, its arguments quoted, that explains ``step`` of the history in ``store``."""
    phase, goal = step.measure.rsplit(".", 1)
    parent, commit = (store / str(entry.results) for entry in (step.parent, step.commit))
    arguments = ["harness", "explain", step.experiment, "--baseline", str(parent), "--results", str(commit)]
    return shlex.join([*arguments, "--figure", figure_of_goal(goal), "--phase", phase])
