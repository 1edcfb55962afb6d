"""How every measuring child is started, waited for and, when it dies, explained.

Workload trials (``python -m harness.measure.executors.child``) and the pytest plugin's measuring
sessions (``python -m pytest NODEID -p harness.pytest_plugin.child``) are both children
that write their outcome to a file. Both are started here: in a session of their own (so
that Ctrl-C reaches the parent only, which then stops them, and a timeout kills the whole
group, grandchildren included), bounded by a timeout, and, when they leave no outcome, told
apart by how they ended: timed out, over the memory limit, killed by a signal, or exited
with an error whose last line is kept. The memory limit itself is set by each child on
itself (``harness.measure.trial.limit_memory``), before it imports the code under test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.measure.trial import memory_limit_reason

#: How a child that ran out of memory outside Python's reach (the interpreter's start, a C
#: extension, a backend's own allocations) ends: aborted, or with the error printed.
_OOM_SIGNALS = (-signal.SIGABRT, -signal.SIGSEGV, -signal.SIGBUS)
_OOM_WORDS = ("MemoryError", "bad_alloc", "Cannot allocate memory", "out of memory")


@dataclass(frozen=True)
class Ended:
    """How a child ended: its exit code (negative: the signal), its stderr, and whether it
    was killed for running past its timeout."""

    returncode: int
    stderr: str
    timed_out: bool
    timeout_s: float

    def last_lines(self, n: int = 1) -> str:
        lines = [line.strip() for line in self.stderr.strip().splitlines() if line.strip()]
        return "\n".join(lines[-n:])

    def out_of_memory(self) -> bool:
        return self.returncode in _OOM_SIGNALS or (
            self.returncode != 0 and any(word in self.stderr for word in _OOM_WORDS)
        )

    def death(self, memory_limit: int | None) -> str | None:
        """Why the child died, in one line, or None when it did not (it exited, whatever its
        code: its outcome file, or :meth:`exit_reason`, says more)."""
        if self.timed_out:
            return f"timed out after {self.timeout_s:g} s"
        if memory_limit and self.out_of_memory():
            return memory_limit_reason(memory_limit)
        if self.returncode < 0:
            return _signal_reason(self.returncode)
        return None

    def exit_reason(self) -> str:
        """``child exited with code N: <last line of stderr>``."""
        return f"child exited with code {self.returncode}: {self.last_lines() or 'no output'}"


def _signal_reason(returncode: int) -> str:
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    hint = " (out of memory?)" if -returncode == signal.SIGKILL else ""
    return f"killed by {name}{hint}"


def run_child(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | Path,
    timeout_s: float,
    started: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> Ended:
    """Run ``command`` to its end or its timeout; on any interruption (Ctrl-C) its whole
    group is killed before the interruption goes on."""
    process = subprocess.Popen(
        list(command),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(env),
        cwd=cwd,
        start_new_session=True,
    )
    if started is not None:
        started(process)
    timed_out = False
    try:
        _, stderr_bytes = process.communicate(timeout=timeout_s)
    except BaseException as exc:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        _, stderr_bytes = process.communicate()
        if not isinstance(exc, subprocess.TimeoutExpired):
            raise
        timed_out = True
    return Ended(process.returncode, stderr_bytes.decode("utf-8", "replace"), timed_out, timeout_s)
