"""harness: allocation profiles of data-structure variants under churn, gated against baselines.

The public API, everything a workload module or a script needs::

    import harness

    cache = harness.family("cache", "LRU caches")

    @cache.variant("ordered_dict")
    def ordered(): ...

    @cache.workload(params={"size": [10_000]}, goal="alloc_bytes_per_op")
    def churn(trial: harness.Trial, new_cache, size): ...

    frame = harness.load_results("results.json")
"""

from __future__ import annotations

from harness.declare.spec import Bound, Experiment, Family, Goal
from harness.errors import HarnessError
from harness.measure.trial import Trial
from harness.store.dataframe import load_results
from harness.store.results import Results, read_results
from harness.version import __version__


def family(name: str, description: str = "") -> Family:
    """Declare a family of interchangeable implementations; assign it at module level."""
    return Family(name, description)


__all__ = [
    "Bound",
    "Experiment",
    "Family",
    "Goal",
    "HarnessError",
    "Results",
    "Trial",
    "__version__",
    "family",
    "load_results",
    "read_results",
]
