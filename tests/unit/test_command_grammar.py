"""One grammar for every command: options and positionals in any order, ``--debug`` anywhere.

In process (argparse's intermixed parsing changed inside CPython 3.12 and 3.13: this runs on
every interpreter the unit tests run on)."""

from __future__ import annotations

import pytest

from harness.cli import build_parser, command_modules


def test_options_and_patterns_in_any_order_in_every_command() -> None:
    parser = build_parser()
    compare = parser.parse_args(["compare", "A", "B", "-j", "2", "lru_cache", "--debug"])
    assert (compare.patterns, compare.jobs, compare.debug) == (["A", "B", "lru_cache"], 2, True)
    run = parser.parse_args(["run", "flow", "-n", "1", "lru", "--backend", "none", "sack"])
    assert (run.patterns, run.replicates, run.backend, run.debug) == (["flow", "lru", "sack"], 1, "none", False)
    explain = parser.parse_args(["explain", "x", "--figure", "kept_bytes", "main", "--phase", "p", "HEAD"])
    assert (explain.experiment, explain.refs, explain.figure, explain.phase) == (
        "x",
        ["main", "HEAD"],
        "kept_bytes",
        "p",
    )
    history = parser.parse_args(["history", "--every", "2", "v1..main", "-n", "1", "lru"])
    assert (history.revisions, history.patterns, history.every) == ("v1..main", ["lru"], 2)
    save = parser.parse_args(["baseline", "save", "--force", "main", "--debug"])
    assert (save.name, save.force, save.debug) == ("main", True, True)
    # Every subcommand's parser takes --debug after its own arguments.
    for module in command_modules():
        argv = {"baseline": ["baseline", "list"], "bisect": ["bisect", "G", "B", "-e", "x"]}.get(
            module.COMMAND, [module.COMMAND]
        )
        needs = {"report": ["r.json", "--html", "x.html"], "export": ["r.json", "--format", "bmf"]}
        needs |= {"history": ["HEAD"], "explain": ["x"], "gate": ["--baseline", "main"]}
        args = parser.parse_args([*argv, *needs.get(module.COMMAND, []), "--debug"])
        assert args.debug is True, module.COMMAND


def test_a_missing_argument_names_only_what_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(["history", "--every", "2"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "harness: error: the following arguments are required: REVISIONS (see `harness history --help`)\n"
    )
