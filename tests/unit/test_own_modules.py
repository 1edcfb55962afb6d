"""Which imported modules are a side's own, on directories laid out as builds are."""

from __future__ import annotations

import os
import types
from pathlib import Path

from harness.measure.own_code import SIDE_PATH_VARIABLE, Isolation, foreign_modules, own_code, refusal


def module(name: str, file: Path) -> types.ModuleType:
    made = types.ModuleType(name)
    made.__file__ = str(file)
    return made


def test_a_namespace_shared_with_another_distribution_is_not_the_projects(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "google" / "myproj").mkdir(parents=True)
    (site / "google" / "myproj" / "__init__.py").write_text("")
    (site / "envkit").mkdir()
    (site / "envkit" / "__init__.py").write_text("")
    (site / "envkit_fixture-1.0.dist-info").mkdir()
    elsewhere = tmp_path / "elsewhere"
    own = own_code({SIDE_PATH_VARIABLE: str(site)})
    assert own is not None
    assert own.top_level == {"google.myproj", "envkit"}
    assert own.distributions == {"envkit-fixture"}
    modules = {
        "google.protobuf": module("google.protobuf", elsewhere / "google" / "protobuf" / "__init__.py"),
        "google.myproj.core": module("google.myproj.core", elsewhere / "google" / "myproj" / "core.py"),
        "envkit": module("envkit", site / "envkit" / "__init__.py"),
        "envkit._speedups": module("envkit._speedups", elsewhere / "envkit" / "_speedups.so"),
        "workload": module("workload", tmp_path / "workloads" / "envkit" / "bench.py"),
    }

    found = foreign_modules(own, Isolation((), (), frozenset()), [tmp_path / "workloads"], modules)

    assert [name for name, _ in found] == ["envkit._speedups", "google.myproj.core"]
    line = refusal(own, found)
    assert line.startswith(f"module envkit._speedups was imported from {elsewhere / 'envkit' / '_speedups.so'}, ")
    assert f"not from its build ({site.resolve()}) (and 1 more)" in line and os.linesep not in line


def test_a_module_from_the_editable_installs_source_is_foreign_whatever_its_name(tmp_path: Path) -> None:
    site, source = tmp_path / "site", tmp_path / "proj" / "src"
    site.mkdir()
    own = own_code({SIDE_PATH_VARIABLE: str(site)})
    assert own is not None
    isolation = Isolation(("finder __editable___x_finder",), (source.resolve(),), frozenset({"envkit_fast"}))
    modules = {
        "envkit_fast": module("envkit_fast", tmp_path / "anywhere" / "envkit_fast.py"),
        "helper": module("helper", source / "helper.py"),
        "json": module("json", tmp_path / "stdlib" / "json" / "__init__.py"),
    }

    found = foreign_modules(own, isolation, [], modules)

    assert [name for name, _ in found] == ["envkit_fast", "helper"]
