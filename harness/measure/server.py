"""A long-lived child that answers a line for each line it is sent (a pytest plugin's zygote).

Its pipes, and the directory it works in, are passed as descriptors at numbers that are the
same in every session, and the directory is named by its descriptor (``/proc/self/fd/N`` on
Linux), not by a temporary path drawn at random: the command line of a file's zygote is then
the same in every session, under xdist too. That matters because a zygote's heap, and so where
a measured test's objects live (which decides, through CPython's type attribute cache, when a
name the test made is freed: see :mod:`harness.measure.address_keyed`), depends on every byte
it parsed. For the same reason, :func:`fixed_layout` starts it with its address space laid
out the same every time.
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

from harness.measure.launcher import GRACE_S, Ended, kill_group

#: The first of the numbers a server's descriptors have in it: the same in every server of
#: every session where they are free, so that its command line, which names them, is the same
#: too. A zygote's heap, and so where a test's objects live, depends on every byte it parsed.
_FIXED_FDS_FROM = 1000
_FIXING = threading.Lock()


@contextlib.contextmanager
def at_fixed_numbers(fds: list[int]) -> Iterator[list[int]]:
    """``fds`` duplicated at the fixed numbers while open (``fds`` themselves where one is taken)."""
    wanted = list(range(_FIXED_FDS_FROM, _FIXED_FDS_FROM + len(fds)))
    with _FIXING:
        if resource.getrlimit(resource.RLIMIT_NOFILE)[0] <= wanted[-1] or not all(map(_free, wanted)):
            yield fds
            return
        for fd, number in zip(fds, wanted, strict=True):
            os.dup2(fd, number, inheritable=False)
        try:
            yield wanted
        finally:
            for number in wanted:
                os.close(number)


def _free(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


_BY_DESCRIPTOR = "/proc/self/fd/"


def directory_in_child(fd: int, directory: Path, *, fixed: bool) -> str:
    """How the child names ``directory``, open there as ``fd``: by that descriptor (Linux), a
    name the same in every session, or else by its path."""
    return f"{_BY_DESCRIPTOR}{fd}" if fixed and Path(_BY_DESCRIPTOR).is_dir() else str(directory)


def descriptor_of(name: str | None) -> int | None:
    """The descriptor a child's directory is named by (:func:`directory_in_child`), or None
    where it is named by its path."""
    if name is None or not name.startswith(_BY_DESCRIPTOR):
        return None
    return int(name[len(_BY_DESCRIPTOR) :])


def _filled(part: str, fields: Mapping[str, str]) -> str:
    """``part`` of a command with the descriptors' fields filled in (nothing else in it is read
    as a field: a user's option may hold braces)."""
    for field, value in fields.items():
        part = part.replace(field, value)
    return part


#: ``personality(2)``'s flag that turns address space layout randomization off for what a process execs.
_ADDR_NO_RANDOMIZE = 0x0040000
#: ``personality(2)`` with this persona only reads the current one.
_QUERY_PERSONA = 0xFFFFFFFF


@contextlib.contextmanager
def fixed_layout() -> Iterator[None]:
    """While open, what this process starts has its address space laid out the same every time
    (Linux; elsewhere, or where a sandbox refuses it, nothing changes).

    Which attribute name a lookup inside a window evicts from CPython's type cache depends on
    addresses (see :mod:`harness.measure.address_keyed`); so, by a string, does a window's
    peak. Without randomization, a zygote that does the same work lays its objects out at the
    same addresses in every session, and its copies evict the same names at the same moments.
    The persona is inherited through fork and exec, so it is set only around the start of a
    zygote, not for what the session's own tests start.
    """
    personality = _personality()
    previous = personality(_QUERY_PERSONA) if personality is not None else -1
    changed = previous != -1 and personality is not None and personality(previous | _ADDR_NO_RANDOMIZE) != -1
    try:
        yield
    finally:
        if changed and personality is not None:
            personality(previous)


@functools.cache
def _personality() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    call: Callable[[int], int] = libc.personality
    return call


class LineChannel:
    """The session's end of a server's two pipes: a line sent, a line received."""

    _requests: int
    _replies: int
    _pending: bytes
    #: The file the server's stderr goes to, kept for the account of its end.
    _stderr: IO[bytes]
    ended: Ended | None
    #: The server's directory, as the server names it (None: it has none).
    directory: str | None
    _closed = False

    def send(self, line: str) -> None:
        """Send one request (no newline in it); a server that has gone is found by :meth:`receive`."""
        with contextlib.suppress(BrokenPipeError):
            os.write(self._requests, line.encode() + b"\n")

    def receive(self, timeout_s: float) -> str | Ended:
        """The server's next line, or how it ended when it sends none (exited, or stopped past ``timeout_s``)."""
        line = self.receive_within(timeout_s)
        return line if line is not None else self._stop(timeout_s, timed_out=True)

    def receive_within(self, timeout_s: float) -> str | Ended | None:
        """The server's next line, how it ended when it exited first, or None past ``timeout_s`` (it goes on)."""
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            ready = select.select([self._replies], [], [], left)[0] if left > 0 else []
            if not ready:
                return None
            chunk = os.read(self._replies, 1 << 16)
            if not chunk:
                return self._stop(timeout_s, timed_out=False)
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return line.decode()

    def close(self) -> None:
        """End the server: its requests end, and its group is killed if it does not exit of itself.
        Once: a descriptor closed twice could close another file that took its number."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            os.close(self._requests)
        if self.ended is None:
            self._stop(GRACE_S, timed_out=False)
        self._stderr.close()
        with contextlib.suppress(OSError):
            os.close(self._replies)

    def _stop(self, timeout_s: float, *, timed_out: bool) -> Ended:
        raise NotImplementedError


class Server(LineChannel):
    """A long-lived child that answers one line for each line it is sent.

    The two pipes are passed as file descriptors of their own (``{requests}`` and
    ``{replies}`` in ``command`` are replaced by their numbers), and so is ``directory``
    (``{directory}``: a name for it in the child): the child's stdin, stdout and stderr stay
    what a pytest session redirects and captures. Its stderr goes to a file, kept for the
    account of its death.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: str | Path,
        directory: Path | None = None,
        socket_requests: bool = False,
    ) -> None:
        if socket_requests:  # requests that carry descriptors (:meth:`send_with_descriptors`)
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            self._requests, requests_read = ours.detach(), theirs.detach()
        else:
            requests_read, self._requests = os.pipe()
        self._replies, replies_write = os.pipe()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the server's life, closed by close()
        passed = [requests_read, replies_write]
        if directory is not None:
            passed.append(os.open(directory, os.O_RDONLY | os.O_DIRECTORY))
        try:
            with at_fixed_numbers(passed) as numbers:
                fields = {"{requests}": str(numbers[0]), "{replies}": str(numbers[1])}
                if directory is not None:
                    fields["{directory}"] = directory_in_child(numbers[2], directory, fixed=numbers != passed)
                #: ``directory`` as the server names it.
                self.directory = fields.get("{directory}")
                self.process = subprocess.Popen(
                    [_filled(part, fields) for part in command],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=self._stderr,
                    env=dict(env),
                    cwd=cwd,
                    pass_fds=numbers,
                    start_new_session=True,
                )
        finally:
            for fd in passed:
                os.close(fd)
        self._pending = b""
        self.ended: Ended | None = None

    def send_with_descriptors(self, text: str, fds: Sequence[int]) -> None:
        """Send one request with descriptors (``socket_requests`` only); they stay open here."""
        channel = socket.socket(fileno=self._requests)
        try:
            with contextlib.suppress(BrokenPipeError, ConnectionError):
                socket.send_fds(channel, [text.encode()], list(fds))
        finally:
            channel.detach()  # the descriptor stays the server's

    def _stop(self, timeout_s: float, *, timed_out: bool) -> Ended:
        """Let the server end (at once when it ran past its time), then stop it: SIGTERM,
        whose handler stops the test it runs (in a group that is not the server's), then
        SIGKILL of its group; how it ended."""
        for how in (signal.SIGTERM, signal.SIGKILL) if timed_out else (None, signal.SIGTERM, signal.SIGKILL):
            if how is not None:
                kill_group(self.process.pid, how)
            try:
                self.process.wait(GRACE_S)
                break
            except subprocess.TimeoutExpired:
                continue
        if self.ended is None:
            self._stderr.seek(0)
            stderr = self._stderr.read().decode("utf-8", "replace")
            self.ended = Ended(self.process.wait(), stderr, timed_out, timeout_s)
        return self.ended
