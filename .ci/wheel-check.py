"""Checks an installed alloc-harness: its C hooks import, and a native trial measures what it
should. Run by the interpreter that has the package installed; exits 1 and says why otherwise.

The release runs it on every wheel it builds (cibuildwheel's test-command), and the packaging
test runs it on the repaired wheel with no compiler on PATH. The workload keeps ``COUNT``
byte strings in a phase, so the phase keeps that many blocks, plus the few of the list that
holds them: a backend that does not see each allocation, or a harness that counts its own,
reads otherwise.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

COUNT = 5000
#: The list's item array: reallocated as it grows, one block kept at the end; room for a few.
LIST_BLOCKS = 16

WORKLOAD = f"""\
import harness

known = harness.family("known", "a list of byte strings")


@known.variant("list")
def plain():
    return []


@known.workload(params={{"n": [{COUNT}]}})
def fill(trial, new, n):
    items = trial.keep(new())
    with trial.phase("fill"):
        for _ in range(n):
            items.append(bytes(200))
        trial.ops(n)
"""


def check() -> str:
    """What the trial measured, or raises SystemExit with the reason."""
    # The wheel's extension first: an ImportError says it is missing.
    import harness._native

    script = shutil.which("harness", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "harness"]
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "workloads").mkdir()
        (project / "workloads" / "known.py").write_text(WORKLOAD, encoding="utf-8")
        (project / "pyproject.toml").write_text('[tool.harness]\nworkloads = "workloads"\n', encoding="utf-8")
        done = subprocess.run(
            [*command, "run", "--backend", "native", "-n", "1", "-o", "out.json"],
            cwd=project,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"harness run failed ({done.returncode}):\n{done.stderr}")
        results = json.loads((project / "out.json").read_text(encoding="utf-8"))
    backend = results["environment"]["backend"]
    [trial] = results["trials"]
    [phase] = trial["phases"]
    kept = phase["metrics"]["kept_count"]
    if backend != "native" or trial["status"] != "ok" or not COUNT <= kept <= COUNT + LIST_BLOCKS:
        raise SystemExit(f"backend {backend}, trial {trial['status']}: kept {kept} blocks, expected {COUNT} + a few")
    where = harness.__path__[0]
    return f"native trial: {kept} blocks kept for {COUNT} byte strings (backend {backend}, harness in {where})"


if __name__ == "__main__":
    print(check())
