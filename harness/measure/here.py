"""Where this run happens: the interpreter, machine, backend and commit its results record."""

from __future__ import annotations

import platform
import socket
from pathlib import Path

from harness.git import tree_state
from harness.measure.capture.reach import reach
from harness.store.environment import Environment, Provenance


def environment(project_root: Path, backend: str, provenance: Provenance | None = None) -> Environment:
    """Where a run happens: this interpreter and machine, ``backend``, and the project's commit
    (or, for a side of a compare, the commit and build ``provenance`` names)."""
    from harness.version import __version__

    commit, dirty = tree_state(project_root)
    memray_version = None
    if backend == "memray":
        from importlib.metadata import version

        memray_version = version("memray")
    sees = reach(backend)
    here = Environment(
        python_version=platform.python_version(),
        implementation=platform.python_implementation(),
        platform=platform.platform(),
        machine=platform.machine(),
        hostname=socket.gethostname(),
        harness_version=__version__,
        backend=backend,
        sites=sees.sites,
        c_allocations=sees.c_allocations,
        memray_version=memray_version,
        git_commit=commit,
        git_dirty=dirty,
        project_root=str(project_root),
    )
    return here.with_provenance(provenance)
