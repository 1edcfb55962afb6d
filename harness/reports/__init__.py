"""Renderers: turn results and verdicts into text, markdown, JSON or HTML."""
