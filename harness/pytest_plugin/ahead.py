"""What the session measures next, where its order is known: the zygotes of the next file
start, and the next test's copy runs, while the session is busy with the one before.

An xdist worker is handed its tests as it goes: it knows neither, and nothing runs ahead there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

import pytest

from harness.pytest_plugin.benchmark import uses_benchmark
from harness.pytest_plugin.kinds import unmeasurable
from harness.pytest_plugin.zygote import Collected


class Zygote(Protocol):
    """The session's end of a zygote (:class:`harness.pytest_plugin.launch._Zygote`)."""

    def collected(self) -> Collected | str: ...

    def alive(self) -> bool: ...

    def ask(self, nodeid: str, replicate: int) -> None: ...


class Order:
    """The session's order of the tests to measure."""

    def __init__(self, to_measure: Mapping[Path, int], selects: Callable[[pytest.Item], bool]) -> None:
        #: The tests left to measure per file, in the session's order.
        self._to_measure = to_measure
        #: Whether the session measures an item.
        self._selects = selects
        #: Each item's place in the session's order, by identity.
        self._places: dict[int, int] | None = None

    def file_after(self, config: pytest.Config, path: Path) -> Path | None:
        """The next file with tests left to measure after ``path``'s, or None."""
        if not _known(config):
            return None
        files = iter(self._to_measure)
        if path not in files:  # moves ``files`` past ``path``
            return None
        return next((file for file in files if self._to_measure[file] > 0), None)

    def test_after(self, item: pytest.Item) -> pytest.Item | None:
        """The test measured right after ``item``, when it is of the same file and may be
        measured ahead: not when a failure may stop the session before its turn (``-x``,
        ``--maxfail``), nor after a test the session then times itself (pytest-benchmark)."""
        if not _known(item.config) or item.config.option.maxfail or uses_benchmark(item):
            return None
        items = item.session.items
        if self._places is None:
            self._places = {id(each): place for place, each in enumerate(items)}
        place = self._places.get(id(item))
        after = items[place + 1] if place is not None and place + 1 < len(items) else None
        if after is None or after.path != item.path or not self._selects(after) or unmeasurable(after) is not None:
            return None
        return after

    def ask_next(self, item: pytest.Item, zygote: Zygote) -> None:
        """Ask ``zygote`` (``item``'s, of replicate 0) now for the test after ``item``, where
        :meth:`test_after` names one it collected: its copy runs while the session judges and
        reports ``item``, and starts from the same state as every other copy."""
        after = self.test_after(item)
        if after is None:
            return
        collected = zygote.collected()
        if zygote.alive() and isinstance(collected, Collected) and after.nodeid in collected.nodeids:
            zygote.ask(after.nodeid, 0)


def _known(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")
