"""``harness cache [list|clear|dir]``: the builds of commits that compare and bisect keep.

compare and bisect build each commit's code into a wheel once and keep it, installed, in a
cache under your user cache directory (``$HARNESS_CACHE_DIR`` moves it), keyed by commit,
project, setup command and interpreter. A second compare of the same commits builds nothing.
The cache holds at most ``[tool.harness] build_cache`` (default 2 GiB); the least recently
used builds are removed first.

  harness cache            list the builds, most recently used first, and their size
  harness cache clear      remove every build, of every project (asks first; --yes does not)
  harness cache dir        print where the cache is

The cache is shared by all your projects, so ``clear`` asks before it removes anything when
it runs on a terminal; ``--yes`` skips the question (for scripts). Without a terminal and
without ``--yes`` it removes nothing: one line, exit 2. Exit codes: 0 done, 1 the question
was answered no (nothing removed), 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.commits.buildcache import BuildCache

COMMAND = "cache"


def add_parser(sub: Any, name: str) -> None:
    parser = sub.add_parser(
        name,
        help="list or clear the cached builds of commits (compare, bisect)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", nargs="?", choices=("list", "clear", "dir"), default="list")
    parser.add_argument("-y", "--yes", action="store_true", help="clear without asking")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import datetime as dt

    from harness.commits.buildcache import BuildCache
    from harness.declare.units import format_bytes

    cache = BuildCache()
    if args.action == "dir":
        print(cache.root)
        return 0
    if args.action == "clear":
        if not args.yes and not _confirmed(cache):
            print("nothing removed", file=sys.stderr)
            return 1
        removed = cache.clear()
        freed = sum(b.size_bytes for b in removed)
        plural = "s" if len(removed) != 1 else ""
        print(f"removed {len(removed)} build{plural} ({format_bytes(freed)}) from {cache.root}")
        return 0
    entries = cache.entries()
    for build in entries:
        used = dt.datetime.fromtimestamp(build.last_used).strftime("%Y-%m-%d %H:%M")
        print(f"{build.key}  {format_bytes(build.size_bytes):>10}  used {used}  {build.label}")
    total = sum(b.size_bytes for b in entries)
    print(f"{len(entries)} build{'s' if len(entries) != 1 else ''}, {format_bytes(total)}, in {cache.root}")
    return 0


def _confirmed(cache: BuildCache) -> bool:
    """Whether the user at the terminal agrees to remove every build; a
    :class:`~harness.errors.ConfigError` when there is no terminal to ask on."""
    from harness.declare.units import format_bytes
    from harness.errors import ConfigError

    if not sys.stdin.isatty():
        raise ConfigError(
            f"cache clear removes the builds of every project in {cache.root} and there is no terminal to ask: "
            "add --yes to clear without asking"
        )
    entries = cache.entries()
    size = format_bytes(sum(b.size_bytes for b in entries))
    sys.stderr.write(
        f"remove {len(entries)} build{'s' if len(entries) != 1 else ''} ({size}) from {cache.root}, "
        "shared by all your projects? [y/N] "
    )
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")
