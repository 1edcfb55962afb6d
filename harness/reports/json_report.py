"""The verdict as JSON (``harness.verdict/1``, see :mod:`harness.compare.verdict`)."""

from __future__ import annotations

import json

from harness.compare.verdict import Verdict


def render(verdict: Verdict) -> str:
    """The verdict document, indented, ending with a newline."""
    return json.dumps(verdict.to_json(), indent=1, ensure_ascii=False, allow_nan=False) + "\n"
