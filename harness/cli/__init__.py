"""The command line: parses, dispatches to one module per subcommand, turns errors into one line.

Each subcommand is a module of this package that defines ``COMMAND`` (its name) and
``add_parser(subparsers, name)``, which registers a parser whose ``func`` default is the
command's ``run(args) -> exit code``. The modules import their heavy dependencies inside
``run()``, so that ``harness --help`` answers at once; a new command is a new module named
in :data:`MODULES`. Commands parse and dispatch only: what they run lives in the stages.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any, NoReturn

#: The subcommand modules of this package, in help order: learn, measure, judge, look, tend.
MODULES = (
    "list_cmd",
    "run",
    "baseline",
    "gate",
    "compare",
    "bisect",
    "history",
    "calibrate",
    "report",
    "explain",
    "export",
    "cache",
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

DESCRIPTION = """\
Allocation profiles of data-structure variants under reproducible churn workloads,
compared with stored baselines and gated like a CI regression detector.

Typical use:
  harness list                            what experiments the workloads declare
  harness run flow_table -n 5             run them, print a summary, write reports/results.json
  harness baseline save main              keep those results as baselines/main.json
  harness gate --baseline main            run again and judge against it (exit 1 on a regression)
  harness compare main HEAD               the same for two commits, in temporary worktrees
  harness report reports/results.json --html reports/report.html
                                          one self-contained HTML page

Options go before, between or after a command's arguments; --debug goes anywhere.
Exit codes: 0 pass, 1 gate failed or trials failed, 2 bad usage or input, 130 interrupted.
"""


class _Parser(argparse.ArgumentParser):
    """One grammar for every command: options and positionals in any order
    (``compare A B -j 2 lru_cache`` as ``compare -j 2 A B lru_cache``), ``--debug`` before or
    after the subcommand, and bad usage as one line with exit code 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._intermixing = False
        # SUPPRESS: a subcommand that is not given --debug leaves the top level's value alone.
        self.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks instead of one-line errors"
        )

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        # argparse takes positionals only in one run unless asked to intermix; it cannot
        # intermix a parser that has subcommands, so those (harness, baseline) parse as usual
        # and hand the rest to their subcommand's parser, which intermixes.
        if self._intermixing or self._subparsers is not None:
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return super().parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False

    def error(self, message: str) -> NoReturn:
        # One line and exit 2, like every other bad input.
        message = self._only_required(message)
        sys.stderr.write(f"harness: error: {message} (see `{self.prog} --help`)\n")
        sys.exit(EXIT_USAGE)

    def _only_required(self, message: str) -> str:
        """Intermixed parsing names every positional as required when one is missing, the
        optional ones (``PATTERN ...``) too: leave those out of the message."""
        prefix = "the following arguments are required: "
        if not message.startswith(prefix):
            return message
        optional = {
            action.metavar or action.dest
            for action in self._actions
            if not action.option_strings and action.nargs in ("*", "?")
        }
        names = [name for name in message.removeprefix(prefix).split(", ") if name not in optional]
        return prefix + ", ".join(names) if names else message


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="harness",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from harness.version import __version__

    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    parser.set_defaults(debug=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in command_modules():
        module.add_parser(sub, module.COMMAND)
    return parser


def command_modules() -> list[ModuleType]:
    """Every subcommand module, in the order ``harness.cli.MODULES`` lists them."""
    return [importlib.import_module(f"harness.cli.{name}") for name in MODULES]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    from harness.errors import HarnessError, Interrupted

    try:
        return int(args.func(args))
    except Interrupted as exc:
        if args.debug:
            raise
        sys.stderr.write(f"harness: {exc}\n")
        return EXIT_INTERRUPTED
    except HarnessError as exc:
        if args.debug:
            raise
        sys.stderr.write(f"harness: error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        if args.debug:
            raise
        sys.stderr.write("harness: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`harness list | head`): not an error of ours.
        sys.stderr.close()
        return EXIT_OK


def entry() -> None:
    """The console script."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
