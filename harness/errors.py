"""The errors harness raises on bad input; the command line turns each into one line and exit 2."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


class HarnessError(Exception):
    """Base of every error that is the user's input, not a bug: shown as one line, exit code 2."""


class ConfigError(HarnessError):
    """A setting in ``[tool.harness]`` or on the command line is invalid."""


class DeclarationError(HarnessError):
    """A family, variant or workload was declared wrongly (bad goal, bound or parameter grid)."""


class DiscoveryError(HarnessError):
    """The workloads directory is missing, or one of its modules failed to import."""


class SelectionError(HarnessError):
    """A pattern matched no experiment."""


class BackendError(HarnessError):
    """A capture backend is unknown or cannot run here (e.g. memray is not installed)."""


class ResultsError(HarnessError):
    """A results, baseline or verdict file is missing, truncated, not JSON or of the wrong schema."""


class OutputError(HarnessError):
    """An output file (a verdict, a report, an export, a results file) cannot be written there."""


class GitError(HarnessError):
    """Not a git repository, a ref that does not exist, or a worktree that cannot be made."""


class SetupError(HarnessError):
    """The ``[tool.harness] setup`` command failed in a checkout."""


class BuildError(HarnessError):
    """A commit's code could not be built into a wheel, or the wheel not installed."""


class MetricNotMeasured(HarnessError):
    """A goal or bound names a metric the backend does not measure, or the run did not."""


class BaselineError(HarnessError):
    """A baseline name is invalid, or the results it would be made from are unfit."""


class MissingBaseline(HarnessError):
    """``--harness-baseline NAME`` names a baseline that was never saved."""


class EnvironmentMismatch(HarnessError):
    """Baseline and candidate ran where allocation figures differ (Python, implementation, backend)."""


class BisectError(HarnessError):
    """A bisection cannot go on: no commit in the range, the experiment absent at a commit, or
    GOOD's trials fail."""


class LimitError(HarnessError):
    """A test's limits (its marker, or ``[tool.harness.pytest]``) are malformed: the message says how."""


class ExecutorLost(HarnessError):
    """The executor cannot run trials any more (every worker gone, the scheduler lost)."""


class RunStopped(HarnessError):
    """The executor was lost mid-run (every worker gone): the message says why, and
    ``results`` holds each side's results of the trials finished before, for the caller to save.

    They are typed loosely because the errors stand below the store that defines them."""

    def __init__(self, reason: str, results: Mapping[str, Any]) -> None:
        super().__init__(reason)
        self.results = dict(results)


class ChangePointsUnavailable(Exception):
    """The change-point library (ruptures) is not installed on this interpreter: a history then
    says that time has no steps, instead of guessing. Not a :class:`HarnessError`: a history
    without time steps is still a history."""


class ChildTestFailed(Exception):
    """A test measured by the pytest plugin failed in its child; the plugin's report shows the
    child's own account. Not a :class:`HarnessError`: the test failed, the input was fine."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM stopped the run after ``trials`` finished trials, saved in ``saved``
    when the run was recorded; the CLI exits 130. Not a :class:`HarnessError`: nothing was wrong."""

    def __init__(self, trials: int, saved: Sequence[Path] = ()) -> None:
        super().__init__("interrupted")
        self.trials = trials
        self.saved = tuple(saved)

    def __str__(self) -> str:
        if not self.saved:
            return f"interrupted after {self.trials} finished trials"
        where = ", ".join(str(p) for p in self.saved)
        return f"interrupted: {self.trials} finished trials saved in {where} (`--resume` runs the rest)"
