"""Showing a verdict, the same way for every command that makes one (gate, compare).

``--format text|markdown|json`` chooses what goes to stdout, ``--out FILE`` also writes the
verdict JSON and ``--html FILE`` the report page; the exit code is 0 when the gate passed
and 1 when it failed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.results import Results
    from harness.verdict import Verdict

FORMATS = ("text", "markdown", "json")


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """The flags that choose how a verdict is shown and where it is written."""
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="stdout: a table (text), a pull-request comment (markdown) or the verdict JSON",
    )
    parser.add_argument("--out", type=Path, metavar="FILE", help="also write the verdict JSON to FILE")
    parser.add_argument("--html", type=Path, metavar="FILE", help="also write the HTML report to FILE")


def render(verdict: Verdict, fmt: str) -> str:
    """The verdict in one of :data:`FORMATS`."""
    from harness.reports import json_report, markdown, text

    renderers = {"text": text.render, "markdown": markdown.render, "json": json_report.render}
    return renderers[fmt](verdict)


def emit_verdict(
    verdict: Verdict,
    args: argparse.Namespace,
    *,
    baseline: Results | None = None,
    candidate: Results | None = None,
) -> int:
    """Print the verdict as ``args.format`` asks, write ``--out``/``--html``; the exit code (0 or 1).

    ``baseline`` and ``candidate`` let the HTML report show every replicate and call site.
    """
    import sys

    from harness.reports import json_report
    from harness.reports.html import write_html
    from harness.results import write_text_atomic

    shown = render(verdict, args.format)
    sys.stdout.write(shown if shown.endswith("\n") else shown + "\n")
    sys.stdout.flush()
    if args.out is not None:
        write_text_atomic(args.out, json_report.render(verdict))
        sys.stderr.write(f"verdict: {args.out}\n")
    if args.html is not None:
        write_html(verdict, args.html, baseline=baseline, candidate=candidate)
        sys.stderr.write(f"report: {args.html}\n")
    return 0 if verdict.passed else 1
