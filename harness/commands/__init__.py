"""One module per subcommand, found by ``harness.cli`` on its own.

A module defines ``COMMAND`` (its name), optionally ``ORDER`` (its place in ``--help``),
and ``add_parser(subparsers, name)``, which registers a parser whose ``func`` default is the
command's ``run(args) -> exit code``. Heavy imports go inside ``run``, so ``--help`` is instant.
"""
