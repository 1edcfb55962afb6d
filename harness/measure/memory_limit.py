"""How a trial's memory limit is held, and what a trial over it, or under one too low, reads.

Two ways, one rule choosing (:func:`limit_by_resident`): the child caps its own data with
``RLIMIT_DATA`` (:func:`limit_memory`), so that an allocation past it fails and Python raises
``MemoryError``; or, where that cap would count memory the process only reserved (a
free-threaded CPython's mimalloc maps about 1 GiB at start), the parent reads the child's
resident memory and kills it at the limit (:class:`ResidentWatch`).
"""

from __future__ import annotations

import os
import resource
import sysconfig
import threading
from collections.abc import Callable

#: How often the parent reads a watched child's resident memory.
WATCH_INTERVAL_S = 0.02
#: ``HARNESS_MEMORY_LIMIT_BY``: how the limit is held, ``data`` or ``resident`` (see :func:`limit_by_resident`).
MEMORY_RULE_VARIABLE = "HARNESS_MEMORY_LIMIT_BY"


def memory_limit_reason(limit: int, *, resident: int | None = None) -> str:
    """``memory limit 2 GiB exceeded``: why a trial over its limit failed (with the resident
    bytes it held when the parent killed it for them)."""
    from harness.declare.units import format_bytes

    held = f" (resident {format_bytes(resident)})" if resident is not None else ""
    return f"memory limit {format_bytes(limit)} exceeded{held}"


def too_low_reason(limit: int, origin: str = "") -> str:
    """Why no trial can start under ``limit``: in one line, with where the limit came from."""
    from harness.declare.units import format_bytes

    if origin:
        return (
            f"memory limit {format_bytes(limit)} per trial ({origin}) is too low for a trial to start; "
            "raise --memory-limit or lower -j"
        )
    return f"memory limit {format_bytes(limit)} per trial is too low for a trial to start; raise --memory-limit"


def limit_by_resident() -> bool:
    """Whether the limit is held by the parent watching resident memory, not by ``RLIMIT_DATA``.

    ``RLIMIT_DATA`` counts the data a process has mapped, used or not. A free-threaded CPython
    (``Py_GIL_DISABLED``) starts mimalloc, which maps about 1 GiB it has not used yet: there
    the limit counts resident memory instead, as the parent reads it. Elsewhere too where
    ``RLIMIT_DATA`` does not exist; and wherever :data:`MEMORY_RULE_VARIABLE` says
    ``resident`` (``data``: the other way).
    """
    chosen = os.environ.get(MEMORY_RULE_VARIABLE, "").strip().lower()
    if chosen in ("resident", "data"):
        return chosen == "resident"
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED")) or not hasattr(resource, "RLIMIT_DATA")


def memory_held() -> int | None:
    """The bytes this process holds as its limit counts them: resident, or data mapped (what
    ``RLIMIT_DATA`` counts), where Linux says (None elsewhere)."""
    return _status_bytes("self", "VmRSS" if limit_by_resident() else "VmData")


def resident_bytes(pid: int) -> int | None:
    """The resident bytes of process ``pid``, where Linux says; None once it has gone."""
    return _status_bytes(str(pid), "VmRSS")


def _status_bytes(pid: str, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(key.encode() + b":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def limit_memory(limit: int | None) -> None:
    """Cap this process's data (heap and private writable mappings) at ``limit`` bytes,
    unless the limit is held by the parent's watch of resident memory (:func:`limit_by_resident`).

    ``RLIMIT_DATA`` rather than ``RLIMIT_AS``: the address space also counts what is mapped
    but not used (shared libraries, thread stacks, allocator arenas reserved up front), which
    is 2x the data size with numpy loaded; the data size follows what the trial writes to.
    Past the limit, allocations fail and Python raises ``MemoryError`` in the workload.
    """
    if limit is None or limit_by_resident():
        return
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    soft = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


class ResidentWatch:
    """While a child runs, read its resident memory every :data:`WATCH_INTERVAL_S` and
    ``kill`` it at ``limit``; :attr:`killed_at` is what it held then. Does nothing unless the
    limit is held this way (:func:`limit_by_resident`)."""

    def __init__(self, pid: int, limit: int | None, *, kill: Callable[[int], None]) -> None:
        self.pid = pid
        self.limit = limit
        self._kill = kill
        self.killed_at: int | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        if limit is not None and limit_by_resident():
            self._thread = threading.Thread(target=self._watch, name="harness-memory-watch", daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        assert self.limit is not None
        while not self._done.wait(WATCH_INTERVAL_S):
            resident = resident_bytes(self.pid)
            if resident is None:
                return
            if resident > self.limit:
                self.killed_at = resident
                self._kill(self.pid)
                return

    def stop(self) -> int | None:
        """Stop watching; the resident bytes at which the child was killed, or None."""
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        return self.killed_at
