"""JSON files written atomically and read with a schema check: results, baselines, verdicts.

A file is written to a temporary file beside it, flushed, fsynced and renamed over the
target, so a reader never sees half a file and an interrupted write never damages the
previous one (a hand-off file, which one process writes for another to read once, is
renamed into place the same way but not fsynced); a place that cannot be written (a
read-only directory, ``/proc``, a full disk) is one :class:`~harness.errors.OutputError`
line, and :func:`check_writable` finds it before the work whose output it is. A file is
read as JSON whose ``schema`` names its kind and version; anything else (missing,
truncated, binary, NaN figures, another kind, a future version) is one
:class:`~harness.errors.ResultsError` line.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import OutputError, ResultsError


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` so that ``path`` is always either old or new, never partial."""
    write_text_atomic(path, json.dumps(data, indent=1, allow_nan=False) + "\n")


def write_json_handoff(path: Path, data: Any) -> None:
    """Write ``data`` as compact JSON to ``path`` for another process to read once, soon: renamed
    into place whole, so the reader never sees half of it, but not forced to disk, since
    nothing reads it after the machine restarts. Compact, so that json's C encoder writes it
    (an indented dump goes through the pure-Python one)."""
    write_text_atomic(path, json.dumps(data, separators=(",", ":"), allow_nan=False), durable=False)


def write_text_atomic(path: Path, text: str, *, durable: bool = True) -> None:
    """Write ``text`` to ``path`` so that ``path`` is always either old or new, never partial;
    :class:`OutputError` when it cannot be written. ``durable``: on disk before it is renamed
    into place, so that it survives the machine's crash too."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        # mkstemp makes the file owner-only; give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _cannot_write(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_writable(path: Path) -> None:
    """:class:`OutputError` unless a file can be written at ``path``: asked before a run, so that
    its output is not lost at the end. Nothing is left behind (a directory a write would make
    is not made here)."""
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a directory")
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"cannot write {path}: {existing} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=existing)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    os.close(fd)
    os.unlink(probe)


def _cannot_write(path: Path, exc: OSError) -> OutputError:
    return OutputError(f"cannot write {path}: {exc.strerror or exc}")


def read_json(path: Path, schema_prefix: str) -> dict[str, Any]:
    """A JSON document whose ``schema`` starts with ``schema_prefix``, or one clear :class:`ResultsError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: cannot be read: {exc}") from None
    try:
        data: dict[str, Any] = json.loads(text, parse_constant=refuse_constant)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON (truncated or corrupt?): {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise ResultsError(f"{path}: not a results file: {exc}") from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if not isinstance(schema, str) or not schema.startswith(schema_prefix):
        raise ResultsError(f"{path}: not a {schema_prefix.rstrip('/')} file (schema {schema!r})")
    return data


def refuse_constant(name: str) -> Any:
    """For ``json.loads(parse_constant=...)``: a ``ValueError`` for NaN and Infinity."""
    # Python's json reads NaN and Infinity, which no file of ours holds (they are written with
    # allow_nan=False): a figure that is not a number is a corrupt file, refused on reading.
    raise ValueError(f"{name} is not a figure")


def read_versioned(path: Path, schema: str) -> dict[str, Any]:
    """A JSON document of exactly ``schema`` (e.g. ``harness.results/1``), or one clear error."""
    family = schema.rsplit("/", 1)[0] + "/"
    data = read_json(path, family)
    if data["schema"] != schema:
        raise ResultsError(f"{path}: schema {data['schema']} is not supported by this harness ({schema})")
    return data


def fields_and_extra(cls: type, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``data`` split into the keys that are fields of the dataclass ``cls`` (its ``extra`` aside)
    and the others, which a file written by another version holds and a rewrite keeps."""
    known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
    return {k: v for k, v in data.items() if k in known}, {k: v for k, v in data.items() if k not in known}
