"""What a backend sees on this interpreter and platform, and how a trial child is started so that it does.

Two things vary from one machine to the next, and both change the figures:

- **call sites**: the native backend reads the interpreter's own frames, laid out differently
  by each CPython version; where it has no reader for this one, every allocation goes to one
  ``<native>`` site (the totals stay exact);
- **C allocations**: what C extensions and the libraries they link take from the C library's
  ``malloc`` rather than from Python's allocators. The native backend sees them where its
  shared object is preloaded into the trial child (Linux with glibc), so that its ``malloc``
  and friends take the place of the C library's in every library of that process.

The results' environment records both (``sites``, ``c_allocations``), and a run says once on
stderr what it cannot see.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from harness.store.environment import NO_SITES, NOT_MEASURED, PYTHON_SITES, SEEN, blind_spots

#: Set in a trial child's environment to the shared object preloaded into it, so that the
#: child can check that the preload took and take it off its own environment.
PRELOADED_VARIABLE = "HARNESS_PRELOADED"
_said: set[str] = set()


@dataclass(frozen=True)
class Reach:
    """What one backend sees here."""

    #: ``python`` where allocations are charged to their Python call sites, ``none`` where not.
    sites: str
    #: ``seen``, or ``not seen: why`` (or ``not measured`` for a backend without heap figures).
    c_allocations: str
    #: The shared object to preload into each trial child, or None.
    preload: str | None = None

    @property
    def blind_spots(self) -> list[str]:
        """What this backend misses here, one sentence each (empty when it sees everything)."""
        return blind_spots(self.sites, self.c_allocations, f"CPython {sys.version_info.major}.{sys.version_info.minor}")


def _native_reach(environ: Mapping[str, str]) -> Reach:
    import harness._native as _native

    sites = PYTHON_SITES if _native.HAS_FRAMES else NO_SITES
    if not _native.INTERPOSES_LIBC:
        return Reach(sites, "not seen: the C-library hook needs Linux with glibc")
    if environ.get("LD_PRELOAD"):
        # Ours would go first and take the place of the user's allocator: measure theirs instead.
        return Reach(sites, "not seen: LD_PRELOAD is set already")
    return Reach(sites, SEEN, preload=_native.__file__)


def reach(backend: str, environ: Mapping[str, str] = os.environ) -> Reach:
    """What ``backend`` (resolved, not ``auto``) sees here, and what its trial children preload."""
    if backend == "native":
        return _native_reach(environ)
    if backend == "memray":
        # memray patches the allocation symbols of every library it finds loaded.
        return Reach(PYTHON_SITES, SEEN)
    if backend == "tracemalloc":
        return Reach(PYTHON_SITES, "not seen: only what a library reports to tracemalloc (numpy's buffers)")
    return Reach(NO_SITES, NOT_MEASURED)


def say_blind_spots(backend: str) -> None:
    """Say once per process on stderr what ``backend`` cannot see here."""
    for sentence in reach(backend).blind_spots:
        if sentence not in _said:
            _said.add(sentence)
            print(f"harness: {sentence}", file=sys.stderr)


def child_environment(backend: str, env: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """``env`` for a trial child of ``backend``, with its shared object preloaded where it sees C allocations.

    The object preloaded is the ``harness._native`` the child will import: where the child's
    import path holds a ``harness`` package of its own (a commit of harness itself, measured
    by its own build), that build's, since a second copy of the hooks loaded beside the
    preloaded one would not be the process's ``malloc``.
    """
    preload = reach(backend, env).preload
    if preload is not None:
        preload = native_module_for(env.get("PYTHONPATH", ""), preload)
    if preload is not None:
        env["LD_PRELOAD"] = preload
        env[PRELOADED_VARIABLE] = preload
    return env


def native_module_for(python_path: str, own: str) -> str | None:
    """The ``harness._native`` a child with ``python_path`` (``PYTHONPATH``) imports: ``own``
    (this process's) unless an entry holds a ``harness`` package first; then that package's,
    or None when it has none (a build without the extension)."""
    from importlib.machinery import EXTENSION_SUFFIXES

    for entry in (Path(p) for p in python_path.split(os.pathsep) if p):
        package = entry / "harness"
        if not (package / "__init__.py").is_file():
            continue
        if package.resolve() == Path(own).resolve().parent:
            return own
        found = [package / f"_native{suffix}" for suffix in EXTENSION_SUFFIXES]
        return next((str(path) for path in found if path.is_file()), None)
    return own


def settle_preload(backend: str) -> str | None:
    """In a trial child: take the preload off this process's environment (the workload's own
    children must not inherit it), and say why the trial cannot run if it did not take."""
    preloaded = os.environ.pop(PRELOADED_VARIABLE, None)
    if preloaded is None:
        return None
    if os.environ.get("LD_PRELOAD") == preloaded:
        del os.environ["LD_PRELOAD"]
    if backend != "native":
        return None
    import harness._native as _native

    if not _native.sees_c_library():
        return f"the C-library hook {preloaded} was not preloaded into the trial (see the loader's message above)"
    return None
