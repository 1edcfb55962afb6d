"""Store: the values a run leaves behind (results, call sites, environment, baselines), written
atomically and read back as typed values.
"""
