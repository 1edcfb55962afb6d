"""Which files and frames are the harness's own: the one rule the trial, its backends and the call tree use.

A trial child runs the workload inside frames of this stage (the child's entry point, the
trial, the capture windows) and, outside them, of the interpreter's ``runpy``. Those frames
are the *runner*: a call tree starts below them. Code the workload calls (``harness.churn``)
lies elsewhere in the package and stays inside a stack, but an allocation whose innermost
frame is in the package at all is the harness's own work (a window's clock reading, a
counter), not the workload's.
"""

from __future__ import annotations

import os

_MEASURE_DIR = os.path.dirname(os.path.abspath(__file__))
PACKAGE_DIR = os.path.dirname(_MEASURE_DIR)
#: The interpreter's own frames around ``python -m``: part of the runner, whatever its version.
_RUNNER_FILES = ("<frozen runpy>", "<frozen importlib._bootstrap>")
#: Where the runner's files lay before this stage held them, as results stored then name them.
_EARLIER_RUNNER_PATHS = tuple(
    os.path.join(PACKAGE_DIR, *parts) for parts in (("trial.py",), ("capture", ""), ("executors", "child.py"))
)


#: Files whose allocations inside a window are the trial's bookkeeping, as ``tracemalloc`` filters
#: name them (``*`` spans directories there): the trial, its backends, the child's entry point.
BOOKKEEPING_PATTERNS = (os.path.join(_MEASURE_DIR, "*"),)


def is_own_file(path: str) -> bool:
    """Whether ``path`` is a file of the harness package (its runner, its backends, ``harness.churn``)."""
    return path.startswith(PACKAGE_DIR)


def is_bookkeeping_file(path: str) -> bool:
    """Whether what a frame of ``path`` allocates or frees in a window is the trial's own work
    (opening and closing the window, counting), never the workload's."""
    return path.startswith(_MEASURE_DIR + os.sep)


def is_runner_file(path: str) -> bool:
    """Whether a frame of ``path`` is the trial runner's, cut from the outer end of a stack."""
    return path in _RUNNER_FILES or path.startswith(_MEASURE_DIR + os.sep) or path.startswith(_EARLIER_RUNNER_PATHS)
