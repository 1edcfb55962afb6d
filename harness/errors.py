"""The errors harness raises on bad input; the command line turns each into one line and exit 2."""

from __future__ import annotations


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


class GitError(HarnessError):
    """Not a git repository, a ref that does not exist, or a worktree that cannot be made."""


class SetupError(HarnessError):
    """The ``[tool.harness] setup`` command failed in a checkout."""


class BuildError(HarnessError):
    """A commit's code could not be built into a wheel, or the wheel not installed."""


class MetricNotMeasured(HarnessError):
    """A goal or bound names a metric the backend does not measure, or the run did not."""
