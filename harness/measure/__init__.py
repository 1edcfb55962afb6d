"""Measure: run each experiment's trials in fresh child interpreters, capture their heap
figures and call sites, and hand back results.
"""
