"""What both pytest processes declare: the options, the markers, and which tests are measured.

The zygote's pytest session reads the same ini file (and its ``addopts``) as the session that
started it, so it must know the same options and markers even though it ignores them.
"""

from __future__ import annotations

import pytest

FIXTURE = "harness_trial"
MARKERS = ("harness_limits", "harness")
#: Replicates per measured test: one seed checks limits; a baseline comparison needs a spread.
REPLICATES_LIMITS, REPLICATES_BASELINE = 1, 3


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "allocation limits and baselines measured by harness")
    group.addoption(
        "--harness",
        action="store_true",
        dest="harness_all",
        help='measure every test, marked or not (as [tool.harness.pytest] measure = "all")',
    )
    group.addoption(
        "--harness-baseline", metavar="NAME", help="fail measured tests that regressed against this baseline"
    )
    group.addoption("--harness-save", metavar="NAME", help="store the measured tests as the baseline NAME")
    group.addoption("--harness-backend", default="auto", help="native, memray, tracemalloc, none or auto (the default)")
    group.addoption(
        "--harness-replicates",
        type=int,
        metavar="N",
        help=f"trials per measured test (default {REPLICATES_LIMITS}, {REPLICATES_BASELINE} with a baseline)",
    )
    add_report_options(parser)


def add_report_options(parser: pytest.Parser) -> None:
    """The summary's length and the session's files for CI (in the group of :func:`add_options`)."""
    group = parser.getgroup("harness")
    group.addoption(
        "--harness-table",
        choices=("short", "all"),
        default="short",
        help="the summary: short (counts, regressions, the tests that moved most; the default) or all",
    )
    group.addoption("--harness-json", metavar="FILE", help="write the measured tests as a results file (JSON)")
    group.addoption("--harness-html", metavar="FILE", help="write a self-contained HTML report of the session")


def add_markers(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "harness_limits(limits=None, **limits): measure the test and fail it when a figure "
        'exceeds its limit, e.g. harness_limits(alloc_count_per_op=3, net_bytes="1 MiB")',
    )
    config.addinivalue_line(
        "markers",
        "harness(goal='alloc_bytes', ops=1): measure the test; goal is what "
        "--harness-baseline judges, ops the operations of a test measured whole",
    )


def is_marked(item: pytest.Item) -> bool:
    """Whether ``item`` asks to be measured: it takes ``harness_trial`` or carries a harness marker."""
    return FIXTURE in getattr(item, "fixturenames", ()) or any(item.get_closest_marker(m) for m in MARKERS)


def ops_of(item: pytest.Item) -> int:
    """The operations of a test measured whole: ``@pytest.mark.harness(ops=N)``, default 1."""
    marker = item.get_closest_marker("harness")
    return int(marker.kwargs.get("ops", 1)) if marker else 1
