"""The options of the user's pytest command, forwarded to the zygotes that measure its tests.

The measuring process is the session the user started: every option given on the command
line reaches it (conftest options, ``-o`` ini overrides, ``-W`` filters, ``-p`` plugins,
``--import-mode``, ``--doctest-modules``, ...), so a test reads there what it reads here.
``PYTEST_ADDOPTS`` and the ini's ``addopts`` reach it by themselves (the same environment,
the same ini file). What does not reach it:

- the paths and node ids to test: a zygote collects the one file whose tests it measures;
- options that would make it do what the parent does, or wait for a person: the last-failed
  cache and stepwise (it has no cache provider), debuggers (``--pdb``, ``--trace``), xdist's
  ``--looponfail``, output capture (``-s``: the copy captures a test's output to hand it
  back), and files the parent writes (``--log-file``, ``--report-log``, ``--html``,
  ``--json-report-file``: a zygote would truncate them);
- options of plugins it never loads (pytest-memray, pytest-randomly);
- options that choose tests or say where they run, and harness's own: ``-k``, ``-m``,
  ``--deselect``, xdist's (``-n``, ``--dist``, ...), ``--harness-*`` (the zygote keeps every
  test of its file, is no worker, and has its settings from its spec). A zygote's command line
  is then the same in every session that runs its file, whatever was selected, saved or
  spread: its heap, and so a test's figures to the byte, depend on every option it parsed.

The zygote's own options come after these, so where both give one (``--basetemp``, ``-n``,
``--no-cov``, ``-p no:...``), the zygote's wins.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import pytest

#: Destinations of options that never reach a zygote (see the module's docstring).
_KEPT_BACK_DESTS = frozenset(
    {
        "lf",
        "failedfirst",
        "newfirst",
        "cacheshow",
        "cacheclear",
        "last_failed_no_failures",
        "stepwise",
        "stepwise_skip",
        "stepwise_reset",
        "usepdb",
        "usepdb_cls",
        "trace",
        "looponfail",
        "capture",
        "log_file",
        "report_log",
        "htmlpath",
        "json_report_file",
        "keyword",
        "markexpr",
        "deselect",
        "xmlpath",
    }
)
#: Option groups of plugins a zygote never loads, or whose options it must not differ by.
_KEPT_BACK_GROUPS = frozenset({"memray", "randomly", "xdist", "harness"})


def forwarded_options(config: pytest.Config) -> list[str]:
    """The options of ``config``'s command line that a zygote is started with, in their order."""
    actions = _actions(config)
    kept_back = _kept_back_strings(config, actions)
    forwarded: list[str] = []
    args = [str(a) for a in config.invocation_params.args]
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            break  # the rest are paths
        taken = _tokens_of(token, args[i + 1 :], actions)
        if taken:
            option = token.split("=", 1)[0] if token.startswith("--") else token[:2]
            if option not in kept_back and not _loads_xdist(args[i : i + taken]):
                forwarded += args[i : i + taken]
            i += taken
        else:
            i += 1  # a path or node id to test
    return forwarded


#: What ``-p`` loads xdist by: a zygote loads it itself, wherever it is loaded, with ``-n 0``.
_XDIST_PLUGINS = frozenset({"xdist", "xdist.plugin", "xdist.looponfail"})


def _loads_xdist(tokens: list[str]) -> bool:
    """Whether ``tokens`` (one option and its values) are ``-p xdist`` in one of its spellings."""
    if tokens[0] == "-p":
        return len(tokens) > 1 and tokens[1] in _XDIST_PLUGINS
    return tokens[0].startswith("-p") and tokens[0][2:] in _XDIST_PLUGINS


def _actions(config: pytest.Config) -> dict[str, argparse.Action]:
    parser = config._parser
    optparser = getattr(parser, "optparser", None)
    if optparser is None:  # pytest 8 makes it on demand
        optparser = parser._getparser()  # type: ignore[attr-defined]
    return dict(optparser._option_string_actions)


def _kept_back_strings(config: pytest.Config, actions: dict[str, argparse.Action]) -> set[str]:
    kept = {s for s, action in actions.items() if action.dest in _KEPT_BACK_DESTS}
    for group in config._parser._groups:
        if group.name in _KEPT_BACK_GROUPS:
            kept.update(name for option in group.options for name in option.names())
    return kept


def _tokens_of(token: str, rest: Sequence[str], actions: dict[str, argparse.Action]) -> int:
    """How many tokens the option starting at ``token`` spans (0: ``token`` is no option)."""
    if not token.startswith("-") or token == "-":
        return 0
    if token.startswith("--"):
        if "=" in token:
            return 1
        return 1 + _values(actions.get(token), rest)
    # A cluster of short options (-vx, -kEXPR, -vk EXPR): the first that takes a value ends it.
    for position in range(1, len(token)):
        action = actions.get(f"-{token[position]}")
        if action is not None and action.nargs != 0:
            return 1 if position + 1 < len(token) else 1 + _values(action, rest)
    return 1


def _values(action: argparse.Action | None, rest: Sequence[str]) -> int:
    """How many of the following tokens are the values of ``action``."""
    if action is None or action.nargs == 0:
        return 0
    if action.nargs is None or isinstance(action.nargs, int):
        return min(action.nargs or 1, len(rest))
    values = 0
    for value in rest:
        if value.startswith("-"):
            break
        values += 1
        if action.nargs == argparse.OPTIONAL:
            break
    return values
