"""Stored baselines: a results file kept under ``baselines/NAME.json`` with when and from what.

A baseline file is a ``harness.results/1`` file with one more key::

    "baseline": {"name": "main", "created": ISO-8601, "source": "reports/results.json"}

so every reader of results files reads baselines too.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import BaselineError, ResultsError
from harness.store.environment import BaselineInfo
from harness.store.jsonfile import read_json, write_json_atomic
from harness.store.results import Results, read_results

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Baseline:
    """A stored baseline: its results and (for files written by ``baseline save``) its origin."""

    path: Path
    results: Results
    info: BaselineInfo | None


def check_name(name: str) -> str:
    """``name`` when it is fit for a file name (letters, digits, ``_ . -``), else :class:`BaselineError`."""
    if not _NAME.match(name) or name.endswith(".json"):
        raise BaselineError(
            f"baseline name {name!r} must be letters, digits, '_', '.' or '-' (without .json), e.g. 'main'"
        )
    return name


def baseline_path(reference: str, directory: Path) -> Path:
    """The file ``reference`` means: a path when it looks like one (``.json`` or a ``/``), else
    ``directory/NAME.json``."""
    if reference.endswith(".json") or "/" in reference or "\\" in reference:
        return Path(reference)
    return directory / f"{check_name(reference)}.json"


def save_baseline(results: Results, name: str, source: str, directory: Path, *, force: bool = False) -> Path:
    """Write ``results`` as the baseline ``name`` (atomically); its path.

    Raises :class:`BaselineError` for a bad name, for a baseline of that name that exists
    already (unless ``force``: a gate's reference is replaced only on purpose), or results
    from an interrupted run, since a baseline missing trials would make every later gate
    compare against a partial picture.
    """
    check_name(name)
    path = directory / f"{name}.json"
    if path.exists() and not force:
        raise BaselineError(f"baseline {name!r} exists already ({path}); pass --force to replace it")
    if results.interrupted:
        raise BaselineError(f"{source}: the run was interrupted; a baseline needs a complete run")
    if not results.trials:
        raise BaselineError(f"{source}: holds no trials")
    info = BaselineInfo(name, _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), source)
    write_json_atomic(path, {**results.to_json(), "baseline": info.to_json()})
    return path


def read_baseline(reference: str, directory: Path) -> Baseline:
    """The baseline called ``reference`` in ``directory`` (or at the path ``reference``).

    Raises :class:`ResultsError` when the file is missing, unreadable or not a results file.
    """
    path = baseline_path(reference, directory)
    if path.parent == directory and not path.exists():
        known = ", ".join(n for n, _ in list_baselines(directory)) or "none"
        raise ResultsError(f"no baseline {reference!r} in {directory} (known: {known}; see `harness baseline save`)")
    results = read_results(path)
    return Baseline(path, results, _info(read_json(path, "harness.results/"), path))


def _info(data: dict[str, Any], path: Path) -> BaselineInfo | None:
    meta = data.get("baseline")
    if meta is None:
        return None
    try:
        return BaselineInfo.from_json(meta)
    except (KeyError, TypeError) as exc:
        raise ResultsError(f"{path}: malformed baseline block: missing or bad field {exc}") from None


def list_baselines(directory: Path) -> list[tuple[str, Path]]:
    """The baselines stored in ``directory`` as (name, path), by name."""
    if not directory.is_dir():
        return []
    return [(p.stem, p) for p in sorted(directory.glob("*.json")) if not p.name.startswith(".")]
