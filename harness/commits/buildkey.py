"""What a build of a commit depends on, so that the build cache never hands one build out for another.

A cached build is reused only when everything that could change it is the same:

- the code: the commit (or the content of the working tree), where the project lies in it,
  and the ``[tool.harness] setup`` command;
- the interpreter: its executable, version, ABI tag, platform and environment (``sys.prefix``);
- the C compiler: ``$CC`` if set, else the one Python was built with (sysconfig's ``CC``),
  named by its resolved path and the first line of its ``--version``;
- the build's environment, the variables that are set among:

  - the standard compiler, linker and build-tool variables (:data:`STANDARD_VARIABLES`), and
    every variable starting with one of :data:`STANDARD_PREFIXES` (``PIP_``, ``SETUPTOOLS_``,
    ``CMAKE_``, ...);
  - every variable whose name appears in one of the project's build files
    (:data:`BUILD_FILES`: ``setup.py``, ``pyproject.toml``, ``CMakeLists.txt``, ...) at that
    commit, so that ``os.environ.get("MYLIB_NO_EXTENSIONS")`` in a setup.py counts;
  - the names listed in ``[tool.harness] build_env``, for what a build reads elsewhere.

The variables that went in are recorded in the cache entry's ``meta.json`` (credentials in
URLs masked), so ``harness cache`` can say why two builds of a commit differ.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

#: Bumped when what a key covers changes, so that older entries are never taken for newer ones.
KEY_VERSION = "2"

#: Variables that change what compilers, linkers and build tools make.
STANDARD_VARIABLES = (
    "CC",
    "CXX",
    "CPP",
    "CFLAGS",
    "CXXFLAGS",
    "CPPFLAGS",
    "LDFLAGS",
    "LDSHARED",
    "LDCXXSHARED",
    "LIBS",
    "AR",
    "ARFLAGS",
    "RANLIB",
    "ARCHFLAGS",
    "MACOSX_DEPLOYMENT_TARGET",
    "SDKROOT",
    "CPATH",
    "C_INCLUDE_PATH",
    "CPLUS_INCLUDE_PATH",
    "LIBRARY_PATH",
    "PKG_CONFIG_PATH",
    "RUSTFLAGS",
    "SOURCE_DATE_EPOCH",
)
#: Families of variables that build tools read: every variable starting with one of these counts.
STANDARD_PREFIXES = (
    "PIP_",
    "SETUPTOOLS_",
    "DISTUTILS_",
    "CMAKE_",
    "SKBUILD_",
    "MESON",
    "CYTHON",
    "NPY_",
    "MATURIN_",
    "CARGO_",
    "HATCH_BUILD_",
    "PDM_BUILD_",
)
#: The project's files (at its root) whose variable names count when set.
BUILD_FILES = (
    "setup.py",
    "setup.cfg",
    "pyproject.toml",
    "CMakeLists.txt",
    "meson.build",
    "meson.options",
    "meson_options.txt",
    "build.py",
    "hatch_build.py",
    "Makefile",
)
#: A name a build file may read from the environment: upper case, digits and underscores.
_NAME = re.compile(r"\b[A-Z][A-Z0-9_]+\b")
#: ``scheme://user:password@host``: the credentials part, masked in what the cache records.
_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


_SYSCONFIG_LOCK = threading.Lock()


@dataclass(frozen=True)
class BuildKey:
    """The cache key of one build, and what went into it (recorded beside the build)."""

    key: str
    #: The interpreter, the compiler, and each environment variable that counted.
    inputs: Mapping[str, str]
    #: The names of the environment variables that counted, sorted.
    variables: tuple[str, ...]


def build_key(
    content_id: str,
    project_root: Path,
    project_subdir: Path,
    setup: str | None,
    extra_variables: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> BuildKey:
    """The key of the build of the project checked out at ``project_root``: a readable commit
    prefix, then a digest of everything that matters (see the module's docstring)."""
    environ = os.environ if environ is None else environ
    variables = build_variables(project_root, extra_variables, environ)
    # The sides of a compare are keyed in threads side by side, and sysconfig fills its
    # variables on first use without a lock: a thread racing another read CC as unset
    # ("none"), which made another key for the same build.
    with _SYSCONFIG_LOCK:
        interpreter, compiler = interpreter_identity(), compiler_identity(environ.get("CC"))
    inputs = {
        "key_version": KEY_VERSION,
        "interpreter": interpreter,
        "compiler": compiler,
        **{f"env:{name}": environ[name] for name in variables},
    }
    parts = [content_id, project_subdir.as_posix(), setup or "", *(f"{k}={v}" for k, v in inputs.items())]
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
    recorded = {name: _CREDENTIALS.sub("***@", value) for name, value in inputs.items()}
    return BuildKey(f"{content_id[:12]}-{digest}", recorded, variables)


def build_variables(project_root: Path, extra: Iterable[str], environ: Mapping[str, str]) -> tuple[str, ...]:
    """The names of the set environment variables that count for a build of this project."""
    named = set(STANDARD_VARIABLES) | set(extra) | names_in_build_files(project_root)
    counted = {name for name in environ if name in named or name.startswith(STANDARD_PREFIXES)}
    return tuple(sorted(counted))


def names_in_build_files(project_root: Path) -> set[str]:
    """Every upper-case name written in one of the project's build files."""
    names: set[str] = set()
    for file in BUILD_FILES:
        try:
            text = (project_root / file).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        names.update(_NAME.findall(text))
    return names


def interpreter_identity() -> str:
    """The interpreter builds are made for: executable, full version, ABI tag, platform, environment."""
    return " | ".join(
        [
            os.path.realpath(sys.executable),
            sys.version,
            sys.implementation.cache_tag or "",
            sysconfig.get_platform(),
            # Another environment may hold other versions of the build's and the code's dependencies.
            sys.prefix,
        ]
    )


def compiler_identity(cc: str | None) -> str:
    """``PATH: first line of --version`` of ``cc`` (``$CC``), else of the compiler Python was built with."""
    command = cc or str(sysconfig.get_config_var("CC") or "")
    return _compiler_identity(command)


@functools.cache
def _compiler_identity(command: str) -> str:
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    if not words:
        return "none"
    found = shutil.which(words[0])
    if found is None:
        return f"{command}: not found"
    try:
        done = subprocess.run(
            [found, "--version"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False
        )
        first = (done.stdout or done.stderr).strip().splitlines()[:1]
    except (OSError, subprocess.SubprocessError):
        first = []
    return f"{os.path.realpath(found)} {' '.join(words[1:])}".strip() + f": {first[0] if first else 'no version'}"
