"""The HTML report: one self-contained page a reviewer opens from a CI artifact.

:func:`write_html` renders either a verdict (baseline against candidate: the forest plot of
Δ mean %, every replicate of both sides, the top call sites and movers, the bounds checks)
or a single results file (the variants of each family side by side: which allocates,
retains and peaks least, with ratios). Pages are Jinja2 templates under ``templates/``
that extend ``base.html.j2``; charts are inline SVG computed in ``charts``, so the file makes no
request of its own and works opened from disk with the network off. Everything that comes
from user code (names, parameters, file paths, docstrings) goes through autoescaping, and a
Content-Security-Policy lets no script run but the page's own (pinned by its hash).
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.reports.html.variants import results_context
from harness.reports.html.verdict import verdict_context
from harness.store.results import Results

if TYPE_CHECKING:
    from harness.compare.calltree import FlameTree
from harness.compare.verdict import Verdict
from harness.declare.units import format_bytes, format_pct

__all__ = ["render", "render_html", "write_flame_page", "write_html"]

TEMPLATES = Path(__file__).parent.parent / "templates"


# Rendering.


def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = partial(format_pct, places=1, suffix="%")
    env.filters["bytes"] = format_bytes
    return env


def render(context: Mapping[str, Any]) -> str:
    """The page for a context from :func:`results_context` or :func:`verdict_context`."""
    from markupsafe import Markup

    env = _environment()
    script = env.get_template("script.html.j2").render()
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    page = env.get_template(f"{context['kind']}.html.j2")
    from harness.version import __version__

    generated = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    return str(
        page.render(
            **{"notices": (), **context},
            script=Markup(script),
            script_hash=f"sha256-{digest}",
            version=__version__,
            generated=generated,
        )
    )


def render_html(
    subject: Results | Verdict,
    *,
    baseline: Results | None = None,
    candidate: Results | None = None,
    flames: Sequence[str] = (),
) -> str:
    """The report page for a verdict or, for a results file alone, the variants of each family side by side."""
    if isinstance(subject, Results):
        return render(results_context(subject))
    return render(verdict_context(subject, baseline, candidate, flames))


def write_html(
    subject: Results | Verdict,
    path: str | Path,
    *,
    baseline: Results | None = None,
    candidate: Results | None = None,
    flames: Sequence[str] = (),
) -> Path:
    """Write the report page to ``path`` atomically and return the path.

    ``baseline`` and ``candidate`` are the results a verdict compared; with them the page
    shows every replicate, the phases, the call sites and the delta flame graphs of the
    regressions and improvements (and of the experiments ``flames`` names), without them
    the verdict's figures.
    """
    from harness.store.jsonfile import write_text_atomic

    target = Path(path)
    write_text_atomic(target, render_html(subject, baseline=baseline, candidate=candidate, flames=flames))
    return target


def write_flame_page(
    trees: Sequence[FlameTree],
    path: Path,
    *,
    against: str,
    notices: Sequence[str] = (),
    caption: str = "",
    back: str | None = None,
) -> Path:
    """A page of the delta flame graphs of ``trees``, written atomically; ``back`` links the
    page it was opened from (the history page), if any."""
    from harness.reports.flame import flame_anchor, flame_graph
    from harness.store.jsonfile import write_text_atomic

    experiment = trees[0].experiment if trees else ""
    graphs = [
        flame_graph(t, flame_anchor(t.experiment, t.phase, t.figure), f"phase {t.phase}", paths=10) for t in trees
    ]
    context = {
        "kind": "flames",
        "title": f"harness · delta flame graphs · {experiment}",
        "experiment": experiment,
        "against": against,
        "graphs": graphs,
        "notices": list(notices),
        "caption": caption,
        "back": back,
    }
    write_text_atomic(path, render(context))
    return path
