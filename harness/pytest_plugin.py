"""pytest plugin ``harness``: allocation limits and baselines for tests (see docs/pytest.md)."""
