"""Finding the families in a workloads directory and selecting experiments by pattern."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from harness.declare.selection import select
from harness.declare.spec import Experiment, Family
from harness.errors import DiscoveryError, HarnessError


@dataclass(frozen=True)
class Suite:
    """The families found in one workloads directory, and their experiments."""

    workloads_dir: Path
    families: dict[str, Family]
    experiments: tuple[Experiment, ...]

    def select(self, patterns: Sequence[str]) -> list[Experiment]:
        """The experiments a pattern selects (all of them for no pattern); see :mod:`harness.declare.selection`."""
        return select(self.experiments, [e.id for e in self.experiments], patterns)


def module_name(path: Path) -> str:
    """A module name unique to ``path``, so two checkouts of one file never collide."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    return f"harness_workloads_{digest}.{path.stem}"


@contextmanager
def import_path(*directories: Path) -> Iterator[None]:
    """Put directories first on ``sys.path`` while importing user code."""
    added = [str(d) for d in directories if str(d) not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for entry in added:
            if entry in sys.path:
                sys.path.remove(entry)


def load_module(path: Path, *search: Path) -> ModuleType:
    """Import one workload module by path; a failure becomes a one-line :class:`DiscoveryError`.

    Its own directory (for helper modules beside it) and ``search`` come first on the import
    path while it imports.
    """
    name = module_name(path)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DiscoveryError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with import_path(path.parent, *search):
            spec.loader.exec_module(module)
    except HarnessError as exc:
        del sys.modules[name]
        raise DiscoveryError(f"{path.name}: {exc}") from None
    except BaseException as exc:
        del sys.modules[name]
        if isinstance(exc, KeyboardInterrupt):
            raise
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        raise DiscoveryError(
            f"{path.name} failed to import: {type(exc).__name__}: {exc} ({Path(frame.filename).name}:{frame.lineno})"
        ) from None
    return module


def families_in(module: ModuleType) -> list[Family]:
    """The families a module defines at its top level."""
    return [value for value in vars(module).values() if isinstance(value, Family)]


def discover(workloads_dir: Path, *search: Path) -> Suite:
    """Import every ``*.py`` in ``workloads_dir`` (but ``_private.py``) and collect its families.

    ``search`` lists directories to import the code under test from (the project root);
    none in a child interpreter, whose import path is set already.
    """
    if not workloads_dir.is_dir():
        raise DiscoveryError(f"workloads directory {workloads_dir} does not exist (set [tool.harness] workloads)")
    families: dict[str, Family] = {}
    experiments: list[Experiment] = []
    for path in sorted(workloads_dir.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module = load_module(path, *search)
        for family in families_in(module):
            if family.name in families:
                raise DiscoveryError(f"family {family.name!r} is defined in two modules ({path.name})")
            families[family.name] = family
            experiments.extend(family.experiments(module=path.name))
    return Suite(workloads_dir=workloads_dir, families=families, experiments=tuple(experiments))
