"""Show: turn results and verdicts into text, markdown, JSON and HTML pages, flame graphs included."""
