"""What runs in a child interpreter to list the experiments of a workloads directory.

``python -P -m harness.measure.listing_child WORKLOADS_DIR OUT.json`` imports the workload modules with
the import path its parent set (one side's code under test) and writes the experiments they
declare as plain data, or ``{"error": ...}`` with the one-line reason they could not be
listed: a module failed to import, or the workloads imported code of the project from outside
the side's build (:mod:`harness.measure.own_code`), which would measure another commit's code.
The parent never imports two checkouts' code into one process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from harness.declare.discovery import discover
from harness.errors import HarnessError
from harness.measure.own_code import foreign_modules, isolate, own_code, refusal

EXIT_NOT_LISTED = 2


def main(argv: list[str]) -> int:
    workloads_dir, out = argv
    own = own_code()
    isolation = isolate(own)
    try:
        suite = discover(Path(workloads_dir))
    except HarnessError as exc:
        Path(out).write_text(json.dumps({"error": str(exc)}), encoding="utf-8")
        return EXIT_NOT_LISTED
    foreign = foreign_modules(own, isolation, [Path(workloads_dir)]) if own is not None else []
    if own is not None and foreign:
        Path(out).write_text(json.dumps({"error": refusal(own, foreign)}), encoding="utf-8")
        return EXIT_NOT_LISTED
    Path(out).write_text(json.dumps({"experiments": [e.to_json() for e in suite.experiments]}), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
