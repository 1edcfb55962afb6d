"""The figures of a phase measured in several windows, and less the harness's own cost: how
the trial adds windows and sites up, and takes an empty window's figures off."""

from __future__ import annotations

from typing import Any

from harness.store.sites import Site


def add_windows(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """Two windows of one phase as one: figures add up, the peak is the higher."""
    total = {k: first.get(k, 0) + second.get(k, 0) for k in first.keys() | second.keys()}
    total["peak_bytes"] = max(first.get("peak_bytes", 0), second.get("peak_bytes", 0))
    return total


def without_overhead(sites: tuple[Site, ...], overhead: tuple[Site, ...]) -> list[Site]:
    """``sites`` less the figures of the same sites in an empty window; sites left at zero go."""
    empty = {site.identity: site for site in overhead}
    left = [site.minus(empty[site.identity]) if site.identity in empty else site for site in sites]
    return [site for site in left if any(site.figures.values())]


def add_sites(first: list[Site], second: list[Site]) -> list[Site]:
    """The sites of two windows, each site's figures added up (top sites of each window only,
    unless the backend keeps every site)."""
    merged: dict[tuple[str, int, tuple[str, ...]], Site] = {}
    for site in first + second:
        known = merged.get(site.identity)
        merged[site.identity] = site if known is None else known.plus(site)
    return list(merged.values())
