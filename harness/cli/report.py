"""``harness report``: write the HTML report of a verdict or of a results file.

What the page shows depends on the files given:

  RESULTS                       the variants of each family side by side: which allocates,
                                retains and peaks least, with ratios
  BASELINE RESULTS              the two compared with the project's gate settings: the verdict,
                                every replicate, the phases, the call sites and top movers
  VERDICT [BASELINE RESULTS]    a stored verdict (harness gate --out); with the two results files
                                it compared, also the phases and the call sites

The page is one self-contained file: it works opened from disk with the network off.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

COMMAND = "report"


def add_parser(sub: Any, name: str) -> None:
    parser = sub.add_parser(
        name,
        help="write the HTML report of a verdict or of a results file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="RESULTS|VERDICT", help="results or verdict files")
    parser.add_argument("--html", type=Path, required=True, metavar="FILE", help="the page to write")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.compare.verdict import is_verdict_file, read_verdict
    from harness.errors import ResultsError
    from harness.reports.html import write_html
    from harness.store.results import read_results

    files: list[Path] = args.files
    verdicts = [f for f in files if is_verdict_file(f)]
    results = [read_results(f) for f in files if f not in verdicts]
    if len(verdicts) > 1 or len(results) > 2 or (verdicts and len(results) == 1):
        raise ResultsError(
            "harness report takes RESULTS, BASELINE RESULTS, or VERDICT [BASELINE RESULTS] "
            f"(got {len(verdicts)} verdict and {len(results)} results files)"
        )
    baseline, candidate = (results[0], results[1]) if len(results) == 2 else (None, None)
    if verdicts:
        subject: Any = read_verdict(verdicts[0])
    elif baseline is not None and candidate is not None:
        subject = _compare(baseline, candidate)
    else:
        subject = results[0]
    path = write_html(subject, args.html, baseline=baseline, candidate=candidate)
    sys.stderr.write(f"report: {path} ({path.stat().st_size / 1024:.0f} KiB)\n")
    return 0


def _compare(baseline: Any, candidate: Any) -> Any:
    """The verdict of the project's gate settings on the two results."""
    from harness.compare.gate import GateOptions, compare
    from harness.declare.config import load_settings

    return compare(baseline, candidate, GateOptions.from_settings(load_settings()))
