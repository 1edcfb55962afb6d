"""How every measuring child is started, bounded, waited for and, when it dies, explained.

Three kinds of children measure, and all of them go through this module:

- a workload trial, ``python -m harness.measure.executors.child`` (:func:`run_child`);
- the pytest plugin's zygote, a pytest session that has started and collected one test file
  and then answers requests, one line each (:class:`Server`);
- the zygote's forked copy that runs and measures one test (:func:`fork_child`).

Each runs in a process group of its own (so that Ctrl-C reaches the parent only, which then
stops them, and a timeout kills the whole group, grandchildren included), under the
per-trial memory limit (:func:`limit_memory`, which a started interpreter sets on itself
before it imports the code under test, and a forked child right after the fork), bounded by
a timeout, and, when it leaves no outcome, told apart by how it ended (:class:`Ended`):
timed out, over the memory limit, killed by a signal, or exited with an error whose last
line is kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

#: How a child that ran out of memory outside Python's reach (the interpreter's start, a C
#: extension, a backend's own allocations) ends: aborted, or with the error printed.
_OOM_SIGNALS = (-signal.SIGABRT, -signal.SIGSEGV, -signal.SIGBUS)
_OOM_WORDS = ("MemoryError", "bad_alloc", "Cannot allocate memory", "out of memory")
#: How long a stopped server has to end of itself before its group is killed.
_GRACE_S = 2.0


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

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Ended:
        return cls(**json.loads(text))


def _signal_reason(returncode: int) -> str:
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    hint = " (out of memory?)" if -returncode == signal.SIGKILL else ""
    return f"killed by {name}{hint}"


def memory_limit_reason(limit: int) -> str:
    """``memory limit 2 GiB exceeded``: why a trial over its limit failed."""
    from harness.declare.units import format_bytes

    return f"memory limit {format_bytes(limit)} exceeded"


def limit_memory(limit: int | None) -> None:
    """Cap this process's data (heap and private writable mappings) at ``limit`` bytes.

    ``RLIMIT_DATA`` rather than ``RLIMIT_AS``: the address space also counts what is mapped
    but not used (shared libraries, thread stacks, allocator arenas reserved up front), which
    is 2x the data size with numpy loaded; the data size follows what the trial writes to.
    Past the limit, allocations fail and Python raises ``MemoryError`` in the workload.
    """
    if limit is None or not hasattr(resource, "RLIMIT_DATA"):
        return
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    soft = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def _kill_group(pid: int, how: signal.Signals = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, how)


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
        _kill_group(process.pid)
        _, stderr_bytes = process.communicate()
        if not isinstance(exc, subprocess.TimeoutExpired):
            raise
        timed_out = True
    return Ended(process.returncode, stderr_bytes.decode("utf-8", "replace"), timed_out, timeout_s)


def fork_child(work: Callable[[], int], *, timeout_s: float, memory_limit: int | None) -> Ended:
    """Run ``work`` in a forked copy of this process, in a process group of its own, under
    ``memory_limit`` and ``timeout_s``; how it ended (its stderr kept in a file, not a pipe
    that a chatty child could fill).

    The copy leaves by ``os._exit`` with what ``work`` returned (1 if it raised, its
    traceback on stderr): nothing of the parent's exit (atexit, buffered files, a pytest
    session's end) runs in it.
    """
    with tempfile.TemporaryFile() as stderr_file:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the copy, which never returns here
            _run_forked(work, stderr_file, memory_limit)
        # Set on both sides of the fork, so that the group exists whichever runs first.
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)
        _forked.add(pid)
        try:
            returncode, timed_out = _wait(pid, timeout_s)
        finally:
            _forked.discard(pid)
        stderr_file.seek(0)
        stderr = stderr_file.read().decode("utf-8", "replace")
    return Ended(returncode, stderr, timed_out, timeout_s)


#: Forked children still running: a server told to stop kills their groups first.
_forked: set[int] = set()


def _run_forked(work: Callable[[], int], stderr_file: IO[bytes], memory_limit: int | None) -> None:
    code = 1
    try:
        os.setpgid(0, 0)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.dup2(stderr_file.fileno(), 2)
        limit_memory(memory_limit)
        code = work()
    except BaseException:  # noqa: BLE001 - whatever happened, the copy must not go on as its parent
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stderr.flush()
        os._exit(code)


def _wait(pid: int, timeout_s: float) -> tuple[int, bool]:
    """Wait for the forked ``pid`` up to ``timeout_s``: its exit code, and whether it was killed for time."""
    deadline = time.monotonic() + timeout_s
    if hasattr(os, "pidfd_open"):
        # One wait that wakes when the child ends: no polling, and no allocation per tick.
        descriptor = os.pidfd_open(pid)
        try:
            ready, _, _ = select.select([descriptor], [], [], timeout_s)
        finally:
            os.close(descriptor)
        done = bool(ready)
    else:
        done = False
        while not done and time.monotonic() < deadline:
            done = os.waitpid(pid, os.WNOHANG)[0] == pid
            if not done:
                time.sleep(0.002)
        if done:  # reaped already, by the poll
            return 0, False
    if not done:
        _kill_group(pid)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), not done


class Server:
    """A long-lived child that answers one line for each line it is sent.

    The two pipes are passed as file descriptors of their own (``{requests}`` and
    ``{replies}`` in ``command`` are replaced by their numbers): the child's stdin, stdout
    and stderr stay what a pytest session redirects and captures. Its stderr goes to a file,
    kept for the account of its death.
    """

    def __init__(self, command: Sequence[str], *, env: Mapping[str, str], cwd: str | Path) -> None:
        requests_read, self._requests = os.pipe()
        self._replies, replies_write = os.pipe()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the server's life, closed by close()
        fds = {"requests": str(requests_read), "replies": str(replies_write)}
        try:
            self.process = subprocess.Popen(
                [part.format(**fds) for part in command],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                env=dict(env),
                cwd=cwd,
                pass_fds=(requests_read, replies_write),
                start_new_session=True,
            )
        finally:
            os.close(requests_read)
            os.close(replies_write)
        self._pending = b""
        self.ended: Ended | None = None

    def send(self, line: str) -> None:
        """Send one request (no newline in it); a server that has gone is found by :meth:`receive`."""
        with contextlib.suppress(BrokenPipeError):
            os.write(self._requests, line.encode() + b"\n")

    def receive(self, timeout_s: float) -> str | Ended:
        """The server's next line, or how it ended when it sends none (exited, or stopped past ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            ready = select.select([self._replies], [], [], left)[0] if left > 0 else []
            if not ready:
                return self._stop(timeout_s, timed_out=True)
            chunk = os.read(self._replies, 1 << 16)
            if not chunk:
                return self._stop(timeout_s, timed_out=False)
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return line.decode()

    def close(self) -> None:
        """End the server: its requests end, and its group is killed if it does not exit of itself."""
        with contextlib.suppress(OSError):
            os.close(self._requests)
        if self.ended is None:
            self._stop(_GRACE_S, timed_out=False)
        self._stderr.close()
        with contextlib.suppress(OSError):
            os.close(self._replies)

    def _stop(self, timeout_s: float, *, timed_out: bool) -> Ended:
        """Let the server end (at once when it ran past its time), then stop it: SIGTERM,
        whose handler stops the test it runs (in a group that is not the server's), then
        SIGKILL of its group; how it ended."""
        for how in (signal.SIGTERM, signal.SIGKILL) if timed_out else (None, signal.SIGTERM, signal.SIGKILL):
            if how is not None:
                _kill_group(self.process.pid, how)
            try:
                self.process.wait(_GRACE_S)
                break
            except subprocess.TimeoutExpired:
                continue
        if self.ended is None:
            self._stderr.seek(0)
            stderr = self._stderr.read().decode("utf-8", "replace")
            self.ended = Ended(self.process.wait(), stderr, timed_out, timeout_s)
        return self.ended


def on_stop_kill_forked_children() -> None:
    """In a server: on SIGTERM, kill the groups of the forked children still running, then exit."""

    def stop(signum: int, frame: object) -> None:
        for pid in list(_forked):
            _kill_group(pid)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
