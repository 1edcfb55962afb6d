"""Declare: what is measured, read from workload modules and pyproject.toml (families,
variants, workloads, metrics, bounds, settings).
"""
