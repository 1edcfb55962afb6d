"""The package's stages import one way: a stage may use the stages below it, never one above.

The order is the data flow of docs/design.md, read as imports: what is declared is stored,
measured, compared; commits become sides of a comparison; reports show it all; the pytest
plugin and the command line sit on top. ``store`` sits under ``measure`` because measuring
writes the store's values. The modules beside the stages (errors, version, git, the
compiled hooks, ``churn``) are the ground every stage may stand on; ``harness/__init__.py``
is the public API, which hands on names from several stages, and ``__main__`` is the
console's entry.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "harness"

#: Lowest first.
STAGES = ("declare", "store", "measure", "compare", "commits", "reports", "pytest_plugin", "cli")
GROUND = ("errors", "version", "git", "churn", "_native")
#: Modules that face outward and may import any stage.
FACES = ("__init__.py", "__main__.py")


def stage_of(module: str) -> int:
    """The floor of ``harness.X...``: -1 for the ground, the index in :data:`STAGES` for a stage,
    and above every stage for the faces."""
    parts = module.split(".")
    if parts[0] != "harness" or len(parts) == 1:
        return -1
    if parts[1] in STAGES:
        return STAGES.index(parts[1])
    if f"{parts[1]}.py" in FACES:
        return len(STAGES)
    assert parts[1] in GROUND, f"{module} is in no stage and not on the ground"
    return -1


def imports_of(path: Path, package: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of the harness package in ``path``, relative ones resolved."""
    relative = path.relative_to(package.parent).with_suffix("")
    here = list(relative.parts if path.name == "__init__.py" else relative.parts[:-1])
    if path.name == "__init__.py":
        here = here[:-1] if here[-1] == "__init__" else here
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            names = [f"{module}.{alias.name}" for alias in node.names]
            found += [(node.lineno, name if _is_module(name, package) else module) for name in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == "harness"]


def _is_module(dotted: str, package: Path) -> bool:
    path = package.parent.joinpath(*dotted.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def upward_imports(package: Path) -> list[str]:
    """``file:line imports module`` for every import from a stage into a stage above it."""
    upward = []
    for path in sorted(package.rglob("*.py")):
        inside = path.relative_to(package)
        if inside.as_posix() in FACES:
            continue
        floor = stage_of(".".join(["harness", *inside.with_suffix("").parts]))
        for line, module in imports_of(path, package):
            if stage_of(module) > floor:
                upward.append(f"{inside.as_posix()}:{line} imports {module}")
    return upward


def test_every_module_is_in_a_stage_or_on_the_ground() -> None:
    # stage_of asserts for each module; the walk must also have found the package.
    modules = [".".join(["harness", *p.relative_to(PACKAGE).with_suffix("").parts]) for p in PACKAGE.rglob("*.py")]
    assert len(modules) > 80
    floors = {stage_of(module) for module in modules}
    assert floors == {-1, *range(len(STAGES)), len(STAGES)}


def test_no_stage_imports_a_stage_above_it() -> None:
    assert upward_imports(PACKAGE) == []


def test_an_added_upward_import_is_found(tmp_path: Path) -> None:
    copy = tmp_path / "harness"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    units = copy / "declare" / "units.py"
    units.write_text(units.read_text(encoding="utf-8") + "\nfrom harness.compare.gate import judge\n", encoding="utf-8")
    relative = copy / "store" / "results.py"
    relative.write_text(relative.read_text(encoding="utf-8") + "\nfrom ..measure import trial\n", encoding="utf-8")
    found = upward_imports(copy)
    assert len(found) == 2
    assert found[0].startswith("declare/units.py:") and found[0].endswith("imports harness.compare.gate")
    assert found[1].startswith("store/results.py:") and found[1].endswith("imports harness.measure.trial")


def test_at_most_eight_modules_stand_beside_the_stages() -> None:
    beside = sorted(p.name for p in PACKAGE.iterdir() if p.suffix in (".py", ".so") or p.name.endswith(".pyi"))
    assert len([name for name in beside if not name.endswith(".pyi")]) <= 8, beside
    for stage in STAGES:
        docstring = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text(encoding="utf-8")))
        assert docstring, f"harness/{stage}/__init__.py says nothing of what the stage does"
