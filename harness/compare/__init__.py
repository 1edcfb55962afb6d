"""Compare: judge one set of results against another (statistics, the gate's rules, verdicts,
the call sites and call paths that moved).
"""
