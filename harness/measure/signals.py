"""How harness treats signals while it runs trials or holds worktrees.

A cancelled CI job sends SIGTERM; it must unwind like Ctrl-C, through ``finally`` blocks,
so finished trials are saved and worktrees removed. While they are being removed, a second
Ctrl-C must not leave half of them behind. Signal handlers can only be set from the main
thread; elsewhere (a pytest-xdist worker's thread, an embedding application) these do nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C (:class:`KeyboardInterrupt`) inside the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def ignoring_sigint() -> Iterator[None]:
    """Ignore Ctrl-C inside the block (cleanup that must finish)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
