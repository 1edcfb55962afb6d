"""Showing a verdict, the same way for every command that makes one (gate, compare).

``--format text|markdown|json`` chooses the rendering (by ``harness gate``'s renderer),
printed on stdout or, with ``--out FILE``, written there instead; ``--json FILE`` also
writes the verdict JSON and ``--html FILE`` the report page, so that one comparison can
give a pull-request comment, a machine-readable verdict and a report at once. The exit
code is 0 when the gate passed and 1 when it failed; an output that cannot be written is
bad input (one line, exit 2), found before any trial runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.compare.verdict import Verdict
    from harness.store.results import Results

FORMATS = ("text", "markdown", "json")


def render(verdict: Verdict, fmt: str) -> str:
    """The verdict in ``fmt`` (one of :data:`FORMATS`), by the renderer module of that name."""
    import importlib

    module = importlib.import_module(f"harness.reports.{'json_report' if fmt == 'json' else fmt}")
    return str(module.render(verdict))


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """The flags of ``harness gate`` that choose how a verdict is judged, shown and written."""
    parser.add_argument("--format", choices=FORMATS, default="text", help="how to print the verdict (default text)")
    parser.add_argument("--confidence", type=float, help="confidence level of the intervals (default 0.9)")
    parser.add_argument(
        "--tolerance", type=float, dest="tolerance_pct", help="least |Δ mean %%| that counts (default 5)"
    )
    parser.add_argument("--out", type=Path, metavar="FILE", help="write the verdict there instead of stdout")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the verdict JSON (harness.verdict/1)")
    parser.add_argument("--html", type=Path, metavar="FILE", help="also write an HTML report of the verdict")
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="pass although experiments of the baseline are missing in the candidate (they fail the gate by default)",
    )


def check_outputs(args: argparse.Namespace) -> None:
    """One :class:`~harness.errors.OutputError` line for a ``--out``, ``--json`` or ``--html``
    that cannot be written: asked before the trials, so that no run is lost for a typo."""
    from harness.store.jsonfile import check_writable

    for path in (args.out, getattr(args, "json", None), args.html):
        if path is not None:
            check_writable(path)


def emit_verdict(
    verdict: Verdict,
    args: argparse.Namespace,
    *,
    baseline: Results | None = None,
    candidate: Results | None = None,
) -> int:
    """Print or write the verdict as the flags of :func:`add_output_options` ask; 0 passed, 1 failed.

    ``baseline`` and ``candidate`` let the HTML report show every replicate and call site.
    """
    from harness.store.jsonfile import write_text_atomic

    text = render(verdict, args.format)
    if args.out is not None:
        write_text_atomic(args.out, text)
        sys.stderr.write(f"verdict: {args.out}\n")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    if getattr(args, "json", None) is not None:
        write_text_atomic(args.json, render(verdict, "json"))
        sys.stderr.write(f"verdict JSON: {args.json}\n")
    if args.html is not None:
        from harness.reports.html import write_html

        write_html(verdict, args.html, baseline=baseline, candidate=candidate)
        sys.stderr.write(f"html report: {args.html}\n")
    return 0 if verdict.passed else 1
