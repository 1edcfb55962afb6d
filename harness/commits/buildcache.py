"""The cache of built commits: one directory per build, under the user's cache directory.

Layout: ``ROOT/builds/KEY/`` holds ``site/`` (the installed wheel, put on the import path),
``wheel/`` and ``meta.json``. A build is staged in ``ROOT/staging/`` and renamed into place
only when complete, so a build that fails or is interrupted never leaves an entry that looks
usable, and two runs building the same key at once both end with one whole entry.

The cache holds at most ``cap_bytes``; the least recently used builds go first (the use of
an entry touches its ``meta.json``). ``HARNESS_CACHE_DIR`` moves the cache elsewhere;
``harness cache clear`` empties it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE_ENV = "HARNESS_CACHE_DIR"
#: How much the cache may hold before the least recently used builds are removed.
DEFAULT_CAP_BYTES = 2 * 1024**3


def cache_root() -> Path:
    """``$HARNESS_CACHE_DIR``, else the platform's user cache directory for harness."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_cache_path

    return user_cache_path("harness", appauthor=False)


@dataclass(frozen=True)
class CachedBuild:
    """One build in the cache."""

    key: str
    path: Path
    size_bytes: int
    last_used: float
    label: str


class BuildCache:
    """Built and installed commits, by key."""

    def __init__(self, root: Path | None = None, cap_bytes: int = DEFAULT_CAP_BYTES) -> None:
        self.root = root or cache_root()
        self.cap_bytes = cap_bytes

    @property
    def builds(self) -> Path:
        return self.root / "builds"

    def lookup(self, key: str) -> Path | None:
        """The installed site directory of ``key``, marked as used now; None when not cached."""
        entry = self.builds / key
        meta = entry / "meta.json"
        if not meta.is_file():
            return None
        os.utime(meta)
        return entry / "site"

    @contextmanager
    def staging(self, key: str) -> Iterator[Path]:
        """A fresh directory to build ``key`` in, removed when the block ends (stored or not)."""
        base = self.root / "staging"
        base.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=base))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def store(self, key: str, staged: Path, meta: Mapping[str, Any]) -> Path:
        """Move a complete staged build into the cache; its site directory. Older builds may go."""
        (staged / "meta.json").write_text(json.dumps({**meta, "key": key, "built": time.time()}), encoding="utf-8")
        entry = self.builds / key
        self.builds.mkdir(parents=True, exist_ok=True)
        try:
            staged.rename(entry)
        except OSError:
            # Another run stored the same build meanwhile: keep theirs, ours is removed with staging.
            if not (entry / "meta.json").is_file():
                raise
        self.prune(keep=key)
        return entry / "site"

    def entries(self) -> list[CachedBuild]:
        """Every complete build, most recently used first."""
        found = []
        for entry in self.builds.glob("*") if self.builds.is_dir() else ():
            meta = entry / "meta.json"
            if not meta.is_file():
                continue
            try:
                label = str(json.loads(meta.read_text(encoding="utf-8")).get("label", ""))
            except (OSError, ValueError):
                label = ""
            found.append(CachedBuild(entry.name, entry, _size(entry), meta.stat().st_mtime, label))
        return sorted(found, key=lambda b: b.last_used, reverse=True)

    def prune(self, keep: str = "") -> list[CachedBuild]:
        """Remove the least recently used builds while the cache holds more than its cap."""
        removed = []
        entries = self.entries()
        total = sum(b.size_bytes for b in entries)
        for build in reversed(entries):
            if total <= self.cap_bytes:
                break
            if build.key == keep:
                continue
            shutil.rmtree(build.path, ignore_errors=True)
            total -= build.size_bytes
            removed.append(build)
        return removed

    def clear(self) -> list[CachedBuild]:
        """Remove every build (and any staging left by a killed run); the builds removed."""
        entries = self.entries()
        for name in ("builds", "staging"):
            shutil.rmtree(self.root / name, ignore_errors=True)
        return entries


def _size(path: Path) -> int:
    total = 0
    for directory, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                continue
    return total
