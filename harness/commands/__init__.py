"""The subcommands, one module each, in the order ``harness --help`` lists them.

A module defines ``COMMAND`` (its name) and ``add_parser(subparsers, name)``, which registers
a parser whose ``func`` default is the command's ``run(args) -> exit code``. Heavy imports go
inside ``run``, so ``--help`` is instant. A new command is a new module named here.
"""

#: Module names under ``harness.commands``, in help order: learn, measure, judge, look, tend.
MODULES = (
    "list_cmd",
    "run",
    "baseline",
    "gate",
    "compare",
    "bisect",
    "calibrate",
    "report",
    "explain",
    "cache",
)
