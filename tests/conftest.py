"""What every test shares: builds of commits cached in the test's own directory, not the user's."""

from __future__ import annotations

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
