"""A call site and what it allocated in one phase: the record every stage passes along.

A backend makes sites inside the trial process, the trial subtracts its own overhead from
them and adds up the windows of a phase, the results file stores them, and the gate, the
reports, the flame graph and the pytest limits read them. All of them use this one type,
so a figure is named, keyed and added the same way everywhere.

Sites are keyed by line (for tables of one run) or by function (for movers between two
runs, where a line that moved within its function must not read as two changes; the movers
then name the lines the change happened on), with the file relative to the project root, so
that the same code in two checkouts has one key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

#: (function, file relative to the project, line; 0 when keyed by function).
SiteKey = tuple[str, str, int]
Grain = Literal["line", "function"]
#: The directories a side's file names are shown relative to: its project root, and the root
#: of the project its workloads came from when that is another checkout (compare).
Roots = str | tuple[str, ...]

_POSITION = ("function", "file", "line", "stack")
#: What a figure read from JSON may be (a tuple: ``int | float`` would make a union at each figure read).
_NUMBER = (int, float)


def relative_file(file: str, root: Roots) -> str:
    """``file`` relative to the first root that holds it (unchanged outside every root)."""
    for each in (root,) if isinstance(root, str) else root:
        prefix = each.rstrip("/") + "/" if each else ""
        if prefix and file.startswith(prefix):
            return file[len(prefix) :]
    return file


def site_label(key: SiteKey, lines: Sequence[int] = ()) -> str:
    """``function (file:line)``, or ``function (file)`` when keyed by function (line 0);
    ``lines`` names the lines of a site keyed by function: ``function (file:201, 202)``.

    The one way every table, message, flame graph and listing names a place in the code."""
    function, file, line = key
    where = ", ".join(str(n) for n in lines) if lines else str(line) if line else ""
    return f"{function} ({file}:{where})" if where else f"{function} ({file})"


@dataclass(frozen=True)
class Site:
    """A call site (the innermost Python frame of an allocation) and its figures in a phase.

    ``figures`` holds what the backend measured there (``alloc_bytes``, ``net_count``, ...);
    ``stack`` is the call path that reached it, innermost first, as ``"file:line:function"``
    (backends that record stacks only; the others leave it empty).
    """

    function: str
    file: str
    line: int
    figures: Mapping[str, int] = field(default_factory=dict)
    stack: tuple[str, ...] = ()

    @property
    def identity(self) -> tuple[str, int, tuple[str, ...]]:
        """What makes two records of one trial the same site: where, and by which path."""
        return (self.file, self.line, self.stack)

    def key(self, root: Roots = "", grain: Grain = "line") -> SiteKey:
        """This site's key at ``grain``, its file relative to ``root``."""
        return (self.function, relative_file(self.file, root), self.line if grain == "line" else 0)

    def figure(self, name: str) -> int:
        """The figure ``name`` (0 where the site has none: it allocated nothing of that kind)."""
        return self.figures.get(name, 0)

    def plus(self, other: Site) -> Site:
        """This site with ``other``'s figures added (two windows of one phase)."""
        names = dict.fromkeys([*self.figures, *other.figures])
        return self._with({name: self.figure(name) + other.figure(name) for name in names})

    def minus(self, other: Site) -> Site:
        """This site less ``other``'s figures (the same site in an empty window)."""
        return self._with({name: value - other.figure(name) for name, value in self.figures.items()})

    def _with(self, figures: Mapping[str, int]) -> Site:
        return Site(self.function, self.file, self.line, figures, self.stack)

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"function": self.function, "file": self.file, "line": self.line, **self.figures}
        if self.stack:
            record["stack"] = list(self.stack)
        return record

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Site:
        """A site as :meth:`to_json` wrote it; ``ValueError``/``KeyError``/``TypeError`` when malformed."""
        figures = {}
        for name, value in data.items():
            if name in _POSITION:
                continue
            if isinstance(value, bool) or not isinstance(value, _NUMBER) or value != int(value):
                raise ValueError(f"site figure {name!r}: {value!r} is not a whole number")
            figures[name] = int(value)
        stack = data.get("stack", ())
        if not isinstance(stack, list | tuple) or not all(isinstance(entry, str) for entry in stack):
            raise ValueError(f"site stack {stack!r} is not a list of frames")
        return cls(str(data["function"]), str(data["file"]), int(data["line"]), figures, tuple(stack))
