"""The child interpreter's entry point: ``python -m harness.measure.executors.child PARENT_PID SPEC OUT``.

It enables :mod:`faulthandler` first (a crash then leaves the Python stack on stderr, where
the parent reads the frame it names the death by), ties its life to the process that
started it, then runs the trial (:func:`harness.measure.trial.main`). A trial whose parent
dies (a harness run killed with SIGKILL, a Dask worker lost) is killed with it instead of
running on unseen until its timeout.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys

#: ``prctl`` option: the signal this process gets when the thread that started it exits.
_PR_SET_PDEATHSIG = 1
EXIT_ORPHANED = 4


def die_with_parent(parent_pid: int) -> None:
    """On Linux, get SIGKILL when the parent dies; exit at once if it already has.

    Elsewhere nothing is done: there the trial's timeout is what bounds an orphan.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # Checked after asking: a parent that died before the request would send no signal.
    if os.getppid() != parent_pid:
        os._exit(EXIT_ORPHANED)


def main(argv: list[str]) -> int:
    faulthandler.enable()
    parent_pid, *rest = argv
    die_with_parent(int(parent_pid))
    from harness.measure.own_code import isolate, own_code
    from harness.measure.trial import main as run_trial

    isolate(own_code())

    return run_trial(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
