"""Commits as sides: check out and build commits of a git repository so that each can be
measured as one side of a comparison, and bisect between them.
"""
