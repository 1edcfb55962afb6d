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

The memory limit is named only where it was hit: a ``MemoryError`` (or the words C and C++
use for a failed allocation) under a limit, or a kill by the parent's watch of resident
memory. A signal is named as a signal, with the innermost frame of the user's code that
:mod:`faulthandler` (enabled in every measuring child) left on stderr.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import re
import select
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, NoReturn

from harness.measure.memory_limit import ResidentWatch, limit_memory, memory_limit_reason

#: What a failed allocation prints, in Python, C++ (``std::bad_alloc``), libc (``ENOMEM``) and
#: C libraries (OpenBLAS: "Memory allocation still failed"). Read only under a memory limit.
_OOM_WORDS = ("MemoryError", "bad_alloc", "Cannot allocate memory", "out of memory", "Memory allocation")
#: A reason is one line of at most this many characters; the stderr kept with it, this many lines.
MAX_REASON_CHARS = 300
STDERR_TAIL_LINES = 100
#: faulthandler's lines (its header, a thread's header, a Python frame, a C frame, the list of
#: extension modules) and a traceback's.
_FAULT_HEADER = re.compile(
    r"^(Fatal Python error|Current thread|Thread 0x|Stack \(most recent|Extension modules"
    r"|<no Python frame>|Python runtime state|Traceback \(most recent|  File |  Binary file |  <|    )"
)
_FAULT_FRAME = re.compile(r'^\s+File "(?P<file>.+)", line (?P<line>\d+) in (?P<function>.+)$')
_TRACEBACK_FRAME = re.compile(r'^\s+File "(?P<file>.+)", line (?P<line>\d+), in (?P<function>.+)$')
#: How long a stopped server has to end of itself before its group is killed.
GRACE_S = 2.0


@dataclass(frozen=True)
class Ended:
    """How a child ended: its exit code (negative: the signal), its stderr, whether it was
    killed for running past its timeout, and the resident bytes it held when the parent
    killed it for its memory limit (None: it was not)."""

    returncode: int
    stderr: str
    timed_out: bool
    timeout_s: float
    killed_at_resident: int | None = None

    def last_lines(self, n: int = 1) -> str:
        lines = [line.strip() for line in self.stderr.strip().splitlines() if line.strip()]
        return "\n".join(lines[-n:])

    def stderr_tail(self) -> str:
        """The last :data:`STDERR_TAIL_LINES` lines of stderr, as they were: kept with a failed
        trial (enough for a crash's Python stack and, from 3.14 on, its C stack after it)."""
        return "\n".join(self.stderr.rstrip().splitlines()[-STDERR_TAIL_LINES:])

    def out_of_memory(self) -> bool:
        """Whether the child said an allocation failed (not: whether it died of a signal)."""
        return self.returncode != 0 and any(word in self.stderr for word in _OOM_WORDS)

    def death(self, memory_limit: int | None, *, root: str | Path | None = None) -> str | None:
        """Why the child died, in one line, or None when it did not (it exited, whatever its
        code: its outcome file, or :meth:`exit_reason`, says more). ``root``: the directory
        its frames are named relative to."""
        if self.timed_out:
            return f"timed out after {self.timeout_s:g} s"
        if memory_limit and self.killed_at_resident is not None:
            return memory_limit_reason(memory_limit, resident=self.killed_at_resident)
        if memory_limit and self.out_of_memory():
            return memory_limit_reason(memory_limit)
        if self.returncode < 0:
            return one_line(f"{_signal_name(self.returncode)}{self._evidence(root)}")
        return None

    def exit_reason(self, *, root: str | Path | None = None) -> str:
        """``child exited with code N in f (file.py:3): <last line of stderr>``."""
        evidence = self._evidence(root)
        return one_line(f"child exited with code {self.returncode}{evidence or ': no output'}")

    def _evidence(self, root: str | Path | None) -> str:
        """`` in f (file.py:3): <last line>``: the innermost frame of the user's code that
        faulthandler printed, and the last line of stderr that is not faulthandler's."""
        frame = innermost_user_frame(self.stderr, root)
        said = [line.strip() for line in self.stderr.splitlines() if line.strip() and not _FAULT_HEADER.match(line)]
        where = f" in {frame}" if frame else ""
        return f"{where}: {said[-1]}" if said else where

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Ended:
        return cls(**json.loads(text))


def innermost_user_frame(stderr: str, root: str | Path | None = None) -> str | None:
    """``fill (workloads/store.py:12)``: the innermost frame of the Python stack on stderr
    (faulthandler's dump of the crashing thread, else the last traceback) that is neither the
    harness's nor the standard library's (the innermost of all, when every frame is theirs);
    None without a stack."""
    from harness.measure.own_frames import is_own_file

    frames = _dumped_frames(stderr.splitlines()) or _traceback_frames(stderr.splitlines())
    if not frames:
        return None
    library = tuple(path for path in {sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")} if path)
    users = [f for f in frames if not is_own_file(f[0]) and not f[0].startswith(library) and not f[0].startswith("<")]
    file, line, function = (users or frames)[0]
    return f"{function} ({_shown_path(file, root)}:{line})"


def _dumped_frames(lines: list[str]) -> list[tuple[str, str, str]]:
    """The frames of the crashing thread in a faulthandler dump, innermost first, as it lists them."""
    # "Current thread's C stack trace" (3.14 on) follows the Python one: not a Python stack.
    starts = [i for i, line in enumerate(lines) if line.startswith(("Current thread 0x", "Stack (most recent"))]
    starts = starts or [i for i, line in enumerate(lines) if line.startswith("Thread 0x")]
    frames = []
    for line in lines[starts[-1] + 1 :] if starts else []:
        match = _FAULT_FRAME.match(line)
        if match is None:
            if line.strip().startswith("<"):  # "<no Python frame>", "<truncated>"
                continue
            break
        frames.append((match["file"], match["line"], match["function"].strip()))
    return frames


def _traceback_frames(lines: list[str]) -> list[tuple[str, str, str]]:
    """The frames of the last traceback, innermost first (a traceback lists it last)."""
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    matches = [_TRACEBACK_FRAME.match(line) for line in lines[starts[-1] + 1 :]] if starts else []
    return [(m["file"], m["line"], m["function"].strip()) for m in matches if m is not None][::-1]


def _shown_path(file: str, root: str | Path | None) -> str:
    if root is not None:
        with contextlib.suppress(ValueError):
            return Path(file).relative_to(Path(root).resolve()).as_posix()
        with contextlib.suppress(ValueError):
            return Path(file).relative_to(Path(root)).as_posix()
    return Path(file).name


def one_line(text: str) -> str:
    """``text`` as one line of at most :data:`MAX_REASON_CHARS` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_REASON_CHARS else flat[: MAX_REASON_CHARS - 1] + "\u2026"


def _signal_name(returncode: int) -> str:
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    hint = " (out of memory?)" if -returncode == signal.SIGKILL else ""
    return f"killed by {name}{hint}"


def kill_group(pid: int, how: signal.Signals = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, how)


def run_child(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | Path,
    timeout_s: float,
    started: Callable[[subprocess.Popen[bytes]], None] | None = None,
    memory_limit: int | None = None,
) -> Ended:
    """Run ``command`` to its end or its timeout; on any interruption (Ctrl-C) its whole
    group is killed before the interruption goes on. ``memory_limit``: the bytes the child
    may hold, watched from here where the limit is held that way (:class:`ResidentWatch`)."""
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
    watch = ResidentWatch(process.pid, memory_limit, kill=kill_group)
    timed_out = False
    try:
        _, stderr_bytes = process.communicate(timeout=timeout_s)
    except BaseException as exc:
        kill_group(process.pid)
        _, stderr_bytes = process.communicate()
        if not isinstance(exc, subprocess.TimeoutExpired):
            raise
        timed_out = True
    finally:
        killed_at = watch.stop()
    stderr = stderr_bytes.decode("utf-8", "replace")
    return Ended(process.returncode, stderr, timed_out, timeout_s, killed_at)


def fork_child(
    work: Callable[[], int], *, timeout_s: float, memory_limit: int | None, stderr_to: str | None = None
) -> Ended:
    """Run ``work`` in a forked copy of this process, in a process group of its own, under
    ``memory_limit`` and ``timeout_s``; how it ended (its stderr kept in a file, not a pipe
    that a chatty child could fill).

    The copy leaves by ``os._exit`` with what ``work`` returned (1 if it raised, its
    traceback on stderr): nothing of the parent's exit (atexit, buffered files, a pytest
    session's end) runs in it.

    ``stderr_to``: the file the copy's stderr is written to, left for another process to read
    (:attr:`Ended.stderr` is then empty): this process reads nothing whose size the copy
    decides, so what it allocates is the same whatever the copy did.
    """
    stderr_file = open(stderr_to, "w+b") if stderr_to is not None else tempfile.TemporaryFile()  # noqa: SIM115
    with stderr_file:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the copy, which never returns here
            _run_forked(work, stderr_file, memory_limit)
        # Set on both sides of the fork, so that the group exists whichever runs first.
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)
        _forked.add(pid)
        watch = ResidentWatch(pid, memory_limit, kill=kill_group)
        try:
            returncode, timed_out = _wait(pid, timeout_s)
        finally:
            _forked.discard(pid)
            killed_at = watch.stop()
        stderr = ""
        if stderr_to is None:
            stderr_file.seek(0)
            stderr = stderr_file.read().decode("utf-8", "replace")
    return Ended(returncode, stderr, timed_out, timeout_s, killed_at)


#: Forked children still running: a server told to stop kills their groups first.
_forked: set[int] = set()


def run_as_copy(
    work: Callable[[], int],
    memory_limit: int | None,
    *,
    done: int | None = None,
    then: Callable[[], None] | None = None,
) -> NoReturn:
    """Run ``work`` in a copy that another loop forked (a zygote's, in C) with its stderr on
    descriptor 2, as :func:`fork_child`'s copies run it; leave with its code, first written
    as one byte to ``done``: that loop need not wait for the kernel to take the copy down.
    ``then`` runs after that byte, when nothing waits for the copy any more."""
    _run_forked(work, os.fdopen(os.dup(2), "w+b"), memory_limit, done, then)


def _run_forked(
    work: Callable[[], int],
    stderr_file: IO[bytes],
    memory_limit: int | None,
    done: int | None = None,
    then: Callable[[], None] | None = None,
) -> NoReturn:
    code = 1
    try:
        os.setpgid(0, 0)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.dup2(stderr_file.fileno(), 2)
        # A crash leaves the Python stack in the copy's stderr file: its own descriptor, not
        # 2, which pytest's capture of the test points elsewhere (and the zygote's handler
        # wrote to what the zygote's stderr was).
        faulthandler.enable(file=stderr_file)
        limit_memory(memory_limit)
        code = work()
    except BaseException:  # noqa: BLE001 - whatever happened, the copy must not go on as its parent
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stderr.flush()
        if done is not None:
            with contextlib.suppress(OSError):
                os.write(done, bytes([code & 0xFF]))
        if then is not None:
            with contextlib.suppress(BaseException):
                then()
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
        kill_group(pid)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), not done


def on_stop_kill_forked_children(serving: Callable[[], list[int]] | None = None) -> None:
    """In a server: on SIGTERM, kill the groups of the forked children still running (and of
    those ``serving`` names, forked by a loop of another's), then exit."""

    def stop(signum: int, frame: object) -> None:
        for pid in [*_forked, *(serving() if serving is not None else ())]:
            if pid:
                kill_group(pid)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
