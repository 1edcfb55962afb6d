"""What every test shares: builds of commits cached in the test's own directory, not the user's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _build_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Session-wide, so tests that build the same commits share one cache, as a user's runs do.
    cache = tmp_path_factory.mktemp("harness-cache")
    patcher = pytest.MonkeyPatch()
    patcher.setenv("HARNESS_CACHE_DIR", str(Path(cache)))
    yield
    patcher.undo()


@pytest.fixture(autouse=True, scope="session")
def _no_width_behind_pythons_back() -> None:
    # GNU readline, once something imports it, exports COLUMNS and LINES into the C
    # environment (not os.environ), so every command a test starts would inherit an 80-column
    # terminal that the user never set. Commands see the width a test gives them, or none.
    for name in ("COLUMNS", "LINES"):
        if name not in os.environ:
            os.unsetenv(name)
