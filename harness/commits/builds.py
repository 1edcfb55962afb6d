"""Each commit's code under test, built once into a wheel and installed in a directory of its own.

A side of a comparison must import its own commit's code, never what the user's environment
has installed: an editable install points at the working tree, whatever commit is measured.
So a project with a build backend (``[build-system]`` in pyproject.toml, or a ``setup.py``)
is built into a wheel with ``pip wheel --no-deps``, and the wheel is installed with ``pip
install --no-deps --target`` into a directory that goes first on the import path of that
side's child interpreters only (see :mod:`harness.measure.interpreter`). C extensions are compiled
by that same build. Dependencies come from the current environment, which is never written to.

The build runs without build isolation when the build requirements are installed here
(faster, and it works offline); otherwise with isolation, which fetches them. A project
without a build backend is imported from its checkout's root, as it lies.

Builds are cached (see :mod:`harness.commits.buildcache`) by what determines them (see
:mod:`harness.commits.buildkey`): the commit (or the content of the working tree), where the
project lies in it, the setup command, the interpreter, the compiler, and the environment
variables that change a build.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.commits.buildcache import BuildCache
from harness.commits.buildkey import build_key
from harness.errors import BuildError

#: Lines of a failed command's output quoted in its one-line error.
TAIL_LINES = 4


@dataclass(frozen=True)
class Code:
    """Where one side imports its code under test from, and how it got there."""

    import_path: tuple[Path, ...]
    #: ``wheel built at 3f2a9c1e20`` or ``checkout root (no build backend)``: said in results and reports.
    description: str
    #: Seconds spent building and installing (0 when the cache had it, or nothing was built).
    build_s: float = 0.0
    reused: bool = False


def build_requirements(project_root: Path) -> list[str] | None:
    """The project's build requirements, or None when it has no build backend (a plain directory).

    ``[build-system]`` of pyproject.toml; a ``setup.py`` without it builds with setuptools.
    """
    pyproject = project_root / "pyproject.toml"
    table: dict[str, Any] = {}
    if pyproject.is_file():
        try:
            table = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("build-system", {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            # The build itself will say what is wrong with the file, naming the commit.
            table = {"requires": []}
    if table:
        requires = table.get("requires", [])
        return [str(r) for r in requires] if isinstance(requires, list) else []
    if (project_root / "setup.py").is_file():
        return ["setuptools", "wheel"]
    return None


def requirements_installed(requirements: Sequence[str]) -> bool:
    """Whether every requirement is satisfied by a distribution of this environment."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import InvalidRequirement, Requirement

    for text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            return False
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            return False
        if not requirement.specifier.contains(installed, prereleases=True):
            return False
    return True


def build_backend_requirements(project_root: Path) -> list[str] | None:
    """What building the project needs here: its declared requirements, and ``wheel`` where an
    old setuptools (before 70.1) needs it without declaring it."""
    requirements = build_requirements(project_root)
    if requirements is None:
        return None
    from importlib.metadata import PackageNotFoundError, version

    from packaging.version import Version

    try:
        old_setuptools = Version(version("setuptools")) < Version("70.1")
    except PackageNotFoundError:
        old_setuptools = False
    if old_setuptools and any(r.startswith("setuptools") for r in requirements):
        return [*requirements, "wheel"]
    return requirements


def code_for(
    project_root: Path,
    *,
    label: str,
    content_id: str,
    project_subdir: Path,
    setup: str | None,
    cache: BuildCache,
    build_env: Sequence[str] = (),
) -> Code:
    """The code of the project checked out at ``project_root``, built and installed if it has a backend.

    ``label`` names the commit in messages; ``build_env`` names environment variables that
    change the build besides those :mod:`harness.commits.buildkey` counts by itself. Raises
    :class:`BuildError` naming the commit, the command and the last lines of its output when
    the build or the install fails; nothing is left behind then.
    """
    requirements = build_backend_requirements(project_root)
    if requirements is None:
        return Code((project_root,), "checkout root (no build backend)")
    built_for = build_key(content_id, project_root, project_subdir, setup, build_env)
    key = built_for.key
    cached = cache.lookup(key)
    if cached is not None:
        return Code((cached,), f"wheel built at {label} (cached)", reused=True)
    started = time.perf_counter()
    with cache.staging(key) as staging:
        log = cache.root / "logs" / f"{key}.log"
        wheel = _build_wheel(project_root, staging / "wheel", label, requirements_installed(requirements), log)
        _install(wheel, staging / "site", label, log)
        meta = {"label": label, "project": str(project_subdir), "wheel": wheel.name}
        site = cache.store(key, staging, {**meta, "built_for": dict(built_for.inputs)})
    return Code((site,), f"wheel built at {label}", build_s=time.perf_counter() - started)


def _pip(*args: str) -> list[str]:
    return [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]


def _build_wheel(project_root: Path, out: Path, label: str, requirements_here: bool, log: Path) -> Path:
    """The wheel of the project, built without isolation when its requirements are here."""
    isolation = ("--no-build-isolation",) if requirements_here else ()
    command = _pip("wheel", "--no-deps", *isolation, "--wheel-dir", str(out), str(project_root))
    done = run_command(command, cwd=project_root)
    if done.returncode != 0:
        raise BuildError(_failure(label, command, done, log))
    wheels = sorted(out.glob("*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"building {label}: expected one wheel in {out}, found {len(wheels)}")
    return wheels[0]


def _install(wheel: Path, target: Path, label: str, log: Path) -> None:
    """Install ``wheel`` alone into ``target``: never into the environment harness runs in."""
    command = _pip("install", "--no-deps", "--no-index", "--target", str(target), str(wheel))
    done = run_command(command, cwd=wheel.parent)
    if done.returncode != 0:
        raise BuildError(_failure(label, command, done, log))


def run_command(
    command: list[str] | str, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command (a string runs with a shell), its output and errors captured together.

    A command that cannot be started at all reads as exit code 127 with the reason as output.
    """
    try:
        return subprocess.run(
            command,
            shell=isinstance(command, str),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            check=False,
        )
    except OSError as exc:
        return subprocess.CompletedProcess(command, 127, stdout=str(exc))


#: A compiler's error line: ``src/store.c:3:10: fatal error: missing.h: No such file or directory``.
_COMPILER_ERROR = re.compile(r"^\S+:\d+(?::\d+)?: (?:fatal )?error: ")
#: The last line of a Python traceback: ``ImportError: cannot import name 'Sequence' from 'collections'``.
_EXCEPTION = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt)(?::\s.*)?$")
#: What pip and setuptools say about every failure, whatever its cause.
_GENERIC = re.compile(r"subprocess-exited-with-error|CalledProcessError|did not run successfully|exit code \d+$")


def failure_cause(output: str) -> str | None:
    """The line of a failed build's output that names its cause, or None when none does.

    The first compiler error (later ones follow from it), else the last Python exception
    that is not pip's or setuptools' own account of a failed subprocess, else a
    configuration error line (``configuration error: ...``).
    """
    lines = [line.strip().lstrip("│ ").strip() for line in output.splitlines()]
    for line in lines:
        if _COMPILER_ERROR.match(line):
            return line
    for line in reversed(lines):
        if _EXCEPTION.match(line) and not _GENERIC.search(line):
            return line
    for line in lines:
        if line.lower().startswith(("configuration error:", "error: invalid")):
            return line
    return None


def output_tail(output: str) -> str:
    """``; last output: a | b``: the last lines of a failed command's output, for one-line errors."""
    tail = [line.strip() for line in output.splitlines() if line.strip()][-TAIL_LINES:]
    return ("; last output: " + " | ".join(tail)) if tail else ""


def _failure(label: str, command: list[str], done: subprocess.CompletedProcess[str], log: Path) -> str:
    """``build of 3f2a9c1e20 failed: ImportError: ... (`pip wheel` exited with code 1; whole log:
    PATH)``, with the last lines of the output instead when no line names the cause. The log
    (the whole command and its output) is kept beside the build cache, which is where to look."""
    shown = " ".join(["python", *command[1:]])
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"$ {shown}\n{done.stdout}", encoding="utf-8")
    cause = failure_cause(done.stdout)
    step = next(arg for arg in command[3:] if not arg.startswith("-"))  # after `python -m pip`
    ran = f"`pip {step}` exited with code {done.returncode}"
    if cause is None:
        return f"build of {label} failed: {ran}{output_tail(done.stdout)}; whole log: {log}"
    return f"build of {label} failed: {cause} ({ran}; whole log: {log})"
