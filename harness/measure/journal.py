"""The results journal: every finished trial on disk the moment it arrives, so a run killed
hard (SIGKILL, an out-of-memory kill, a cancelled CI runner) loses nothing it finished.

The journal lives beside the results file (``reports/results.json.journal``). Format
``harness.journal/1``, one JSON document per line::

    {"schema": "harness.journal/1", "experiments": {SIDE: [ID, ...]}, "seeds": [1, 2, ...],
     "settings": {"backend", "timeout_s", "top_sites", ...},
     "code": {SIDE: {"workloads": {FILE: SHA256}, "git_commit", "git_dirty", "git_diff", ...}}}
    {"side": SIDE, "trial": {...a trial as in the results file...}}
    ...

The header is written atomically; each trial line is appended, flushed and fsynced. The
journal is removed once the final results file of a complete run is written; an interrupted
run keeps it. ``--resume`` reuses the trials of a journal whose header matches the run about
to start (same experiments, seeds, settings and code), and runs only the missing ones.
Failed trials are not reused: a failure may be the machine's (a timeout, a lost worker),
and running it again costs only that trial.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from harness.errors import ResultsError
from harness.git import diff_digest, tree_state
from harness.store.jsonfile import refuse_constant, write_text_atomic
from harness.store.results import TrialResult

if TYPE_CHECKING:
    from harness.declare.config import Settings
    from harness.measure.executors import Executor, OnResult, TrialJob
    from harness.measure.scheduling import Side

SCHEMA = "harness.journal/1"
SUFFIX = ".journal"

#: The run settings that change what a trial measures; ``jobs``, the executor and the memory
#: limit do not (a limit only decides whether a trial fails, and failed trials run again).
FINGERPRINTED_SETTINGS = ("replicates", "base_seed", "backend", "timeout_s", "top_sites")

Key = tuple[str, str, int]


def journal_path(results_path: Path) -> Path:
    """Where the journal of the results file ``results_path`` lives: beside it."""
    return results_path.with_name(results_path.name + SUFFIX)


@dataclass(frozen=True)
class JournalHeader:
    """What a run is: resuming is allowed only into a run with the very same header."""

    experiments: Mapping[str, tuple[str, ...]]
    seeds: tuple[int, ...]
    settings: Mapping[str, Any]
    code: Mapping[str, Mapping[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "experiments": {side: list(ids) for side, ids in self.experiments.items()},
            "seeds": list(self.seeds),
            "settings": dict(self.settings),
            "code": {side: dict(code) for side, code in self.code.items()},
        }

    def differences(self, other: JournalHeader) -> list[str]:
        """What differs from ``other`` (the journal's), in words; empty when nothing does."""
        return _differences(_flatten(other.to_json()), _flatten(self.to_json()))


def header_for(sides: Sequence[Side], settings: Settings, backend: str) -> JournalHeader:
    """The header of the run of ``sides`` with ``settings`` and ``backend``."""
    from harness.measure.scheduling import seed_of

    run_settings = {name: getattr(settings, name) for name in FINGERPRINTED_SETTINGS}
    run_settings["backend"] = backend
    return JournalHeader(
        experiments={side.name: tuple(e.id for e in side.experiments) for side in sides},
        seeds=tuple(seed_of(settings, r) for r in range(settings.replicates)),
        settings=run_settings,
        code={side.name: _side_code(side) for side in sides},
    )


def _side_code(side: Side) -> dict[str, Any]:
    """A side's code: its checkout's, plus the content a compare or bisect checked out (the
    directory of a checkout is temporary; its content is what counts)."""
    code = code_fingerprint(side.project_root, side.workloads_dir)
    if side.provenance is not None:
        code["content_id"] = side.provenance.content_id
        code["workloads_from"] = side.provenance.workloads_from
    return code


def code_fingerprint(project_root: Path, workloads_dir: Path) -> dict[str, Any]:
    """What identifies the code a side runs: the workloads' hashes, the commit and any
    uncommitted change to it, and the interpreter and harness that measure."""
    from harness.version import __version__

    workloads = {}
    if workloads_dir.is_dir():
        for path in sorted(workloads_dir.rglob("*.py")):
            if "__pycache__" not in path.parts:
                workloads[str(path.relative_to(workloads_dir))] = hashlib.sha256(path.read_bytes()).hexdigest()
    commit, dirty = tree_state(project_root)
    return {
        "workloads": workloads,
        "git_commit": commit,
        "git_dirty": dirty,
        "git_diff": diff_digest(project_root) if dirty else None,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "harness": __version__,
    }


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _differences(journal: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    out = []
    for name in sorted(journal.keys() | now.keys()):
        then, current = journal.get(name), now.get(name)
        if then == current:
            continue
        shown = name.replace("code..", "code.").replace("experiments..", "experiments.")
        if isinstance(then, list) and isinstance(current, list):
            out.append(f"{shown} differ ({len(then)} in the journal, {len(current)} now)")
        elif name.startswith("code.") and ".workloads." in name:
            file = name.split(".workloads.", 1)[1]
            state = "added" if then is None else "removed" if current is None else "changed"
            out.append(f"workload file {file} {state}")
        else:
            out.append(f"{shown} was {_short(then)}, now {_short(current)}")
    return out


def _short(value: Any) -> str:
    text = "none" if value is None else str(value)
    return text if len(text) <= 16 else text[:12] + "..."


@dataclass(frozen=True)
class JournalContents:
    """What a journal on disk holds: its header, its trials by (side, experiment, replicate),
    and whether its last line was torn."""

    header: JournalHeader
    trials: Mapping[Key, TrialResult]
    lines: tuple[bytes, ...]
    torn: bool = False


def read_journal(path: Path) -> JournalContents:
    """The journal at ``path``, or one clear :class:`ResultsError` when it is not one."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ResultsError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    chunks = data.split(b"\n")
    # A line is complete only with its newline; the rest was cut short by a kill mid-write.
    complete, tail = chunks[:-1], chunks[-1]
    torn = bool(tail.strip())
    if not complete:
        raise ResultsError(f"{path}: not a {SCHEMA} journal (empty or truncated header)")
    header = _parse_header(path, complete[0])
    trials: dict[Key, TrialResult] = {}
    kept = [complete[0]]
    for number, line in enumerate(complete[1:], start=2):
        if not line.strip():
            continue
        try:
            entry = json.loads(line, parse_constant=refuse_constant)
            side = entry["side"]
            trial = TrialResult.from_json(entry["trial"])
            if not isinstance(side, str):
                raise TypeError("side")
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise ResultsError(f"{path}: line {number} is corrupt ({type(exc).__name__}: {exc})") from None
        trials[(side, trial.experiment, trial.replicate)] = trial
        kept.append(line)
    return JournalContents(header, trials, tuple(kept), torn)


def _parse_header(path: Path, line: bytes) -> JournalHeader:
    try:
        data = json.loads(line, parse_constant=refuse_constant)
    except (ValueError, RecursionError):
        raise ResultsError(f"{path}: not a {SCHEMA} journal (its first line is not JSON)") from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if not isinstance(schema, str) or not schema.startswith("harness.journal/"):
        raise ResultsError(f"{path}: not a harness journal (schema {schema!r})")
    if schema != SCHEMA:
        raise ResultsError(f"{path}: schema {schema} is not supported by this harness ({SCHEMA})")
    try:
        return JournalHeader(
            experiments={str(k): tuple(v) for k, v in data["experiments"].items()},
            seeds=tuple(int(s) for s in data["seeds"]),
            settings=dict(data["settings"]),
            code={str(k): dict(v) for k, v in data["code"].items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ResultsError(f"{path}: malformed journal header: missing or bad field {exc}") from None


@dataclass
class Journal:
    """An open journal: appends each finished trial; holds the trials a resumed run reuses."""

    path: Path
    reused: dict[Key, TrialResult] = field(default_factory=dict)
    _handle: IO[bytes] | None = None
    #: Trial lines in the file, kept from before and appended.
    trials: int = 0

    def append(self, side: str, result: TrialResult) -> None:
        """Write one finished trial and make it durable before returning."""
        if self._handle is None:
            return
        line = json.dumps({"side": side, "trial": result.to_json()}, allow_nan=False).encode() + b"\n"
        self._handle.write(line)
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.trials += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def remove(self) -> None:
        """Close and delete the journal: the final results file now holds everything."""
        self.close()
        self.path.unlink(missing_ok=True)


@contextmanager
def open_journal(path: Path, header: JournalHeader, *, resume: bool, note: Callable[[str], None]) -> Iterator[Journal]:
    """The journal at ``path`` for the run ``header`` describes, open for appending.

    With ``resume``, the trials of an existing journal are kept for reuse when its header
    matches, else :class:`ResultsError` says what differs; a torn last line is dropped and
    ``note`` says so. Without it, a new journal replaces any old one.
    """
    lines: tuple[bytes, ...] = (json.dumps(header.to_json(), allow_nan=False).encode(),)
    reused: dict[Key, TrialResult] = {}
    if resume and path.exists():
        contents = read_journal(path)
        differences = header.differences(contents.header)
        if differences:
            raise ResultsError(
                f"{path} is from another run ({'; '.join(differences[:3])}); run without --resume to start afresh"
            )
        if contents.torn:
            note(f"{path}: its last line was cut short (killed mid-write) and is ignored")
        reused = {key: trial for key, trial in contents.trials.items() if trial.ok}
        lines = contents.lines
        note(f"resuming: {len(reused)} finished trials reused from {path}")
    elif resume:
        note(f"nothing to resume: no journal at {path}; running every trial")
    elif path.exists() and _holds_trials(path):
        note(f"{path}: replaced; `--resume` would have continued the unfinished run it holds")
    try:
        # Rewritten whole, atomically: a torn line never stays in the middle of the file.
        write_text_atomic(path, b"\n".join(lines).decode() + "\n")
        journal = Journal(path, reused, path.open("ab"), len(lines) - 1)
    except OSError as exc:
        raise ResultsError(f"{path}: the journal cannot be written: {exc.strerror or exc}") from None
    try:
        yield journal
    finally:
        journal.close()
        if not journal.trials:
            # Nothing ran (the executor could not start): no run to resume, nothing to keep.
            path.unlink(missing_ok=True)


def _holds_trials(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return sum(1 for line in handle if line.strip()) > 1
    except OSError:
        return False


class JournaledExecutor:
    """An executor that reports the journal's reused trials at once, runs the others on
    ``inner``, and appends each of their results to the journal before reporting it."""

    def __init__(self, inner: Executor, journal: Journal) -> None:
        self.inner = inner
        self.journal = journal
        #: How many trials the journal supplied, and how many ran.
        self.reused = 0
        self.ran = 0

    def run(self, jobs: Sequence[TrialJob], on_result: OnResult) -> None:
        todo = []
        for job in jobs:
            known = self.journal.reused.get((job.side, job.experiment, job.spec.replicate))
            if known is not None and known.seed == job.spec.seed:
                self.reused += 1
                on_result(job, known)
            else:
                todo.append(job)

        def record(job: TrialJob, result: TrialResult) -> None:
            self.journal.append(job.side, result)
            self.ran += 1
            on_result(job, result)

        self.inner.run(todo, record)

    def describe(self) -> dict[str, Any]:
        from harness.measure.executors import executor_settings

        return executor_settings(self.inner)
