"""The plugin of a mother (``--harness-mother``): a zygote's session of a test directory that
collects nothing, and forks a zygote for each test file the session asks for (see
:mod:`harness.pytest_plugin.mothers`, the session's end).

The forked zygote takes the descriptors the session sent with its request in place of the
mother's (its pipes, its directory, its stderr), is given its file as pytest's own argument,
and goes on as a zygote started with it: it collects the file, and serves its copies.
"""

from __future__ import annotations

import dataclasses
import faulthandler
import json
import os
import sys
from typing import Any, Protocol

import pytest

from harness.measure.launcher import on_stop_kill_forked_children
from harness.measure.server import descriptor_of


class _Served(Protocol):
    """What the zygote's plugin keeps of where it serves: its pipes and its directory."""

    requests: int
    replies: int
    directory: str


class Mother:
    """Forks a zygote per request, at collection; the zygote returns from here and collects."""

    def __init__(self, zygote: _Served, forkserver: Any) -> None:
        self.zygote = zygote
        self.forkserver = forkserver

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> None:
        on_stop_kill_forked_children(self.forkserver.serving)
        notify = self.forkserver.serve_files(self.zygote.requests, self.zygote.replies)
        if notify is None:  # the session is done with this mother
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        text, fds = self.forkserver.take_file(self.zygote.requests, notify)
        self._become_zygote(session.config, json.loads(text), fds)
        session.config.pluginmanager.unregister(self)

    def _become_zygote(self, config: pytest.Config, request: dict[str, str], fds: list[int]) -> None:
        requests, replies, directory, stderr = fds
        os.dup2(requests, self.zygote.requests)  # in place of the mother's socket
        os.dup2(replies, self.zygote.replies)
        # Its own stderr, where pytest's capture and faulthandler took the mother's at its start:
        # capture starts anew on it, and a crash of the zygote's is written there.
        capture = config.pluginmanager.getplugin("capturemanager")
        if capture is not None:
            capture.stop_global_capturing()
        os.dup2(stderr, 2)
        if faulthandler.is_enabled():
            faulthandler.enable(file=os.dup(2), all_threads=True)
        if capture is not None:
            capture.start_global_capturing()
        named_by = descriptor_of(self.zygote.directory)
        if named_by is not None:  # named by descriptor: the name stays
            os.dup2(directory, named_by)
        else:
            self.zygote.directory = request["directory"]
        for fd in fds:
            os.close(fd)
        # The file is the session's argument, as if the zygote had been started with it.
        test_file, argument = request["file"], request["argument"]
        config.args = [test_file]
        config.args_source = pytest.Config.ArgsSource.ARGS
        config.option.file_or_dir = [test_file]
        sys.argv = [test_file if part == argument else part for part in sys.argv]
        args = tuple(test_file if part == argument else part for part in config.invocation_params.args)
        config.invocation_params = dataclasses.replace(config.invocation_params, args=args)
