"""A zygote's request pipe, read from Python: by the serving loop where the one in C is not
there, and by a covering copy, which reads the requests after its first itself. A request is
one line, and nothing after it is read: the next line is the next copy's.
"""

from __future__ import annotations

import array
import fcntl
import os
import select
import termios
from collections.abc import Iterator


def more_requests(requests: int, timeout_s: float | None = None) -> bool:
    """Wait until a request is there to read (True), or the parent closed the pipe (False);
    nothing is read: the copy reads the request."""
    select.select([requests], [], [], timeout_s)
    waiting = array.array("i", [0])
    fcntl.ioctl(requests, termios.FIONREAD, waiting)
    return waiting[0] > 0


def read_line(fd: int) -> str:
    """One line from ``fd``, read in a copy a byte at a time: what follows it in the pipe (the
    next request) is left for the next copy."""
    data = bytearray()
    while not data.endswith(b"\n"):
        byte = os.read(fd, 1)
        if not byte:
            break
        data += byte
    return data.decode()


def lines(fd: int) -> Iterator[bytes]:
    """The lines read from ``fd``, one at a time, to its end."""
    while line := read_line(fd):
        yield line.encode()
