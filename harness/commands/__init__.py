"""One module per subcommand, each with ``add_parser(subparsers, name)`` and a ``run(args)``."""
