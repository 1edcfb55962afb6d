"""A side's children import the side's code, and only it.

A commit's side runs with its build (or its checkout) first on the import path (see
:mod:`harness.measure.interpreter`), which names it in ``HARNESS_SIDE_PATH``. That alone is
not enough: the user's editable install of the same distribution stays in the environment,
and setuptools' editable finder (``__editable___NAME_finder``, a meta-path finder after the
path) serves a submodule the build lacks (a C extension the build did not compile, a module
added later) from the user's source tree, that is from another commit.

So, at its start, a child of a side (:func:`isolate`):

- finds the other installs of the side's distributions (the ``*.dist-info`` of its build)
  that are editable (PEP 610 ``direct_url.json``, or a development ``.egg-info``), and takes
  what their ``.pth`` files added out of this process: the path entries, the finders and path
  hooks of the modules they import;
- takes out any other meta-path finder that serves one of the side's top-level modules from
  outside the side's directories.

Nothing in the environment is changed; only this process's ``sys.path`` and ``sys.meta_path``.

Then the child that lists a side's experiments checks what the workloads imported
(:func:`foreign_modules`): a module of the project (a top-level name the side or such an
editable install provides) must come from the side's directories, and nothing may come from
the editable install's source; else the side is refused in one line, so that another
commit's code is never measured silently.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: The directories a side's code is imported from, set in each of its children's environment.
SIDE_PATH_VARIABLE = "HARNESS_SIDE_PATH"
_STANDARD_FINDERS = (
    importlib.machinery.BuiltinImporter,
    importlib.machinery.FrozenImporter,
    importlib.machinery.PathFinder,
)


@dataclass(frozen=True)
class OwnCode:
    """Where a side's code lies, and what it provides."""

    #: The side's directories (its build's install directory, or its checkout), resolved.
    directories: tuple[Path, ...]
    #: The modules and packages those directories hold at their top (inside a namespace
    #: package: at the namespace's top, ``google.myproj``).
    top_level: frozenset[str]
    #: The normalized names of the distributions installed there (``ckit-fixture``).
    distributions: frozenset[str]


@dataclass(frozen=True)
class Isolation:
    """What :func:`isolate` took out of this process, and where the editable installs' code lies."""

    removed: tuple[str, ...]
    #: The source directories of the user's editable installs of the side's distributions.
    foreign_roots: tuple[Path, ...]
    #: The top-level names those installs provide.
    foreign_top_level: frozenset[str]


def own_code(environ: Mapping[str, str] = os.environ) -> OwnCode | None:
    """The side's code as its parent named it, or None in a child that is no side's."""
    listed = [Path(p) for p in environ.get(SIDE_PATH_VARIABLE, "").split(os.pathsep) if p]
    if not listed:
        return None
    directories = tuple(_resolved(p) for p in listed)
    top_level: set[str] = set()
    distributions: set[str] = set()
    for directory in directories:
        top_level.update(_modules_in(directory))
        try:
            distributions.update(
                normalized(child.name.split("-", 1)[0]) for child in directory.glob("*.dist-info") if child.is_dir()
            )
        except OSError:
            continue
    return OwnCode(directories, frozenset(top_level), frozenset(distributions))


def _modules_in(directory: Path, prefix: str = "", depth: int = 0) -> set[str]:
    """The modules and regular packages ``directory`` provides at its top; inside a namespace
    package (a directory without ``__init__.py``), those it provides there (``google.myproj``),
    so that another distribution's part of the namespace is not taken for the project's."""
    try:
        children = list(directory.iterdir())
    except OSError:
        return set()
    found: set[str] = set()
    suffixes = tuple(importlib.machinery.all_suffixes())
    for child in children:
        stem = child.name.split(".", 1)[0]
        if child.is_dir() and child.name.isidentifier():
            if (child / "__init__.py").is_file():
                found.add(prefix + child.name)
            elif depth < 2:
                found.update(_modules_in(child, f"{prefix}{child.name}.", depth + 1))
        elif child.is_file() and child.name.endswith(suffixes) and stem.isidentifier():
            found.add(prefix + stem)
    return found


def normalized(name: str) -> str:
    """A distribution's name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def isolate(own: OwnCode | None) -> Isolation:
    """Take the user's editable installs of the side's distributions out of this process."""
    if own is None:
        return Isolation((), (), frozenset())
    removed: list[str] = []
    roots: list[Path] = []
    top_level: set[str] = set()
    finder_modules: set[str] = set()
    for install in _other_installs(own):
        entries, modules = _editable_entries(install)
        roots.extend(entries)
        finder_modules.update(modules)
    for module in finder_modules:
        mapping = getattr(sys.modules.get(module), "MAPPING", None)
        if isinstance(mapping, dict):
            roots.extend(_resolved(Path(str(p))) for p in mapping.values())
            top_level.update(str(k) for k in mapping)
    for entry in list(sys.path):
        if entry and (_resolved(Path(entry)) in roots or _placeholder_of(entry, own.distributions)):
            sys.path.remove(entry)
            sys.path_importer_cache.pop(entry, None)
            removed.append(f"path entry {entry}")
    for hook in list(sys.path_hooks):
        if getattr(hook, "__module__", None) in finder_modules:
            sys.path_hooks.remove(hook)
            removed.append(f"path hook of {hook.__module__}")
    for finder in list(sys.meta_path):
        if getattr(finder, "__module__", None) in finder_modules or _serves_elsewhere(finder, own):
            sys.meta_path.remove(finder)
            removed.append(f"finder {getattr(finder, '__module__', '?')}")
    importlib.invalidate_caches()
    return Isolation(tuple(removed), tuple(dict.fromkeys(roots)), frozenset(top_level))


def foreign_modules(
    own: OwnCode, isolation: Isolation, allowed: Sequence[Path], modules: Mapping[str, object] | None = None
) -> list[tuple[str, Path]]:
    """(name, file) of each imported module of the project that is not the side's own.

    A module is the project's when its top-level name is one the side's directories or the
    user's editable install provide, or when its file lies in that install's source. Files
    in ``allowed`` (the workloads directory) and in the side's directories are its own.
    """
    modules = sys.modules if modules is None else modules
    own_places = (*own.directories, *(_resolved(p) for p in allowed))
    names = own.top_level | isolation.foreign_top_level
    found = []
    for name, module in sorted(modules.items()):
        file = getattr(module, "__file__", None)
        if not isinstance(file, str) or name == "__main__":
            continue
        path = _resolved(Path(file))
        if _within(path, own_places):
            continue
        if _provided(name, names) or _within(path, isolation.foreign_roots):
            found.append((name, path))
    return found


def _provided(module: str, names: Iterable[str]) -> bool:
    """Whether ``module`` is one of ``names`` or inside one of them."""
    return any(module == name or module.startswith(name + ".") for name in names)


def refusal(own: OwnCode, found: Sequence[tuple[str, Path]]) -> str:
    """The one line that refuses a side which imported another's code."""
    name, path = found[0]
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    places = ", ".join(str(d) for d in own.directories)
    return (
        f"module {name} was imported from {path}, not from its build ({places}){more}; "
        "another commit's code would be measured: a workload or the environment puts it on the import path"
    )


@dataclass(frozen=True)
class _Install:
    """Another install of one of the side's distributions: its metadata directory, and the
    path entry it was found in."""

    metadata: Path
    location: Path


def _other_installs(own: OwnCode) -> list[_Install]:
    """The installs of the side's distributions on this process's path that are not the side's.

    Found by the names of the metadata directories of each path entry (``NAME-VERSION.dist-info``,
    ``NAME.egg-info``), without importlib.metadata, whose import costs a trial's start a
    fifth of a second on a busy machine.
    """
    if not own.distributions:
        return []
    found = []
    for entry in dict.fromkeys(sys.path):
        directory = _resolved(Path(entry or "."))
        if _within(directory, own.directories):
            continue
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            if (
                name.endswith((".dist-info", ".egg-info"))
                and normalized(name.split("-", 1)[0].removesuffix(".egg-info")) in own.distributions
            ):
                found.append(_Install(directory / name, directory))
    return found


def _editable_entries(install: _Install) -> tuple[list[Path], set[str]]:
    """The path entries and finder modules that an editable install's ``.pth`` files add;
    nothing for an install that is not editable."""
    if install.metadata.suffix == ".egg-info":
        # ``setup.py develop``: the source directory itself is the path entry (a site
        # directory holds the egg-info of ordinary old-style installs: never taken out).
        in_site = install.location.name in ("site-packages", "dist-packages")
        return ([] if in_site else [install.location]), set()
    try:
        direct_url = json.loads((install.metadata / "direct_url.json").read_text(encoding="utf-8"))
        editable = bool(direct_url.get("dir_info", {}).get("editable"))
        record = (install.metadata / "RECORD").read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError, AttributeError):
        return [], set()
    if not editable:
        return [], set()
    entries: list[Path] = []
    modules: set[str] = set()
    for line in record:
        file = line.rsplit(",", 2)[0].strip('"')
        if not file.endswith(".pth"):
            continue
        try:
            lines = (install.location / file).read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        entries_here, modules_here = _pth_lines(lines, install.location)
        entries.extend(entries_here)
        modules.update(modules_here)
    return entries, modules


def _pth_lines(lines: Iterable[str], site: Path) -> tuple[list[Path], set[str]]:
    """What a ``.pth`` file does, as the site module reads it: path lines and imported modules."""
    entries: list[Path] = []
    modules: set[str] = set()
    for line in (raw.strip() for raw in lines):
        if not line or line.startswith("#"):
            continue
        if line.startswith(("import ", "import\t")):
            modules.update(re.findall(r"import\s+([\w.]+)", line))
        else:
            entries.append(_resolved(site / line))
    return entries, modules


def _placeholder_of(entry: str, distributions: Iterable[str]) -> bool:
    """Whether ``entry`` is the path placeholder of setuptools' editable namespace finder of one of
    ``distributions`` (``__editable__.NAME-VERSION.finder.__path_hook__``)."""
    if not (entry.startswith("__editable__.") and entry.endswith(".__path_hook__")):
        return False
    name = normalized(entry.removeprefix("__editable__.").split("-", 1)[0])
    return name in distributions


def _serves_elsewhere(finder: object, own: OwnCode) -> bool:
    """Whether a meta-path finder that is not the interpreter's own finds one of the side's
    top-level modules outside the side's directories."""
    if finder in _STANDARD_FINDERS or isinstance(finder, _STANDARD_FINDERS):
        return False
    find_spec = getattr(finder, "find_spec", None)
    if find_spec is None:
        return False
    for name in own.top_level:
        try:
            spec = find_spec(name, None)
        except Exception:  # noqa: BLE001 - a third-party finder's failure says nothing about our code
            continue
        origin = getattr(spec, "origin", None)
        if isinstance(origin, str) and os.path.isabs(origin) and not _within(_resolved(Path(origin)), own.directories):
            return True
    return False


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def _within(path: Path, directories: Iterable[Path]) -> bool:
    return any(path == d or path.is_relative_to(d) for d in directories)
