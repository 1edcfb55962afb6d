"""Results as a pandas DataFrame, for notebooks and scripts (``harness.load_results``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.store.results import read_results

if TYPE_CHECKING:
    import pandas as pd


def load_results(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A results file as a pandas DataFrame: one row per trial x phase, one column per metric.

    Columns: ``experiment, family, workload, variant, params`` (JSON text), ``replicate,
    seed, status, error, phase, rss_peak_bytes`` and then every metric the phase carries
    (``alloc_bytes``, ``alloc_bytes_per_op``, ``net_bytes``, ...; NaN where the backend did
    not measure it). A failed trial has one row with ``phase`` empty and its ``error``.
    """
    import pandas as pd

    results = read_results(Path(path))
    info = {e.id: e for e in results.experiments}
    rows: list[dict[str, Any]] = []
    for trial in results.trials:
        exp = info.get(trial.experiment)
        base = {
            "experiment": trial.experiment,
            "family": exp.family if exp else None,
            "workload": exp.workload if exp else None,
            "variant": exp.variant if exp else None,
            "params": json.dumps(dict(exp.params), sort_keys=True) if exp else None,
            "replicate": trial.replicate,
            "seed": trial.seed,
            "status": trial.status,
            "error": trial.error,
            "rss_peak_bytes": trial.rss_peak_bytes,
        }
        if not trial.phases:
            rows.append({**base, "phase": None})
        for phase in trial.phases:
            rows.append({**base, "phase": phase.name, **phase.metrics})
    return pd.DataFrame(rows)
