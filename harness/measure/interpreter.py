"""How a fresh child interpreter is started: its command line and its environment.

Trials and the discovery of a checkout's experiments run in children, each with the import
path of its side first. ``-P`` keeps the working directory off ``sys.path``: a child runs in
a checkout, and a flat-layout package lying there must not shadow the wheel built from it.
The side's directories go first on ``PYTHONPATH``, ahead of whatever the user's environment
adds, and apply to that child only; the child also takes the user's editable install of the
same distribution out of its path (:mod:`harness.measure.own_code`), since setuptools' editable
finder would serve the modules the side's build lacks from the user's source tree.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.measure.own_code import SIDE_PATH_VARIABLE


def command(module: str, *args: str) -> list[str]:
    """``python -P -m MODULE ARGS`` with the interpreter harness runs on."""
    return [sys.executable, "-P", "-m", module, *args]


def environment(import_path: Sequence[Path | str], *, seed: int | None = None) -> Mapping[str, str]:
    """The parent's environment, with ``import_path`` first and hash randomisation pinned to ``seed``."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    # A tracemalloc started by the environment would measure the harness, not the workload.
    env.pop("PYTHONTRACEMALLOC", None)
    inherited = [entry for entry in env.get("PYTHONPATH", "").split(os.pathsep) if entry]
    entries = [str(p) for p in import_path] + inherited
    if entries:
        env["PYTHONPATH"] = os.pathsep.join(entries)
    # The child takes other installs of this code out of its path (see harness.measure.own_code).
    env.pop(SIDE_PATH_VARIABLE, None)
    if import_path:
        env[SIDE_PATH_VARIABLE] = os.pathsep.join(str(p) for p in import_path)
    if seed is not None:
        env["PYTHONHASHSEED"] = str(seed)
    return env
